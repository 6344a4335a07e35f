#include "partition/partitions.h"

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {

Partitions::Partitions(std::string member_id, int partition_count, PartitionExecutor& executor,
                       const ServiceRegistry& registry, const Clock& clock)
    : member_id_(std::move(member_id)),
      partition_count_(partition_count),
      executor_(executor),
      registry_(registry),
      clock_(clock),
      replicas_(partition_count),
      published_replica_index_(new std::atomic<int>[partition_count]),
      published_sequence_(new std::atomic<int64_t>[partition_count]),
      published_serving_(new std::atomic<bool>[partition_count]) {
  for (int p = 0; p < partition_count; ++p) {
    published_replica_index_[p] = -1;
    published_sequence_[p] = 0;
    published_serving_[p] = false;
  }
}

void Partitions::AllocateContainers() {
  for (PartitionReplica& replica : replicas_) {
    replica.containers.resize(registry_.container_slots());
  }
}

absl::Status Partitions::Install(std::shared_ptr<const PartitionTable> table) {
  if (table == nullptr) return absl::InvalidArgumentError("null partition table");
  if (table->partition_count() != partition_count_) {
    return absl::InvalidArgumentError(absl::StrCat("partition table has ", table->partition_count(),
                                                   " partitions; member ", member_id_, " has ",
                                                   partition_count_));
  }
  const int self = table->MemberIndex(member_id_);
  if (self < 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition table version ", table->version(),
                                                   " does not list member ", member_id_));
  }
  auto primaries = std::make_shared<std::vector<int>>();
  for (int p = 0; p < partition_count_; ++p) {
    if (table->Owner(p) == self) primaries->push_back(p);
  }
  {
    MutexLock lock(&mu_);
    if (table_ != nullptr && table_->version() >= table->version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "partition table version ", table->version(), " is not newer than ", table_->version()));
    }
    table_ = table;
    if (known_ == nullptr || known_->version() < table->version()) known_ = table;
    primaries_ = std::move(primaries);
  }
  for (int p = 0; p < partition_count_; ++p) {
    executor_.Execute(p, [this, p, self, table] {
      PartitionReplica& replica = replicas_[p];
      const bool was_backup = replica.replica_index > 0;
      replica.replica_index = table->ReplicaIndex(p, self);
      replica.table_version = table->version();
      replica.frozen = replica.frozen && table->version() < replica.frozen_until;
      replica.lost = table->lost(p);
      // The table committed without this member's replica: drop it (a migration source).
      if (replica.replica_index < 0) Clear(p);
      for (ReplicaObserver* observer : observers_) observer->OnRoleChanged(p, replica, was_backup);
      Publish(p);
    });
  }
  return absl::OkStatus();
}

void Partitions::Observe(std::shared_ptr<const PartitionTable> table) {
  if (table == nullptr || table->partition_count() != partition_count_) return;
  MutexLock lock(&mu_);
  if (known_ == nullptr || known_->version() < table->version()) known_ = std::move(table);
}

std::shared_ptr<const PartitionTable> Partitions::table() const {
  MutexLock lock(&mu_);
  return table_;
}

std::shared_ptr<const PartitionTable> Partitions::known_table() const {
  MutexLock lock(&mu_);
  return known_;
}

std::shared_ptr<const std::vector<int>> Partitions::PrimaryPartitions() const {
  static const auto* const kNone =
      new std::shared_ptr<const std::vector<int>>(std::make_shared<const std::vector<int>>());
  MutexLock lock(&mu_);
  return primaries_ != nullptr ? primaries_ : *kNone;
}

bool Partitions::IsPrimaryInTable(int partition, std::string_view member_id) const {
  std::shared_ptr<const PartitionTable> installed = table();
  const int owner = installed == nullptr ? -1 : installed->Owner(partition);
  return owner >= 0 && installed->member(owner).id() == member_id;
}

Partitions::ReplicaState Partitions::replica_state(int partition) const {
  return {published_replica_index_[partition].load(std::memory_order_relaxed),
          published_sequence_[partition].load(std::memory_order_relaxed)};
}

