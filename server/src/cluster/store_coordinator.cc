#include "cluster/store_coordinator.h"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/log.h"
#include "gridrpc/peer.grpc.pb.h"
#include "member/member_core.h"
#include "migration/migration_events.h"

namespace gridrpc::internal {
namespace {

// How often the planner loop looks again without being woken: a campaign lost to a planner
// that then died is retried by the watch anyway; this bounds the damage of a missed wake-up.
constexpr absl::Duration kPlannerTick = absl::Milliseconds(500);
// How long a stopping coordinator waits for the events it relays to go out.
constexpr absl::Duration kRelayFlush = absl::Seconds(2);

}  // namespace

StoreCoordinator::StoreCoordinator(StoreFactory store, StoreCoordinatorOptions options)
    : make_store_(std::move(store)), options_(std::move(options)) {}

StoreCoordinator::~StoreCoordinator() { Abandon(); }

void StoreCoordinator::AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
  MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

absl::Status StoreCoordinator::Join(Member& member) {
  if (absl::Status s = Register(member); !s.ok()) return s;
  Start();
  return WaitUntilListed();
}

absl::Status StoreCoordinator::Register(Member& member) {
  if (member_ != nullptr) return absl::FailedPreconditionError("this coordinator has a member");
  absl::StatusOr<std::shared_ptr<MembershipStore>> store =
      make_store_(member.context().cluster_name());
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  member_ = &member;
  core_ = &CoreOf(member);
  relay_ = std::make_shared<EventRelay>(
      core_->tunables().control_timeout,
      [security = core_->security()](grpc::ClientContext& context) {
        security.Authenticate(context);
      },
      core_->shared_metrics());
  planner_ = std::make_unique<Planner>(
      *store_,
      Planner::Context{
          .member_id = core_->id(),
          .cluster_name = core_->options().cluster_name,
          .partition_count = core_->options().partition_count,
          .backup_count = options_.backup_count,
          .recovery_grace = options_.recovery_grace,
          .reset_lost_partitions = options_.reset_lost_partitions,
          .peers = core_->peers(),
          .tunables = core_->tunables(),
          .clock = core_->clock(),
          .notify = [this](const std::function<void(MigrationListener&)>& event) { Notify(event); },
          .metrics = core_->metrics(),
      });
  if (absl::Status s = OpenAndRegister(); !s.ok()) return s;
  WatchAndLoadTable();
  core_->SetResetLostHandler(
      [this](std::set<int> partitions, std::function<void(absl::StatusOr<int64_t>)> done) {
        MutexLock lock(&mu_);
        if (stopping_) {
          done(absl::UnavailableError("the member's coordinator is stopping"));
          return;
        }
        resets_.push_back({std::move(partitions), std::move(done)});
        woken_ = true;
        changed_.NotifyAll();
      });
  return absl::OkStatus();
}

absl::StatusOr<int64_t> StoreCoordinator::ResetLost(const std::set<int>& partitions) {
  absl::StatusOr<int64_t> version = planner_->ResetLost(session_, partitions);
  if (version.ok() || !absl::IsFailedPrecondition(version.status())) return version;
  absl::StatusOr<ClusterView> view = store_->Read();
  if (!view.ok()) return view.status();
  if (view->planner == core_->id()) return version;  // planned here, and refused
  auto planner = view->members.find(view->planner);
  if (planner == view->members.end()) {
    return absl::UnavailableError("nobody plans the cluster now; try again");
  }
  v1::ResetLostPartitionsRequest request;
  for (int p : partitions) request.add_partitions(p);
  v1::ResetLostPartitionsResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + core_->tunables().control_timeout));
  core_->peers().Authenticate(context);
  grpc::Status status = core_->peers()
                            .Get(planner->second.peer_address())
                            .peer->ResetLostPartitions(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.table_version();
}

SessionEvents StoreCoordinator::Events() {
  // The member acts on its membership only while the session is certainly alive, less a
  // margin for the clocks of this host and the store's.
  const absl::Duration margin = std::min(options_.lease_ttl / 10, absl::Milliseconds(500));
  return {
      .renewed =
          [this, margin](absl::Time valid_until) {
            core_->partitions().set_valid_until(valid_until - margin);
          },
      .lost = [this] { SessionLost(); },
  };
}

v1::MemberInfo StoreCoordinator::Registration() {
  v1::MemberInfo info = core_->Info();
  info.set_backup_count(options_.backup_count);
  MutexLock lock(&mu_);
  for (const v1::HeldReplica& replica : held_) *info.add_held() = replica;
  return info;
}

