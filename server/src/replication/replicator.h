// Replicator: the primary's half of backups. A successful mutating operation of a partitioned
// service is stamped, inside its partition, with the partition's next replica sequence and sent
// to the partition's backups (Peer/Backup): the first `sync_backups` of them before the caller
// is answered, the next `async_backups` without waiting (counts from the contract, capped by the
// table).
//
// Thread-safe; Replicate runs inside the partition. Answers arriving after the member stopped
// leave it alone (LifeGuard).
#ifndef GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_
#define GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "dispatch/service_registry.h"
#include "gridrpc/member.h"
#include "member/counters.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

class Replicator {
 public:
  Replicator(Partitions& partitions, PartitionExecutor& executor, PeerChannels& peers,
             const MemberTunables& tunables, MemberCounters& counters,
             std::shared_ptr<LifeGuard> guard)
      : partitions_(partitions),
        executor_(executor),
        peers_(peers),
        tunables_(tunables),
        counters_(counters),
        guard_(std::move(guard)) {}

  // Inside the partition, after `method` ran successfully on the primary: replicates it and runs
  // `on_synced` once the sync backups answered: OK, or ABORTED when one refused it because a
  // newer table no longer makes this member the primary (the write then lives on a replica that
  // is being replaced: the caller must not take it as done). A sync backup that is unreachable
  // or slow is counted, not reported.
  void Replicate(int partition, const HostedService& hosted, const MethodDescriptor& method,
                 const google::protobuf::Message& request, std::optional<std::string> payload,
                 absl::AnyInvocable<void(absl::Status) &&> on_synced);

 private:
  Partitions& partitions_;
  PartitionExecutor& executor_;
  PeerChannels& peers_;
  const MemberTunables& tunables_;
  MemberCounters& counters_;
  const std::shared_ptr<LifeGuard> guard_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_
