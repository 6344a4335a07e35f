// CallDispatcher: the unary path of user methods. Every user method is registered as a raw
// unary callback method on a grpc::Service (MarkMethodRawCallback), so its handler runs on
// gRPC's thread with no hop (../shared/PLATFORM.md has the measurements). The handler resolves
// the service instance, parses the request (INVALID_ARGUMENT on failure), routes it to a
// partition (metadata, else the routing key, else one of the member's own partitions), and runs
// it inside the partition: ownership check (forward, or refuse as retryable), execution
// aspects and method, backups, answer. One-way calls are answered as soon as the owner has
// them and run right after, on a worker.
//
// Names nobody registered fall to UnknownMethodService, which answers UNIMPLEMENTED saying
// whether the service or only the method is unknown.
//
// Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_CALL_DISPATCHER_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_CALL_DISPATCHER_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/call_outcome.h"
#include "dispatch/forwarder.h"
#include "dispatch/invoker.h"
#include "dispatch/service_registry.h"
#include "member/metrics.h"
#include "partition/partitions.h"
#include "replication/replicator.h"

namespace gridrpc::internal {

class CallDispatcher {
 public:
  CallDispatcher(const ServiceRegistry& registry, Partitions& partitions,
                 PartitionExecutor& executor, const Invoker& invoker, Replicator& replicator,
                 Forwarder& forwarder, MemberMetrics& metrics)
      : registry_(registry),
        partitions_(partitions),
        executor_(executor),
        invoker_(invoker),
        replicator_(replicator),
        forwarder_(forwarder),
        metrics_(metrics) {}

  // One gRPC service per hosted contract, each user method registered raw. Once, at start; the
  // services live as long as the dispatcher.
  std::vector<grpc::Service*> Services();

 private:
  class RawService;

  grpc::ServerUnaryReactor* Handle(const HostedMethod& hosted, MemberMetrics::Method& metrics,
                                   grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request_bytes,
                                   grpc::ByteBuffer* response);
  absl::StatusOr<int> RoutePartition(const HostedMethod& hosted,
                                     const grpc::CallbackServerContext& ctx,
                                     const google::protobuf::Message& request);
  // One-way, on the owner: runs later, on a worker, in its partition's order.
  void RunOneWay(const MethodDescriptor& method, const HostedService& hosted, int partition,
                 MetaArguments meta, std::unique_ptr<google::protobuf::Message> request);

  const ServiceRegistry& registry_;
  Partitions& partitions_;
  PartitionExecutor& executor_;
  const Invoker& invoker_;
  Replicator& replicator_;
  Forwarder& forwarder_;
  MemberMetrics& metrics_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::atomic<uint64_t> next_owned_{0};  // round robin over own partitions for keyless calls
};

// Catches every method nobody registered and says precisely what is unknown.
class UnknownMethodService final : public grpc::CallbackGenericService {
 public:
  UnknownMethodService(const ServiceRegistry& registry, std::string member_id)
      : registry_(registry), member_id_(std::move(member_id)) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  // The UNIMPLEMENTED message for `path` on this member's client port.
  std::string Explain(std::string_view path) const;

 private:
  const ServiceRegistry& registry_;
  const std::string member_id_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_CALL_DISPATCHER_H_