absl::Status StoreCoordinator::OpenAndRegister() {
  absl::StatusOr<int64_t> session = store_->OpenSession(options_.lease_ttl, Events());
  if (!session.ok()) return session.status();
  const v1::MemberInfo info = Registration();
  absl::Status status = CheckSettings(info);
  if (status.ok()) status = store_->Register(*session, info);
  if (!status.ok()) {
    store_->CloseSession(*session).IgnoreError();
    return status;
  }
  session_ = *session;
  return absl::OkStatus();
}

void StoreCoordinator::SessionLost() {
  core_->partitions().set_valid_until(absl::InfinitePast());  // fenced at once
  core_->metrics().session_losses.Increment();
  Log(LogLevel::kWarning, "session_lost",
      "the member cannot renew its session: it answers no call until it can, and keeps its "
      "replicas",
      {{"member", core_->id()}, {"store", store_->Describe()}});
  MutexLock lock(&mu_);
  session_lost_ = true;
  woken_ = true;
  changed_.NotifyAll();
}

void StoreCoordinator::Recover() {
  absl::Status resumed = store_->ResumeSession(session_, options_.lease_ttl, Events());
  if (resumed.ok()) {
    Log(LogLevel::kInfo, "session_renewed", "the member renewed its session again",
        {{"member", core_->id()}, {"store", store_->Describe()}});
  } else if (absl::IsNotFound(resumed)) {
    // The store ended the session: register again, under the same id. If the cluster replaced
    // this member meanwhile, the committed table says so and it drops what it holds.
    store_->AbandonSession(session_);
    if (absl::Status s = OpenAndRegister(); !s.ok()) {
      if (absl::IsFailedPrecondition(s)) Expel(std::string(s.message()));
      core_->metrics().store_errors.Increment();
      Log(LogLevel::kWarning, "register_failed", "registering again failed; the member retries",
          {{"member", core_->id()}, {"status", s.ToString()}});
      return;
    }
    Log(LogLevel::kInfo, "registered_again", "the member registered again with a new session",
        {{"member", core_->id()}, {"store", store_->Describe()}});
    WatchAndLoadTable();
  } else {
    return;  // the store is still away: fenced, try again at the next tick
  }
  MutexLock lock(&mu_);
  session_lost_ = false;
}

absl::Status StoreCoordinator::CheckSettings(const v1::MemberInfo& self) {
  absl::StatusOr<ClusterView> view = store_->Read();
  if (!view.ok()) return view.status();
  const std::string where =
      absl::StrCat("cluster '", core_->options().cluster_name, "' in ", store_->Describe());
  if (view->table.has_value() && view->table->partition_count() != self.partition_count()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "member ", self.id(), " has ", self.partition_count(), " partitions, but ", where, " has ",
        view->table->partition_count(), ": every member needs the same partition count"));
  }
  for (const auto& [id, other] : view->members) {
    if (id == self.id()) continue;
    if (other.partition_count() != self.partition_count()) {
      return absl::FailedPreconditionError(
          absl::StrCat("member ", self.id(), " has ", self.partition_count(),
                       " partitions, but member ", id, " of ", where, " has ",
                       other.partition_count(), ": every member needs the same partition count"));
    }
    if (other.backup_count() != self.backup_count()) {
      return absl::FailedPreconditionError(
          absl::StrCat("member ", self.id(), " plans ", self.backup_count(),
                       " backups per partition, but member ", id, " of ", where, " plans ",
                       other.backup_count(), ": every member needs the same backup count"));
    }
  }
  return absl::OkStatus();
}

void StoreCoordinator::Start() {
  loop_ = std::thread([this] { PlannerLoop(); });
}

absl::Status StoreCoordinator::WaitUntilListed() {
  MutexLock lock(&mu_);
  const bool done = changed_.WaitUntil(
      mu_, absl::Now() + options_.membership_timeout,
      [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ListedOrExpelled(); });
  if (expelled_) return absl::AbortedError("the member was expelled while joining");
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("no partition table listed member ", core_->id(), " within ",
                     absl::FormatDuration(options_.membership_timeout)));
  }
  return absl::OkStatus();
}

