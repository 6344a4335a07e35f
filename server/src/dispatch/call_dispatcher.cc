#include "dispatch/call_dispatcher.h"

#include <google/protobuf/message.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/internal/wire.h"
#include "gridrpc/log.h"
#include "gridrpc/peer.grpc.pb.h"

namespace gridrpc::internal {

// The user methods of one service, each registered as a raw unary callback method: no extra
// executor hop per call, unlike a generic service.
class CallDispatcher::RawService final : public grpc::Service {
 public:
  RawService(CallDispatcher& dispatcher, const std::vector<const HostedMethod*>& methods,
             MemberMetrics& metrics) {
    for (size_t i = 0; i < methods.size(); ++i) {
      const HostedMethod* hosted = methods[i];
      MemberMetrics::Method* method_metrics = &metrics.ForMethod(
          std::string(hosted->type->descriptor->full_name), std::string(hosted->method->name));
      AddMethod(new grpc::internal::RpcServiceMethod(
          hosted->method->path, grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
      MarkMethodRawCallback(
          static_cast<int>(i),
          new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
              [&dispatcher, hosted, method_metrics](grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* req,
                                                    grpc::ByteBuffer* resp) {
                return dispatcher.Handle(*hosted, *method_metrics, ctx, req, resp);
              }));
    }
  }
};

std::vector<grpc::Service*> CallDispatcher::Services() {
  std::vector<grpc::Service*> out;
  for (const auto& type : registry_.types()) {
    std::vector<const HostedMethod*> methods;
    for (const auto& m : registry_.methods()) {
      if (m->type == type.get()) methods.push_back(m.get());
    }
    services_.push_back(std::make_unique<RawService>(*this, methods, metrics_));
    out.push_back(services_.back().get());
  }
  return out;
}

namespace {

// The lookup name a call asked for in metadata; empty when it did not.
std::string_view RequestedLookupName(const grpc::CallbackServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kLookupNameKey);
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

grpc::ServerUnaryReactor* CallDispatcher::Handle(const HostedMethod& hosted,
                                                 MemberMetrics::Method& metrics,
                                                 grpc::CallbackServerContext* ctx,
                                                 const grpc::ByteBuffer* request_bytes,
                                                 grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const CallOutcome outcome(reactor, metrics);
  const MethodDescriptor& method = *hosted.method;
  if (ctx->client_metadata().contains(kAttemptKey)) metrics_.retried_calls.Increment();
  absl::StatusOr<const HostedService*> instance =
      registry_.Resolve(*hosted.type, RequestedLookupName(*ctx));
  if (!instance.ok()) {
    outcome.Finish(ToGrpcStatus(instance.status()));
    return reactor;
  }
  std::unique_ptr<google::protobuf::Message> request(method.request_prototype->New());
  {
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(request_bytes));
    if (!request->ParseFromZeroCopyStream(&reader)) {
      outcome.Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("request to ", method.path, " does not parse as ", request->GetTypeName())));
      return reactor;
    }
  }
  absl::StatusOr<int> partition = RoutePartition(hosted, *ctx, *request);
  if (!partition.ok()) {
    outcome.Finish(ToGrpcStatus(partition.status()));
    return reactor;
  }
  const int p = *partition;
  if (method.one_way && partitions_.serving(p)) {
    // One-way, on the owner: answered now. gRPC sends a handler's answer only once the handler
    // returns, so the method runs later, on a worker, in its partition's order. Its outcome
    // stays here; it can no longer use the gRPC call, so its meta arguments are copied.
    SerializeMessage(*method.response_prototype, response).IgnoreError();
    outcome.Finish(grpc::Status::OK);
    RunOneWay(method, **instance, p, MetaArgumentsOf(*ctx), std::move(request));
    return reactor;
  }
  executor_.Execute(p, [this, &method, hosted = *instance, ctx, outcome, p, response,
                        request = std::move(request)] {
    // A call that waited behind others may have been given up on meanwhile: do not run it.
    if (absl::Status given_up = GivenUp(*ctx); !given_up.ok()) {
      outcome.Finish(ToGrpcStatus(given_up));
      return;
    }
    if (absl::Status owner = partitions_.CheckOwner(p); !owner.ok()) {
      if (absl::IsUnavailable(owner)) {
        // Not here: includes one-way calls that reached a member not owning their partition.
        if (forwarder_.Forward(method, ctx, outcome, *request, p, response)) {
          metrics_.forwarded_calls.Increment();
          return;
        }
        ctx->AddTrailingMetadata(kWrongOwnerKey,
                                 absl::StrCat(partitions_.replica(p).table_version));
      }
      outcome.Finish(ToGrpcStatus(owner));
      return;
    }
    const bool backed_up = ServiceRegistry::NeedsBackup(*hosted, method);
    std::optional<std::string> payload;
    const absl::Status status = invoker_.Run(*hosted, method, ctx, nullptr, *request, p, response,
                                             backed_up ? &payload : nullptr);
    if (status.ok() && backed_up) {
      // Answered once the sync backups have it: an acknowledged write survives the primary.
      replicator_.Replicate(
          p, *hosted, method, *request, std::move(payload), ctx,
          [outcome](absl::Status replicated) { outcome.Finish(ToGrpcStatus(replicated)); });
      return;
    }
    outcome.Finish(ToGrpcStatus(status));
  });
  return reactor;
}

