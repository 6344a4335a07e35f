#include "control/peer_service.h"

#include "gridrpc/internal/status.h"
#include "gridrpc/peer.grpc.pb.h"

namespace gridrpc::internal {
namespace {

std::string PathOf(const char* method) {
  return absl::StrCat("/", v1::Peer::service_full_name(), "/", method);
}

grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

PeerService::PeerService(Admission admit, BackupApplier& backups, MigrationParticipant& migration,
                         MigrationEvents& events, InstallTable install, ResetLost reset,
                         int partition_count)
    : ProtoService(std::move(admit)) {
  AddUnary<v1::ResetLostPartitionsRequest, v1::ResetLostPartitionsResponse>(
      PathOf("ResetLostPartitions"),
      [reset = std::move(reset), partition_count](grpc::CallbackServerContext* ctx,
                                                  const v1::ResetLostPartitionsRequest& request,
                                                  v1::ResetLostPartitionsResponse* response) {
        std::set<int> partitions;
        for (int p : request.partitions()) {
          if (p < 0 || p >= partition_count) {
            return Answer(
                ctx, absl::InvalidArgumentError(absl::StrCat("partition ", p, " out of range")));
          }
          if (!partitions.insert(p).second) {
            return Answer(
                ctx, absl::InvalidArgumentError(absl::StrCat("partition ", p, " is listed twice")));
          }
        }
        if (partitions.empty()) {
          return Answer(ctx, absl::InvalidArgumentError("no partition to reset"));
        }
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        reset(std::move(partitions), [reactor, response](absl::StatusOr<int64_t> version) {
          if (version.ok()) response->set_table_version(*version);
          reactor->Finish(ToGrpcStatus(version.status()));
        });
        return reactor;
      });
  AddUnary<v1::BackupRequest, v1::BackupResponse>(
      PathOf("Backup"), [&backups](grpc::CallbackServerContext* ctx,
                                   const v1::BackupRequest& request, v1::BackupResponse* response) {
        return backups.HandleBackup(ctx, request, response);
      });
  AddServerStreaming<v1::SyncRequest, v1::SyncChunk>(
      PathOf("Sync"), [&migration](grpc::CallbackServerContext*, const v1::SyncRequest& request) {
        return migration.ServeSync(request);
      });
  AddUnary<v1::BeginMigrationRequest, v1::BeginMigrationResponse>(
      PathOf("BeginMigration"),
      [&migration](grpc::CallbackServerContext* ctx, const v1::BeginMigrationRequest& request,
                   v1::BeginMigrationResponse*) { return migration.BeginMigration(ctx, request); });
  AddServerStreaming<v1::CopyReplicaRequest, v1::CopyReplicaProgress>(
      PathOf("CopyReplica"),
      [&migration](grpc::CallbackServerContext*, const v1::CopyReplicaRequest& request) {
        return migration.CopyReplica(request);
      });
  AddUnary<v1::PartitionTable, v1::InstallPartitionTableResponse>(
      PathOf("InstallPartitionTable"),
      [install = std::move(install)](grpc::CallbackServerContext* ctx,
                                     const v1::PartitionTable& request,
                                     v1::InstallPartitionTableResponse*) {
        absl::StatusOr<PartitionTable> table = PartitionTable::FromProto(request);
        if (!table.ok()) return Answer(ctx, table.status());
        return Answer(ctx, install(std::make_shared<const PartitionTable>(*std::move(table))));
      });
  AddUnary<v1::MigrationEvent, v1::ReportMigrationResponse>(
      PathOf("ReportMigration"),
      [&events](grpc::CallbackServerContext* ctx, const v1::MigrationEvent& event,
                v1::ReportMigrationResponse*) { return Answer(ctx, Replay(event, events)); });
}

}  // namespace gridrpc::internal
