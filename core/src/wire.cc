#include "gridrpc/internal/wire.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc::internal {

std::optional<int64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;  // 18 digits never overflow
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

absl::StatusOr<int> ParsePartitionId(std::string_view text, int partition_count) {
  const std::optional<int64_t> value = ParseDecimal(text);
  if (!value.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("metadata ", kPartitionKey, ": '",
                                                   absl::CHexEscape(AsAbsl(text.substr(0, 32))),
                                                   "' is not a partition id"));
  }
  if (*value >= partition_count) {
    return absl::InvalidArgumentError(absl::StrCat("metadata ", kPartitionKey, ": partition ",
                                                   *value, " is out of range [0, ", partition_count,
                                                   ")"));
  }
  return static_cast<int>(*value);
}

}  // namespace gridrpc::internal
