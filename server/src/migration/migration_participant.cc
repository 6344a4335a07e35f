#include "migration/migration_participant.h"

#include <grpcpp/client_context.h>

#include <atomic>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "control/proto_service.h"
#include "gridrpc/internal/status.h"
#include "migration/replica_stream.h"

namespace gridrpc::internal {
namespace {

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, grpc::StatusCode code,
                                 std::string message) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status(code, std::move(message)));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* MigrationParticipant::BeginMigration(
    grpc::CallbackServerContext* ctx, const v1::BeginMigrationRequest& request) {
  std::set<int> seen;
  for (int p : request.partitions()) {
    if (!partitions_.Contains(p)) {
      return Refuse(ctx, grpc::StatusCode::INVALID_ARGUMENT,
                    absl::StrCat("partition ", p, " out of range"));
    }
    if (!seen.insert(p).second) {
      return Refuse(ctx, grpc::StatusCode::INVALID_ARGUMENT,
                    absl::StrCat("partition ", p, " is listed twice"));
    }
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Answered once every partition is frozen and its acknowledged writes are on its backups,
  // so neither a copy nor a promoted backup misses one.
  auto remaining = std::make_shared<std::atomic<int>>(request.partitions_size() + 1);
  auto frozen = [reactor, remaining] {
    if (remaining->fetch_sub(1) == 1) reactor->Finish(grpc::Status::OK);
  };
  for (int p : request.partitions()) Freeze(p, request.until_version(), frozen);
  frozen();
  return reactor;
}

void MigrationParticipant::Freeze(int partition, int64_t until_version,
                                  absl::AnyInvocable<void() &&> frozen) {
  executor_.Execute(
      partition, [this, partition, until_version, frozen = std::move(frozen)]() mutable {
        PartitionReplica& replica = partitions_.replica(partition);
        replica.frozen = true;
        replica.frozen_until = until_version;
        partitions_.Publish(partition);  // one-way calls now take the path that refuses them
        replica.sync.Await(std::move(frozen));
      });
}

grpc::ServerWriteReactor<v1::SyncChunk>* MigrationParticipant::ServeSync(
    const v1::SyncRequest& request) {
  const int p = request.partition();
  if (!partitions_.Contains(p)) {
    return RefusedStream<v1::SyncChunk>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("sync of partition ", p, " out of range")));
  }
  return NewSnapshotWriter(partitions_, executor_, p, tunables_.copy_chunk_bytes);
}

namespace {

// The destination's side of Peer/CopyReplica: reads the replica from its source (ReadSnapshot),
// reports the bytes received as they arrive, applies the replica inside its partition and ends
// the stream with the outcome. At most one progress message is in flight; the latest count
// wins. Deletes itself once gRPC is done with it, which is after Finish, the last thing it does.
class CopyStream final : public grpc::ServerWriteReactor<v1::CopyReplicaProgress> {
 public:
  CopyStream(Partitions& partitions, PartitionExecutor& executor, PeerChannels& peers,
             absl::Duration idle_timeout, std::shared_ptr<LifeGuard> guard, int partition,
             const std::string& source_address) {
    ReadSnapshot(
        partitions, guard, peers, source_address, partition, idle_timeout,
        [this](int64_t bytes) { Report(bytes, std::nullopt); },
        [this, &partitions, &executor, guard, partition](absl::Status status,
                                                         ReceivedReplica data) {
          LifeGuard::Scope alive = guard->Enter();
          if (!alive) {
            Report(data.received_bytes,
                   grpc::Status(grpc::StatusCode::UNAVAILABLE, "the destination member stopped"));
            return;
          }
          if (!status.ok()) {
            Report(data.received_bytes, ToGrpcStatus(status));
            return;
          }
          executor.Execute(partition,
                           [this, &partitions, partition, data = std::move(data)]() mutable {
                             const int64_t bytes = data.received_bytes;
                             partitions.Restore(partition, std::move(data));
                             Report(bytes, grpc::Status::OK);
                           });
        });
  }

  void OnWriteDone(bool ok) override {
    Next next;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) reader_gone_ = true;  // the planner gave up; the outcome still ends the stream
      next = NextLocked();
    }
    Act(next);
  }

  void OnDone() override { delete this; }

 private:
  enum class Next { kNothing, kWrite, kWriteAndFinish, kFinish };

  // Bytes received so far and, once the copy is over, its outcome.
  void Report(int64_t bytes, std::optional<grpc::Status> outcome) {
    Next next;
    {
      MutexLock lock(&mu_);
      bytes_ = std::max(bytes_, bytes);
      if (outcome.has_value()) outcome_ = std::move(outcome);
      next = NextLocked();
    }
    Act(next);
  }

  Next NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return Next::kNothing;
    if (outcome_.has_value()) {
      finished_ = true;
      final_status_ = *outcome_;
      if (!outcome_->ok() || reader_gone_) return Next::kFinish;
      progress_.set_bytes(bytes_);
      return Next::kWriteAndFinish;
    }
    if (bytes_ == reported_ || reader_gone_) return Next::kNothing;
    writing_ = true;
    reported_ = bytes_;
    progress_.set_bytes(bytes_);
    return Next::kWrite;
  }

  // Outside the lock: once Finish is called, gRPC may delete this at any moment.
  void Act(Next next) {
    switch (next) {
      case Next::kNothing:
        return;
      case Next::kWrite:
        StartWrite(&progress_);
        return;
      case Next::kWriteAndFinish:
        StartWriteAndFinish(&progress_, grpc::WriteOptions(), grpc::Status::OK);
        return;
      case Next::kFinish:
        Finish(final_status_);
        return;
    }
  }

  Mutex mu_;
  v1::CopyReplicaProgress progress_;  // being written; changed only when no write is in flight
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reported_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reader_gone_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> outcome_ ABSL_GUARDED_BY(mu_);
  grpc::Status final_status_;  // set once, under mu_, before Act finishes with it
};

}  // namespace

grpc::ServerWriteReactor<v1::CopyReplicaProgress>* MigrationParticipant::CopyReplica(
    const v1::CopyReplicaRequest& request) {
  const int p = request.partition();
  auto refuse = [](grpc::StatusCode code, std::string message) {
    return RefusedStream<v1::CopyReplicaProgress>(grpc::Status(code, std::move(message)));
  };
  if (!partitions_.Contains(p)) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " out of range"));
  }
  if (request.source_member_id().empty()) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " names no source"));
  }
  // The source must be a member of the cluster as this member knows it: a copy never pulls
  // from an address a peer made up.
  std::shared_ptr<const PartitionTable> table = partitions_.known_table();
  const int source = table == nullptr ? -1 : table->MemberIndex(request.source_member_id());
  if (source < 0) {
    return refuse(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("copy of partition ", p, " from ", request.source_member_id(),
                     ", which is not a member of the table member ", partitions_.member_id(),
                     " knows (version ", table == nullptr ? 0 : table->version(), ")"));
  }
  if (table->member(source).id() == partitions_.member_id()) {
    return refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " from member ", partitions_.member_id(),
                               " to itself"));
  }
  return new CopyStream(partitions_, executor_, peers_, tunables_.copy_idle_timeout, guard_, p,
                        table->member(source).peer_address());
}

}  // namespace gridrpc::internal
