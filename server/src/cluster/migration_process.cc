#include "cluster/migration_process.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <deque>
#include <latch>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/log.h"
#include "gridrpc/peer.grpc.pb.h"
#include "net/stall_watchdog.h"

namespace gridrpc::internal {
namespace {

// The cached stub of the member's peer port (it lives as long as the member's channels).
v1::Peer::Stub& StubOf(const MigrationDriver& driver, const v1::MemberInfo& member) {
  return *driver.peers.Get(member.peer_address()).peer;
}

// A peer call's context: authenticated, with a deadline `timeout` from now.
void Prepare(const MigrationDriver& driver, grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  driver.peers.Authenticate(context);
}

// One Peer/CopyReplica from the planner to a destination: a stream of the destination's progress.
// The destination gives up on a source that sends nothing for copy_idle_timeout and says so; the
// planner gives up on a destination that reports nothing for control_timeout longer (it is
// paused or cut off). Owned by the planning thread, which Wait()s before destroying it.
class CopyCall final : public grpc::ClientReadReactor<v1::CopyReplicaProgress> {
 public:
  explicit CopyCall(absl::Time begin) : begin_(begin) {}

  void Start(const MigrationDriver& driver, const v1::MemberInfo& destination, int partition,
             const std::string& source_id) {
    destination_ = destination.id();
    idle_timeout_ = driver.tunables.copy_idle_timeout + driver.tunables.control_timeout;
    watchdog_ = StallWatchdog::New(context_, idle_timeout_);
    driver.peers.Authenticate(context_);
    request_.set_partition(partition);
    request_.set_source_member_id(source_id);
    StubOf(driver, destination).async()->CopyReplica(&context_, &request_, this);
    // Before StartCall: from then on the call may end, and the planner free this, at any moment.
    watchdog_->Start();
    StartRead(&progress_);
    StartCall();
  }
  // Ends the copy without a call.
  void Fail(absl::Status status) {
    status_ = std::move(status);
    done_.count_down();
  }
  void Wait() { done_.wait(); }

  // After Wait().
  absl::Time begin() const { return begin_; }
  const absl::Status& status() const { return status_; }
  int64_t bytes() const { return bytes_; }
  bool destination_stalled() const { return destination_stalled_; }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    watchdog_->Progress();
    bytes_ = progress_.bytes();
    StartRead(&progress_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = FromGrpcStatus(status);
    if (watchdog_->fired()) {
      destination_stalled_ = true;
      status_ = absl::DeadlineExceededError(absl::StrCat(
          "member ", destination_, " reported no progress for ",
          absl::FormatDuration(idle_timeout_), " while copying partition ", request_.partition()));
    }
    watchdog_->Stop([this] { done_.count_down(); });
  }

