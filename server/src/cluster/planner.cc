#include "cluster/planner.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gridrpc/log.h"

namespace gridrpc::internal {
namespace {

bool SameAssignment(const PartitionTable& a, const PartitionTable& b) {
  if (a.partition_count() != b.partition_count() || a.member_count() != b.member_count()) {
    return false;
  }
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

}  // namespace

absl::StatusOr<std::optional<ClusterView>> Planner::ReadAsPlanner(int64_t session) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (term_ == 0) {
      absl::StatusOr<int64_t> term = store_.Campaign(session, context_.member_id);
      if (!term.ok()) return term.status();
      if (*term == 0) return std::nullopt;
      if (*term != last_term_) {  // a new term: what was seen before says nothing now
        seen_in_term_.clear();
        missing_since_.clear();
        offer_awaited_since_.clear();
        last_term_ = *term;
      }
      term_ = *term;
    }
    absl::StatusOr<ClusterView> view = store_.Read();
    if (!view.ok()) return view.status();
    if (view->planner_term == term_) return *std::move(view);
    term_ = 0;  // the role passed on (our session ended, or it was taken over): campaign again
  }
  return std::nullopt;
}

absl::StatusOr<Planner::Round> Planner::RunRound(int64_t session) {
  absl::StatusOr<std::optional<ClusterView>> read = ReadAsPlanner(session);
  if (!read.ok()) return read.status();
  if (!read->has_value()) return Round{};
  ClusterView* view = &**read;
  others_.clear();
  std::vector<v1::MemberInfo> staying;
  for (const auto& [id, info] : view->members) {
    seen_in_term_.insert(id);
    missing_since_.erase(id);
    if (id != context_.member_id) others_.push_back(info);
    // A member that does not share the cluster's partition count cannot hold its partitions
    // (its coordinator refuses it at join; this covers two that registered at once).
    if (info.partition_count() != context_.partition_count) continue;
    if (!view->leaving.contains(id)) staying.push_back(info);
  }
  table_revision_ = view->table_revision;
  const Round changed{.outcome = Outcome::kChanged, .revision = view->revision};

  if (!view->table.has_value()) {
    if (staying.empty()) return Round{.outcome = Outcome::kSettled, .revision = view->revision};
    if (absl::Status s = CommitFenced(std::make_shared<const PartitionTable>(
            PartitionTable::Plan(context_.cluster_name, /*version=*/1, std::move(staying),
                                 context_.partition_count, context_.backup_count)));
        !s.ok()) {
      return s;
    }
    return changed;
  }
  absl::StatusOr<PartitionTable> parsed = PartitionTable::FromProto(*std::move(view->table));
  if (!parsed.ok()) return parsed.status();
  auto current = std::make_shared<const PartitionTable>(*std::move(parsed));
  absl::StatusOr<bool> restored = RestoreLost(*view, current);
  if (!restored.ok()) return restored.status();
  const absl::Time now = context_.clock.Now();
  const std::set<std::string> awaited = AwaitOffers(*view, *current, now);
  std::erase_if(staying, [&](const v1::MemberInfo& m) { return awaited.contains(m.id()); });
  const Round settled{.outcome = awaited.empty() ? Outcome::kSettled : Outcome::kWaiting,
                      .revision = view->revision};

  // A member of the table that is not registered crashed, if this planner saw it registered in
  // its term (its session ended while the store was up) or it stayed away for the recovery
  // grace; until then nothing moves: it may be a member fenced by a store outage, coming back.
  std::vector<std::string> crashed;
  bool waiting = false;
  for (const v1::MemberInfo& m : current->proto().members()) {
    if (view->members.contains(m.id())) continue;
    const absl::Time since = missing_since_.try_emplace(m.id(), now).first->second;
    if (seen_in_term_.contains(m.id()) || now - since >= context_.recovery_grace) {
      crashed.push_back(m.id());
    } else {
      waiting = true;
    }
  }
  if (waiting) return Round{.outcome = Outcome::kWaiting, .revision = view->revision};
  bool promoted = false;
  if (!crashed.empty()) {
    std::vector<PartitionLostEvent> lost;
    absl::StatusOr<std::shared_ptr<const PartitionTable>> next =
        PromoteCrashed(*current, crashed, Driver(), context_.reset_lost_partitions, &lost);
    if (!next.ok()) return next.status();
    current = *std::move(next);
    promoted = true;
    for (PartitionLostEvent& event : lost) {
      event.reporter = context_.member_id;
      Log(LogLevel::kError, "partition_lost",
          context_.reset_lost_partitions
              ? "a partition lost all its replicas: it serves again, empty "
                "(--on_partition_lost=reset)"
              : "a partition lost all its replicas: it answers DATA_LOSS until an operator "
                "resets it or one of its last holders comes back",
          {{"partition", event.partition},
           {"lost_replicas", event.lost_replicas},
           {"crashed", absl::StrJoin(crashed, ",")}});
      context_.notify([&](MigrationListener& l) { l.PartitionLost(event); });
    }
  }
  promoted = promoted || *restored;
  if (staying.empty()) {  // the last member is leaving
    return promoted ? changed : settled;
  }
  auto next = std::make_shared<const PartitionTable>(PartitionTable::Rebalance(
      *current, std::move(staying), context_.backup_count, current->version() + 1));
  if (SameAssignment(*current, *next)) return promoted ? changed : settled;
  if (absl::Status s = Migrate(*current, std::move(next), Driver()); !s.ok()) return s;
  return changed;
}

