// BroadcastRunner: the member half of a broadcast (Cluster/Broadcast). It runs one user method
// on each listed partition this member is primary of, through the same partition executor,
// aspects and backups as a routed call, and answers every partition's result at once (value or
// status, or `wrong_owner` for a partition it does not serve: moved, or frozen by a migration).
// A stateless service's method runs once, in the first partition the member owns.
//
// Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_BROADCAST_RUNNER_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_BROADCAST_RUNNER_H_

#include <grpcpp/support/server_callback.h>

#include "dispatch/invoker.h"
#include "dispatch/service_registry.h"
#include "gridrpc/cluster.pb.h"
#include "partition/partitions.h"
#include "replication/replicator.h"

namespace gridrpc::internal {

class BroadcastRunner {
 public:
  BroadcastRunner(const ServiceRegistry& registry, Partitions& partitions,
                  PartitionExecutor& executor, const Invoker& invoker, Replicator& replicator)
      : registry_(registry),
        partitions_(partitions),
        executor_(executor),
        invoker_(invoker),
        replicator_(replicator) {}

  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx,
                                const v1::BroadcastRequest& request,
                                v1::BroadcastResponse* response);

 private:
  const ServiceRegistry& registry_;
  Partitions& partitions_;
  PartitionExecutor& executor_;
  const Invoker& invoker_;
  Replicator& replicator_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_BROADCAST_RUNNER_H_
