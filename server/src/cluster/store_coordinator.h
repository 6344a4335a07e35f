// StoreCoordinator: the Coordinator (gridrpc/coordinator.h) of one member, over any membership
// store. It opens the member's session, registers it, watches the store (installing every
// committed table on its member), runs the planner loop (planner.h) whenever the store changes,
// relays the migration events it plans to the other members.
//
// The member acts on its membership only while its session is certainly alive (Partitions'
// fence, renewed with the session). A session that cannot be renewed fences the member at once:
// it answers nothing but keeps its replicas, and the coordinator resumes the session when the
// store is back, or registers the member again under its id if the store ended it. A member the
// cluster replaced while it was away (a committed table no longer lists it) drops its replicas
// and joins again. Only a member the cluster refuses to take back (other settings) is expelled.
//
// Both kinds of cluster use it: NewEtcdCoordinator over etcd, and the embedded cluster (and a
// member alone) over an in-memory store.
//
// Thread-safe. Callbacks from the store only set flags and wake the planner loop; the loop runs
// the planner and the expulsion handler, on its own thread.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_STORE_COORDINATOR_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_STORE_COORDINATOR_H_

#include <functional>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "cluster/event_relay.h"
#include "cluster/membership_store.h"
#include "cluster/planner.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class MemberCore;

struct StoreCoordinatorOptions {
  absl::Duration lease_ttl = absl::Seconds(5);
  int backup_count = 1;
  // See Planner::Context::recovery_grace (etcd: the lease TTL; in memory: 0).
  absl::Duration recovery_grace = absl::ZeroDuration();
  // See Planner::Context::reset_lost_partitions.
  bool reset_lost_partitions = false;
  absl::Duration membership_timeout = absl::Seconds(60);
  // Called once, from the planner loop, when the member was expelled (the cluster refuses to
  // take it back); the default terminates the member. Must not block for long.
  std::function<void()> on_expelled;
  // Called from the planner loop after a round in which this member planned and found nothing
  // to do, with the store revision it read: the cluster is settled at that revision.
  std::function<void(int64_t revision)> on_settled;
};

// The store of the cluster a member names (MemberOptions::cluster_name); called once, when the
// member registers.
using StoreFactory =
    std::function<absl::StatusOr<std::shared_ptr<MembershipStore>>(const std::string& cluster)>;

class StoreCoordinator final : public Coordinator {
 public:
  StoreCoordinator(StoreFactory store, StoreCoordinatorOptions options);
  // Stops planning; a session still held is abandoned, as a crash would leave it.
  ~StoreCoordinator() override;

  absl::Status Join(Member& member) override;
  absl::Status Leave() override;
  void AddMigrationListener(std::shared_ptr<MigrationListener> listener) override;

  // Join in steps, so that several members can register before any of them plans (the
  // embedded cluster plans its first table with all of them): Register opens the session,
  // watches the store and registers the member; Start runs the planner loop; WaitUntilListed
  // returns once a committed table lists the member.
  absl::Status Register(Member& member);
  void Start();
  absl::Status WaitUntilListed();

  // Stops planning and watching and abandons the session, as a crash would (EmbeddedCluster's
  // Crash). Nothing is handed over; the member is left alone.
  void Abandon();
  // Stops planning and watching; the session stays until Abandon or destruction.
  void StopPlanning();
  // The member's session (0: none). After StopPlanning only, from the thread that stopped it.
  int64_t session() const { return session_; }

 private:
  // Opens a session and registers the member on it (session_).
  absl::Status OpenAndRegister();
  // What the member registers as: its info, its backup count and the replicas it offers.
  v1::MemberInfo Registration();
  SessionEvents Events();
  // From a store thread: the session could not be renewed. The member is fenced at once; the
  // loop tries to resume the session, else registers again.
  void SessionLost();
  void Recover();
  // On the loop: an operator's reset of lost partitions, by this member's planner or, if another
  // member plans, by that one (Peer/ResetLostPartitions).
  absl::StatusOr<int64_t> ResetLost(const std::set<int>& partitions);
  // Refuses a member whose cluster-wide settings (partition count, backup count) differ from the
  // cluster's as the store shows it.
  absl::Status CheckSettings(const v1::MemberInfo& self);
  // (Re)starts the watch, then installs the stored table.
  void WatchAndLoadTable();
  void OnChange(const StoreChange& change);
  void InstallFromStore(const v1::PartitionTable& proto);
  // From any thread: records why and wakes the loop, which expels.
  void Expel(std::string why);
  void Wake();
  void PlannerLoop();
  void Notify(const std::function<void(MigrationListener&)>& event);
  // Conditions the loop and the waits wait for.
  bool LoopShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ListedOrExpelled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return listed_ || expelled_; }
  bool LeftOrExpelled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return left_ || expelled_; }

  const StoreFactory make_store_;
  const StoreCoordinatorOptions options_;
  std::shared_ptr<MembershipStore> store_;  // set by Register
  Member* member_ = nullptr;
  MemberCore* core_ = nullptr;
  int64_t session_ = 0;
  std::unique_ptr<Planner> planner_;
  std::shared_ptr<EventRelay> relay_;

  Mutex mu_;
  CondVar changed_;  // any flag below changed
  std::vector<std::shared_ptr<MigrationListener>> listeners_ ABSL_GUARDED_BY(mu_);
  bool leaving_ ABSL_GUARDED_BY(mu_) = false;
  bool left_ ABSL_GUARDED_BY(mu_) = false;    // a committed table without us, after leaving_
  bool listed_ ABSL_GUARDED_BY(mu_) = false;  // a committed table listed us
  bool expelled_ ABSL_GUARDED_BY(mu_) = false;
  std::string expelled_why_ ABSL_GUARDED_BY(mu_);
  bool expel_handled_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_broken_ ABSL_GUARDED_BY(mu_) = false;
  bool session_lost_ ABSL_GUARDED_BY(mu_) = false;
  // Replicas of lost partitions the member kept when the cluster replaced it, offered back.
  std::vector<v1::HeldReplica> held_ ABSL_GUARDED_BY(mu_);
  bool reregister_ ABSL_GUARDED_BY(mu_) = false;  // registered: register again with held_
  struct ResetRequest {
    std::set<int> partitions;
    std::function<void(absl::StatusOr<int64_t>)> done;
  };
  std::vector<ResetRequest> resets_ ABSL_GUARDED_BY(mu_);  // for the loop

  std::unique_ptr<StoreWatch> watch_;  // by Register, then only by the planner loop
  std::thread loop_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_STORE_COORDINATOR_H_
