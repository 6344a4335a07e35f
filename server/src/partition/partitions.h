// Partitions: this member's replicas of every partition, and the partition table that gives
// them their roles.
//
// It holds one PartitionReplica per partition, installs tables (each partition adopts its new
// role inside the partition, in order with its calls, so a call runs entirely before or
// entirely after an ownership change), publishes what other threads may read without entering
// a partition (roles, sequences, the primary set), and reads and writes a replica's containers
// as one snapshot (resync and migration copy both move partitions that way).
//
// Thread-safe. `replica(p)`, `CheckOwner`, `ContainerOf`, `Publish`, `Snapshot`, `Restore` and
// `Clear` touch one partition's replica and must run inside that partition (PartitionExecutor);
// the rest may be called from any thread.
#ifndef GRIDRPC_SERVER_SRC_PARTITION_PARTITIONS_H_
#define GRIDRPC_SERVER_SRC_PARTITION_PARTITIONS_H_

#include <atomic>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dispatch/service_registry.h"
#include "gridrpc/clock.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/partition_table.h"
#include "partition/partition_executor.h"
#include "partition/partition_replica.h"

namespace gridrpc::internal {

// A replica's data as its source serves a copy of it: its sequence, the table version it was
// taken at, and each container's migration data.
struct ReplicaSnapshot {
  struct Entry {
    std::string lookup_name;
    std::string data;
  };
  int64_t sequence = 0;
  int64_t table_version = 0;
  std::vector<Entry> containers;
};

// A replica as its copy's destination received it: new containers, filled as the data came
// and not yet installed.
struct ReceivedReplica {
  struct Entry {
    int slot = -1;  // HostedService::container_slot
    std::unique_ptr<Container> container;
  };
  int64_t sequence = 0;
  int64_t table_version = 0;
  std::vector<Entry> containers;
  int64_t received_bytes = 0;  // what the copy carried over the network, framing included
};

// Told, inside a partition, when an installed table changed this member's replica of it.
class ReplicaObserver {
 public:
  virtual ~ReplicaObserver() = default;
  // `replica` already has its new role; `was_backup` says whether it was a backup before.
  virtual void OnRoleChanged(int partition, PartitionReplica& replica, bool was_backup) = 0;
};

class Partitions {
 public:
  struct ReplicaState {
    int replica_index = -1;
    int64_t sequence = 0;
  };

  Partitions(std::string member_id, int partition_count, PartitionExecutor& executor,
             const ServiceRegistry& registry, const Clock& clock);

  int partition_count() const { return partition_count_; }
  // Whether `partition` is a partition id of this cluster (what peers send is checked first).
  bool Contains(int partition) const { return partition >= 0 && partition < partition_count_; }
  const std::string& member_id() const { return member_id_; }

  // Once, before the first table: one container slot per partitioned instance.
  void AllocateContainers();
  // Observers are added before the first table and live as long as this object.
  void AddObserver(ReplicaObserver* observer) { observers_.push_back(observer); }

  // Adopts a newer table listing this member (see Member::InstallPartitionTable).
  absl::Status Install(std::shared_ptr<const PartitionTable> table);
  // Notes a table of the cluster that does not (yet) list this member: a joining member learns
  // who its peers are from it. Keeps the newest.
  void Observe(std::shared_ptr<const PartitionTable> table);

  // The installed table; null before the first.
  std::shared_ptr<const PartitionTable> table() const;
  // The newest table this member knows, installed or observed; null if none.
  std::shared_ptr<const PartitionTable> known_table() const;
  // The partitions this member is primary of in the installed table (MemberContext's view).
  std::shared_ptr<const std::vector<int>> PrimaryPartitions() const;
  // Whether the installed table makes `member_id` the primary of `partition`.
  bool IsPrimaryInTable(int partition, std::string_view member_id) const;
  // A new, empty container of the partitioned service `lookup_name` for `partition`, for a copy
  // to fill: NOT_FOUND when this member hosts no such service.
  absl::StatusOr<ReceivedReplica::Entry> NewContainer(int partition,
                                                      std::string_view lookup_name) const;

  // The fence: until when this member may act on its membership (its coordinator's session is
  // certainly alive until then, by the member's clock). Past it the member answers no call, read
  // or write, in any partition: it may already have been replaced. Infinite by default (a member
  // without a coordinator, or in memory).
  void set_valid_until(absl::Time valid_until) {
    valid_until_ns_.store(absl::ToUnixNanos(valid_until), std::memory_order_relaxed);
  }
  bool Fenced() const {
    return absl::ToUnixNanos(clock_.Now()) >= valid_until_ns_.load(std::memory_order_relaxed);
  }

  // Cheap reads of what partitions publish (see Publish).
  ReplicaState replica_state(int partition) const;
  // Primary, not frozen, not fenced: calls for the partition run here.
  bool serving(int partition) const {
    return published_serving_[partition].load(std::memory_order_relaxed) && !Fenced();
  }

  // Inside the partition from here on.
  PartitionReplica& replica(int partition) { return replicas_[partition]; }
  // OK when this member serves the partition, else UNAVAILABLE saying why (frozen, not the
  // owner, no table yet).
  absl::Status CheckOwner(int partition) const;
  // The instance's container in the partition, made on first use; null for stateless services.
  Container* ContainerOf(const HostedService& hosted, int partition);
  // Makes replica_state() and serving() current for the partition.
  void Publish(int partition);
  // Everything the replica holds, with its sequence and table version.
  absl::StatusOr<ReplicaSnapshot> Snapshot(int partition);
  // Replaces the replica's containers with those a copy filled, and its sequence with the
  // copy's.
  void Restore(int partition, ReceivedReplica data);
  // Drops the replica's state: every container cleared, sequence 0.
  void Clear(int partition);

  // Runs `fn` inside the partition with `service`'s container there, or with nullptr when this
  // member is not (or no longer) its primary (MemberContext::RunOnPartition).
  void RunOnPartition(int partition, const ServiceBase& service,
                      absl::AnyInvocable<void(Container* container) &&> fn);
  // Clears every partition's containers, each in order with its partition's calls.
  void ClearAll();
  // Drops every replica (containers, sequences, roles) but those of `keep` (their role only),
  // each in order with its partition's calls: the member was replaced while it was away, and
  // what it holds is stale, except for partitions the cluster lost, which it may give back.
  void DropAll(const std::set<int>& keep = {});

 private:
  const std::string member_id_;
  const int partition_count_;
  PartitionExecutor& executor_;
  const ServiceRegistry& registry_;
  const Clock& clock_;
  std::atomic<int64_t> valid_until_ns_{std::numeric_limits<int64_t>::max()};
  std::vector<ReplicaObserver*> observers_;
  // Indexed by partition; each entry is touched only by operations of its partition.
  std::vector<PartitionReplica> replicas_;

  mutable Mutex mu_;
  std::shared_ptr<const PartitionTable> table_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const PartitionTable> known_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<int>> primaries_ ABSL_GUARDED_BY(mu_);

  // Written inside the partitions, read from anywhere.
  std::unique_ptr<std::atomic<int>[]> published_replica_index_;
  std::unique_ptr<std::atomic<int64_t>[]> published_sequence_;
  std::unique_ptr<std::atomic<bool>[]> published_serving_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_PARTITION_PARTITIONS_H_
