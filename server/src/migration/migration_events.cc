// Migration events on a member: its C++ listeners, and gRPC watchers (Cluster/WatchMigrations).
#include "migration/migration_events.h"

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {
namespace {

v1::MigrationProgress ToProto(const MigrationState& state) {
  v1::MigrationProgress out;
  out.set_start_time_unix_ms(absl::ToUnixMillis(state.start_time));
  out.set_planned(state.planned);
  out.set_completed(state.completed);
  out.set_remaining(state.remaining);
  out.set_total_elapsed_us(absl::ToInt64Microseconds(state.total_elapsed));
  return out;
}

v1::MigrationEvent ToProto(v1::MigrationEvent::Kind kind, const ReplicaMigrationEvent& e) {
  v1::MigrationEvent out;
  out.set_kind(kind);
  *out.mutable_state() = ToProto(e.state);
  out.set_partition(e.partition);
  out.set_replica_index(e.replica_index);
  out.set_source(e.source);
  out.set_destination(e.destination);
  out.set_success(e.success);
  out.set_elapsed_us(absl::ToInt64Microseconds(e.elapsed));
  out.set_bytes(e.bytes);
  return out;
}

v1::MigrationEvent ToProto(v1::MigrationEvent::Kind kind, const MigrationState& state) {
  v1::MigrationEvent out;
  out.set_kind(kind);
  *out.mutable_state() = ToProto(state);
  return out;
}

v1::MigrationEvent ToProto(const PartitionLostEvent& e) {
  v1::MigrationEvent out;
  out.set_kind(v1::MigrationEvent::PARTITION_LOST);
  out.set_partition(e.partition);
  out.set_lost_replicas(e.lost_replicas);
  out.set_reporter(e.reporter);
  return out;
}

MigrationState FromProto(const v1::MigrationProgress& p) {
  return {.start_time = absl::FromUnixMillis(p.start_time_unix_ms()),
          .planned = p.planned(),
          .completed = p.completed(),
          .remaining = p.remaining(),
          .total_elapsed = absl::Microseconds(p.total_elapsed_us())};
}

ReplicaMigrationEvent ReplicaFromProto(const v1::MigrationEvent& e) {
  return {.partition = e.partition(),
          .replica_index = e.replica_index(),
          .source = e.source(),
          .destination = e.destination(),
          .success = e.success(),
          .elapsed = absl::Microseconds(e.elapsed_us()),
          .bytes = e.bytes(),
          .state = FromProto(e.state())};
}

}  // namespace

// One watcher's stream: events queue up and are written one at a time.
class MigrationEvents::Watch final : public grpc::ServerWriteReactor<v1::MigrationEvent> {
 public:
  // Sends the stream's headers at once: a caller that has them knows it is registered.
  explicit Watch(MigrationEvents& events) : events_(events) { StartSendInitialMetadata(); }

  void Push(const v1::MigrationEvent& event) {
    MutexLock lock(&mu_);
    if (finished_) return;
    queue_.push_back(event);
    WriteNextLocked();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    queue_.pop_front();
    if (ok) WriteNextLocked();
  }

  // A watcher that goes away (or a member that stops) cancels the stream. No write may start
  // once Finish is called: OnDone can run as soon as the operations in flight complete, and a
  // write started after it touches a deleted reactor (a watcher leaving in a burst of events
  // crashed the member so).
  void OnCancel() override {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    events_.Remove(this);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_ || queue_.empty()) return;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  MigrationEvents& events_;
  Mutex mu_;
  std::deque<v1::MigrationEvent> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // cancelled: Finish is called or about to be
};

grpc::ServerWriteReactor<v1::MigrationEvent>* MigrationEvents::NewWatch() {
  auto* watch = new Watch(*this);
  MutexLock lock(&mu_);
  watches_.insert(watch);
  return watch;
}

void MigrationEvents::Remove(Watch* watch) {
  MutexLock lock(&mu_);
  watches_.erase(watch);
}

void MigrationEvents::Add(std::shared_ptr<MigrationListener> listener) {
  MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void MigrationEvents::Publish(const v1::MigrationEvent& event,
                              const std::function<void(MigrationListener&)>& notify) {
  std::vector<std::shared_ptr<MigrationListener>> listeners;
  {
    MutexLock lock(&mu_);
    listeners = listeners_;
    for (Watch* watch : watches_) watch->Push(event);
  }
  for (const auto& listener : listeners) notify(*listener);
}

void MigrationEvents::MigrationStarted(const MigrationState& state) {
  Publish(ToProto(v1::MigrationEvent::MIGRATION_STARTED, state),
          [&](MigrationListener& l) { l.MigrationStarted(state); });
}

void MigrationEvents::MigrationFinished(const MigrationState& state) {
  Publish(ToProto(v1::MigrationEvent::MIGRATION_FINISHED, state),
          [&](MigrationListener& l) { l.MigrationFinished(state); });
}

void MigrationEvents::ReplicaMigrationCompleted(const ReplicaMigrationEvent& e) {
  Publish(ToProto(v1::MigrationEvent::REPLICA_MIGRATION_COMPLETED, e),
          [&](MigrationListener& l) { l.ReplicaMigrationCompleted(e); });
}

void MigrationEvents::ReplicaMigrationFailed(const ReplicaMigrationEvent& e) {
  Publish(ToProto(v1::MigrationEvent::REPLICA_MIGRATION_FAILED, e),
          [&](MigrationListener& l) { l.ReplicaMigrationFailed(e); });
}

void MigrationEvents::PartitionLost(const PartitionLostEvent& e) {
  Publish(ToProto(e), [&](MigrationListener& l) { l.PartitionLost(e); });
}

void MigrationEventEncoder::PartitionLost(const PartitionLostEvent& e) { on_event_(ToProto(e)); }

void MigrationEventEncoder::MigrationStarted(const MigrationState& state) {
  on_event_(ToProto(v1::MigrationEvent::MIGRATION_STARTED, state));
}

void MigrationEventEncoder::MigrationFinished(const MigrationState& state) {
  on_event_(ToProto(v1::MigrationEvent::MIGRATION_FINISHED, state));
}

void MigrationEventEncoder::ReplicaMigrationCompleted(const ReplicaMigrationEvent& e) {
  on_event_(ToProto(v1::MigrationEvent::REPLICA_MIGRATION_COMPLETED, e));
}

void MigrationEventEncoder::ReplicaMigrationFailed(const ReplicaMigrationEvent& e) {
  on_event_(ToProto(v1::MigrationEvent::REPLICA_MIGRATION_FAILED, e));
}

absl::Status Replay(const v1::MigrationEvent& event, MigrationListener& listener) {
  switch (event.kind()) {
    case v1::MigrationEvent::MIGRATION_STARTED:
      listener.MigrationStarted(FromProto(event.state()));
      return absl::OkStatus();
    case v1::MigrationEvent::MIGRATION_FINISHED:
      listener.MigrationFinished(FromProto(event.state()));
      return absl::OkStatus();
    case v1::MigrationEvent::REPLICA_MIGRATION_COMPLETED:
      listener.ReplicaMigrationCompleted(ReplicaFromProto(event));
      return absl::OkStatus();
    case v1::MigrationEvent::REPLICA_MIGRATION_FAILED:
      listener.ReplicaMigrationFailed(ReplicaFromProto(event));
      return absl::OkStatus();
    case v1::MigrationEvent::PARTITION_LOST:
      listener.PartitionLost({.partition = event.partition(),
                              .lost_replicas = event.lost_replicas(),
                              .reporter = event.reporter()});
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("migration event of unknown kind ", static_cast<int>(event.kind())));
  }
}

}  // namespace gridrpc::internal
