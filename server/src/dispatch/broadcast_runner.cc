#include "dispatch/broadcast_runner.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/status.h"

namespace gridrpc::internal {

grpc::ServerUnaryReactor* BroadcastRunner::Run(grpc::CallbackServerContext* ctx,
                                               const v1::BroadcastRequest& request,
                                               v1::BroadcastResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto refuse = [reactor](const absl::Status& status) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  };
  const HostedMethod* hosted = registry_.FindMethod(request.method());
  if (hosted == nullptr) {
    return refuse(absl::UnimplementedError(
        absl::StrCat("member ", partitions_.member_id(), " hosts no method ", request.method())));
  }
  const MethodDescriptor& method = *hosted->method;
  absl::StatusOr<const HostedService*> instance =
      registry_.Resolve(*hosted->type, request.lookup_name());
  if (!instance.ok()) return refuse(instance.status());
  std::shared_ptr<google::protobuf::Message> parsed(method.request_prototype->New());
  if (!parsed->ParseFromString(request.request())) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(
        "broadcast request to ", method.path, " does not parse as ", parsed->GetTypeName())));
  }
  std::vector<int> partitions(request.partitions().begin(), request.partitions().end());
  std::set<int> seen;
  for (int p : partitions) {
    if (!partitions_.Contains(p)) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(
          "broadcast partition ", p, " is out of range [0, ", partitions_.partition_count(), ")")));
    }
    // Each partition runs the method once per broadcast: a list naming one twice would apply a
    // write twice.
    if (!seen.insert(p).second) {
      return refuse(absl::InvalidArgumentError(
          absl::StrCat("broadcast partition ", p, " is listed more than once")));
    }
  }
  if (!hosted->type->descriptor->partitioned) {
    // A stateless service runs once per member, in the first partition it owns.
    const std::shared_ptr<const std::vector<int>> owned = partitions_.PrimaryPartitions();
    if (owned->empty()) {
      return refuse(absl::UnavailableError(
          absl::StrCat("member ", partitions_.member_id(), " owns no partition")));
    }
    partitions.assign(1, owned->front());
  }
  if (partitions.empty()) return refuse(absl::InvalidArgumentError("broadcast to no partition"));

  response->set_member_id(partitions_.member_id());
  // Each partition's result lands here; the last one answers the call.
  struct Gather {
    Mutex mu;
    int remaining ABSL_GUARDED_BY(mu);
  };
  auto gather = std::make_shared<Gather>();
  {
    MutexLock lock(&gather->mu);
    gather->remaining = static_cast<int>(partitions.size());
  }
  for (int p : partitions) {
    executor_.Execute(
        p, [this, &method, hosted = *instance, ctx, reactor, response, p, parsed, gather] {
          auto result = std::make_shared<v1::PartitionResult>();
          result->set_partition(p);
          absl::Status status;
          std::optional<std::string> payload;
          const bool backed_up = ServiceRegistry::NeedsBackup(*hosted, method);
          if (status = GivenUp(*ctx); !status.ok()) {
            // A filter broke off the broadcast, or its deadline passed.
          } else if (status = partitions_.CheckOwner(p); !status.ok()) {
            // Not here: the caller asks the owner. Lost data is this partition's result.
            result->set_wrong_owner(absl::IsUnavailable(status));
          } else {
            grpc::ByteBuffer out;
            status = invoker_.Run(*hosted, method, ctx, nullptr, *parsed, p, &out,
                                  backed_up ? &payload : nullptr);
            std::vector<grpc::Slice> slices;
            if (status.ok() && out.Dump(&slices).ok()) {
              std::string* bytes = result->mutable_response();
              for (const grpc::Slice& slice : slices) {
                bytes->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
              }
            }
          }
          result->set_code(static_cast<int>(status.code()));
          result->set_message(std::string(status.message()));
          auto deliver = [gather, response, reactor, result](absl::Status replicated) {
            if (!replicated.ok()) {
              result->clear_response();
              result->set_code(static_cast<int>(replicated.code()));
              result->set_message(std::string(replicated.message()));
            }
            bool last;
            {
              MutexLock lock(&gather->mu);
              *response->add_results() = std::move(*result);
              last = --gather->remaining == 0;
            }
            if (last) reactor->Finish(grpc::Status::OK);
          };
          if (status.ok() && backed_up) {
            replicator_.Replicate(p, *hosted, method, *parsed, std::move(payload), ctx,
                                  std::move(deliver));
          } else {
            deliver(absl::OkStatus());
          }
        });
  }
  return reactor;
}

}  // namespace gridrpc::internal
