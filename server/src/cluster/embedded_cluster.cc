// EmbeddedCluster: N members, one in-memory store, and one StoreCoordinator per member, so the
// in-process cluster runs the production planner (fenced commits, installs over the peer
// ports, event relay) and differs from an etcd cluster only in its store.
#include "gridrpc/embedded_cluster.h"

#include <optional>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cluster/memory_store.h"
#include "cluster/store_coordinator.h"
#include "gridrpc/partition_table.h"

namespace gridrpc {

class EmbeddedCluster::Impl {
 public:
  Impl(EmbeddedClusterOptions options, ServiceInstaller install)
      : options_(WithSecret(std::move(options))),
        install_(std::move(install)),
        store_(std::make_shared<internal::InMemoryStore>()) {}

  ~Impl() { Shutdown(); }

  absl::Status StartMembers() {
    internal::MutexLock ops(&ops_mu_);
    std::vector<Node*> started;
    for (int i = 0; i < options_.members; ++i) {
      absl::StatusOr<Node*> node = NewNode(LabelsOf(i));
      if (!node.ok()) return node.status();
      started.push_back(*node);
    }
    // All registered before any plans: the first table spreads over every one of them.
    for (Node* node : started) node->coordinator->Start();
    if (absl::Status s = WaitSettled(); !s.ok()) return s;
    for (Node* node : started) {
      if (absl::Status s = node->coordinator->WaitUntilListed(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int> AddMember(std::optional<std::map<std::string, std::string>> labels) {
    internal::MutexLock ops(&ops_mu_);
    absl::StatusOr<Node*> node =
        NewNode(labels.has_value() ? *std::move(labels) : LabelsOf(size()));
    if (!node.ok()) return node.status();
    (*node)->coordinator->Start();
    if (absl::Status s = WaitSettled(); !s.ok()) return s;
    if (absl::Status s = (*node)->coordinator->WaitUntilListed(); !s.ok()) return s;
    internal::MutexLock lock(&mu_);
    return static_cast<int>(nodes_.size()) - 1;
  }

  absl::Status RemoveMember(int index) {
    internal::MutexLock ops(&ops_mu_);
    absl::StatusOr<Node*> node = LiveNode(index);
    if (!node.ok()) return node.status();
    if (LiveCount() == 1) return absl::FailedPreconditionError("the last member cannot leave");
    // It still serves as a migration source until a table without it commits.
    if (absl::Status s = (*node)->coordinator->Leave(); !s.ok()) return s;
    MarkGone(**node);
    (*node)->member->Shutdown();
    return WaitSettled();
  }

  absl::Status Crash(const std::vector<int>& indexes) {
    internal::MutexLock ops(&ops_mu_);
    std::vector<Node*> victims;
    for (int index : indexes) {
      absl::StatusOr<Node*> node = LiveNode(index);
      if (!node.ok()) return node.status();
      victims.push_back(*node);
    }
    std::vector<int64_t> sessions;
    for (Node* node : victims) {
      node->member->Terminate();
      node->coordinator->StopPlanning();
      sessions.push_back(node->coordinator->session());
    }
    store_->AbandonSessions(sessions);  // together: leases that expired at the same moment
    for (Node* node : victims) {
      node->coordinator->Abandon();
      MarkGone(*node);
    }
    return WaitSettled();
  }

  void Shutdown() {
    std::vector<Node*> nodes = Nodes();
    for (Node* node : nodes) node->coordinator->StopPlanning();  // nobody reacts to the rest
    for (Node* node : nodes) node->member->Shutdown();
  }

  int size() const {
    internal::MutexLock lock(&mu_);
    return static_cast<int>(nodes_.size());
  }

  Member& member(int index) {
    internal::MutexLock lock(&mu_);
    return *nodes_.at(index)->member;
  }

  Member* FindMember(std::string_view id) {
    internal::MutexLock lock(&mu_);
    for (const auto& node : nodes_) {
      if (node->member->id() == id) return node->member.get();
    }
    return nullptr;
  }

  std::vector<std::string> addresses() const {
    internal::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& node : nodes_) out.push_back(node->member->address());
    return out;
  }

  std::shared_ptr<const PartitionTable> partition_table() const {
    absl::StatusOr<std::optional<v1::PartitionTable>> stored = store_->ReadTable();
    if (!stored.ok() || !stored->has_value()) return nullptr;
    absl::StatusOr<PartitionTable> table = PartitionTable::FromProto(**std::move(stored));
    if (!table.ok()) return nullptr;
    return std::make_shared<const PartitionTable>(*std::move(table));
  }

  void AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
    internal::MutexLock lock(&mu_);
    for (const auto& node : nodes_) node->coordinator->AddMigrationListener(listener);
    listeners_.push_back(std::move(listener));
  }

  void CommitPartitionTableForTest(const PartitionTable& table) {
    store_->CommitTableForTest(table.proto());
  }

 private:
  struct Node {
    std::unique_ptr<Member> member;
    // Declared after the member: destroyed before it.
    std::unique_ptr<internal::StoreCoordinator> coordinator;
    bool live = true;
  };

  std::map<std::string, std::string> LabelsOf(int index) const {
    return options_.member_labels ? options_.member_labels(index)
                                  : std::map<std::string, std::string>{};
  }

  // Starts one member and registers it with the store; it plans once its coordinator starts.
  absl::StatusOr<Node*> NewNode(std::map<std::string, std::string> labels) {
    auto node = std::make_unique<Node>();
    absl::StatusOr<std::unique_ptr<Member>> member = Member::Create({
        .listen = "127.0.0.1:0",
        .cluster_name = options_.cluster_name,
        .partition_count = options_.partition_count,
        .properties = options_.properties,
        .member_id = NextMemberId(),
        .labels = std::move(labels),
        .execution_aspects = options_.execution_aspects,
        .tls = options_.tls,
        .cluster_secret = options_.cluster_secret,
        .tunables = options_.tunables,
    });
    if (!member.ok()) return member.status();
    node->member = *std::move(member);
    if (absl::Status s = install_(*node->member); !s.ok()) return s;
    if (absl::Status s = node->member->Start(); !s.ok()) return s;
    node->coordinator = std::make_unique<internal::StoreCoordinator>(
        [store = store_](const std::string&)
            -> absl::StatusOr<std::shared_ptr<internal::MembershipStore>> { return store; },
        internal::StoreCoordinatorOptions{
            .backup_count = options_.backup_count,
            .reset_lost_partitions = options_.reset_lost_partitions,
            .on_settled = [this](int64_t revision) { OnSettled(revision); },
        });
    {
      internal::MutexLock lock(&mu_);
      for (const auto& listener : listeners_) node->coordinator->AddMigrationListener(listener);
    }
    if (absl::Status s = node->coordinator->Register(*node->member); !s.ok()) return s;
    internal::MutexLock lock(&mu_);
    nodes_.push_back(std::move(node));
    return nodes_.back().get();
  }

  // Random, but in the order members start: the planner orders members by id, so the first
  // table spreads over them in start order (member 0 is primary of partition 0, ...).
  std::string NextMemberId() {
    internal::MutexLock lock(&mu_);
    return absl::StrFormat("%016x", id_base_ + nodes_.size());
  }

  absl::StatusOr<Node*> LiveNode(int index) {
    internal::MutexLock lock(&mu_);
    if (index < 0 || index >= static_cast<int>(nodes_.size()) || !nodes_[index]->live) {
      return absl::InvalidArgumentError(absl::StrCat("no live member ", index));
    }
    return nodes_[index].get();
  }

  int LiveCount() {
    internal::MutexLock lock(&mu_);
    int live = 0;
    for (const auto& node : nodes_) live += node->live;
    return live;
  }

  void MarkGone(Node& node) {
    internal::MutexLock lock(&mu_);
    node.live = false;
  }

  std::vector<Node*> Nodes() {
    internal::MutexLock lock(&mu_);
    std::vector<Node*> out;
    for (const auto& node : nodes_) out.push_back(node.get());
    return out;
  }

  void OnSettled(int64_t revision) {
    internal::MutexLock lock(&settle_mu_);
    settled_revision_ = std::max(settled_revision_, revision);
    settled_.NotifyAll();
  }

  bool Settled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(settle_mu_) {
    return settled_revision_ >= store_->revision();
  }

  // Until the planner has read the store as it is now and found nothing to do: every change
  // made so far is planned, migrated, committed, installed and reported.
  absl::Status WaitSettled() {
    internal::MutexLock lock(&settle_mu_);
    if (!settled_.WaitUntil(settle_mu_, absl::Now() + kSettleTimeout,
                            [this]()
                                ABSL_EXCLUSIVE_LOCKS_REQUIRED(settle_mu_) { return Settled(); })) {
      return absl::DeadlineExceededError(absl::StrCat("the embedded cluster did not settle within ",
                                                      absl::FormatDuration(kSettleTimeout)));
    }
    return absl::OkStatus();
  }

  static constexpr absl::Duration kSettleTimeout = absl::Seconds(120);

  static EmbeddedClusterOptions WithSecret(EmbeddedClusterOptions options) {
    if (options.cluster_secret.empty() && options.tls.ca_certs.empty()) {
      options.cluster_secret = NewClusterSecret();
    }
    return options;
  }

  const EmbeddedClusterOptions options_;
  const ServiceInstaller install_;
  const std::shared_ptr<internal::InMemoryStore> store_;
  // Far enough below 2^64 that adding member indexes never wraps.
  const uint64_t id_base_ = absl::Uniform<uint64_t>(absl::BitGen(), 1ull << 62, 1ull << 63);

  internal::Mutex ops_mu_;  // membership changes, one at a time
  // Before the nodes: their coordinators report here until they stop.
  mutable internal::Mutex settle_mu_;
  internal::CondVar settled_;
  int64_t settled_revision_ ABSL_GUARDED_BY(settle_mu_) = 0;
  mutable internal::Mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<MigrationListener>> listeners_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    EmbeddedClusterOptions options, const ServiceInstaller& install) {
  if (options.members <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("an embedded cluster needs members, not ", options.members));
  }
  auto impl = std::make_unique<Impl>(std::move(options), install);
  if (absl::Status s = impl->StartMembers(); !s.ok()) return s;
  return std::unique_ptr<EmbeddedCluster>(new EmbeddedCluster(std::move(impl)));
}

EmbeddedCluster::EmbeddedCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EmbeddedCluster::~EmbeddedCluster() = default;

int EmbeddedCluster::size() const { return impl_->size(); }
Member& EmbeddedCluster::member(int index) { return impl_->member(index); }
Member* EmbeddedCluster::FindMember(std::string_view id) { return impl_->FindMember(id); }
std::vector<std::string> EmbeddedCluster::addresses() const { return impl_->addresses(); }
std::shared_ptr<const PartitionTable> EmbeddedCluster::partition_table() const {
  return impl_->partition_table();
}
void EmbeddedCluster::Shutdown() { impl_->Shutdown(); }
absl::StatusOr<int> EmbeddedCluster::AddMember() { return impl_->AddMember(std::nullopt); }
absl::StatusOr<int> EmbeddedCluster::AddMember(std::map<std::string, std::string> labels) {
  return impl_->AddMember(std::move(labels));
}
absl::Status EmbeddedCluster::RemoveMember(int index) { return impl_->RemoveMember(index); }
absl::Status EmbeddedCluster::Crash(int index) { return impl_->Crash({index}); }
absl::Status EmbeddedCluster::Crash(const std::vector<int>& indexes) {
  return impl_->Crash(indexes);
}
void EmbeddedCluster::AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
  impl_->AddMigrationListener(std::move(listener));
}
void EmbeddedCluster::CommitPartitionTableForTest(const PartitionTable& table) {
  impl_->CommitPartitionTableForTest(table);
}

std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member) {
  v1::MemberInfo self;
  self.set_id(member.id());
  self.set_address(member.address());
  self.set_peer_address(member.peer_address());
  return std::make_shared<const PartitionTable>(
      PartitionTable::Plan(member.context().cluster_name(), /*version=*/1, {std::move(self)},
                           member.context().partition_count(), /*backup_count=*/0));
}

}  // namespace gridrpc
