#include "cluster/memory_store.h"

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {

// A watch's callbacks, and whether they may still run. The dispatcher runs them under `mu`, so
// a handle that marks the watcher dead under `mu` knows none runs afterwards.
struct InMemoryStore::Watcher {
  Mutex mu;
  bool alive ABSL_GUARDED_BY(mu) = true;
  int64_t start_revision = 0;  // changes up to this one happened before the watch
  std::function<void(const StoreChange&)> on_change;
};

class InMemoryStore::WatchHandle final : public StoreWatch {
 public:
  explicit WatchHandle(std::shared_ptr<Watcher> watcher) : watcher_(std::move(watcher)) {}
  ~WatchHandle() override {
    MutexLock lock(&watcher_->mu);
    watcher_->alive = false;
  }

 private:
  const std::shared_ptr<Watcher> watcher_;
};

InMemoryStore::InMemoryStore() : dispatcher_([this] { Dispatch(); }) {}

InMemoryStore::~InMemoryStore() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  changes_queued_.NotifyAll();
  dispatcher_.join();
}

absl::StatusOr<int64_t> InMemoryStore::OpenSession(absl::Duration, SessionEvents events) {
  int64_t session;
  {
    MutexLock lock(&mu_);
    session = next_session_++;
    sessions_.insert(session);
  }
  if (events.renewed) events.renewed(absl::InfiniteFuture());  // never expires by itself
  return session;
}

absl::Status InMemoryStore::ResumeSession(int64_t session, absl::Duration, SessionEvents events) {
  {
    MutexLock lock(&mu_);
    if (!sessions_.contains(session)) {
      return absl::NotFoundError(absl::StrCat("session ", session, " has ended"));
    }
  }
  if (events.renewed) events.renewed(absl::InfiniteFuture());
  return absl::OkStatus();
}

absl::Status InMemoryStore::CloseSession(int64_t session) {
  MutexLock lock(&mu_);
  EndSession(session);
  return absl::OkStatus();
}

void InMemoryStore::AbandonSession(int64_t session) {
  MutexLock lock(&mu_);
  EndSession(session);
}

void InMemoryStore::AbandonSessions(const std::vector<int64_t>& sessions) {
  MutexLock lock(&mu_);
  bool ended = false;
  for (int64_t session : sessions) ended |= EndSessionQuietly(session);
  if (ended) Changed(std::nullopt);
}

void InMemoryStore::EndSession(int64_t session) {
  if (EndSessionQuietly(session)) Changed(std::nullopt);
}

bool InMemoryStore::EndSessionQuietly(int64_t session) {
  if (sessions_.erase(session) == 0) return false;
  std::erase_if(members_, [session](const auto& entry) { return entry.second.session == session; });
  std::erase_if(leaving_, [session](const auto& entry) { return entry.second == session; });
  if (planner_session_ == session) {
    planner_.clear();
    planner_session_ = 0;
    planner_term_ = 0;
  }
  return true;
}

absl::Status InMemoryStore::CheckSession(int64_t session) const {
  if (!sessions_.contains(session)) {
    return absl::FailedPreconditionError(absl::StrCat("session ", session, " has ended"));
  }
  return absl::OkStatus();
}

absl::Status InMemoryStore::Register(int64_t session, const v1::MemberInfo& member) {
  MutexLock lock(&mu_);
  if (absl::Status s = CheckSession(session); !s.ok()) return s;
  members_[member.id()] = {member, session};
  Changed(std::nullopt);
  return absl::OkStatus();
}

