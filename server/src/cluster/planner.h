// Planner: decides the cluster's partition table and moves replicas to it, over any
// membership store (membership_store.h). The embedded cluster and etcd run this same code.
//
// One member at a time plans: the one holding the store's planner role. Each round it reads
// the store and reconciles: it plans the first table; promotes the backups of members whose
// sessions ended; and rebalances onto the live members that are not leaving (a leaving member
// still serves as a migration source). Every table it writes is committed fenced (by its term
// and by the revision of the table it planned from) and then installed on the members the table
// lists, so the next step never runs ahead of a member's watch. A planner that lost its role
// finds out at its next commit (ABORTED) or read, and plans nothing until it holds the role
// again.
//
// Not thread-safe: one thread (the coordinator's planner loop) runs it.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_PLANNER_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_PLANNER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/membership_store.h"
#include "cluster/migration_process.h"

namespace gridrpc::internal {

class Planner {
 public:
  struct Context {
    std::string member_id;  // the member this planner plans for
    std::string cluster_name;
    int partition_count;
    int backup_count;  // backups per partition in the tables it plans (capped by members)
    // How long a member of the table that this planner never saw alive in its term may be
    // missing before it is taken for crashed: members fenced by a store outage register again
    // when it is back, and must not be promoted away meanwhile. 0: at once (in memory).
    absl::Duration recovery_grace;
    // A partition that lost every replica serves again at once, empty (--on_partition_lost=
    // reset, for caches), instead of answering DATA_LOSS until an operator resets it.
    bool reset_lost_partitions = false;
    PeerChannels& peers;
    const MemberTunables& tunables;
    const Clock& clock;
    // Reports a migration event to everyone listening.
    std::function<void(const std::function<void(MigrationListener&)>& event)> notify;
    // The planning member's metrics.
    MemberMetrics& metrics;
  };

  enum class Outcome {
    kNotPlanner,  // another member plans
    kSettled,     // the table fits the membership: nothing to do
    kChanged,     // a table was committed (and maybe replicas moved)
    kWaiting,     // members of the table are missing, or last holders of lost partitions have
                  // not offered their replicas yet, within the recovery grace: look again
  };
  struct Round {
    Outcome outcome = Outcome::kNotPlanner;
    int64_t revision = 0;  // the store revision the round read
  };

  Planner(MembershipStore& store, Context context) : store_(store), context_(std::move(context)) {}

  // One round for the member whose session is `session`: takes the planner role if nobody holds
  // it, then, if it holds it, reconciles.
  absl::StatusOr<Round> RunRound(int64_t session);

  // An operator resets lost partitions: commits a table in which they are no longer lost (their
  // replicas serve again, empty). Returns its version; FAILED_PRECONDITION when this member does
  // not plan, or a partition is not lost.
  absl::StatusOr<int64_t> ResetLost(int64_t session, const std::set<int>& partitions);

  // The last member leaves: deletes the table, so the next member to start plans a first one.
  // Only while this planner still holds the role.
  absl::Status EndCluster();

  // The other live members as of the last round (the event relay's audience).
  const std::vector<v1::MemberInfo>& others() const { return others_; }

 private:
  // Takes the planner role if nobody holds it and reads the store as its planner; nullopt when
  // another member plans.
  absl::StatusOr<std::optional<ClusterView>> ReadAsPlanner(int64_t session);
  // Members back after they were replaced may hold replicas of partitions the table marks lost:
  // commits a table in which the freshest offer of each from its last holders is its primary
  // again (replacing `current`). True if it committed one.
  absl::StatusOr<bool> RestoreLost(const ClusterView& view,
                                   std::shared_ptr<const PartitionTable>& current);
  // Last holders of lost partitions that registered again offering nothing: a member registers
  // again as soon as the store is back, and may learn only afterwards, from its watch, that it
  // was replaced; its offer then follows in a second registration. Made a new member meanwhile,
  // it would no longer be asked for its replica, and the partition would stay lost. They are
  // not rebalanced in until they offer, for at most the recovery grace.
  std::set<std::string> AwaitOffers(const ClusterView& view, const PartitionTable& current,
                                    absl::Time now);
  // Writes `table` if this planner still plans and the stored table is still the one it read,
  // then installs it on the members it lists.
  absl::Status CommitFenced(std::shared_ptr<const PartitionTable> table);
  MigrationDriver Driver();

  MembershipStore& store_;
  const Context context_;
  int64_t term_ = 0;            // of the planner role while this planner holds it; 0: not
  int64_t last_term_ = 0;       // the last term it held
  int64_t table_revision_ = 0;  // of the table last read or written
  std::vector<v1::MemberInfo> others_;
  // Within the current term: members seen registered, and since when others of the table have
  // been missing.
  std::set<std::string> seen_in_term_;
  std::map<std::string, absl::Time> missing_since_;
  std::map<std::string, absl::Time> offer_awaited_since_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_PLANNER_H_
