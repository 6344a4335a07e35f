#include "migration/migration_participant.h"

#include <grpcpp/client_context.h>

#include <atomic>
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

grpc::ServerUnaryReactor* MigrationParticipant::CopyReplica(grpc::CallbackServerContext* ctx,
                                                            const v1::CopyReplicaRequest& request,
                                                            v1::CopyReplicaResponse* response) {
  const int p = request.partition();
  if (!partitions_.Contains(p)) {
    return Refuse(ctx, grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " out of range"));
  }
  if (request.source_member_id().empty()) {
    return Refuse(ctx, grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " names no source"));
  }
  // The source must be a member of the cluster as this member knows it: a copy never pulls
  // from an address a peer made up.
  std::shared_ptr<const PartitionTable> table = partitions_.known_table();
  const int source = table == nullptr ? -1 : table->MemberIndex(request.source_member_id());
  if (source < 0) {
    return Refuse(
        ctx, grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("copy of partition ", p, " from ", request.source_member_id(),
                     ", which is not a member of the table member ", partitions_.member_id(),
                     " knows (version ", table == nullptr ? 0 : table->version(), ")"));
  }
  if (table->member(source).id() == partitions_.member_id()) {
    return Refuse(ctx, grpc::StatusCode::INVALID_ARGUMENT,
                  absl::StrCat("copy of partition ", p, " from member ", partitions_.member_id(),
                               " to itself"));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  ReadSnapshot(
      peers_, table->member(source).peer_address(), p, absl::FromChrono(ctx->deadline()),
      [this, guard = guard_, p, reactor, response](absl::Status status, ReplicaSnapshot data) {
        LifeGuard::Scope alive = guard->Enter();
        if (!alive) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::UNAVAILABLE, "the destination member stopped"));
          return;
        }
        if (!status.ok()) {
          reactor->Finish(ToGrpcStatus(status));
          return;
        }
        executor_.Execute(p, [this, p, reactor, response, data = std::move(data)] {
          absl::Status applied = partitions_.Restore(p, data);
          response->set_bytes(data.received_bytes);
          reactor->Finish(ToGrpcStatus(applied));
        });
      });
  return reactor;
}

}  // namespace gridrpc::internal