absl::Status Partitions::CheckOwner(int partition) const {
  if (Fenced()) {
    return absl::UnavailableError(absl::StrCat(
        "member ", member_id_, " cannot confirm its membership since ",
        absl::FormatTime(absl::FromUnixNanos(valid_until_ns_.load(std::memory_order_relaxed)),
                         absl::UTCTimeZone()),
        " (its session may have expired): it answers no call until it can"));
  }
  const PartitionReplica& replica = replicas_[partition];
  if (replica.frozen) {
    return absl::UnavailableError(
        absl::StrCat("partition ", partition, " is migrating away from member ", member_id_));
  }
  if (replica.replica_index == 0 && replica.lost) {
    return absl::DataLossError(absl::StrCat(
        "partition ", partition,
        " lost all its replicas (more members crashed than it had "
        "backups) as of table version ",
        replica.table_version,
        ": it answers nothing until an operator resets it (Peer/ResetLostPartitions)"));
  }
  if (replica.replica_index == 0) return absl::OkStatus();
  if (replica.table_version == 0) {
    return absl::UnavailableError(
        absl::StrCat("member ", member_id_, " has no partition table yet"));
  }
  return absl::UnavailableError(absl::StrCat("partition ", partition, " is not owned by member ",
                                             member_id_, " (table version ", replica.table_version,
                                             ")"));
}

Container* Partitions::ContainerOf(const HostedService& hosted, int partition) {
  if (hosted.container_slot < 0) return nullptr;
  std::unique_ptr<Container>& slot = replicas_[partition].containers[hosted.container_slot];
  if (slot == nullptr) slot = hosted.service->NewContainer(partition);  // on first use
  return slot.get();
}

void Partitions::Publish(int partition) {
  const PartitionReplica& replica = replicas_[partition];
  published_replica_index_[partition].store(replica.replica_index, std::memory_order_relaxed);
  published_sequence_[partition].store(replica.sequence, std::memory_order_relaxed);
  published_serving_[partition].store(replica.serving(), std::memory_order_relaxed);
}

absl::StatusOr<ReplicaSnapshot> Partitions::Snapshot(int partition) {
  const PartitionReplica& replica = replicas_[partition];
  ReplicaSnapshot out{.sequence = replica.sequence, .table_version = replica.table_version};
  for (const auto& hosted : registry_.instances()) {
    Container* container = ContainerOf(*hosted, partition);
    if (container == nullptr) continue;
    absl::StatusOr<std::string> data = container->ToMigrationData();
    if (!data.ok()) return data.status();
    out.containers.push_back({.lookup_name = hosted->lookup_name, .data = *std::move(data)});
  }
  return out;
}

absl::StatusOr<ReceivedReplica::Entry> Partitions::NewContainer(
    int partition, std::string_view lookup_name) const {
  const HostedService* hosted = registry_.FindInstance(lookup_name);
  std::unique_ptr<Container> container = hosted == nullptr || hosted->container_slot < 0
                                             ? nullptr
                                             : hosted->service->NewContainer(partition);
  if (container == nullptr) {
    return absl::NotFoundError(absl::StrCat("member ", member_id_, " hosts no partitioned '",
                                            std::string(lookup_name), "'"));
  }
  return ReceivedReplica::Entry{.slot = hosted->container_slot, .container = std::move(container)};
}

void Partitions::Restore(int partition, ReceivedReplica data) {
  PartitionReplica& replica = replicas_[partition];
  for (ReceivedReplica::Entry& entry : data.containers) {
    replica.containers[entry.slot] = std::move(entry.container);
  }
  replica.sequence = data.sequence;
  Publish(partition);
}

void Partitions::Clear(int partition) {
  PartitionReplica& replica = replicas_[partition];
  for (auto& container : replica.containers) {
    if (container != nullptr) container->Clear();
  }
  replica.sequence = 0;
}

void Partitions::RunOnPartition(int partition, const ServiceBase& service,
                                absl::AnyInvocable<void(Container* container) &&> fn) {
  const HostedService* hosted = registry_.FindInstance(service);
  if (!Contains(partition) || hosted == nullptr) {
    std::move(fn)(nullptr);
    return;
  }
  executor_.Execute(partition, [this, partition, hosted, fn = std::move(fn)]() mutable {
    std::move(fn)(replicas_[partition].serving() ? ContainerOf(*hosted, partition) : nullptr);
  });
}

void Partitions::DropAll(const std::set<int>& keep) {
  {
    MutexLock lock(&mu_);
    primaries_ = nullptr;
  }
  for (int p = 0; p < partition_count_; ++p) {
    executor_.Execute(p, [this, p, kept = keep.contains(p)] {
      PartitionReplica& replica = replicas_[p];
      const bool was_backup = replica.replica_index > 0;
      replica.replica_index = -1;
      replica.frozen = false;
      if (!kept) Clear(p);
      for (ReplicaObserver* observer : observers_) observer->OnRoleChanged(p, replica, was_backup);
      Publish(p);
    });
  }
}

void Partitions::ClearAll() {
  for (int p = 0; p < partition_count_; ++p) {
    executor_.Execute(p, [this, p] {
      for (std::unique_ptr<Container>& container : replicas_[p].containers) {
        if (container != nullptr) container->Clear();
      }
    });
  }
}

}  // namespace gridrpc::internal
