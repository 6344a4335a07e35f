// Invoker: runs one user method on one partition, inside the member's execution aspects.
//
// Called inside the partition (PartitionExecutor) by everything that runs user methods: the
// unary call path and the member half of a broadcast. Thread-safe: it holds no state of its
// own beyond what it was built with.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_INVOKER_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_INVOKER_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/service_registry.h"
#include "gridrpc/execution_aspect.h"
#include "partition/partitions.h"

namespace gridrpc::internal {

class Invoker {
 public:
  Invoker(const MemberContext& member, Partitions& partitions,
          const std::vector<std::shared_ptr<ExecutionAspect>>& aspects)
      : member_(member), partitions_(partitions), aspects_(aspects) {}

  // Runs the aspects and the method, serializing its answer into `out`; a backup payload the
  // method set lands in `backup_payload` (when not null). `ctx` is null for one-way calls, whose
  // meta arguments are then in `detached`.
  absl::Status Run(const HostedService& hosted, const MethodDescriptor& method,
                   const grpc::CallbackServerContext* ctx, const MetaArguments* detached,
                   const google::protobuf::Message& request, int partition, grpc::ByteBuffer* out,
                   std::optional<std::string>* backup_payload) const;

 private:
  class AspectChain;

  const MemberContext& member_;
  Partitions& partitions_;
  const std::vector<std::shared_ptr<ExecutionAspect>>& aspects_;
};

// Why a call that waited for its partition should not run any more: cancelled, or past its
// deadline (gRPC may not have noticed yet: its callback threads can all be busy). OK otherwise.
absl::Status GivenUp(const grpc::CallbackServerContext& ctx);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_INVOKER_H_
