// What `members` and `table` print, made from the partition table a member serves (pure
// functions, so that tests check the output without a member).
#ifndef GRIDRPC_TOOLS_CLI_TABLE_FORMAT_H_
#define GRIDRPC_TOOLS_CLI_TABLE_FORMAT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/options.h"
#include "gridrpc/cluster.pb.h"

namespace gridrpc::cli {

// Every member: id, client and peer address, zone and labels, the partitions it is primary
// and backup of. JSON: {"table_version", "cluster_name", "partition_count", "members": [{"id",
// "address", "peer_address", "zone", "labels": {k: v}, "primary_of": [p...], "backup_of":
// [p...]}]}.
std::string FormatMembers(const v1::PartitionTable& table, OutputFormat format);

// The table: version, members, and per partition its replicas (primary first) and whether it
// is lost. JSON: {"version", "cluster_name", "partition_count", "members": [{"id", "address",
// "peer_address"}], "partitions": [{"partition", "replicas": [member id...], "lost",
// "last_holders": [member id...]}], "lost_partitions": [p...]}.
std::string FormatTable(const v1::PartitionTable& table, OutputFormat format);

// Sorted, distinct partitions as ranges: {0,1,2,3,7,9,10} -> "0-3,7,9-10"; none -> "".
std::string FormatRanges(const std::vector<int>& sorted);

// "3", "3,7", "0-5,9": the partitions, sorted; an error names what does not parse or repeats.
absl::StatusOr<std::vector<int>> ParsePartitionList(absl::string_view text);

// A member's labels, sorted by key (the zone among them), and its zone: the label `zone`.
std::vector<std::pair<std::string, std::string>> MemberLabels(const v1::MemberInfo& member);
std::string MemberZone(const v1::MemberInfo& member);

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_TABLE_FORMAT_H_
