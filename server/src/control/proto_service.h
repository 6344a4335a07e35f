// ProtoService: a grpc::Service of protobuf methods that parses its requests itself.
//
// gRPC's generated callback services answer a request that does not parse with UNIMPLEMENTED
// and no message. Ours answer INVALID_ARGUMENT naming the method and the message type, like
// user methods do, and first ask an admission check (the peer port authenticates there), so a
// refused call is never parsed. Responses are typed: gRPC serializes them.
//
// A handler gets the parsed request for the duration of its call only (it copies what it keeps)
// and answers through the reactor it returns, as with gRPC's callback API.
#ifndef GRIDRPC_SERVER_SRC_CONTROL_PROTO_SERVICE_H_
#define GRIDRPC_SERVER_SRC_CONTROL_PROTO_SERVICE_H_

#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/server_callback.h>

#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {

// A server stream answered with `status` at once (a refusal before anything is written).
template <typename Response>
grpc::ServerWriteReactor<Response>* RefusedStream(grpc::Status status) {
  class Refusal final : public grpc::ServerWriteReactor<Response> {
   public:
    explicit Refusal(grpc::Status status) { this->Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  return new Refusal(std::move(status));
}

class ProtoService : public grpc::Service {
 public:
  // OK to let a call in; anything else is its answer.
  using Admission = std::function<grpc::Status(const grpc::CallbackServerContext& ctx)>;

  explicit ProtoService(Admission admit = nullptr) : admit_(std::move(admit)) {}

 protected:
  // Adds `service`/`method` ("/gridrpc.v1.Peer/Backup"): handler(ctx, const Request&, Response*)
  // returns the call's reactor.
  template <typename Request, typename Response, typename Handler>
  void AddUnary(std::string path, Handler handler) {
    const char* name = Keep(std::move(path));
    AddMethod(
        new grpc::internal::RpcServiceMethod(name, grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
    MarkMethodCallback(next_index_++,
                       new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, Response>(
                           [this, name, handler = std::move(handler)](
                               grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* bytes,
                               Response* response) {
                             Request request;
                             if (grpc::Status refused = Admit<Request>(*ctx, name, bytes, &request);
                                 !refused.ok()) {
                               grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
                               reactor->Finish(std::move(refused));
                               return reactor;
                             }
                             return handler(ctx, request, response);
                           }));
  }

  // A server-streaming method: handler(ctx, const Request&) returns the stream's reactor.
  template <typename Request, typename Response, typename Handler>
  void AddServerStreaming(std::string path, Handler handler) {
    const char* name = Keep(std::move(path));
    AddMethod(new grpc::internal::RpcServiceMethod(
        name, grpc::internal::RpcMethod::SERVER_STREAMING, nullptr));
    MarkMethodCallback(
        next_index_++,
        new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, Response>(
            [this, name, handler = std::move(handler)](
                grpc::CallbackServerContext* ctx,
                const grpc::ByteBuffer* bytes) -> grpc::ServerWriteReactor<Response>* {
              Request request;
              if (grpc::Status refused = Admit<Request>(*ctx, name, bytes, &request);
                  !refused.ok()) {
                return RefusedStream<Response>(std::move(refused));
              }
              return handler(ctx, request);
            }));
  }

 private:
  const char* Keep(std::string path) { return paths_.emplace_back(std::move(path)).c_str(); }

  template <typename Request>
  grpc::Status Admit(const grpc::CallbackServerContext& ctx, const char* name,
                     const grpc::ByteBuffer* bytes, Request* request) const {
    if (admit_ != nullptr) {
      if (grpc::Status admitted = admit_(ctx); !admitted.ok()) return admitted;
    }
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(bytes));
    if (!request->ParseFromZeroCopyStream(&reader)) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("request to ", name, " does not parse as ", request->GetTypeName()));
    }
    return grpc::Status::OK;
  }

  const Admission admit_;
  std::deque<std::string> paths_;  // RpcServiceMethod keeps the name's pointer
  int next_index_ = 0;             // of the next method added
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CONTROL_PROTO_SERVICE_H_
