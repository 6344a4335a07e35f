// ClusterService: gridrpc.v1.Cluster on the client port: what clients need of the cluster
// (the partition table, the member half of broadcasts, migration events, replica sequences).
// Nothing here changes a partition's role or a replica's data outside ordinary calls.
//
// Thread-safe; lives as long as the member's server.
#ifndef GRIDRPC_SERVER_SRC_CONTROL_CLUSTER_SERVICE_H_
#define GRIDRPC_SERVER_SRC_CONTROL_CLUSTER_SERVICE_H_

#include "control/connected_clients.h"
#include "control/proto_service.h"
#include "dispatch/broadcast_runner.h"
#include "migration/migration_events.h"
#include "partition/partitions.h"

namespace gridrpc::internal {

class ClusterService final : public ProtoService {
 public:
  ClusterService(const Partitions& partitions, BroadcastRunner& broadcasts, MigrationEvents& events,
                 ConnectedClients& clients);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CONTROL_CLUSTER_SERVICE_H_
