#include "migration/replica_stream.h"

#include <grpcpp/client_context.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/status.h"
#include "net/stall_watchdog.h"

namespace gridrpc::internal {
namespace {

class SnapshotWriter final : public grpc::ServerWriteReactor<v1::SyncChunk> {
 public:
  SnapshotWriter(Partitions& partitions, PartitionExecutor& executor, int partition,
                 int chunk_bytes)
      : chunk_bytes_(static_cast<size_t>(chunk_bytes)) {
    // The snapshot is taken inside the partition, in order with its calls; writing it out is
    // not: the partition serves on meanwhile.
    executor.Execute(partition, [this, &partitions, partition] {
      if (absl::Status owner = partitions.CheckOwner(partition);
          partitions.replica(partition).replica_index != 0) {
        Finish(ToGrpcStatus(owner.ok() ? absl::UnavailableError("not the primary") : owner));
        return;
      }
      absl::StatusOr<ReplicaSnapshot> snapshot = partitions.Snapshot(partition);
      if (!snapshot.ok()) {
        Finish(ToGrpcStatus(snapshot.status()));
        return;
      }
      MutexLock lock(&mu_);
      snapshot_ = *std::move(snapshot);
      WriteNextLocked();
    });
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    if (!ok) {  // the reader went away
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override { delete this; }

 private:
  // The next chunk: the sequence and version first, then each container's data in pieces of at
  // most chunk_bytes_ (an empty container: one chunk with its name and no data).
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    chunk_.Clear();
    if (!started_) {
      started_ = true;
      chunk_.set_sequence(snapshot_.sequence);
      chunk_.set_table_version(snapshot_.table_version);
    }
    if (container_ >= snapshot_.containers.size()) {
      if (chunk_.ByteSizeLong() > 0) {
        StartWrite(&chunk_);  // a partition without containers: the header alone
        return;
      }
      FinishLocked(grpc::Status::OK);
      return;
    }
    const ReplicaSnapshot::Entry& entry = snapshot_.containers[container_];
    const std::string& data = entry.data;
    if (offset_ == 0) chunk_.set_lookup_name(entry.lookup_name);
    const size_t n = std::min(chunk_bytes_, data.size() - offset_);
    chunk_.set_data(data.substr(offset_, n));
    offset_ += n;
    if (offset_ >= data.size()) {
      ++container_;
      offset_ = 0;
    }
    StartWrite(&chunk_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  const size_t chunk_bytes_;
  Mutex mu_;
  ReplicaSnapshot snapshot_ ABSL_GUARDED_BY(mu_);
  v1::SyncChunk chunk_ ABSL_GUARDED_BY(mu_);  // being written
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  size_t container_ ABSL_GUARDED_BY(mu_) = 0;
  size_t offset_ ABSL_GUARDED_BY(mu_) = 0;
};

class SnapshotReader final : public grpc::ClientReadReactor<v1::SyncChunk> {
 public:
  SnapshotReader(const Partitions& partitions, std::shared_ptr<LifeGuard> guard,
                 PeerChannels& peers, const std::string& address, int partition,
                 absl::Duration idle_timeout, SnapshotProgress progress, SnapshotDone done)
      : partitions_(partitions),
        guard_(std::move(guard)),
        partition_(partition),
        address_(address),
        idle_timeout_(idle_timeout),
        progress_(std::move(progress)),
        done_(std::move(done)),
        watchdog_(StallWatchdog::New(context_, idle_timeout)) {
    request_.set_partition(partition);
    peers.Authenticate(context_);
    peers.Get(address).peer->async()->Sync(&context_, &request_, this);
    // Before StartCall: from then on the call may end, and this be deleted, at any moment.
    watchdog_->Start();
    StartRead(&chunk_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    watchdog_->Progress();
    replica_.received_bytes += static_cast<int64_t>(chunk_.ByteSizeLong());
    if (chunks_++ == 0) {
      replica_.sequence = chunk_.sequence();
      replica_.table_version = chunk_.table_version();
    }
    if (absl::Status taken = Take(chunk_); !taken.ok()) {
      // Nothing more is read: OnDone follows with the cancellation, and reports this instead.
      error_ = std::move(taken);
      context_.TryCancel();
      return;
    }
    if (progress_) progress_(replica_.received_bytes);
    StartRead(&chunk_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::Status result = error_;
    if (result.ok() && watchdog_->fired()) {
      result = absl::DeadlineExceededError(
          absl::StrCat("the replica's source ", address_, " sent nothing for ",
                       absl::FormatDuration(idle_timeout_), " (after ", chunks_, " chunks)"));
    }
    if (result.ok()) result = FromGrpcStatus(status);
    if (result.ok() && chunks_ == 0) result = absl::DataLossError("an empty replica stream");
    if (result.ok()) result = FinishContainer();
    done_(std::move(result), std::move(replica_));
    watchdog_->Stop([this] { delete this; });
  }

 private:
  // A chunk's data goes to the container it belongs to as it arrives: what the copy holds
  // beyond the containers it fills is a chunk and the field it ends inside (MessageContainer).
  absl::Status Take(v1::SyncChunk& chunk) {
    if (!chunk.lookup_name().empty()) {
      if (absl::Status finished = FinishContainer(); !finished.ok()) return finished;
      LifeGuard::Scope alive = guard_->Enter();
      if (!alive) return absl::UnavailableError("the destination member stopped");
      absl::StatusOr<ReceivedReplica::Entry> entry =
          partitions_.NewContainer(partition_, chunk.lookup_name());
      if (!entry.ok()) return entry.status();
      receiver_ = entry->container->ReceiveMigrationData();
      replica_.containers.push_back(*std::move(entry));
    }
    if (chunk.data().empty()) return absl::OkStatus();
    if (receiver_ == nullptr) {
      return absl::InvalidArgumentError("replica data before any container was named");
    }
    return receiver_->Append(chunk.data());
  }

  absl::Status FinishContainer() {
    if (receiver_ == nullptr) return absl::OkStatus();
    absl::Status finished = receiver_->Finish();
    receiver_.reset();
    if (!finished.ok()) {
      return absl::Status(finished.code(),
                          absl::StrCat("partition ", partition_, ": ", finished.message()));
    }
    return finished;
  }

  const Partitions& partitions_;
  const std::shared_ptr<LifeGuard> guard_;  // partitions_ may be used while it can be entered
  const int partition_;
  const std::string address_;
  const absl::Duration idle_timeout_;
  const SnapshotProgress progress_;
  const SnapshotDone done_;
  grpc::ClientContext context_;
  const std::shared_ptr<StallWatchdog> watchdog_;  // after context_, which it cancels
  v1::SyncRequest request_;
  v1::SyncChunk chunk_;
  ReceivedReplica replica_;
  std::unique_ptr<MigrationReceiver> receiver_;  // fills replica_.containers.back()
  int64_t chunks_ = 0;
  absl::Status error_;
};

}  // namespace

grpc::ServerWriteReactor<v1::SyncChunk>* NewSnapshotWriter(Partitions& partitions,
                                                           PartitionExecutor& executor,
                                                           int partition, int chunk_bytes) {
  return new SnapshotWriter(partitions, executor, partition, chunk_bytes);
}

void ReadSnapshot(const Partitions& partitions, std::shared_ptr<LifeGuard> guard,
                  PeerChannels& peers, const std::string& address, int partition,
                  absl::Duration idle_timeout, SnapshotProgress progress, SnapshotDone done) {
  new SnapshotReader(partitions, std::move(guard), peers, address, partition, idle_timeout,
                     std::move(progress), std::move(done));
}

}  // namespace gridrpc::internal
