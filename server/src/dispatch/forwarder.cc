#include "dispatch/forwarder.h"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/wire.h"
#include "gridrpc/service.h"

namespace gridrpc::internal {

bool Forwarder::Forward(const MethodDescriptor& method, grpc::CallbackServerContext* ctx,
                        const CallOutcome& outcome, const google::protobuf::Message& request,
                        int partition, grpc::ByteBuffer* response) {
  const auto& metadata = ctx->client_metadata();
  if (metadata.find(kForwardedKey) != metadata.end()) return false;
  std::shared_ptr<const PartitionTable> table = partitions_.table();
  const int owner = table == nullptr ? -1 : table->Owner(partition);
  if (owner < 0 || table->member(owner).id() == partitions_.member_id()) return false;

  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(ctx->deadline());
  call->context.AddMetadata(kForwardedKey, "1");
  call->context.AddMetadata(kPartitionKey, absl::StrCat(partition));
  for (const auto& [key, value] : metadata) {
    const std::string_view k(key.data(), key.size());
    if (k.starts_with(kMetaArgumentPrefix) || k == kLookupNameKey || k == kRoutedByHandlerKey) {
      call->context.AddMetadata(std::string(k), std::string(value.data(), value.size()));
    }
  }
  if (!SerializeMessage(request, &call->request).ok()) return false;
  peers_.Get(table->member(owner).address())
      .calls->UnaryCall(
          &call->context, method.path, grpc::StubOptions(), &call->request, response,
          [call, ctx, outcome, version = absl::StrCat(table->version())](grpc::Status status) {
            // The caller routed by an older table, or would not be here: tell it.
            ctx->AddTrailingMetadata(kTableVersionKey, version);
            const auto& trailers = call->context.GetServerTrailingMetadata();
            if (auto it = trailers.find(kWrongOwnerKey); it != trailers.end()) {
              ctx->AddTrailingMetadata(kWrongOwnerKey,
                                       std::string(it->second.data(), it->second.size()));
            }
            outcome.Finish(status);
          });
  return true;
}

}  // namespace gridrpc::internal
