// BackupApplier: the backup's half of backups. It applies the operations primaries send
// (Peer/Backup) strictly in sequence order: one that arrives early waits (its caller is answered
// only once it is applied); a gap that outlives the grace period (an async backup that was lost)
// makes the backup fetch the whole partition from its primary (Peer/Sync) and go on from there.
//
// Fencing: a backup refuses an operation stamped with an older table version than its own
// unless its own table still makes the sender the primary and itself a backup (while a new
// table is installed member by member, a backup may be ahead of a primary whose role did not
// change; refusing would leave an acknowledged write on one replica).
//
// Thread-safe. Per-partition state is touched only inside the partition.
#ifndef GRIDRPC_SERVER_SRC_REPLICATION_BACKUP_APPLIER_H_
#define GRIDRPC_SERVER_SRC_REPLICATION_BACKUP_APPLIER_H_

#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/service_registry.h"
#include "gridrpc/member.h"
#include "member/metrics.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

class BackupApplier final : public ReplicaObserver {
 public:
  BackupApplier(const MemberContext& member, const ServiceRegistry& registry,
                Partitions& partitions, PartitionExecutor& executor, PeerChannels& peers,
                const MemberTunables& tunables, MemberMetrics& metrics,
                std::shared_ptr<LifeGuard> guard);

  // Peer/Backup.
  grpc::ServerUnaryReactor* HandleBackup(grpc::CallbackServerContext* ctx,
                                         const v1::BackupRequest& request,
                                         v1::BackupResponse* response);

  // A replica that is no longer a backup drops what waited for a missing predecessor: those
  // operations were not acknowledged to anyone.
  void OnRoleChanged(int partition, PartitionReplica& replica, bool was_backup) override;

  // The member is stopping: what waits for a predecessor is refused (its server can only stop
  // once every call has been answered), and so is what arrives from now on.
  void Stop();

  // Backup replicas waiting for an operation that has not arrived (a gap in the sequence; they
  // resync if it does not come within the gap grace).
  int64_t lagging() const { return lagging_.load(std::memory_order_relaxed); }

 private:
  // An operation that arrived ahead of its predecessor; applied when they have.
  struct Pending {
    const HostedService* hosted;
    const MethodDescriptor* method;
    std::unique_ptr<google::protobuf::Message> request;
    std::optional<std::string> payload;
    grpc::ServerUnaryReactor* reactor;  // answered once applied
    v1::BackupResponse* response;
  };
  // Per partition, inside it only.
  struct Order {
    std::map<int64_t, Pending> pending;  // by sequence, all above the replica's
    bool resync_scheduled = false;       // a gap alarm or a resync is on its way
    bool lagging = false;                // counted in lagging_
  };

  // Inside the partition: applies the pending operations that are next in sequence, and
  // watches a gap that remains.
  void ApplyPending(int partition);
  // Inside the partition: asks the primary for the whole partition.
  void Resync(int partition);
  // Inside the partition: answers every pending operation UNAVAILABLE with `why`.
  void FailPending(int partition, const std::string& why);
  // Inside the partition, after its pending operations changed: keeps lagging_ true to them.
  void NoteLag(int partition);

  const MemberContext& member_;
  const ServiceRegistry& registry_;
  Partitions& partitions_;
  PartitionExecutor& executor_;
  PeerChannels& peers_;
  const MemberTunables& tunables_;
  MemberMetrics& metrics_;
  const std::shared_ptr<LifeGuard> guard_;
  std::vector<Order> orders_;  // by partition
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> lagging_{0};
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_REPLICATION_BACKUP_APPLIER_H_