absl::Status StoreCoordinator::Leave() {
  if (member_ == nullptr) return absl::FailedPreconditionError("no member joined");
  {
    MutexLock lock(&mu_);
    leaving_ = true;
  }
  absl::Status status;
  std::shared_ptr<const PartitionTable> table = core_->partitions().table();
  if (table == nullptr || table->member_count() <= 1) {
    // Nobody to hand over to: the cluster ends with this member, and its table goes too, so the
    // next member to start plans a first table. The planner is only touched by its loop, so the
    // loop ends first.
    StopPlanning();
    status = planner_->EndCluster();
  } else {
    status = store_->MarkLeaving(session_, core_->id());
    Wake();
    MutexLock lock(&mu_);
    const bool done = changed_.WaitUntil(
        mu_, absl::Now() + options_.membership_timeout,
        [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return LeftOrExpelled(); });
    if (status.ok() && !left_) {
      status = done ? absl::AbortedError("the member was expelled while leaving")
                    : absl::DeadlineExceededError(absl::StrCat(
                          "member ", core_->id(), " could not hand its replicas over within ",
                          absl::FormatDuration(options_.membership_timeout)));
    }
  }
  StopPlanning();
  relay_->Flush(kRelayFlush);
  watch_.reset();
  // Deletes what the session holds (registration, leaving mark, planner role) at once rather
  // than after the TTL.
  if (absl::Status s = store_->CloseSession(session_); !s.ok()) {
    core_->metrics().store_errors.Increment();
    Log(LogLevel::kWarning, "session_close_failed",
        "closing the member's session failed: it ends when its lease expires",
        {{"member", core_->id()}, {"status", s.ToString()}});
  }
  session_ = 0;
  return status;
}

void StoreCoordinator::StopPlanning() {
  std::vector<ResetRequest> unanswered;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    unanswered.swap(resets_);
  }
  changed_.NotifyAll();
  if (core_ != nullptr) core_->SetResetLostHandler(nullptr);
  for (ResetRequest& r : unanswered) {
    r.done(absl::UnavailableError("the member's coordinator stopped"));
  }
  if (loop_.joinable() && loop_.get_id() != std::this_thread::get_id()) loop_.join();
}

void StoreCoordinator::Abandon() {
  StopPlanning();
  if (relay_ != nullptr) relay_->Flush(kRelayFlush);
  watch_.reset();
  if (session_ != 0) store_->AbandonSession(session_);
  session_ = 0;
}

void StoreCoordinator::WatchAndLoadTable() {
  {
    MutexLock lock(&mu_);
    watch_broken_ = false;
  }
  watch_.reset();
  // Watch before reading, so no table committed in between is missed.
  absl::StatusOr<std::unique_ptr<StoreWatch>> watch =
      store_->Watch([this](const StoreChange& change) { OnChange(change); },
                    [this](const absl::Status& s) {
                      // Not fatal: the planner loop watches again. Only the session decides whether
                      // this member is still in the cluster.
                      core_->metrics().store_errors.Increment();
                      Log(LogLevel::kWarning, "watch_broken",
                          "the watch of the membership store broke; it is set up again",
                          {{"store", store_->Describe()}, {"status", s.ToString()}});
                      MutexLock lock(&mu_);
                      watch_broken_ = true;
                      woken_ = true;
                      changed_.NotifyAll();
                    });
  if (!watch.ok()) {
    core_->metrics().store_errors.Increment();
    Log(LogLevel::kWarning, "watch_failed",
        "watching the membership store failed; the member tries again",
        {{"store", store_->Describe()}, {"status", watch.status().ToString()}});
    MutexLock lock(&mu_);
    watch_broken_ = true;  // the loop tries again
    changed_.NotifyAll();
    return;
  }
  watch_ = *std::move(watch);
  if (absl::StatusOr<std::optional<v1::PartitionTable>> table = store_->ReadTable();
      table.ok() && table->has_value()) {
    InstallFromStore(**table);
  }
}

void StoreCoordinator::OnChange(const StoreChange& change) {
  {
    MutexLock lock(&mu_);
    if (expelled_) return;
  }
  if (change.table.has_value()) InstallFromStore(*change.table);
  Wake();
}

