#include "gridrpc/partitioning.h"

#include <xxhash.h>

#include <array>

namespace gridrpc {
namespace {

constexpr uint64_t kSeed = 0;

std::array<unsigned char, 8> LittleEndian(uint64_t v) {
  std::array<unsigned char, 8> out;
  for (auto& byte : out) {
    byte = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

}  // namespace

uint64_t KeyHash(std::string_view bytes) { return XXH64(bytes.data(), bytes.size(), kSeed); }

uint64_t KeyHash(uint64_t value) {
  const auto bytes = LittleEndian(value);
  return XXH64(bytes.data(), bytes.size(), kSeed);
}

uint64_t KeyHash(int64_t value) { return KeyHash(static_cast<uint64_t>(value)); }

uint64_t KeyHash(bool value) {
  const unsigned char byte = value ? 1 : 0;
  return XXH64(&byte, 1, kSeed);
}

}  // namespace gridrpc
