// The coordinator-independent half of membership changes: promoting the backups of crashed
// members and moving replicas from one partition table to the next. EmbeddedCluster drives it
// over in-process channels, EtcdCoordinator over the network; both reach members only through
// gridrpc.v1.Peer (BeginMigration, CopyReplica, InstallPartitionTable).
#ifndef GRIDRPC_SERVER_SRC_MIGRATION_PROCESS_H_
#define GRIDRPC_SERVER_SRC_MIGRATION_PROCESS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/migration.h"
#include "gridrpc/partition_table.h"
#include "gridrpc/peer.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace gridrpc::internal {

// How a coordinator reaches members and makes a table the cluster's.
struct MigrationDriver {
  // A control-plane channel to the member `member` describes.
  std::function<std::shared_ptr<grpc::Channel>(const v1::MemberInfo& member)> channel;
  // Makes `table` the cluster's: stores it where the coordinator keeps it and installs it on
  // every live member it lists, before returning.
  std::function<absl::Status(std::shared_ptr<const PartitionTable> table)> commit;
  // Reports a migration event to everyone listening.
  std::function<void(const std::function<void(MigrationListener&)>& event)> notify;
};

// Commits `current` without the `crashed` members, at version current.version() + 1: their
// backups become primaries and nothing is copied, so every partition that still has a replica
// is writable again at once. Reported as one migration process of promotions (replica index 0).
// Returns the committed table.
absl::StatusOr<std::shared_ptr<const PartitionTable>> PromoteCrashed(
    const PartitionTable& current, const std::vector<std::string>& crashed,
    const MigrationDriver& driver);

// Moves every replica whose owner in `next` holds none of the partition in `current`: the
// partition is frozen on its primary, the destination copies it from there (rolled back on
// error, retried once), then `next` commits, which unfreezes it and makes members that no
// longer hold a replica drop theirs. `next` commits even when a copy failed twice (the replica
// is then missing until the next migration); that case returns INTERNAL.
absl::Status Migrate(const PartitionTable& current, std::shared_ptr<const PartitionTable> next,
                     const MigrationDriver& driver);

// Cluster/InstallPartitionTable on every member `table` lists, best effort: a member that does
// not answer within a short deadline is logged and skipped (it is dead, or it learns the table
// from the coordinator's store).
void InstallOnMembers(const PartitionTable& table, const MigrationDriver& driver);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MIGRATION_PROCESS_H_
