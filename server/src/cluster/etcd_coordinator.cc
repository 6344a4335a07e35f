// The etcd coordinator (gridrpc/coordinator.h).
//
// Keys, under <prefix><cluster>/:
//   members/<id>   MemberInfo, on the member's lease: the member is alive
//   leaving/<id>   empty, on the member's lease: the member is handing its replicas over
//   planner        the planning member's id, on its lease
//   table          the committed PartitionTable
//
// Every member watches the prefix. A table change is installed on the member; any change wakes
// the planner loop, which campaigns for the planner key when nobody holds it and, while it holds
// it, reconciles: plans the first table, promotes the backups of members whose keys expired,
// and rebalances onto the live members that are not leaving. Its table writes are transactions
// conditioned on the planner key's create revision (still ours) and on the table's mod revision
// (the table it planned from).
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/etcd_client.h"
#include "cluster/migration_process.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/peer.grpc.pb.h"
#include "member/member_core.h"
#include "migration/migration_events.h"

namespace gridrpc {
namespace {

using internal::EtcdClient;
using internal::EtcdCompare;
using internal::EtcdEvent;
using internal::EtcdOp;

// How often the planner loop looks again without being woken (a campaign lost to a planner
// that then died is retried by the watch anyway; this bounds the damage of a missed wake-up).
constexpr absl::Duration kPlannerTick = absl::Milliseconds(500);

bool SameAssignment(const PartitionTable& a, const PartitionTable& b) {
  if (a.partition_count() != b.partition_count()) return false;
  for (int p = 0; p < a.partition_count(); ++p) {
    const auto& ra = a.proto().partitions(p).members();
    const auto& rb = b.proto().partitions(p).members();
    if (ra.size() != rb.size()) return false;
    for (int r = 0; r < ra.size(); ++r) {
      if (a.member(ra[r]).id() != b.member(rb[r]).id()) return false;
    }
  }
  return true;
}

// Sends migration events to the other members (Cluster/ReportMigration) without holding up the
// planner: per member, in order, one call in flight. A member that does not answer loses the
// event; one that is far behind loses the oldest. Callbacks keep the relay alive.
class EventRelay : public std::enable_shared_from_this<EventRelay> {
 public:
  void Send(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
            const v1::MigrationEvent& event) {
    std::shared_ptr<Call> call;
    {
      internal::MutexLock lock(&mu_);
      Peer& peer = peers_[address];
      if (peer.stub == nullptr) peer.stub = v1::Peer::NewStub(channel);
      if (peer.queue.size() >= kMaxQueued) peer.queue.pop_front();
      peer.queue.push_back(event);
      if (!peer.busy) call = Next(peer);
    }
    if (call != nullptr) Start(std::move(call));
  }

