// PeerService: gridrpc.v1.Peer, what only members send each other (backups, resyncs, the
// planner's migration steps, table installs, relayed migration events). It listens on the
// member's peer port only, and every call passes the peer authentication first (see
// net/peer_security.h); what an authenticated peer sends is still checked as if a stranger
// had sent it.
//
// Thread-safe; lives as long as the member's peer server.
#ifndef GRIDRPC_SERVER_SRC_CONTROL_PEER_SERVICE_H_
#define GRIDRPC_SERVER_SRC_CONTROL_PEER_SERVICE_H_

#include <functional>
#include <memory>
#include <set>

#include "control/proto_service.h"
#include "migration/migration_events.h"
#include "migration/migration_participant.h"
#include "replication/backup_applier.h"

namespace gridrpc::internal {

class PeerService final : public ProtoService {
 public:
  // Adopts a table a peer installs (Member::InstallPartitionTable).
  using InstallTable = std::function<absl::Status(std::shared_ptr<const PartitionTable>)>;
  // Resets lost partitions (through the member's coordinator) and reports the table version.
  using ResetLost = std::function<void(std::set<int> partitions,
                                       std::function<void(absl::StatusOr<int64_t>)> done)>;

  PeerService(Admission admit, BackupApplier& backups, MigrationParticipant& migration,
              MigrationEvents& events, InstallTable install, ResetLost reset, int partition_count);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CONTROL_PEER_SERVICE_H_
