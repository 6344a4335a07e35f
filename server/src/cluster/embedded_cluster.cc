#include "gridrpc/embedded_cluster.h"

#include <grpcpp/channel.h>

#include "absl/strings/str_cat.h"
#include "cluster/migration_process.h"
#include "gridrpc/coordinator.h"
#include "member/member_core.h"

namespace gridrpc {
namespace {

v1::MemberInfo InfoOf(const Member& member) {
  return internal::CoreOf(const_cast<Member&>(member)).Info();
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    EmbeddedClusterOptions options, const ServiceInstaller& install) {
  if (options.members <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("an embedded cluster needs members, not ", options.members));
  }
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster(options, install));
  std::vector<v1::MemberInfo> infos;
  for (int i = 0; i < options.members; ++i) {
    absl::StatusOr<std::unique_ptr<Member>> member = cluster->StartMember();
    if (!member.ok()) return member.status();
    infos.push_back(InfoOf(**member));
    cluster->members_.push_back(*std::move(member));
    cluster->live_.push_back(true);
  }
  cluster->table_ = std::make_shared<const PartitionTable>(
      PartitionTable::Plan(options.cluster_name, /*version=*/1, std::move(infos),
                           options.partition_count, options.backup_count));
  if (absl::Status s = cluster->Commit(cluster->table_); !s.ok()) return s;
  return cluster;
}

absl::StatusOr<std::unique_ptr<Member>> EmbeddedCluster::StartMember() {
  absl::StatusOr<std::unique_ptr<Member>> member = Member::Create({
      .listen = "127.0.0.1:0",
      .cluster_name = options_.cluster_name,
      .partition_count = options_.partition_count,
      .properties = options_.properties,
      .execution_aspects = options_.execution_aspects,
  });
  if (!member.ok()) return member.status();
  if (absl::Status s = install_(**member); !s.ok()) return s;
  if (absl::Status s = (*member)->Start(); !s.ok()) return s;
  return member;
}

EmbeddedCluster::~EmbeddedCluster() { Shutdown(); }

Member* EmbeddedCluster::FindMember(std::string_view id) {
  for (auto& m : members_) {
    if (m->id() == id) return m.get();
  }
  return nullptr;
}

std::vector<std::string> EmbeddedCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& m : members_) out.push_back(m->address());
  return out;
}

void EmbeddedCluster::Shutdown() {
  for (auto& m : members_) m->Shutdown();
}

void EmbeddedCluster::Notify(const std::function<void(MigrationListener&)>& event) {
  for (auto& listener : listeners_) event(*listener);
  for (Member* member : LiveMembers()) event(internal::CoreOf(*member).events());
}

void EmbeddedCluster::AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
  listeners_.push_back(std::move(listener));
}

std::vector<Member*> EmbeddedCluster::LiveMembers() {
  std::vector<Member*> out;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (live_[i]) out.push_back(members_[i].get());
  }
  return out;
}

absl::Status EmbeddedCluster::Commit(std::shared_ptr<const PartitionTable> table) {
  table_ = std::move(table);
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!live_[i] || table_->MemberIndex(members_[i]->id()) < 0) continue;
    if (absl::Status s = members_[i]->InstallPartitionTable(table_); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> EmbeddedCluster::AddMember() {
  absl::StatusOr<std::unique_ptr<Member>> member = StartMember();
  if (!member.ok()) return member.status();
  internal::CoreOf(**member).partitions().Observe(table_);  // it learns its peers from it
  members_.push_back(*std::move(member));
  live_.push_back(true);
  const int index = static_cast<int>(members_.size()) - 1;
  if (absl::Status s = Rebalance(LiveMembers()); !s.ok()) return s;
  return index;
}

absl::Status EmbeddedCluster::RemoveMember(int index) {
  if (index < 0 || index >= size() || !live_[index]) {
    return absl::InvalidArgumentError(absl::StrCat("no live member ", index));
  }
  std::vector<Member*> staying;
  for (Member* m : LiveMembers()) {
    if (m != members_[index].get()) staying.push_back(m);
  }
  if (staying.empty()) return absl::FailedPreconditionError("the last member cannot leave");
  // It still serves as a migration source until the new table commits.
  if (absl::Status s = Rebalance(staying); !s.ok()) return s;
  live_[index] = false;
  members_[index]->Shutdown();
  return absl::OkStatus();
}

absl::Status EmbeddedCluster::Crash(int index) {
  if (index < 0 || index >= size() || !live_[index]) {
    return absl::InvalidArgumentError(absl::StrCat("no live member ", index));
  }
  Member& victim = *members_[index];
  victim.Terminate();
  live_[index] = false;
  // Start from the newest table any member has: tables may have been installed directly.
  for (Member* m : LiveMembers()) {
    std::shared_ptr<const PartitionTable> t = m->partition_table();
    if (t != nullptr && t->version() > table_->version()) table_ = std::move(t);
  }
  // Promotion first, so that every partition has a primary again at once; then the backup
  // count is restored on the members left.
  absl::StatusOr<std::shared_ptr<const PartitionTable>> promoted =
      internal::PromoteCrashed(*table_, {victim.id()}, Driver());
  if (!promoted.ok()) return promoted.status();
  return Rebalance(LiveMembers());
}

absl::Status EmbeddedCluster::Rebalance(const std::vector<Member*>& members) {
  std::vector<v1::MemberInfo> infos;
  for (Member* m : members) infos.push_back(InfoOf(*m));
  auto next = std::make_shared<const PartitionTable>(PartitionTable::Rebalance(
      *table_, std::move(infos), options_.backup_count, table_->version() + 1));
  return internal::Migrate(*table_, std::move(next), Driver());
}

internal::MigrationDriver EmbeddedCluster::Driver() {
  return {
      .channel = [this](const v1::MemberInfo& info) -> std::shared_ptr<grpc::Channel> {
        Member* member = FindMember(info.id());
        return member == nullptr ? nullptr : internal::CoreOf(*member).PeerInProcessChannel();
      },
      .commit = [this](std::shared_ptr<const PartitionTable> table) { return Commit(table); },
      .notify = [this](const std::function<void(MigrationListener&)>& event) { Notify(event); },
  };
}

namespace {

class StandaloneCoordinator final : public Coordinator {
 public:
  absl::Status Join(Member& member) override {
    return member.InstallPartitionTable(SingleMemberTable(member));
  }
  absl::Status Leave() override { return absl::OkStatus(); }
  void AddMigrationListener(std::shared_ptr<MigrationListener>) override {}
};

}  // namespace

std::unique_ptr<Coordinator> NewEmbeddedCoordinator() {
  return std::make_unique<StandaloneCoordinator>();
}

std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member) {
  return std::make_shared<const PartitionTable>(
      PartitionTable::Plan(member.context().cluster_name(), /*version=*/1, {InfoOf(member)},
                           member.context().partition_count(), /*backup_count=*/0));
}

}  // namespace gridrpc
