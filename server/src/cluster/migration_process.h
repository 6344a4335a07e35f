// The steps of membership changes the planner (planner.h) takes: promoting the backups of
// crashed members, moving replicas from one partition table to the next, and installing a
// committed table on its members. They reach members only through gridrpc.v1.Peer
// (BeginMigration, CopyReplica, InstallPartitionTable), on their peer ports.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_MIGRATION_PROCESS_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_MIGRATION_PROCESS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/clock.h"
#include "gridrpc/member.h"
#include "gridrpc/migration.h"
#include "gridrpc/partition_table.h"
#include "member/metrics.h"
#include "net/peer_channels.h"

namespace gridrpc::internal {

// How the steps reach members and make a table the cluster's.
struct MigrationDriver {
  PeerChannels& peers;
  // Parallelism and deadlines.
  const MemberTunables& tunables;
  const Clock& clock;
  // Makes `table` the cluster's: stores it (fenced) and installs it on every member it lists,
  // before returning.
  std::function<absl::Status(std::shared_ptr<const PartitionTable> table)> commit;
  // Reports a migration event to everyone listening.
  std::function<void(const std::function<void(MigrationListener&)>& event)> notify;
  // The planning member's: degraded steps are counted there.
  MemberMetrics& metrics;
};

// Commits `current` without the `crashed` members, at version current.version() + 1: their
// backups become primaries and nothing is copied, so every partition that still has a replica
// is writable again at once. Reported as one migration process of promotions (replica index 0).
// Returns the committed table.
// A partition whose every replica crashed is lost: it is added to `lost` and marked lost in the
// committed table (its new owners answer DATA_LOSS), unless `reset_lost` (it then serves again,
// empty).
absl::StatusOr<std::shared_ptr<const PartitionTable>> PromoteCrashed(
    const PartitionTable& current, const std::vector<std::string>& crashed,
    const MigrationDriver& driver, bool reset_lost, std::vector<PartitionLostEvent>* lost);

// Moves every replica whose owner in `next` holds none of the partition in `current`: the
// partition is frozen on its primary, the destination copies it from there (rolled back on
// error, retried once), then `next` commits, which unfreezes it and makes members that no
// longer hold a replica drop theirs. A partition whose copy failed twice keeps its replicas of
// `current` in the committed table (it never lists a replica without its data); that case
// returns UNAVAILABLE, and the planner tries again in its next round.
absl::Status Migrate(const PartitionTable& current, std::shared_ptr<const PartitionTable> next,
                     const MigrationDriver& driver);

// Peer/InstallPartitionTable on every member `table` lists, best effort: a member that does not
// answer within the control timeout is logged and skipped (it is dead, or it learns the table
// from the store).
void InstallOnMembers(const PartitionTable& table, const MigrationDriver& driver);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_MIGRATION_PROCESS_H_