absl::StatusOr<bool> Planner::RestoreLost(const ClusterView& view,
                                          std::shared_ptr<const PartitionTable>& current) {
  // The freshest offer of each lost partition from its last holders that came back after they
  // were replaced (a paused member, or one cut off from the store, still has its replicas).
  // Anyone else's copy may be older than writes the partition acknowledged before it was lost.
  std::map<int, int64_t> freshest;
  std::map<int, v1::MemberInfo> owners;
  for (const auto& [id, info] : view.members) {
    if (current->MemberIndex(id) >= 0) continue;
    for (const v1::HeldReplica& held : info.held()) {
      const int p = held.partition();
      if (p < 0 || p >= current->partition_count() || !current->LostFrom(p, id)) continue;
      if (auto it = freshest.find(p); it != freshest.end() && it->second >= held.sequence()) {
        continue;
      }
      freshest[p] = held.sequence();
      owners[p] = info;
    }
  }
  if (owners.empty()) return false;
  auto table = std::make_shared<const PartitionTable>(
      PartitionTable::Restore(*current, owners, current->version() + 1));
  if (absl::Status s = CommitFenced(table); !s.ok()) return s;
  for (const auto& [p, owner] : owners) {
    Log(LogLevel::kWarning, "lost_partition_restored",
        "a lost partition is served again by one of its last holders, which came back with its "
        "replica",
        {{"partition", p}, {"member", owner.id()}, {"sequence", freshest[p]}});
  }
  current = std::move(table);
  return true;
}

std::set<std::string> Planner::AwaitOffers(const ClusterView& view, const PartitionTable& current,
                                           absl::Time now) {
  std::set<std::string> awaited;
  for (const auto& [id, info] : view.members) {
    if (current.MemberIndex(id) >= 0 || info.held_size() > 0) {
      offer_awaited_since_.erase(id);
      continue;
    }
    bool last_holder = false;
    for (int p = 0; p < current.partition_count() && !last_holder; ++p) {
      last_holder = current.LostFrom(p, id);
    }
    if (!last_holder) {
      offer_awaited_since_.erase(id);
      continue;
    }
    const absl::Time since = offer_awaited_since_.try_emplace(id, now).first->second;
    if (now - since < context_.recovery_grace) awaited.insert(id);
  }
  return awaited;
}

absl::StatusOr<int64_t> Planner::ResetLost(int64_t session, const std::set<int>& partitions) {
  absl::StatusOr<std::optional<ClusterView>> read = ReadAsPlanner(session);
  if (!read.ok()) return read.status();
  if (!read->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("member ", context_.member_id, " does not plan the cluster"));
  }
  if (!(*read)->table.has_value()) return absl::FailedPreconditionError("no partition table yet");
  absl::StatusOr<PartitionTable> current = PartitionTable::FromProto(*std::move((*read)->table));
  if (!current.ok()) return current.status();
  for (int p : partitions) {
    if (p < 0 || p >= current->partition_count() || !current->lost(p)) {
      return absl::FailedPreconditionError(
          absl::StrCat("partition ", p, " is not lost in table version ", current->version()));
    }
  }
  table_revision_ = (*read)->table_revision;
  PartitionTable reset = PartitionTable::ResetLost(*current, partitions);
  v1::PartitionTable proto = reset.proto();
  proto.set_version(current->version() + 1);
  auto next = std::make_shared<const PartitionTable>(PartitionTable::FromProto(proto).value());
  if (absl::Status s = CommitFenced(next); !s.ok()) return s;
  Log(LogLevel::kWarning, "lost_partitions_reset",
      "an operator reset lost partitions: they serve again, empty",
      {{"partitions", absl::StrJoin(partitions, ",")}, {"table_version", next->version()}});
  return next->version();
}

absl::Status Planner::EndCluster() {
  if (term_ == 0) return absl::OkStatus();  // someone else plans: the cluster lives on
  return store_.DeleteTable(term_);
}

absl::Status Planner::CommitFenced(std::shared_ptr<const PartitionTable> table) {
  absl::StatusOr<int64_t> revision = store_.CommitTable(term_, table_revision_, table->proto());
  if (!revision.ok()) {
    if (absl::IsAborted(revision.status())) term_ = 0;  // find out again who plans
    return revision.status();
  }
  table_revision_ = *revision;
  // Members learn it from their watches too; installing it here first keeps the next step of a
  // migration from running ahead of a slow watch.
  InstallOnMembers(*table, Driver());
  return absl::OkStatus();
}

MigrationDriver Planner::Driver() {
  return {
      .peers = context_.peers,
      .tunables = context_.tunables,
      .clock = context_.clock,
      .commit =
          [this](std::shared_ptr<const PartitionTable> table) {
            return CommitFenced(std::move(table));
          },
      .notify = context_.notify,
      .metrics = context_.metrics,
  };
}

}  // namespace gridrpc::internal
