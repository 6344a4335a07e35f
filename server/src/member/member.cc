// The Member facade: each method hands over to the member's parts (member_core.h).
#include "gridrpc/member.h"

#include "member/member_core.h"

namespace gridrpc {

namespace internal {
MemberCore& CoreOf(Member& member) { return *member.core_; }
}  // namespace internal

absl::StatusOr<std::unique_ptr<Member>> Member::Create(MemberOptions options) {
  absl::StatusOr<std::unique_ptr<internal::MemberCore>> core =
      internal::MemberCore::Create(std::move(options));
  if (!core.ok()) return core.status();
  return std::unique_ptr<Member>(new Member(*std::move(core)));
}

Member::Member(std::unique_ptr<internal::MemberCore> core) : core_(std::move(core)) {}

Member::~Member() = default;  // the core shuts down if still running

absl::Status Member::AddService(std::unique_ptr<ServiceBase> service,
                                std::vector<std::string> lookup_names) {
  return core_->AddService(std::move(service), std::move(lookup_names));
}

absl::Status Member::Start() { return core_->Start(); }

absl::Status Member::InstallPartitionTable(std::shared_ptr<const PartitionTable> table) {
  return core_->InstallPartitionTable(std::move(table));
}

void Member::Reset() { core_->Reset(); }

void Member::AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
  core_->events().Add(std::move(listener));
}

void Member::Shutdown(absl::Duration grace) { core_->Stop(grace, /*terminate=*/false); }

void Member::Terminate() { core_->Stop(absl::ZeroDuration(), /*terminate=*/true); }

const MemberContext& Member::context() const { return core_->context(); }
const std::string& Member::id() const { return core_->context().id(); }
const std::string& Member::address() const { return core_->context().address(); }
const std::string& Member::peer_address() const { return core_->context().peer_address(); }

std::shared_ptr<const PartitionTable> Member::partition_table() const {
  return core_->partitions().table();
}

std::shared_ptr<grpc::Channel> Member::InProcessChannel() { return core_->InProcessChannel(); }

std::shared_ptr<grpc::Channel> Member::PeerChannelForTest() {
  return core_->PeerInProcessChannel();
}

int64_t Member::one_way_failures() const {
  return static_cast<int64_t>(core_->metrics().one_way_failures.Value());
}

int64_t Member::backup_failures() const {
  return static_cast<int64_t>(core_->metrics().backup_failures.Value());
}

int64_t Member::resyncs() const { return static_cast<int64_t>(core_->metrics().resyncs.Value()); }

Readiness Member::readiness() const { return core_->readiness(); }

std::shared_ptr<prometheus::Registry> Member::metrics_registry() const {
  return core_->metrics().registry();
}

std::shared_ptr<prometheus::Collectable> Member::metrics() const { return core_->shared_metrics(); }

Member::ReplicaState Member::replica_state(int partition) const {
  const internal::Partitions::ReplicaState state = core_->partitions().replica_state(partition);
  return {state.replica_index, state.sequence};
}

}  // namespace gridrpc