 private:
  const absl::Time begin_;
  std::string destination_;
  absl::Duration idle_timeout_;
  grpc::ClientContext context_;
  std::shared_ptr<StallWatchdog> watchdog_;
  v1::CopyReplicaRequest request_;
  v1::CopyReplicaProgress progress_;
  absl::Status status_;
  int64_t bytes_ = 0;
  bool destination_stalled_ = false;
  std::latch done_{1};
};

}  // namespace

absl::StatusOr<std::shared_ptr<const PartitionTable>> PromoteCrashed(
    const PartitionTable& current, const std::vector<std::string>& crashed,
    const MigrationDriver& driver, bool reset_lost, std::vector<PartitionLostEvent>* lost) {
  PartitionTable promoted = current;
  for (const std::string& id : crashed) {
    promoted = PartitionTable::Promote(promoted, id, current.version() + 1);
  }
  // A partition none of whose replicas survived lost its data: it is marked lost (it answers
  // DATA_LOSS until an operator resets it), never handed to new owners as if it were empty.
  std::set<int> newly_lost;
  for (int p = 0; p < promoted.partition_count(); ++p) {
    const int had = current.proto().partitions(p).members_size();
    if (had == 0 || promoted.proto().partitions(p).members_size() > 0 || current.lost(p)) continue;
    newly_lost.insert(p);
    lost->push_back({.partition = p, .lost_replicas = had});
  }
  if (!reset_lost && !newly_lost.empty()) {
    promoted = PartitionTable::MarkLost(promoted, current, newly_lost);
  }
  auto next = std::make_shared<const PartitionTable>(std::move(promoted));
  MigrationState state{.start_time = driver.clock.Now()};
  std::vector<ReplicaMigrationEvent> promotions;
  for (int p = 0; p < next->partition_count(); ++p) {
    const int old_owner = current.Owner(p);
    if (old_owner < 0 || next->Owner(p) < 0) continue;
    const std::string& old_id = current.member(old_owner).id();
    if (next->MemberIndex(old_id) >= 0) continue;  // its primary did not crash
    promotions.push_back({.partition = p,
                          .replica_index = 0,
                          .source = old_id,
                          .destination = next->member(next->Owner(p)).id(),
                          .success = true});
  }
  state.planned = state.remaining = static_cast<int>(promotions.size());
  driver.notify([&](MigrationListener& l) { l.MigrationStarted(state); });
  if (absl::Status s = driver.commit(next); !s.ok()) return s;
  for (ReplicaMigrationEvent& event : promotions) {
    ++state.completed;
    --state.remaining;
    event.state = state;
    driver.notify([&](MigrationListener& l) { l.ReplicaMigrationCompleted(event); });
  }
  driver.notify([&](MigrationListener& l) { l.MigrationFinished(state); });
  return next;
}

absl::Status Migrate(const PartitionTable& current, std::shared_ptr<const PartitionTable> next,
                     const MigrationDriver& driver) {
  // A replica migration for every replica whose new owner holds no replica of the partition yet;
  // a member that already holds one (a backup becoming primary) needs no copy.
  struct Move {
    int partition;
    int replica_index;
    const v1::MemberInfo* source;  // the partition's primary now; null when it has none
    const v1::MemberInfo* destination;
  };
  std::vector<Move> moves;
  std::vector<bool> copied(next->partition_count(), false);
  for (int p = 0; p < next->partition_count(); ++p) {
    const int owner = current.Owner(p);
    // No replica at all (lost, or reset after it was lost): the new ones start empty, with
    // nothing to copy.
    if (owner < 0) continue;
    const v1::MemberInfo* source = &current.member(owner);
    const auto& replicas = next->proto().partitions(p).members();
    for (int r = 0; r < replicas.size(); ++r) {
      const v1::MemberInfo& destination = next->member(replicas[r]);
      const int old_index = current.MemberIndex(destination.id());
      if (old_index >= 0 && current.ReplicaIndex(p, old_index) >= 0) continue;
      moves.push_back({p, r, source, &destination});
      copied[p] = true;
    }
  }

  MigrationState state{.start_time = driver.clock.Now(),
                       .planned = static_cast<int>(moves.size()),
                       .remaining = static_cast<int>(moves.size())};
  driver.notify([&](MigrationListener& l) { l.MigrationStarted(state); });
  // Freeze, on its primary, every partition that is copied or whose primary changes: until
  // `next` commits, writes there would be lost. The freeze holds until a table of next's version
  // (a leaving member never installs one without itself, so it stays frozen until it stops).
  std::map<std::string, v1::BeginMigrationRequest> freezes;  // by primary id
  std::map<std::string, const v1::MemberInfo*> primaries;
  for (int p = 0; p < next->partition_count(); ++p) {
    const int owner = current.Owner(p);
    if (owner < 0) continue;
    const v1::MemberInfo& primary = current.member(owner);
    if (copied[p] || next->Owner(p) < 0 || next->member(next->Owner(p)).id() != primary.id()) {
      v1::BeginMigrationRequest& request = freezes[primary.id()];
      request.add_partitions(p);
      request.set_until_version(next->version());
      primaries[primary.id()] = &primary;
    }
  }
  // Members that did not answer (paused, or gone without its session having ended yet): their
  // copies fail at once instead of each waiting for the copy timeout, so that the round ends
  // and the next one can see them crashed.
  std::set<std::string> unreachable;
  for (const auto& [id, request] : freezes) {
    grpc::ClientContext context;
    Prepare(driver, context, driver.tunables.control_timeout);
    v1::BeginMigrationResponse response;
    grpc::Status s = StubOf(driver, *primaries[id]).BeginMigration(&context, request, &response);
    if (!s.ok()) {  // its copies fail below and are reported there
      driver.metrics.migration_freeze_failures.Increment();
      Log(LogLevel::kWarning, "freeze_failed",
          "freezing partitions on their primary failed: their copies fail this round",
          {{"member", id}, {"code", s.error_code()}, {"error", s.error_message()}});
      unreachable.insert(id);
    }
  }
  // Copies run migration_parallelism at a time: enough to overlap the round trips, few enough
  // not to crowd out the calls the members keep serving. Events are reported in plan order.
  auto start_copy = [&driver, &unreachable](const Move& move) {
    auto copy = std::make_unique<CopyCall>(driver.clock.Now());
    if (move.source == nullptr) {
      copy->Fail(absl::UnavailableError("the partition has no primary to copy"));
      return copy;
    }
    for (const v1::MemberInfo* member : {move.source, move.destination}) {
      if (unreachable.contains(member->id())) {
        copy->Fail(absl::UnavailableError(
            absl::StrCat("member ", member->id(), " did not answer in this migration")));
        return copy;
      }
    }
    copy->Start(driver, *move.destination, move.partition, move.source->id());
    return copy;
  };
  for (int attempt = 0; attempt < 2 && !moves.empty(); ++attempt) {
    std::vector<Move> failed;
    std::deque<std::unique_ptr<CopyCall>> running;
    size_t started = 0;
    for (const Move& move : moves) {
      while (started < moves.size() &&
             running.size() < static_cast<size_t>(driver.tunables.migration_parallelism)) {
        running.push_back(start_copy(moves[started++]));
      }
      std::unique_ptr<CopyCall> copy = std::move(running.front());
      running.pop_front();
      copy->Wait();
      const absl::Status& status = copy->status();
      ReplicaMigrationEvent event{.partition = move.partition,
                                  .replica_index = move.replica_index,
                                  .source = move.source == nullptr ? "" : move.source->id(),
                                  .destination = move.destination->id(),
                                  .success = status.ok(),
                                  .elapsed = driver.clock.Now() - copy->begin(),
                                  .bytes = copy->bytes()};
      if (status.ok()) {
        ++state.completed;
        --state.remaining;
        state.total_elapsed += event.elapsed;
      } else {
        failed.push_back(move);  // rolled back by the destination; retried once
        if (copy->destination_stalled()) {
          unreachable.insert(move.destination->id());
        } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
          unreachable.insert(move.source->id());  // the destination heard nothing from it
        }
      }
      event.state = state;
      driver.notify([&](MigrationListener& l) {
        status.ok() ? l.ReplicaMigrationCompleted(event) : l.ReplicaMigrationFailed(event);
      });
    }
    moves = std::move(failed);
  }
  // A partition whose copy failed twice keeps its replicas as they are: the committed table
  // never lists a replica that does not hold its data. The next planning round tries again.
  std::set<int> kept;
  for (const Move& move : moves) kept.insert(move.partition);
  if (!kept.empty()) {
    next =
        std::make_shared<const PartitionTable>(PartitionTable::KeepReplicas(*next, current, kept));
  }
  absl::Status committed = driver.commit(next);
  driver.notify([&](MigrationListener& l) { l.MigrationFinished(state); });
  if (!committed.ok()) return committed;
  if (!kept.empty()) {
    return absl::UnavailableError(
        absl::StrCat(moves.size(), " replica migrations failed twice; partitions ",
                     absl::StrJoin(kept, ", "), " keep their replicas until the next round"));
  }
  return absl::OkStatus();
}

