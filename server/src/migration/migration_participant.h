// MigrationParticipant: a member's part in migrations the planner runs.
//
// - As a partition's primary: Freeze (Peer/BeginMigration) refuses calls for the partition as
//   retryable until the table it moves in is installed, and answers once every write already
//   applied has its sync backups; ServeSync (Peer/Sync) hands the partition's containers and
//   sequence to a destination or to a backup that resyncs.
// - As a destination: CopyReplica (Peer/CopyReplica) pulls the partition from its primary, a
//   member of the newest table this member knows, and applies it, reporting its progress to the
//   planner as chunks arrive; on error it holds nothing.
//
// Thread-safe. Answers arriving after the member stopped leave it alone (LifeGuard).
#ifndef GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_PARTICIPANT_H_
#define GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_PARTICIPANT_H_

#include <grpcpp/support/server_callback.h>

#include <memory>

#include "gridrpc/member.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

class MigrationParticipant {
 public:
  MigrationParticipant(Partitions& partitions, PartitionExecutor& executor, PeerChannels& peers,
                       const MemberTunables& tunables, std::shared_ptr<LifeGuard> guard)
      : partitions_(partitions),
        executor_(executor),
        peers_(peers),
        tunables_(tunables),
        guard_(std::move(guard)) {}

  grpc::ServerUnaryReactor* BeginMigration(grpc::CallbackServerContext* ctx,
                                           const v1::BeginMigrationRequest& request);
  grpc::ServerWriteReactor<v1::SyncChunk>* ServeSync(const v1::SyncRequest& request);
  // Streams the bytes received while the copy runs; the stream's status is the outcome.
  grpc::ServerWriteReactor<v1::CopyReplicaProgress>* CopyReplica(
      const v1::CopyReplicaRequest& request);

 private:
  // Freezes the partition until a table of at least `until_version` is installed; runs `frozen`
  // once the freeze holds and every write already applied has its sync backups.
  void Freeze(int partition, int64_t until_version, absl::AnyInvocable<void() &&> frozen);

  Partitions& partitions_;
  PartitionExecutor& executor_;
  PeerChannels& peers_;
  const MemberTunables& tunables_;
  const std::shared_ptr<LifeGuard> guard_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_PARTICIPANT_H_
