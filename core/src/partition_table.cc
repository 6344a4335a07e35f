#include "gridrpc/partition_table.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace gridrpc {

PartitionTable PartitionTable::Plan(std::string cluster_name, int64_t version,
                                    std::vector<v1::MemberInfo> members, int partition_count,
                                    int backup_count) {
  v1::PartitionTable proto;
  proto.set_version(version);
  proto.set_cluster_name(std::move(cluster_name));
  proto.set_partition_count(partition_count);
  const int n = static_cast<int>(members.size());
  for (v1::MemberInfo& m : members) *proto.add_members() = std::move(m);
  const int replicas = n == 0 ? 0 : std::min(n, 1 + std::max(0, backup_count));
  for (int p = 0; p < partition_count; ++p) {
    v1::PartitionReplicas* r = proto.add_partitions();
    for (int i = 0; i < replicas; ++i) r->add_members((p + i) % n);
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::Promote(const PartitionTable& table, std::string_view member_id,
                                       int64_t version) {
  const int gone = table.MemberIndex(member_id);
  v1::PartitionTable proto = table.proto();
  proto.set_version(version);
  if (gone < 0) return PartitionTable(std::move(proto));
  proto.mutable_members()->DeleteSubrange(gone, 1);
  for (v1::PartitionReplicas& replicas : *proto.mutable_partitions()) {
    google::protobuf::RepeatedField<int32_t> kept;
    for (int m : replicas.members()) {
      if (m != gone) kept.Add(m > gone ? m - 1 : m);  // indexes after it shift down
    }
    *replicas.mutable_members() = std::move(kept);
  }
  return PartitionTable(std::move(proto));
}

absl::StatusOr<PartitionTable> PartitionTable::FromProto(v1::PartitionTable proto) {
  if (proto.partition_count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition table: partition_count ",
                                                   proto.partition_count(), " is not positive"));
  }
  if (proto.partitions_size() != proto.partition_count()) {
    return absl::InvalidArgumentError(absl::StrCat("partition table: ", proto.partitions_size(),
                                                   " replica lists for ", proto.partition_count(),
                                                   " partitions"));
  }
  for (int p = 0; p < proto.partitions_size(); ++p) {
    absl::flat_hash_set<int> seen;
    for (int m : proto.partitions(p).members()) {
      if (m < 0 || m >= proto.members_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition table: partition ", p, " names member ", m, " of ", proto.members_size()));
      }
      if (!seen.insert(m).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("partition table: partition ", p, " lists member ", m, " twice"));
      }
    }
  }
  return PartitionTable(std::move(proto));
}

int PartitionTable::Owner(int partition) const {
  if (partition < 0 || partition >= proto_.partitions_size()) return -1;
  const auto& members = proto_.partitions(partition).members();
  return members.empty() ? -1 : members[0];
}

int PartitionTable::ReplicaIndex(int partition, int member_index) const {
  if (partition < 0 || partition >= proto_.partitions_size()) return -1;
  const auto& members = proto_.partitions(partition).members();
  for (int i = 0; i < members.size(); ++i) {
    if (members[i] == member_index) return i;
  }
  return -1;
}

int PartitionTable::MemberIndex(std::string_view member_id) const {
  for (int i = 0; i < proto_.members_size(); ++i) {
    if (proto_.members(i).id() == member_id) return i;
  }
  return -1;
}

}  // namespace gridrpc
