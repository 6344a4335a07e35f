#include "gridrpc/service.h"

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "gridrpc/internal/status.h"

namespace gridrpc {

std::optional<std::string_view> CallContext::metadata(std::string_view key) const {
  const auto& metadata = grpc_context_.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

namespace internal {

absl::Status SerializeResponse(const google::protobuf::Message& response, grpc::ByteBuffer* out) {
  bool own_buffer;
  return FromGrpcStatus(
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(response, out, &own_buffer));
}

}  // namespace internal
}  // namespace gridrpc