absl::Status InMemoryStore::MarkLeaving(int64_t session, const std::string& member_id) {
  MutexLock lock(&mu_);
  if (absl::Status s = CheckSession(session); !s.ok()) return s;
  leaving_[member_id] = session;
  Changed(std::nullopt);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> InMemoryStore::Campaign(int64_t session, const std::string& member_id) {
  MutexLock lock(&mu_);
  if (absl::Status s = CheckSession(session); !s.ok()) return s;
  if (planner_session_ == session) return planner_term_;
  if (planner_session_ != 0) return 0;
  Changed(std::nullopt);
  planner_ = member_id;
  planner_session_ = session;
  planner_term_ = revision_;
  return planner_term_;
}

absl::StatusOr<ClusterView> InMemoryStore::Read() {
  MutexLock lock(&mu_);
  ClusterView view;
  view.revision = revision_;
  for (const auto& [id, registration] : members_) view.members[id] = registration.info;
  for (const auto& [id, session] : leaving_) view.leaving.insert(id);
  view.planner = planner_;
  view.planner_term = planner_term_;
  view.table = table_;
  view.table_revision = table_revision_;
  return view;
}

absl::StatusOr<std::optional<v1::PartitionTable>> InMemoryStore::ReadTable() {
  MutexLock lock(&mu_);
  return table_;
}

absl::StatusOr<int64_t> InMemoryStore::CommitTable(int64_t planner_term,
                                                   int64_t expected_table_revision,
                                                   const v1::PartitionTable& table) {
  MutexLock lock(&mu_);
  if (planner_term == 0 || planner_term != planner_term_) {
    return absl::AbortedError(absl::StrCat("planner term ", planner_term, " no longer plans"));
  }
  if (expected_table_revision != table_revision_) {
    return absl::AbortedError(absl::StrCat("the table changed since revision ",
                                           expected_table_revision, " (now ", table_revision_,
                                           ")"));
  }
  table_ = table;
  Changed(table);
  table_revision_ = revision_;
  return table_revision_;
}

absl::Status InMemoryStore::DeleteTable(int64_t planner_term) {
  MutexLock lock(&mu_);
  if (planner_term == 0 || planner_term != planner_term_) {
    return absl::AbortedError(absl::StrCat("planner term ", planner_term, " no longer plans"));
  }
  table_.reset();
  table_revision_ = 0;
  Changed(std::nullopt);
  return absl::OkStatus();
}

void InMemoryStore::CommitTableForTest(const v1::PartitionTable& table) {
  MutexLock lock(&mu_);
  table_ = table;
  Changed(table);
  table_revision_ = revision_;
}

int64_t InMemoryStore::revision() const {
  MutexLock lock(&mu_);
  return revision_;
}

absl::StatusOr<std::unique_ptr<StoreWatch>> InMemoryStore::Watch(
    std::function<void(const StoreChange&)> on_change, std::function<void(const absl::Status&)>) {
  auto watcher = std::make_shared<Watcher>();
  watcher->on_change = std::move(on_change);
  MutexLock lock(&mu_);
  watcher->start_revision = revision_;
  watchers_.push_back(watcher);
  return std::make_unique<WatchHandle>(std::move(watcher));
}

void InMemoryStore::Changed(std::optional<v1::PartitionTable> table) {
  ++revision_;
  changes_.push_back({.revision = revision_, .table = std::move(table)});
  changes_queued_.NotifyAll();
}

void InMemoryStore::Dispatch() {
  for (;;) {
    StoreChange change;
    std::vector<std::shared_ptr<Watcher>> watchers;
    {
      MutexLock lock(&mu_);
      changes_queued_.Wait(mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !changes_.empty();
      });
      if (stopping_) return;
      change = std::move(changes_.front());
      changes_.pop_front();
      std::erase_if(watchers_, [](const std::weak_ptr<Watcher>& w) { return w.expired(); });
      for (const auto& weak : watchers_) {
        if (auto watcher = weak.lock()) watchers.push_back(std::move(watcher));
      }
    }
    for (const auto& watcher : watchers) {
      MutexLock lock(&watcher->mu);
      if (watcher->alive && change.revision > watcher->start_revision) watcher->on_change(change);
    }
  }
}

}  // namespace gridrpc::internal
