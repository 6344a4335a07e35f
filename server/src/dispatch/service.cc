#include "gridrpc/service.h"

#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "gridrpc/internal/status.h"
#include "gridrpc/internal/wire.h"

namespace gridrpc {

std::optional<std::string_view> CallContext::meta_argument(std::string_view name) const {
  if (grpc_context_ == nullptr) {
    if (detached_meta_ != nullptr) {
      for (const auto& [key, value] : *detached_meta_) {
        if (key == name) return value;
      }
    }
    return std::nullopt;
  }
  const std::string key = std::string(internal::kMetaArgumentPrefix).append(name);
  const auto& metadata = grpc_context_->client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

MetaArguments CallContext::meta_arguments() const {
  if (grpc_context_ == nullptr) {
    return detached_meta_ != nullptr ? *detached_meta_ : MetaArguments();
  }
  return internal::MetaArgumentsOf(*grpc_context_);
}

absl::Status Container::ApplyMigrationChunks(const std::vector<std::string>& chunks) {
  std::string joined;
  for (const std::string& chunk : chunks) joined += chunk;
  return ApplyMigrationData(joined);
}

namespace internal {

bool ParseFromChunks(const std::vector<std::string>& chunks, google::protobuf::Message* message) {
  // ArrayInputStream is neither copyable nor movable: each lives in a unique_ptr.
  std::vector<std::unique_ptr<google::protobuf::io::ArrayInputStream>> pieces;
  std::vector<google::protobuf::io::ZeroCopyInputStream*> streams;
  for (const std::string& chunk : chunks) {
    pieces.push_back(std::make_unique<google::protobuf::io::ArrayInputStream>(
        chunk.data(), static_cast<int>(chunk.size())));
    streams.push_back(pieces.back().get());
  }
  google::protobuf::io::ConcatenatingInputStream joined(streams.data(),
                                                        static_cast<int>(streams.size()));
  return message->ParseFromZeroCopyStream(&joined);
}

MetaArguments MetaArgumentsOf(const grpc::CallbackServerContext& ctx) {
  MetaArguments out;
  for (const auto& [key, value] : ctx.client_metadata()) {
    const std::string_view k(key.data(), key.size());
    if (k.starts_with(internal::kMetaArgumentPrefix)) {
      out.emplace_back(std::string(k.substr(internal::kMetaArgumentPrefix.size())),
                       std::string(value.data(), value.size()));
    }
  }
  return out;
}

absl::Status SerializeMessage(const google::protobuf::Message& response, grpc::ByteBuffer* out) {
  bool own_buffer;
  return FromGrpcStatus(
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(response, out, &own_buffer));
}

}  // namespace internal
}  // namespace gridrpc
