// Key -> partition hashing, shared by clients and members.
//
// A routing key's canonical bytes are hashed with XXH64 (seed 0) and reduced modulo the
// partition count, so the same key lands on the same partition in every process and language:
//   - string and bytes keys: their bytes as they are;
//   - signed integers and enums: the value widened to int64, 8 bytes little-endian;
//   - unsigned integers: the value widened to uint64, 8 bytes little-endian;
//   - bool: one byte, 0 or 1.
// tests/core/partitioning_test.cc pins test vectors; changing any of this moves every key.
//
// Example:
//   int p = gridrpc::PartitionOf(gridrpc::KeyHash("0counter"), gridrpc::kDefaultPartitionCount);
#ifndef GRIDRPC_PARTITIONING_H_
#define GRIDRPC_PARTITIONING_H_

#include <cstdint>
#include <string_view>

namespace gridrpc {

inline constexpr int kDefaultPartitionCount = 271;
// The most partitions a cluster may have. The planner places every replica of every partition
// exactly each round (milliseconds at 1,009 partitions and 100 members); far more partitions
// would make each round slow and its search deep.
inline constexpr int kMaxPartitionCount = 16384;

// Hash of a key's canonical bytes. Thread-safe, pure.
uint64_t KeyHash(std::string_view bytes);
uint64_t KeyHash(int64_t value);
uint64_t KeyHash(uint64_t value);
uint64_t KeyHash(bool value);
// Widening overloads so generated code can pass any proto scalar without casts.
inline uint64_t KeyHash(int32_t value) { return KeyHash(static_cast<int64_t>(value)); }
inline uint64_t KeyHash(uint32_t value) { return KeyHash(static_cast<uint64_t>(value)); }
inline uint64_t KeyHash(const char* value) = delete;  // say std::string_view explicitly

// The partition a key hash falls in; partition_count must be positive.
inline int PartitionOf(uint64_t key_hash, int partition_count) {
  return static_cast<int>(key_hash % static_cast<uint64_t>(partition_count));
}

}  // namespace gridrpc

#endif  // GRIDRPC_PARTITIONING_H_
