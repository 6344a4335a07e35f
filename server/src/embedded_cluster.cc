#include "gridrpc/embedded_cluster.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"

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
  for (Member* member : LiveMembers()) event(member->migration_events());
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
  // Promotion first, so that every partition has a primary again at once; it moves no data,
  // so listeners see it as a process of its own.
  auto promoted = std::make_shared<const PartitionTable>(
      PartitionTable::Promote(*table_, victim.id(), table_->version() + 1));
  MigrationState state{.start_time = absl::Now()};
  std::vector<ReplicaMigrationEvent> promotions;
  for (int p = 0; p < promoted->partition_count(); ++p) {
    if (table_->member(table_->Owner(p)).id() != victim.id() || promoted->Owner(p) < 0) continue;
    promotions.push_back({.partition = p,
                          .replica_index = 0,
                          .source = victim.id(),
                          .destination = promoted->member(promoted->Owner(p)).id(),
                          .success = true});
  }
  state.planned = state.remaining = static_cast<int>(promotions.size());
  Notify([&](MigrationListener& l) { l.MigrationStarted(state); });
  if (absl::Status s = Commit(promoted); !s.ok()) return s;
  for (ReplicaMigrationEvent& event : promotions) {
    ++state.completed;
    --state.remaining;
    event.state = state;
    Notify([&](MigrationListener& l) { l.ReplicaMigrationCompleted(event); });
  }
  Notify([&](MigrationListener& l) { l.MigrationFinished(state); });
  // Then the backup count is restored on the members left.
  return Rebalance(LiveMembers());
}

absl::Status EmbeddedCluster::Rebalance(const std::vector<Member*>& members) {
  std::vector<v1::MemberInfo> infos;
  for (Member* m : members) infos.push_back(InfoOf(*m));
  return Migrate(std::make_shared<const PartitionTable>(PartitionTable::Rebalance(
      *table_, std::move(infos), options_.backup_count, table_->version() + 1)));
}

absl::Status EmbeddedCluster::Migrate(std::shared_ptr<const PartitionTable> next) {
  // A replica migration for every replica whose new owner holds no replica of the partition yet;
  // a member that already holds one (a backup becoming primary) needs no copy.
  struct Move {
    int partition;
    int replica_index;
    Member* source;  // the partition's primary now
    Member* destination;
  };
  std::vector<Move> moves;
  for (int p = 0; p < next->partition_count(); ++p) {
    const int owner = table_->Owner(p);
    Member* source = owner < 0 ? nullptr : FindMember(table_->member(owner).id());
    const auto& replicas = next->proto().partitions(p).members();
    for (int r = 0; r < replicas.size(); ++r) {
      const std::string& id = next->member(replicas[r]).id();
      const int old_index = table_->MemberIndex(id);
      if (old_index >= 0 && table_->ReplicaIndex(p, old_index) >= 0) continue;
      moves.push_back({p, r, source, FindMember(id)});
    }
  }

  MigrationState state{.start_time = absl::Now(),
                       .planned = static_cast<int>(moves.size()),
                       .remaining = static_cast<int>(moves.size())};
  Notify([&](MigrationListener& l) { l.MigrationStarted(state); });
  // Freeze, on its primary, every partition that is copied or whose primary changes: until the
  // new table commits, writes there would be lost (a leaving member never sees a table without
  // itself, so it stays frozen until it shuts down).
  for (int p = 0; p < next->partition_count(); ++p) {
    const int owner = table_->Owner(p);
    if (owner < 0) continue;
    const std::string& id = table_->member(owner).id();
    bool copied = false;
    for (const Move& move : moves) copied = copied || move.partition == p;
    if (copied || next->Owner(p) < 0 || next->member(next->Owner(p)).id() != id) {
      if (Member* primary = FindMember(id)) primary->BeginMigration(p);
    }
  }
  for (int attempt = 0; attempt < 2 && !moves.empty(); ++attempt) {
    std::vector<Move> failed;
    for (const Move& move : moves) {
      const absl::Time begin = absl::Now();
      v1::SyncResponse data;
      absl::Status status = move.source == nullptr
                                ? absl::UnavailableError("the partition has no primary to copy")
                                : absl::OkStatus();
      if (status.ok()) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::SyncRequest request;
        request.set_partition(move.partition);
        status = internal::FromGrpcStatus(
            v1::Cluster::NewStub(move.source->InProcessChannel())->Sync(&context, request, &data));
        if (status.ok()) status = move.destination->ApplyReplica(move.partition, data);
      }
      ReplicaMigrationEvent event{.partition = move.partition,
                                  .replica_index = move.replica_index,
                                  .source = move.source == nullptr ? "" : move.source->id(),
                                  .destination = move.destination->id(),
                                  .success = status.ok(),
                                  .elapsed = absl::Now() - begin,
                                  .bytes = static_cast<int64_t>(data.ByteSizeLong())};
      if (status.ok()) {
        ++state.completed;
        --state.remaining;
        state.total_elapsed += event.elapsed;
      } else {
        failed.push_back(move);  // rolled back by ApplyReplica; retried once
      }
      event.state = state;
      Notify([&](MigrationListener& l) {
        status.ok() ? l.ReplicaMigrationCompleted(event) : l.ReplicaMigrationFailed(event);
      });
    }
    moves = std::move(failed);
  }
  // The table commits either way: replicas that could not be copied are missing until the
  // next migration, which the table's backups make recoverable.
  absl::Status committed = Commit(std::move(next));
  Notify([&](MigrationListener& l) { l.MigrationFinished(state); });
  if (!committed.ok()) return committed;
  if (!moves.empty()) {
    return absl::InternalError(absl::StrCat(moves.size(), " replica migrations failed twice"));
  }
  return absl::OkStatus();
}

std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member) {
  return std::make_shared<const PartitionTable>(
      PartitionTable::Plan(member.context().cluster_name(), /*version=*/1, {InfoOf(member)},
                           member.context().partition_count(), /*backup_count=*/0));
}

}  // namespace gridrpc
