// MembershipStore: where a cluster keeps who its members are, who plans, and the committed
// partition table. The planner (planner.h) and the coordinator (store_coordinator.h) work only
// through this interface; it has two implementations: in memory (members of one process: the
// embedded cluster and a standalone member) and etcd (members in separate processes).
//
// The model is etcd's, reduced to what membership needs:
// - A session is a member's liveness (etcd: a lease kept alive). What is written on a session
//   (the member's registration, its leaving mark, the planner role) disappears when the session
//   ends: closed (a graceful leave), or expired (the member stopped renewing it: crashed,
//   paused, or cut off from the store).
// - Every change moves the store's revision forward; a view is read at one revision.
// - One member at a time holds the planner role, for a term (etcd: the create revision of the
//   planner key). A table is committed only by the term that holds the role and only over the
//   table that term planned from (its revision): a planner that lost its role, or planned from a
//   table someone else replaced, cannot commit.
// - A watch reports every change after it started, in order.
//
// A session that expires is gone; its member may open a new one and register again under the
// same id (the store does not remember sessions, only what is written on live ones). That is
// how a member that lost its lease, but kept its data, can come back.
//
// Implementations are thread-safe. Callbacks (a session's on_expired, a watch's) run on the
// store's own threads, one at a time per watch, and must not block for long.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_MEMBERSHIP_STORE_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_MEMBERSHIP_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/cluster.pb.h"

namespace gridrpc::internal {

// What the store holds for one cluster, read at one revision.
struct ClusterView {
  int64_t revision = 0;
  // Members whose session is alive, by id (ordered, so plans are deterministic).
  std::map<std::string, v1::MemberInfo> members;
  // Members handing their replicas over before they leave.
  std::set<std::string> leaving;
  // The member holding the planner role and its term; empty and 0 when nobody plans.
  std::string planner;
  int64_t planner_term = 0;
  // The committed table and the revision it was committed at; nullopt and 0 when none.
  std::optional<v1::PartitionTable> table;
  int64_t table_revision = 0;
};

// What a session's holder hears about it (membership_store.h, OpenSession).
struct SessionEvents {
  std::function<void(absl::Time valid_until)> renewed;
  std::function<void()> lost;
};

// One change a watch reports.
struct StoreChange {
  int64_t revision = 0;
  // The table this change committed, if it committed one.
  std::optional<v1::PartitionTable> table;
};

// A running watch. Destroying it stops its callbacks (none runs after the destructor returned);
// never destroy it from inside its own callbacks.
class StoreWatch {
 public:
  virtual ~StoreWatch() = default;
};

class MembershipStore {
 public:
  virtual ~MembershipStore() = default;

  // Where the store is, for messages ("etcd at http://...", "in memory").
  virtual std::string Describe() const = 0;

  // Opens a session that lives while it is renewed, `ttl` at most without renewal, and keeps
  // renewing it. `events.renewed` runs, before OpenSession returns and after each renewal, with
  // the time until which the session is certainly alive by this host's clock (in memory:
  // absl::InfiniteFuture()); a member acts for its session only until then. `events.lost` runs
  // once when renewing stopped: the session could not be renewed in time (the store may still
  // hold it: ResumeSession tells), or the store ended it.
  virtual absl::StatusOr<int64_t> OpenSession(absl::Duration ttl, SessionEvents events) = 0;
  // After `lost`: renews `session` again if the store still holds it (etcd keeps leases alive
  // across its own restarts), reporting to `events` as OpenSession does. NOT_FOUND when the
  // session is gone (open a new one), UNAVAILABLE when the store does not answer (try later).
  virtual absl::Status ResumeSession(int64_t session, absl::Duration ttl, SessionEvents events) = 0;
  // Ends the session now: what was written on it disappears at once. `lost` does not run.
  virtual absl::Status CloseSession(int64_t session) = 0;
  // Stops renewing the session, as a crash would: it ends when the store notices (etcd: after
  // its TTL; in memory: at once). `lost` does not run.
  virtual void AbandonSession(int64_t session) = 0;

  // Registers `member` on `session` (replacing an earlier registration of the same id).
  virtual absl::Status Register(int64_t session, const v1::MemberInfo& member) = 0;
  // Marks the member as leaving, on `session`.
  virtual absl::Status MarkLeaving(int64_t session, const std::string& member_id) = 0;
  // Takes the planner role for `member_id` on `session` if nobody holds it. Returns the term
  // (also when `session` holds the role already), or 0 when another session does.
  virtual absl::StatusOr<int64_t> Campaign(int64_t session, const std::string& member_id) = 0;

  virtual absl::StatusOr<ClusterView> Read() = 0;
  // The committed table alone; nullopt when none.
  virtual absl::StatusOr<std::optional<v1::PartitionTable>> ReadTable() = 0;
  // Commits `table` if `planner_term` still holds the planner role and the committed table is
  // still the one at `expected_table_revision` (0: none). Returns the table's new revision;
  // ABORTED when the fence did not hold (nothing was written).
  virtual absl::StatusOr<int64_t> CommitTable(int64_t planner_term, int64_t expected_table_revision,
                                              const v1::PartitionTable& table) = 0;
  // Deletes the committed table if `planner_term` still holds the planner role (the last
  // member leaving ends the cluster); ABORTED otherwise.
  virtual absl::Status DeleteTable(int64_t planner_term) = 0;

  // Reports every change from now on. `on_broken` runs once if the watch fails (the store went
  // away); no callback follows it, and the caller watches again.
  virtual absl::StatusOr<std::unique_ptr<StoreWatch>> Watch(
      std::function<void(const StoreChange&)> on_change,
      std::function<void(const absl::Status&)> on_broken) = 0;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_MEMBERSHIP_STORE_H_
