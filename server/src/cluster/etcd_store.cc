#include "cluster/etcd_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gridrpc/log.h"

namespace gridrpc::internal {
namespace {

absl::StatusOr<v1::PartitionTable> ParseTable(const std::string& bytes) {
  v1::PartitionTable table;
  if (!table.ParseFromString(bytes)) {
    return absl::DataLossError("the partition table in etcd does not parse");
  }
  return table;
}

class EtcdStoreWatch final : public StoreWatch {
 public:
  explicit EtcdStoreWatch(std::unique_ptr<EtcdWatch> watch) : watch_(std::move(watch)) {}

 private:
  std::unique_ptr<EtcdWatch> watch_;
};

}  // namespace

std::string EtcdStore::Describe() const {
  return absl::StrCat("etcd at ", etcd_->endpoints(), " under ", prefix_);
}

absl::StatusOr<int64_t> EtcdStore::OpenSession(absl::Duration ttl, SessionEvents events) {
  const absl::Time asked = absl::Now();
  absl::StatusOr<int64_t> lease = etcd_->GrantLease(ttl);
  if (!lease.ok()) return lease.status();
  if (events.renewed) events.renewed(asked + ttl);  // granted after it was asked for
  if (absl::Status s = etcd_->KeepAlive(*lease, ttl, events.lost, events.renewed); !s.ok()) {
    return s;
  }
  return *lease;
}

absl::Status EtcdStore::ResumeSession(int64_t session, absl::Duration ttl, SessionEvents events) {
  const absl::Time asked = absl::Now();
  absl::StatusOr<absl::Duration> granted = etcd_->RefreshLease(session);
  if (!granted.ok()) return granted.status();
  if (events.renewed) events.renewed(asked + std::min(ttl, *granted));
  return etcd_->KeepAlive(session, ttl, events.lost, events.renewed);
}

absl::Status EtcdStore::CloseSession(int64_t session) { return etcd_->RevokeLease(session); }

void EtcdStore::AbandonSession(int64_t session) { etcd_->AbandonLease(session); }

absl::Status EtcdStore::Register(int64_t session, const v1::MemberInfo& member) {
  return etcd_->Put(Key(absl::StrCat("members/", member.id())), member.SerializeAsString(), session)
      .status();
}

absl::Status EtcdStore::MarkLeaving(int64_t session, const std::string& member_id) {
  return etcd_->Put(Key(absl::StrCat("leaving/", member_id)), "", session).status();
}

absl::StatusOr<int64_t> EtcdStore::Campaign(int64_t session, const std::string& member_id) {
  int64_t revision = 0;
  absl::StatusOr<bool> won =
      etcd_->Txn({EtcdCompare::CreateRevision(Key("planner"), 0)},
                 {EtcdOp::Put(Key("planner"), member_id, session)}, {}, &revision);
  if (!won.ok()) return won.status();
  // The transaction's only write created the key: its revision is the key's create revision.
  if (*won) return revision;
  // Held already: by this session (a planner that forgot its term), or by another one.
  absl::StatusOr<std::optional<EtcdKeyValue>> planner = etcd_->Get(Key("planner"));
  if (!planner.ok()) return planner.status();
  if (planner->has_value() && (*planner)->lease == session) return (*planner)->create_revision;
  return 0;
}

absl::StatusOr<ClusterView> EtcdStore::Read() {
  ClusterView view;
  absl::StatusOr<std::vector<EtcdKeyValue>> keys = etcd_->GetPrefix(prefix_, &view.revision);
  if (!keys.ok()) return keys.status();
  for (EtcdKeyValue& kv : *keys) {
    const std::string name = kv.key.substr(prefix_.size());
    if (absl::StartsWith(name, "members/")) {
      v1::MemberInfo info;
      if (info.ParseFromString(kv.value) && !info.id().empty()) {
        view.members[info.id()] = std::move(info);
      } else {
        Log(LogLevel::kWarning, "etcd_key_ignored", "ignoring an etcd key that does not parse",
            {{"key", kv.key}});
      }
    } else if (absl::StartsWith(name, "leaving/")) {
      view.leaving.insert(name.substr(std::string_view("leaving/").size()));
    } else if (name == "planner") {
      view.planner = kv.value;
      view.planner_term = kv.create_revision;
    } else if (name == "table") {
      absl::StatusOr<v1::PartitionTable> table = ParseTable(kv.value);
      if (!table.ok()) return table.status();
      view.table = *std::move(table);
      view.table_revision = kv.mod_revision;
    }
  }
  return view;
}

absl::StatusOr<std::optional<v1::PartitionTable>> EtcdStore::ReadTable() {
  absl::StatusOr<std::optional<EtcdKeyValue>> kv = etcd_->Get(Key("table"));
  if (!kv.ok()) return kv.status();
  if (!kv->has_value()) return std::optional<v1::PartitionTable>();
  absl::StatusOr<v1::PartitionTable> table = ParseTable((*kv)->value);
  if (!table.ok()) return table.status();
  return std::optional<v1::PartitionTable>(*std::move(table));
}

absl::StatusOr<int64_t> EtcdStore::CommitTable(int64_t planner_term,
                                               int64_t expected_table_revision,
                                               const v1::PartitionTable& table) {
  int64_t revision = 0;
  absl::StatusOr<bool> written =
      etcd_->Txn({EtcdCompare::CreateRevision(Key("planner"), planner_term),
                  EtcdCompare::ModRevision(Key("table"), expected_table_revision)},
                 {EtcdOp::Put(Key("table"), table.SerializeAsString())}, {}, &revision);
  if (!written.ok()) return written.status();
  if (!*written) {
    return absl::AbortedError(absl::StrCat("table version ", table.version(),
                                           " not committed: the planner or the table changed"));
  }
  return revision;
}

absl::Status EtcdStore::DeleteTable(int64_t planner_term) {
  absl::StatusOr<bool> deleted = etcd_->Txn(
      {EtcdCompare::CreateRevision(Key("planner"), planner_term)}, {EtcdOp::Delete(Key("table"))});
  if (!deleted.ok()) return deleted.status();
  if (!*deleted) return absl::AbortedError("the table was not deleted: the planner changed");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<StoreWatch>> EtcdStore::Watch(
    std::function<void(const StoreChange&)> on_change,
    std::function<void(const absl::Status&)> on_broken) {
  std::unique_ptr<EtcdWatch> watch = etcd_->WatchPrefix(
      prefix_, 0,
      [this, on_change = std::move(on_change)](const std::vector<EtcdEvent>& events,
                                               int64_t revision) {
        StoreChange change{.revision = revision};
        for (const EtcdEvent& event : events) {
          if (event.type != EtcdEvent::Type::kPut || event.kv.key != Key("table")) continue;
          absl::StatusOr<v1::PartitionTable> table = ParseTable(event.kv.value);
          if (table.ok()) {
            change.table = *std::move(table);
          } else {
            Log(LogLevel::kError, "stored_table_ignored",
                "ignoring a partition table in etcd that does not parse",
                {{"status", table.status().ToString()}});
          }
        }
        on_change(change);
      },
      std::move(on_broken));
  return std::unique_ptr<StoreWatch>(new EtcdStoreWatch(std::move(watch)));
}

}  // namespace gridrpc::internal