  // Waits up to `timeout` for every queued event to be sent (before the process may exit).
  void Flush(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      {
        internal::MutexLock lock(&mu_);
        bool idle = true;
        for (const auto& [address, peer] : peers_) idle = idle && !peer.busy;
        if (idle) return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

 private:
  static constexpr size_t kMaxQueued = 100000;
  struct Peer {
    std::unique_ptr<v1::Peer::Stub> stub;
    std::deque<v1::MigrationEvent> queue;
    bool busy = false;  // a call is in flight
  };
  struct Call {
    Peer* peer;  // peers_ never erases, so it stays valid
    v1::Peer::Stub* stub;
    grpc::ClientContext context;
    v1::MigrationEvent event;
    v1::ReportMigrationResponse response;
  };

  // The peer's next call, or null when its queue is empty.
  std::shared_ptr<Call> Next(Peer& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    peer.busy = !peer.queue.empty();
    if (!peer.busy) return nullptr;
    auto call = std::make_shared<Call>();
    call->peer = &peer;
    call->stub = peer.stub.get();
    call->event = std::move(peer.queue.front());
    peer.queue.pop_front();
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    return call;
  }

  // Outside mu_: gRPC may run the completion on this thread.
  void Start(std::shared_ptr<Call> call) {
    Call* raw = call.get();
    raw->stub->async()->ReportMigration(
        &raw->context, &raw->event, &raw->response,
        [self = shared_from_this(), call = std::move(call)](grpc::Status) {
          std::shared_ptr<Call> next;
          {
            internal::MutexLock lock(&self->mu_);
            next = self->Next(*call->peer);
          }
          if (next != nullptr) self->Start(std::move(next));
        });
  }

  internal::Mutex mu_;
  std::map<std::string, Peer> peers_ ABSL_GUARDED_BY(mu_);
};

class EtcdCoordinator final : public Coordinator {
 public:
  EtcdCoordinator(EtcdCoordinatorOptions options, std::unique_ptr<EtcdClient> etcd)
      : options_(std::move(options)), etcd_(std::move(etcd)) {}

  ~EtcdCoordinator() override { Stop(/*revoke=*/false); }

  absl::Status Join(Member& member) override;
  absl::Status Leave() override;
  void AddMigrationListener(std::shared_ptr<MigrationListener> listener) override {
    internal::MutexLock lock(&mu_);
    listeners_.push_back(std::move(listener));
  }

 private:
  std::string Key(std::string_view name) const { return prefix_ + std::string(name); }

  // Watch thread: installs committed tables and wakes the planner loop.
  void OnEvents(const std::vector<internal::EtcdEvent>& events);
  void InstallFromStore(const std::string& bytes);
  void Expel(std::string_view why);
  void Wake();
  // (Re)starts the watch of the prefix, then installs the stored table. By Join, then by the
  // planner loop whenever the watch broke.
  void WatchAndLoadTable();

  void PlannerLoop();
  // Becomes the planner if nobody is; true if this member is the planner now.
  bool Campaign();
  // One planning round as the planner.
  absl::Status Reconcile();
  // Writes `table` if this member still plans and the stored table is still the one it read,
  // then installs it on the members it lists.
  absl::Status CommitFenced(std::shared_ptr<const PartitionTable> table);
  internal::MigrationDriver Driver();
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

  // Ends the planner loop (and waits for it); then the planner fields may be read here.
  void StopPlanning();
  void Stop(bool revoke);

  const EtcdCoordinatorOptions options_;
  const std::unique_ptr<EtcdClient> etcd_;
  Member* member_ = nullptr;
  std::string prefix_;
  int64_t lease_ = 0;

  internal::Mutex mu_;
  std::vector<std::shared_ptr<MigrationListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
  bool leaving_ ABSL_GUARDED_BY(mu_) = false;
  bool left_ ABSL_GUARDED_BY(mu_) = false;    // a committed table without us, after leaving_
  bool listed_ ABSL_GUARDED_BY(mu_) = false;  // a committed table listed us
  bool expelled_ ABSL_GUARDED_BY(mu_) = false;

  // The planner loop's wake-ups.
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;
  bool stopping_ = false;

  // Planner state, touched only by the planner loop.
  int64_t planner_revision_ = 0;  // create revision of our planner key; 0: not the planner
  int64_t table_revision_ = 0;    // mod revision of the table we last read or wrote
  std::vector<std::string> peer_addresses_;  // the other live members, told of migrations
  const std::shared_ptr<EventRelay> relay_ = std::make_shared<EventRelay>();

  std::unique_ptr<internal::EtcdWatch> watch_;  // by Join, then only by the planner loop
  std::atomic<bool> watch_broken_{false};
  std::thread planner_;
};

absl::Status EtcdCoordinator::Join(Member& member) {
  if (member_ != nullptr) return absl::FailedPreconditionError("this coordinator has a member");
  member_ = &member;
  prefix_ = absl::StrCat(options_.key_prefix, member.context().cluster_name(), "/");

  absl::StatusOr<int64_t> lease = etcd_->GrantLease(options_.lease_ttl);
  if (!lease.ok()) return lease.status();
  lease_ = *lease;
  if (absl::Status s =
          etcd_->KeepAlive(lease_, options_.lease_ttl, [this] { Expel("its etcd lease expired"); });
      !s.ok()) {
    return s;
  }
  WatchAndLoadTable();
  v1::MemberInfo info = internal::CoreOf(member).Info();
  if (absl::StatusOr<int64_t> put =
          etcd_->Put(Key(absl::StrCat("members/", member.id())), info.SerializeAsString(), lease_);
      !put.ok()) {
    return put.status();
  }
  planner_ = std::thread([this] { PlannerLoop(); });

  const absl::Time deadline = absl::Now() + options_.membership_timeout;
  while (absl::Now() < deadline) {
    {
      internal::MutexLock lock(&mu_);
      if (expelled_) return absl::AbortedError("the member was expelled while joining");
      if (listed_) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("no partition table listed member ", member.id(), " within ",
                   absl::FormatDuration(options_.membership_timeout)));
}

absl::Status EtcdCoordinator::Leave() {
  if (member_ == nullptr) return absl::FailedPreconditionError("no member joined");
  {
    internal::MutexLock lock(&mu_);
    leaving_ = true;
  }
  absl::Status status;
  std::shared_ptr<const PartitionTable> table = member_->partition_table();
  const bool alone = table == nullptr || table->member_count() <= 1;
  if (alone) {
    // Nobody to hand over to: the cluster ends with this member, and its table goes too, so the
    // next member to start plans a first table. Only while this member still plans.
    StopPlanning();
    if (planner_revision_ != 0) {
      status = etcd_
                   ->Txn({EtcdCompare::CreateRevision(Key("planner"), planner_revision_)},
                         {EtcdOp::Delete(Key("table"))})
                   .status();
    }
  } else {
    absl::StatusOr<int64_t> put =
        etcd_->Put(Key(absl::StrCat("leaving/", member_->id())), "", lease_);
    status = put.status();
    Wake();
    const absl::Time deadline = absl::Now() + options_.membership_timeout;
    bool left = false;
    while (status.ok() && !left && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      internal::MutexLock lock(&mu_);
      left = left_;
    }
    if (status.ok() && !left) {
      status = absl::DeadlineExceededError(
          absl::StrCat("member ", member_->id(), " could not hand its replicas over within ",
                       absl::FormatDuration(options_.membership_timeout)));
    }
  }
  Stop(/*revoke=*/true);
  return status;
}

void EtcdCoordinator::StopPlanning() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (planner_.joinable()) planner_.join();
}

void EtcdCoordinator::Stop(bool revoke) {
  StopPlanning();
  relay_->Flush(absl::Seconds(2));
  watch_.reset();
  if (revoke && lease_ != 0) {
    // Deletes our keys (member, leaving, planner) at once rather than after the TTL.
    if (absl::Status s = etcd_->RevokeLease(lease_); !s.ok()) {
      std::fprintf(stderr, "gridrpc: revoking the etcd lease: %s\n", s.ToString().c_str());
    }
    lease_ = 0;
  }
}

void EtcdCoordinator::WatchAndLoadTable() {
  watch_broken_ = false;
  watch_.reset();
  // Watch before reading, so no table committed in between is missed.
  watch_ = etcd_->WatchPrefix(
      prefix_, 0, [this](const std::vector<EtcdEvent>& events, int64_t) { OnEvents(events); },
      [this](const absl::Status& s) {
        // Not fatal: the planner loop watches again. Only the lease decides whether this
        // member is still in the cluster.
        std::fprintf(stderr, "gridrpc: etcd watch of %s broke: %s\n", prefix_.c_str(),
                     s.ToString().c_str());
        watch_broken_ = true;
        Wake();
      });
  if (absl::StatusOr<std::optional<internal::EtcdKeyValue>> table = etcd_->Get(Key("table"));
      table.ok() && table->has_value()) {
    InstallFromStore((*table)->value);
  }
}

void EtcdCoordinator::Wake() {
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

void EtcdCoordinator::OnEvents(const std::vector<EtcdEvent>& events) {
  {
    internal::MutexLock lock(&mu_);
    if (expelled_) return;
  }
  for (const EtcdEvent& event : events) {
    if (event.type == EtcdEvent::Type::kPut && event.kv.key == Key("table")) {
      InstallFromStore(event.kv.value);
    }
  }
  Wake();
}

void EtcdCoordinator::InstallFromStore(const std::string& bytes) {
  v1::PartitionTable proto;
  absl::StatusOr<PartitionTable> table =
      proto.ParseFromString(bytes) ? PartitionTable::FromProto(std::move(proto))
                                   : absl::DataLossError("unparsable partition table in etcd");
  if (!table.ok()) {
    std::fprintf(stderr, "gridrpc: ignoring the stored table: %s\n",
                 table.status().ToString().c_str());
    return;
  }
  if (table->MemberIndex(member_->id()) < 0) {
    bool dropped = false;
    {
      internal::MutexLock lock(&mu_);
      left_ = leaving_;
      dropped = !leaving_ && listed_;  // else a table from before we joined
    }
    if (dropped) Expel("a committed table no longer lists it");
    // A joining member learns its peers from the cluster's table before it is listed.
    internal::CoreOf(*member_).partitions().Observe(
        std::make_shared<const PartitionTable>(*std::move(table)));
    return;
  }
  absl::Status s =
      member_->InstallPartitionTable(std::make_shared<const PartitionTable>(*std::move(table)));
  if (!s.ok() && !absl::IsFailedPrecondition(s)) {  // an older table than ours is no news
    std::fprintf(stderr, "gridrpc: installing the stored table: %s\n", s.ToString().c_str());
    return;
  }
  internal::MutexLock lock(&mu_);
  listed_ = true;
}

void EtcdCoordinator::Expel(std::string_view why) {
  {
    internal::MutexLock lock(&mu_);
    if (expelled_ || left_) return;
    expelled_ = true;
  }
  std::fprintf(stderr, "gridrpc: member %s leaves the cluster: %.*s\n", member_->id().c_str(),
               static_cast<int>(why.size()), why.data());
  if (options_.on_expelled) {
    options_.on_expelled();
  } else {
    member_->Terminate();
  }
}

void EtcdCoordinator::PlannerLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(wake_mu_);
      wake_cv_.wait_for(lock, absl::ToChronoNanoseconds(kPlannerTick),
                        [this] { return woken_ || stopping_; });
      if (stopping_) return;
      woken_ = false;
    }
    {
      internal::MutexLock lock(&mu_);
      if (expelled_) return;
    }
    if (watch_broken_) WatchAndLoadTable();  // etcd was away (a restart, a leader change)
    if (!Campaign()) continue;
    if (absl::Status s = Reconcile(); !s.ok()) {
      std::fprintf(stderr, "gridrpc: planning on member %s: %s\n", member_->id().c_str(),
                   s.ToString().c_str());
    }
  }
}

bool EtcdCoordinator::Campaign() {
  if (planner_revision_ != 0) return true;
  int64_t revision = 0;
  absl::StatusOr<bool> won =
      etcd_->Txn({EtcdCompare::CreateRevision(Key("planner"), 0)},
                 {EtcdOp::Put(Key("planner"), member_->id(), lease_)}, {}, &revision);
  if (!won.ok() || !*won) return false;
  planner_revision_ = revision;  // the transaction's only write created the key
  return true;
}

absl::Status EtcdCoordinator::Reconcile() {
  absl::StatusOr<std::vector<internal::EtcdKeyValue>> keys = etcd_->GetPrefix(prefix_);
  if (!keys.ok()) return keys.status();
  std::map<std::string, v1::MemberInfo> present;  // by id: ordered, so plans are deterministic
  std::vector<std::string> leaving;
  std::optional<internal::EtcdKeyValue> stored;
  bool still_planner = false;
  for (internal::EtcdKeyValue& kv : *keys) {
    const std::string name = kv.key.substr(prefix_.size());
    if (absl::StartsWith(name, "members/")) {
      v1::MemberInfo info;
      if (info.ParseFromString(kv.value)) present[info.id()] = std::move(info);
    } else if (absl::StartsWith(name, "leaving/")) {
      leaving.push_back(name.substr(std::string_view("leaving/").size()));
    } else if (name == "planner") {
      still_planner = kv.create_revision == planner_revision_;
    } else if (name == "table") {
      stored = std::move(kv);
    }
  }
  if (!still_planner) {
    planner_revision_ = 0;
    return absl::OkStatus();
  }
  peer_addresses_.clear();
  for (const auto& [id, info] : present) {
    if (id != member_->id()) peer_addresses_.push_back(info.peer_address());
  }
  std::vector<v1::MemberInfo> staying;
  for (const auto& [id, info] : present) {
    if (std::find(leaving.begin(), leaving.end(), id) == leaving.end()) staying.push_back(info);
  }
  table_revision_ = stored.has_value() ? stored->mod_revision : 0;
  if (!stored.has_value()) {
    if (staying.empty()) return absl::OkStatus();
    return CommitFenced(std::make_shared<const PartitionTable>(
        PartitionTable::Plan(member_->context().cluster_name(), /*version=*/1, std::move(staying),
                             member_->context().partition_count(), options_.backup_count)));
  }
  v1::PartitionTable proto;
  if (!proto.ParseFromString(stored->value)) {
    return absl::DataLossError("unparsable partition table in etcd");
  }
  absl::StatusOr<PartitionTable> parsed = PartitionTable::FromProto(std::move(proto));
  if (!parsed.ok()) return parsed.status();
  auto current = std::make_shared<const PartitionTable>(*std::move(parsed));

  internal::MigrationDriver driver = Driver();
  std::vector<std::string> crashed;
  for (const v1::MemberInfo& m : current->proto().members()) {
    if (!present.contains(m.id())) crashed.push_back(m.id());
  }
  if (!crashed.empty()) {
    absl::StatusOr<std::shared_ptr<const PartitionTable>> promoted =
        internal::PromoteCrashed(*current, crashed, driver);
    if (!promoted.ok()) return promoted.status();
    current = *std::move(promoted);
  }
  if (staying.empty()) return absl::OkStatus();  // the last member is leaving
  auto next = std::make_shared<const PartitionTable>(
      PartitionTable::Rebalance(*current, staying, options_.backup_count, current->version() + 1));
  if (SameAssignment(*current, *next) && next->member_count() == current->member_count()) {
    return absl::OkStatus();
  }
  return internal::Migrate(*current, std::move(next), driver);
}

absl::Status EtcdCoordinator::CommitFenced(std::shared_ptr<const PartitionTable> table) {
  int64_t revision = 0;
  absl::StatusOr<bool> written =
      etcd_->Txn({EtcdCompare::CreateRevision(Key("planner"), planner_revision_),
                  EtcdCompare::ModRevision(Key("table"), table_revision_)},
                 {EtcdOp::Put(Key("table"), table->proto().SerializeAsString())}, {}, &revision);
  if (!written.ok()) return written.status();
  if (!*written) {
    planner_revision_ = 0;  // find out again who plans
    return absl::AbortedError(absl::StrCat("table version ", table->version(),
                                           " not committed: the planner or the table changed"));
  }
  table_revision_ = revision;
  // Members learn it from their watches too; installing it here first keeps the next step of a
  // migration from running ahead of a slow watch.
  internal::InstallOnMembers(*table, Driver());
  return absl::OkStatus();
}

internal::MigrationDriver EtcdCoordinator::Driver() {
  return {
      .channel = [this](const v1::MemberInfo& info) { return ChannelTo(info.peer_address()); },
      .commit =
          [this](std::shared_ptr<const PartitionTable> table) {
            return CommitFenced(std::move(table));
          },
      .notify =
          [this](const std::function<void(MigrationListener&)>& event) {
            std::vector<std::shared_ptr<MigrationListener>> listeners;
            {
              internal::MutexLock lock(&mu_);
              listeners = listeners_;
            }
            for (auto& listener : listeners) event(*listener);
            event(internal::CoreOf(*member_).events());
            internal::MigrationEventEncoder relay([this](const v1::MigrationEvent& e) {
              for (const std::string& address : peer_addresses_) {
                relay_->Send(address, ChannelTo(address), e);
              }
            });
            event(relay);
          },
  };
}

std::shared_ptr<grpc::Channel> EtcdCoordinator::ChannelTo(const std::string& address) {
  internal::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) {
    channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  return channel;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> NewEtcdCoordinator(EtcdCoordinatorOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("the etcd coordinator needs at least one etcd endpoint");
  }
  if (options.lease_ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd lease TTL ", absl::FormatDuration(options.lease_ttl), " is below one second"));
  }
  absl::StatusOr<std::unique_ptr<internal::EtcdClient>> etcd =
      internal::EtcdClient::Connect(options.endpoints);
  if (!etcd.ok()) return etcd.status();
  return std::make_unique<EtcdCoordinator>(std::move(options), *std::move(etcd));
}

}  // namespace gridrpc
