#include "dispatch/invoker.h"

#include <grpcpp/server_context.h>

#include <chrono>

namespace gridrpc::internal {

// The execution aspects around one call, the service method last. Lives on the stack of the
// partition operation.
class Invoker::AspectChain final : public ServerInvocation {
 public:
  AspectChain(const std::vector<std::shared_ptr<ExecutionAspect>>& aspects,
              const HostedService& hosted, const MethodDescriptor& method,
              PartitionContext& context, const google::protobuf::Message& request,
              grpc::ByteBuffer* out)
      : aspects_(aspects),
        hosted_(hosted),
        method_(method),
        context_(context),
        request_(request),
        out_(out) {}

  std::string_view lookup_name() const override { return hosted_.lookup_name; }
  const MethodDescriptor& method() const override { return method_; }
  const google::protobuf::Message& request() const override { return request_; }
  ServiceBase& service() override { return *hosted_.service; }
  PartitionContext& context() override { return context_; }

  absl::Status Proceed() override {
    if (next_ < aspects_.size()) return aspects_[next_++]->Intercept(*this);
    return hosted_.service->Invoke(method_, context_, request_, out_);
  }
  void SetResponse(const google::protobuf::Message& response) override {
    SerializeMessage(response, out_).IgnoreError();
  }

 private:
  const std::vector<std::shared_ptr<ExecutionAspect>>& aspects_;
  const HostedService& hosted_;
  const MethodDescriptor& method_;
  PartitionContext& context_;
  const google::protobuf::Message& request_;
  grpc::ByteBuffer* const out_;
  size_t next_ = 0;
};

absl::Status Invoker::Run(const HostedService& hosted, const MethodDescriptor& method,
                          const grpc::CallbackServerContext* ctx, const MetaArguments* detached,
                          const google::protobuf::Message& request, int partition,
                          grpc::ByteBuffer* out, std::optional<std::string>* backup_payload) const {
  PartitionContext context(member_, ctx, detached, partition,
                           partitions_.ContainerOf(hosted, partition));
  const absl::Status status =
      aspects_.empty() ? hosted.service->Invoke(method, context, request, out)
                       : AspectChain(aspects_, hosted, method, context, request, out).Proceed();
  if (backup_payload != nullptr) *backup_payload = context.backup_payload();
  return status;
}

absl::Status GivenUp(const grpc::CallbackServerContext& ctx) {
  if (ctx.IsCancelled()) return absl::CancelledError("the call was cancelled before it ran");
  const auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max() &&
      std::chrono::system_clock::now() >= deadline) {
    return absl::DeadlineExceededError("the call passed its deadline before it ran");
  }
  return absl::OkStatus();
}

}  // namespace gridrpc::internal
