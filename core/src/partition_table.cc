#include "gridrpc/partition_table.h"

#include <algorithm>
#include <set>

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

PartitionTable PartitionTable::Rebalance(const PartitionTable& current,
                                         std::vector<v1::MemberInfo> members, int backup_count,
                                         int64_t version) {
  const int n = static_cast<int>(members.size());
  const int partitions = current.partition_count();
  const int replicas = n == 0 ? 0 : std::min(n, 1 + std::max(0, backup_count));
  // Old member index -> new member index, -1 for members that left.
  std::vector<int> renumber(current.member_count(), -1);
  for (int i = 0; i < current.member_count(); ++i) {
    for (int j = 0; j < n; ++j) {
      if (members[j].id() == current.member(i).id()) renumber[i] = j;
    }
  }
  // Each replica index is spread on its own: member j may hold at most `quota` of them.
  std::vector<std::vector<int>> assigned(partitions);
  for (int r = 0; r < replicas; ++r) {
    // An even spread: every member holds partitions / n, and partitions % n of them one more.
    const int quota = partitions / n;
    int extras = partitions % n;
    std::vector<int> load(n, 0);
    auto usable = [&](int p, int m) {
      return m >= 0 && (load[m] < quota || (load[m] == quota && extras > 0)) &&
             std::find(assigned[p].begin(), assigned[p].end(), m) == assigned[p].end();
    };
    auto take = [&](int m) {
      if (load[m]++ == quota) --extras;
    };
    // Partitions whose earlier replicas went to a newcomer first: they have the fewest choices
    // left (the newcomer cannot hold two replicas of one partition), so they keep their old
    // holders while there is room, and the newcomer's share comes from the others.
    auto held_before = [&](int p, int m) {
      for (int old : current.proto().partitions(p).members()) {
        if (renumber[old] == m) return true;
      }
      return false;
    };
    std::vector<int> order(partitions);
    for (int p = 0; p < partitions; ++p) order[p] = p;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      auto placed_anew = [&](int p) {
        return std::any_of(assigned[p].begin(), assigned[p].end(),
                           [&](int m) { return !held_before(p, m); });
      };
      return placed_anew(a) && !placed_anew(b);
    });
    std::vector<int> pending;
    for (int p : order) {
      // Prefer whoever held this replica, then whoever held another replica of p (a backup
      // promoted needs no copy).
      const auto& old = current.proto().partitions(p).members();
      int chosen = -1;
      if (r < old.size() && usable(p, renumber[old[r]])) chosen = renumber[old[r]];
      for (int i = 0; chosen < 0 && i < old.size(); ++i) {
        if (usable(p, renumber[old[i]])) chosen = renumber[old[i]];
      }
      if (chosen < 0) {
        pending.push_back(p);
        assigned[p].push_back(-1);
        continue;
      }
      assigned[p].push_back(chosen);
      take(chosen);
    }
    for (int p : pending) {
      int best = -1;
      for (int m = 0; m < n; ++m) {
        if (usable(p, m) && (best < 0 || load[m] < load[best])) best = m;
      }
      if (best < 0) {  // only possible when quotas are full: take the least loaded eligible
        for (int m = 0; m < n; ++m) {
          if (std::find(assigned[p].begin(), assigned[p].end(), m) == assigned[p].end() &&
              (best < 0 || load[m] < load[best])) {
            best = m;
          }
        }
      }
      assigned[p].back() = best;
      take(best);
    }
    // The greedy pass can strand a member below its share when the partitions left over are
    // exactly those it may not take (it holds another of their replicas). Repair by swapping:
    // an overloaded member's replica goes to a member that may take it, directly or through a
    // third partition.
    auto holds = [&](int p, int m) {
      return std::find(assigned[p].begin(), assigned[p].end(), m) != assigned[p].end();
    };
    for (int round = 0; round < partitions; ++round) {
      int under = -1, over = -1;
      for (int m = 0; m < n; ++m) {
        if (load[m] < quota && (under < 0 || load[m] < load[under])) under = m;
        if (load[m] > quota + 1 && (over < 0 || load[m] > load[over])) over = m;
      }
      if (under < 0) break;
      if (over < 0) {  // no one beyond quota + 1: take from one at quota + 1 if extras allow
        for (int m = 0; m < n; ++m) {
          if (load[m] == quota + 1 && (over < 0 || load[m] > load[over])) over = m;
        }
        if (over < 0) break;
      }
      bool moved = false;
      for (int q = 0; q < partitions && !moved; ++q) {
        if (assigned[q][r] != over) continue;
        if (!holds(q, under)) {
          assigned[q][r] = under;
          moved = true;
          break;
        }
        // `under` holds another replica of q: find x it may take whose holder may take q.
        for (int x = 0; x < partitions && !moved; ++x) {
          const int v = assigned[x][r];
          if (x == q || v == over || v == under || holds(x, under) || holds(q, v)) continue;
          assigned[x][r] = under;
          assigned[q][r] = v;
          moved = true;
        }
      }
      if (!moved) break;
      --load[over];
      ++load[under];
    }
  }
  v1::PartitionTable proto;
  proto.set_version(version);
  proto.set_cluster_name(current.cluster_name());
  proto.set_partition_count(partitions);
  for (v1::MemberInfo& m : members) *proto.add_members() = std::move(m);
  for (int p = 0; p < partitions; ++p) {
    v1::PartitionReplicas* r = proto.add_partitions();
    for (int m : assigned[p]) r->add_members(m);
    r->set_lost(current.lost(p));  // new owners of a lost partition hold nothing either
    *r->mutable_last_holders() = current.proto().partitions(p).last_holders();
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

namespace {

// The index of `member` in `proto`, which lists it last if it did not yet (without what it
// registered beyond its identity: the replicas it offered are not part of a table).
int FindOrAddMember(v1::PartitionTable& proto, const v1::MemberInfo& member) {
  for (int i = 0; i < proto.members_size(); ++i) {
    if (proto.members(i).id() == member.id()) return i;
  }
  v1::MemberInfo& added = *proto.add_members();
  added = member;
  added.clear_held();
  return proto.members_size() - 1;
}

}  // namespace

bool PartitionTable::LostFrom(int partition, std::string_view member_id) const {
  const v1::PartitionReplicas& replicas = proto_.partitions(partition);
  return replicas.lost() &&
         std::find(replicas.last_holders().begin(), replicas.last_holders().end(), member_id) !=
             replicas.last_holders().end();
}

PartitionTable PartitionTable::MarkLost(const PartitionTable& table, const PartitionTable& before,
                                        const std::set<int>& partitions) {
  v1::PartitionTable proto = table.proto();
  for (int p : partitions) {
    v1::PartitionReplicas* replicas = proto.mutable_partitions(p);
    replicas->set_lost(true);
    replicas->clear_last_holders();
    for (int m : before.proto().partitions(p).members()) {
      replicas->add_last_holders(before.member(m).id());
    }
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::ResetLost(const PartitionTable& table,
                                         const std::set<int>& partitions) {
  v1::PartitionTable proto = table.proto();
  for (int p : partitions) {
    proto.mutable_partitions(p)->set_lost(false);
    proto.mutable_partitions(p)->clear_last_holders();
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::Restore(const PartitionTable& table,
                                       const std::map<int, v1::MemberInfo>& owners,
                                       int64_t version) {
  v1::PartitionTable proto = table.proto();
  proto.set_version(version);
  for (const auto& [p, owner] : owners) {
    const int index = FindOrAddMember(proto, owner);
    v1::PartitionReplicas* replicas = proto.mutable_partitions(p);
    replicas->clear_members();  // the new owners the lost partition had hold nothing
    replicas->add_members(index);
    replicas->set_lost(false);
    replicas->clear_last_holders();
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::KeepReplicas(const PartitionTable& next,
                                            const PartitionTable& current,
                                            const std::set<int>& partitions) {
  v1::PartitionTable proto = next.proto();
  for (int p : partitions) {
    google::protobuf::RepeatedField<int32_t> kept;
    for (int m : current.proto().partitions(p).members()) {
      const v1::MemberInfo& member = current.member(m);
      // A member `next` leaves out (one that is leaving) keeps its replica.
      kept.Add(FindOrAddMember(proto, member));
    }
    *proto.mutable_partitions(p)->mutable_members() = std::move(kept);
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
