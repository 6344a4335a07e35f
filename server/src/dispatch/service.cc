#include "gridrpc/service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <limits>

#include "absl/strings/str_cat.h"
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

namespace {

// The default receiver: the pieces joined, applied at the end.
class JoiningReceiver final : public MigrationReceiver {
 public:
  explicit JoiningReceiver(Container* container) : container_(container) {}

  absl::Status Append(std::string_view piece) override {
    data_.append(piece);
    return absl::OkStatus();
  }
  absl::Status Finish() override { return container_->ApplyMigrationData(data_); }

 private:
  Container* const container_;
  std::string data_;
};

// A message is the concatenation of its top-level fields, and parsing a concatenation merges
// what each part holds: so each complete field can be merged as soon as it is here.
class MessageReceiver final : public MigrationReceiver {
 public:
  explicit MessageReceiver(google::protobuf::Message* message) : message_(message) {}

  absl::Status Append(std::string_view piece) override {
    if (!error_.ok()) return error_;
    // A piece is parsed where it is; only the front of a field it ends inside is kept.
    const bool buffered = !pending_.empty();
    if (buffered) pending_.append(piece);
    const std::string_view data = buffered ? std::string_view(pending_) : piece;
    absl::StatusOr<size_t> complete = CompleteFields(data);
    if (!complete.ok()) return error_ = complete.status();
    if (*complete > 0) {
      google::protobuf::io::CodedInputStream fields(reinterpret_cast<const uint8_t*>(data.data()),
                                                    static_cast<int>(*complete));
      if (!message_->MergePartialFromCodedStream(&fields) || !fields.ConsumedEntireMessage()) {
        return error_ = Unparsable("a field does not parse");
      }
    }
    if (buffered) {
      pending_.erase(0, *complete);
    } else {
      pending_.assign(data.substr(*complete));
    }
    return absl::OkStatus();
  }

  absl::Status Finish() override {
    if (!error_.ok()) return error_;
    if (!pending_.empty()) {
      return Unparsable(absl::StrCat("it ends inside a field (", pending_.size(), " bytes)"));
    }
    if (!message_->IsInitialized()) {
      return Unparsable("required fields are missing: " + message_->InitializationErrorString());
    }
    return absl::OkStatus();
  }

 private:
  // How many bytes at the front of `data` are whole fields; an error when they cannot be.
  absl::StatusOr<size_t> CompleteFields(std::string_view data) const {
    using google::protobuf::internal::WireFormatLite;
    if (data.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
      return Unparsable("a field is larger than 2 GB");
    }
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()),
                                              static_cast<int>(data.size()));
    size_t complete = 0;
    while (complete < data.size()) {
      const uint32_t tag = in.ReadTag();
      if (tag == 0) {
        // The end of what is here inside a tag, or a zero tag: a tag takes at most 5 bytes.
        if (data.size() - complete >= 5) return Unparsable("a field has no valid tag");
        break;
      }
      const WireFormatLite::WireType type = WireFormatLite::GetTagWireType(tag);
      if (WireFormatLite::GetTagFieldNumber(tag) == 0 ||
          type == WireFormatLite::WIRETYPE_END_GROUP || type > WireFormatLite::WIRETYPE_FIXED32) {
        return Unparsable(absl::StrCat("tag ", tag, " is not a field's"));
      }
      const int after_tag = in.CurrentPosition();
      if (!WireFormatLite::SkipField(&in, tag)) {
        absl::Status malformed = MalformedVarint(data.substr(after_tag), type);
        if (!malformed.ok()) return malformed;
        break;  // the rest of the field is still to come
      }
      complete = static_cast<size_t>(in.CurrentPosition());
    }
    return complete;
  }

  // A field that cannot be skipped is either cut short or malformed. Only a varint (a value or a
  // length) can be malformed with all of its bytes here (`rest`, what follows the field's tag);
  // anything else waits for more data.
  absl::Status MalformedVarint(std::string_view rest,
                               google::protobuf::internal::WireFormatLite::WireType type) const {
    using google::protobuf::internal::WireFormatLite;
    constexpr size_t kMaxVarintBytes = 10;
    if (type != WireFormatLite::WIRETYPE_VARINT &&
        type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      return absl::OkStatus();
    }
    if (rest.size() < kMaxVarintBytes) return absl::OkStatus();
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                                              kMaxVarintBytes);
    uint64_t value = 0;
    if (!in.ReadVarint64(&value)) return Unparsable("a varint is longer than 10 bytes");
    if (type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
        value > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
      return Unparsable("a field is larger than 2 GB");
    }
    return absl::OkStatus();
  }

  absl::Status Unparsable(const std::string& why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("migration data does not parse as ", message_->GetTypeName(), ": ", why));
  }

  google::protobuf::Message* const message_;
  std::string pending_;  // the front of a field whose rest is still to come
  absl::Status error_;
};

}  // namespace

std::unique_ptr<MigrationReceiver> Container::ReceiveMigrationData() {
  return std::make_unique<JoiningReceiver>(this);
}

namespace internal {

std::unique_ptr<MigrationReceiver> NewMessageReceiver(google::protobuf::Message* message) {
  return std::make_unique<MessageReceiver>(message);
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
