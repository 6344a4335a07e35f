#include "control/cluster_service.h"

#include "absl/time/clock.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"

namespace gridrpc::internal {
namespace {

std::string PathOf(const char* method) {
  return absl::StrCat("/", v1::Cluster::service_full_name(), "/", method);
}

}  // namespace

ClusterService::ClusterService(const Partitions& partitions, BroadcastRunner& broadcasts,
                               MigrationEvents& events, ConnectedClients& clients) {
  AddUnary<v1::GetPartitionTableRequest, v1::PartitionTable>(
      PathOf("GetPartitionTable"),
      [&partitions](grpc::CallbackServerContext* ctx, const v1::GetPartitionTableRequest&,
                    v1::PartitionTable* response) {
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        std::shared_ptr<const PartitionTable> table = partitions.table();
        if (table == nullptr) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "member " + partitions.member_id() + " has no partition table yet"));
        } else {
          *response = table->proto();
          reactor->Finish(grpc::Status::OK);
        }
        return reactor;
      });
  AddUnary<v1::BroadcastRequest, v1::BroadcastResponse>(
      PathOf("Broadcast"),
      [&broadcasts](grpc::CallbackServerContext* ctx, const v1::BroadcastRequest& request,
                    v1::BroadcastResponse* response) {
        return broadcasts.Run(ctx, request, response);
      });
  AddUnary<v1::ReplicaSequencesRequest, v1::ReplicaSequencesResponse>(
      PathOf("GetReplicaSequences"),
      [&partitions](grpc::CallbackServerContext* ctx, const v1::ReplicaSequencesRequest&,
                    v1::ReplicaSequencesResponse* response) {
        response->set_member_id(partitions.member_id());
        for (int p = 0; p < partitions.partition_count(); ++p) {
          const Partitions::ReplicaState replica = partitions.replica_state(p);
          if (replica.replica_index < 0) continue;
          v1::ReplicaSequence* out = response->add_replicas();
          out->set_partition(p);
          out->set_replica_index(replica.replica_index);
          out->set_sequence(replica.sequence);
        }
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        reactor->Finish(grpc::Status::OK);
        return reactor;
      });
  AddServerStreaming<v1::WatchMigrationsRequest, v1::MigrationEvent>(
      PathOf("WatchMigrations"),
      [&events](grpc::CallbackServerContext*, const v1::WatchMigrationsRequest&) {
        return events.NewWatch();
      });
  AddUnary<v1::ClientStatistics, v1::ClientStatisticsResponse>(
      PathOf("ReportClientStatistics"),
      [&clients](grpc::CallbackServerContext* ctx, const v1::ClientStatistics& statistics,
                 v1::ClientStatisticsResponse*) {
        grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
        reactor->Finish(ToGrpcStatus(clients.Report(statistics, absl::Now())));
        return reactor;
      });
}

}  // namespace gridrpc::internal