void CallDispatcher::RunOneWay(const MethodDescriptor& method, const HostedService& hosted, int p,
                               MetaArguments meta,
                               std::unique_ptr<google::protobuf::Message> request) {
  executor_.ExecuteLater(
      p, [this, &method, &hosted, p, meta = std::move(meta), request = std::move(request)] {
        const bool backed_up = ServiceRegistry::NeedsBackup(hosted, method);
        std::optional<std::string> payload;
        grpc::ByteBuffer ignored;
        absl::Status status = partitions_.CheckOwner(p);  // the table may have moved on meanwhile
        if (status.ok()) {
          status = invoker_.Run(hosted, method, nullptr, &meta, *request, p, &ignored,
                                backed_up ? &payload : nullptr);
        }
        if (!status.ok()) {
          metrics_.one_way_failures.Increment();
          Log(LogLevel::kWarning, "one_way_failed", "a one-way call failed; its caller is not told",
              {{"method", method.path}, {"partition", p}, {"status", status.ToString()}});
        } else if (backed_up) {
          replicator_.Replicate(p, hosted, method, *request, std::move(payload), /*call=*/nullptr,
                                [](absl::Status) {});
        }
      });
}

absl::StatusOr<int> CallDispatcher::RoutePartition(const HostedMethod& hosted,
                                                   const grpc::CallbackServerContext& ctx,
                                                   const google::protobuf::Message& request) {
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find(kPartitionKey); it != metadata.end()) {
    absl::StatusOr<int> hinted = ParsePartitionId(
        std::string_view(it->second.data(), it->second.size()), partitions_.partition_count());
    if (!hinted.ok() || hosted.method->routing_key == nullptr ||
        metadata.find(kRoutedByHandlerKey) != metadata.end()) {
      return hinted;
    }
    // A keyed call: the hint must be where the key is, or reads by key would never find what
    // the call writes.
    absl::StatusOr<uint64_t> key = hosted.method->routing_key(request);
    if (!key.ok()) return key.status();
    const int keyed = PartitionOf(*key, partitions_.partition_count());
    if (keyed != *hinted) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata gridrpc-partition: ", *hinted,
                       " is not the partition of the call's routing key (",
                       AsAbsl(hosted.method->routing_path), "), which is ", keyed,
                       "; a call routed by a routing handler says so with ", kRoutedByHandlerKey));
    }
    return hinted;
  }
  // A plain gRPC client: route by the contract's key, as a smart client would have.
  if (hosted.method->routing_key != nullptr) {
    absl::StatusOr<uint64_t> key = hosted.method->routing_key(request);
    if (!key.ok()) return key.status();
    return PartitionOf(*key, partitions_.partition_count());
  }
  // No key: any partition this member owns, round robin.
  const std::shared_ptr<const std::vector<int>> owned = partitions_.PrimaryPartitions();
  if (owned->empty()) {
    return absl::UnavailableError(
        absl::StrCat("member ", partitions_.member_id(), " owns no partition"));
  }
  return (*owned)[next_owned_.fetch_add(1, std::memory_order_relaxed) % owned->size()];
}

grpc::ServerGenericBidiReactor* UnknownMethodService::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  class Refusal final : public grpc::ServerGenericBidiReactor {
   public:
    explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  return new Refusal(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, Explain(ctx->method())));
}

std::string UnknownMethodService::Explain(std::string_view path) const {
  std::string_view rest = path;
  if (rest.starts_with('/')) rest.remove_prefix(1);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return absl::StrCat("'", AsAbsl(path), "' is not a gRPC method path (/package.Service/Method)");
  }
  const std::string_view service = rest.substr(0, slash);
  const std::string_view method = rest.substr(slash + 1);
  if (service == v1::Peer::service_full_name()) {
    return absl::StrCat(AsAbsl(service), " is served only on the peer port, to members");
  }
  if (service == v1::Cluster::service_full_name() || registry_.FindType(service) != nullptr) {
    return absl::StrCat("service ", AsAbsl(service), " has no method ", AsAbsl(method));
  }
  return absl::StrCat("member ", member_id_, " hosts no service ", AsAbsl(service));
}

}  // namespace gridrpc::internal