void StoreCoordinator::InstallFromStore(const v1::PartitionTable& proto) {
  absl::StatusOr<PartitionTable> parsed = PartitionTable::FromProto(proto);
  if (!parsed.ok()) {
    core_->metrics().store_errors.Increment();
    Log(LogLevel::kError, "stored_table_ignored", "the stored partition table does not parse",
        {{"status", parsed.status().ToString()}});
    return;
  }
  auto table = std::make_shared<const PartitionTable>(*std::move(parsed));
  if (table->MemberIndex(core_->id()) < 0) {
    bool dropped = false;
    {
      MutexLock lock(&mu_);
      left_ = leaving_;
      changed_.NotifyAll();
      dropped = !leaving_ && listed_;  // else a table from before we joined
    }
    if (dropped) {
      // Replaced while it was away (its session ended and its partitions were promoted
      // elsewhere): what it holds is stale. It drops it and joins again, as a new member would,
      // but keeps its replicas of partitions the cluster lost meanwhile, and offers them back.
      std::vector<v1::HeldReplica> held;
      std::set<int> keep;
      for (int p = 0; p < table->partition_count(); ++p) {
        const Partitions::ReplicaState state = core_->partitions().replica_state(p);
        if (state.replica_index < 0 || !table->LostFrom(p, core_->id())) continue;
        keep.insert(p);
        v1::HeldReplica& replica = held.emplace_back();
        replica.set_partition(p);
        replica.set_sequence(state.sequence);
      }
      Log(LogLevel::kWarning, "member_replaced",
          "the member was replaced while it was away: it drops its replicas but those of "
          "partitions the cluster lost, which it offers back, and joins again",
          {{"member", core_->id()}, {"table_version", table->version()}, {"offered", keep.size()}});
      core_->partitions().DropAll(keep);
      MutexLock lock(&mu_);
      listed_ = false;
      held_ = std::move(held);
      // If it registered again already, the loop tells the planner what it holds.
      reregister_ = !held_.empty();
      woken_ = true;
      changed_.NotifyAll();
    }
    core_->partitions().Observe(std::move(table));  // a joining member learns its peers
    return;
  }
  absl::Status s = core_->InstallPartitionTable(std::move(table));
  if (!s.ok() && !absl::IsFailedPrecondition(s)) {  // an older table than ours is no news
    Log(LogLevel::kError, "table_install_failed", "installing the stored partition table failed",
        {{"member", core_->id()}, {"status", s.ToString()}});
    return;
  }
  MutexLock lock(&mu_);
  listed_ = true;
  held_.clear();  // listed again: whatever it offered was taken or is no longer needed
  changed_.NotifyAll();
}

void StoreCoordinator::Expel(std::string why) {
  MutexLock lock(&mu_);
  if (expelled_ || left_) return;
  expelled_ = true;
  changed_.NotifyAll();
  expelled_why_ = std::move(why);
}

void StoreCoordinator::Wake() {
  MutexLock lock(&mu_);
  woken_ = true;
  changed_.NotifyAll();
}

bool StoreCoordinator::LoopShouldWake() const {
  return woken_ || stopping_ || (expelled_ && !expel_handled_) || !resets_.empty();
}

void StoreCoordinator::PlannerLoop() {
  while (true) {
    bool expel = false;
    bool rewatch = false;
    bool lost = false;
    std::vector<ResetRequest> resets;
    bool reregister = false;
    std::string why;
    {
      MutexLock lock(&mu_);
      changed_.WaitUntil(mu_, absl::Now() + kPlannerTick,
                         [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return LoopShouldWake(); });
      if (stopping_) return;
      woken_ = false;
      if (expelled_) {
        expel = !expel_handled_;
        expel_handled_ = true;
        why = expelled_why_;
      }
      rewatch = watch_broken_;
      lost = session_lost_;
      if (!lost) resets.swap(resets_);
      reregister = !lost && reregister_;
      reregister_ = false;
    }
    if (expel) {
      Log(LogLevel::kError, "member_expelled", "the member leaves the cluster",
          {{"member", core_->id()}, {"why", why}});
      if (options_.on_expelled) {
        options_.on_expelled();
      } else {
        core_->Stop(absl::ZeroDuration(), /*terminate=*/true);
      }
      return;
    }
    if (lost) {
      Recover();  // plans nothing without a session
      continue;
    }
    if (rewatch) WatchAndLoadTable();  // the store was away (etcd restarting, a leader change)
    if (reregister) {
      if (absl::Status s = store_->Register(session_, Registration()); !s.ok()) {
        core_->metrics().store_errors.Increment();
        Log(LogLevel::kWarning, "offer_failed",
            "offering the member's replicas of lost partitions failed; it tries again",
            {{"member", core_->id()}, {"status", s.ToString()}});
      }
    }
    for (ResetRequest& r : resets) r.done(ResetLost(r.partitions));
    absl::StatusOr<Planner::Round> round = planner_->RunRound(session_);
    if (!round.ok()) {
      core_->metrics().planning_errors.Increment();
      Log(LogLevel::kWarning, "planning_failed",
          "a planning round failed; the next round tries again",
          {{"member", core_->id()}, {"status", round.status().ToString()}});
    } else if (round->outcome == Planner::Outcome::kSettled && options_.on_settled) {
      options_.on_settled(round->revision);
    }
  }
}

void StoreCoordinator::Notify(const std::function<void(MigrationListener&)>& event) {
  std::vector<std::shared_ptr<MigrationListener>> listeners;
  {
    MutexLock lock(&mu_);
    listeners = listeners_;
  }
  for (auto& listener : listeners) event(*listener);
  event(core_->events());
  MigrationEventEncoder relay([this](const v1::MigrationEvent& e) {
    for (const v1::MemberInfo& member : planner_->others()) {
      relay_->Send(member.peer_address(), core_->peers().Get(member.peer_address()).channel, e);
    }
  });
  event(relay);
}

}  // namespace gridrpc::internal
