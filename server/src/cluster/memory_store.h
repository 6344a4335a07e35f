// InMemoryStore: the membership store of members in one process (the embedded cluster, or a
// member alone). Sessions never expire by themselves: the process that holds them is the
// process they live in. AbandonSession ends one at once, as a crash would end it (the embedded
// cluster's Crash).
//
// Thread-safe. Watch callbacks run on the store's own thread, in revision order.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_MEMORY_STORE_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_MEMORY_STORE_H_

#include <deque>
#include <thread>
#include <vector>

#include "cluster/membership_store.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class InMemoryStore final : public MembershipStore {
 public:
  InMemoryStore();
  ~InMemoryStore() override;  // outlives every watch and session of its users

  std::string Describe() const override { return "in memory"; }
  absl::StatusOr<int64_t> OpenSession(absl::Duration ttl, SessionEvents events) override;
  absl::Status ResumeSession(int64_t session, absl::Duration ttl, SessionEvents events) override;
  absl::Status CloseSession(int64_t session) override;
  void AbandonSession(int64_t session) override;
  absl::Status Register(int64_t session, const v1::MemberInfo& member) override;
  absl::Status MarkLeaving(int64_t session, const std::string& member_id) override;
  absl::StatusOr<int64_t> Campaign(int64_t session, const std::string& member_id) override;
  absl::StatusOr<ClusterView> Read() override;
  absl::StatusOr<std::optional<v1::PartitionTable>> ReadTable() override;
  absl::StatusOr<int64_t> CommitTable(int64_t planner_term, int64_t expected_table_revision,
                                      const v1::PartitionTable& table) override;
  absl::Status DeleteTable(int64_t planner_term) override;
  absl::StatusOr<std::unique_ptr<StoreWatch>> Watch(
      std::function<void(const StoreChange&)> on_change,
      std::function<void(const absl::Status&)> on_broken) override;

  int64_t revision() const;
  // Ends several sessions in one change, as leases that expired at the same moment would.
  void AbandonSessions(const std::vector<int64_t>& sessions);
  // Commits `table` whatever the fences: for tests that stage a table by hand.
  void CommitTableForTest(const v1::PartitionTable& table);

 private:
  struct Registration {
    v1::MemberInfo info;
    int64_t session;
  };
  struct Watcher;
  class WatchHandle;

  // Moves the revision on and queues the change for the watchers.
  void Changed(std::optional<v1::PartitionTable> table) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndSession(int64_t session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops what the session holds without a change of its own; false if it had ended.
  bool EndSessionQuietly(int64_t session) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckSession(int64_t session) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch();

  mutable Mutex mu_;
  CondVar changes_queued_;  // a change to dispatch, or stopping_
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_session_ ABSL_GUARDED_BY(mu_) = 1;
  std::set<int64_t> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Registration> members_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> leaving_ ABSL_GUARDED_BY(mu_);  // id -> session
  std::string planner_ ABSL_GUARDED_BY(mu_);
  int64_t planner_session_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t planner_term_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<v1::PartitionTable> table_ ABSL_GUARDED_BY(mu_);
  int64_t table_revision_ ABSL_GUARDED_BY(mu_) = 0;

  std::vector<std::weak_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  std::deque<StoreChange> changes_ ABSL_GUARDED_BY(mu_);  // not yet dispatched
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread dispatcher_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_MEMORY_STORE_H_
