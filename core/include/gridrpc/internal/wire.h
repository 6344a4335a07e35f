// The metadata keys and status conventions proxies and members agree on. Internal: users see
// them only as documented in docs/PROTOCOL.md.
#ifndef GRIDRPC_INTERNAL_WIRE_H_
#define GRIDRPC_INTERNAL_WIRE_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace gridrpc::internal {

// Request metadata: the partition the caller routed to (decimal). Absent: the member routes
// the call itself from the request's routing key, as the smart client does, so keyed calls
// carry no gridrpc metadata at all.
inline constexpr char kPartitionKey[] = "gridrpc-partition";
// Request metadata on a call whose partition a client-side routing handler chose: its
// `gridrpc-partition` may differ from the partition of the contract's routing key. Without it a
// member refuses a partition that disagrees with the key (INVALID_ARGUMENT): the write would
// land where reads by key never look.
inline constexpr char kRoutedByHandlerKey[] = "gridrpc-routed-by-handler";
// Request metadata prefix of meta arguments: `gridrpc-meta-<name>`.
inline constexpr std::string_view kMetaArgumentPrefix = "gridrpc-meta-";
// Request metadata: the lookup name of the service instance to run the call on. Absent: the
// contract's lookup name (by default the full service name).
inline constexpr char kLookupNameKey[] = "gridrpc-lookup-name";
// Request metadata on a call one member forwards to another; the receiver never forwards it
// again (a member with a stale table must not bounce calls around).
inline constexpr char kForwardedKey[] = "gridrpc-forwarded";
// Trailing metadata on an answer a member forwarded: its table version, newer than the
// caller's, or the caller would have sent the call to the owner. Smart clients reload.
inline constexpr char kTableVersionKey[] = "gridrpc-table-version";
// Request metadata on a client's second and later attempts of a call (decimal attempt number):
// members count the retries they see.
inline constexpr char kAttemptKey[] = "gridrpc-attempt";
// Trailing metadata on a call the member refused because it does not own the partition
// (status UNAVAILABLE): the member's table version. The call did not run; retrying is safe.
inline constexpr char kWrongOwnerKey[] = "gridrpc-wrong-owner";

// Parses a partition id from metadata text: decimal digits only, in [0, partition_count).
// The error message names the key, the text and the valid range.
absl::StatusOr<int> ParsePartitionId(std::string_view text, int partition_count);

// Parses a non-negative decimal integer (table versions).
std::optional<int64_t> ParseDecimal(std::string_view text);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_WIRE_H_