void InstallOnMembers(const PartitionTable& table, const MigrationDriver& driver) {
  // All at once: a commit waits for the slowest member, not for the sum of them.
  struct Install {
    grpc::ClientContext context;
    v1::InstallPartitionTableResponse response;
    grpc::Status status;
  };
  const int n = table.member_count();
  std::vector<Install> installs(n);
  std::latch done(n);
  for (int i = 0; i < n; ++i) {
    Install& install = installs[i];
    Prepare(driver, install.context, driver.tunables.control_timeout);
    StubOf(driver, table.member(i))
        .async()
        ->InstallPartitionTable(&install.context, &table.proto(), &install.response,
                                [&install, &done](grpc::Status status) {
                                  install.status = std::move(status);
                                  done.count_down();
                                });
  }
  done.wait();
  for (int i = 0; i < n; ++i) {
    const grpc::Status& s = installs[i].status;
    if (!s.ok() && s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
      driver.metrics.table_install_failures.Increment();
      Log(LogLevel::kWarning, "table_install_failed",
          "installing a committed table on a member failed (it learns it from the store)",
          {{"member", table.member(i).id()},
           {"table_version", table.version()},
           {"code", s.error_code()},
           {"error", s.error_message()}});
    }
  }
}

}  // namespace gridrpc::internal
