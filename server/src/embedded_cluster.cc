#include "gridrpc/embedded_cluster.h"

#include "absl/strings/str_cat.h"

namespace gridrpc {
namespace {

v1::MemberInfo InfoOf(const Member& member) {
  v1::MemberInfo info;
  info.set_id(member.id());
  info.set_address(member.address());
  return info;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    EmbeddedClusterOptions options, const ServiceInstaller& install) {
  if (options.members <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("an embedded cluster needs members, not ", options.members));
  }
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster());
  std::vector<v1::MemberInfo> infos;
  for (int i = 0; i < options.members; ++i) {
    absl::StatusOr<std::unique_ptr<Member>> member = Member::Create({
        .listen = "127.0.0.1:0",
        .cluster_name = options.cluster_name,
        .partition_count = options.partition_count,
        .properties = options.properties,
        .execution_aspects = options.execution_aspects,
    });
    if (!member.ok()) return member.status();
    if (absl::Status s = install(**member); !s.ok()) return s;
    if (absl::Status s = (*member)->Start(); !s.ok()) return s;
    infos.push_back(InfoOf(**member));
    cluster->members_.push_back(*std::move(member));
  }
  cluster->table_ = std::make_shared<const PartitionTable>(
      PartitionTable::Plan(options.cluster_name, /*version=*/1, std::move(infos),
                           options.partition_count, options.backup_count));
  for (auto& member : cluster->members_) {
    if (absl::Status s = member->InstallPartitionTable(cluster->table_); !s.ok()) return s;
  }
  return cluster;
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

absl::StatusOr<std::shared_ptr<const PartitionTable>> EmbeddedCluster::Crash(int index) {
  if (index < 0 || index >= size()) {
    return absl::InvalidArgumentError(absl::StrCat("no member ", index));
  }
  Member& victim = *members_[index];
  victim.Terminate();
  // Start from the newest table any member has: tables may have been installed directly.
  for (auto& member : members_) {
    std::shared_ptr<const PartitionTable> t = member->partition_table();
    if (t != nullptr && t->version() > table_->version()) table_ = std::move(t);
  }
  table_ = std::make_shared<const PartitionTable>(
      PartitionTable::Promote(*table_, victim.id(), table_->version() + 1));
  for (auto& member : members_) {
    if (member.get() == &victim || table_->MemberIndex(member->id()) < 0) continue;
    if (absl::Status s = member->InstallPartitionTable(table_); !s.ok()) return s;
  }
  return table_;
}

std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member) {
  return std::make_shared<const PartitionTable>(
      PartitionTable::Plan(member.context().cluster_name(), /*version=*/1, {InfoOf(member)},
                           member.context().partition_count(), /*backup_count=*/0));
}

}  // namespace gridrpc
