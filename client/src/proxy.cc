#include "gridrpc/proxy.h"

#include <google/protobuf/message.h>
#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/client_callback.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "client_state.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/wire.h"
#include "gridrpc/partitioning.h"

namespace gridrpc {

// A routing snapshot with the service's methods registered on each member's channel, so calls
// use gRPC's registered-method fast path (what grpc_cpp_plugin's stubs do).
struct ProxyCore::Binding {
  std::shared_ptr<const internal::ClientState::Routing> routing;
  std::vector<grpc::internal::RpcMethod> methods;  // [member * method_count + method]
};

// One call, from routing to the answer, across retries. Owns itself: deleted after `done`.
class ProxyCore::Invocation {
 public:
  Invocation(std::shared_ptr<ProxyCore> proxy, std::shared_ptr<const Binding> binding,
             const MethodDescriptor& method, grpc::ByteBuffer request,
             google::protobuf::Message* response, int partition, absl::Time deadline,
             absl::AnyInvocable<void(absl::Status) &&> done)
      : proxy_(std::move(proxy)),
        binding_(std::move(binding)),
        method_(method),
        request_(std::move(request)),
        response_(response),
        partition_(partition),
        // A member derives the partition from the routing key itself, exactly as the proxy
        // did; only a partition chosen otherwise (no key) travels as metadata.
        partition_text_(method.routing_key == nullptr ? absl::StrCat(partition) : ""),
        deadline_(deadline),
        done_(std::move(done)) {}

  // Sends the call to the partition's owner in the binding it routes by.
  void Attempt() {
    const Binding& binding = *binding_;
    const PartitionTable* table = binding.routing->table.get();
    const int owner = table->Owner(partition_);
    if (owner < 0) {
      RetryOrFinish(absl::UnavailableError(absl::StrCat(
          "partition ", partition_, " has no owner in table version ", table->version())));
      return;
    }
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_deadline(absl::ToChronoTime(deadline_));
    if (!partition_text_.empty()) context_->AddMetadata(internal::kPartitionKey, partition_text_);
    const grpc::internal::RpcMethod& rpc =
        binding.methods[owner * proxy_->service_.methods.size() + method_.index];
    grpc::internal::CallbackUnaryCall(binding.routing->channels[owner].get(), rpc, context_.get(),
                                      &request_, response_,
                                      [this](grpc::Status status) { OnDone(status); });
  }

 private:
  void OnDone(const grpc::Status& status) {
    if (status.ok()) {
      Finish(absl::OkStatus());
      return;
    }
    // Retry what certainly did not run (the member refused it as not the owner) and what is
    // safe to run twice (read-only methods); other failures are reported as they are.
    const bool wrong_owner =
        context_->GetServerTrailingMetadata().count(internal::kWrongOwnerKey) > 0;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        (wrong_owner || method_.read_only)) {
      RetryOrFinish(internal::FromGrpcStatus(status));
      return;
    }
    Finish(internal::FromGrpcStatus(status));
  }

  // Reloads the table and tries again after a pause, unless the deadline would pass first.
  void RetryOrFinish(absl::Status why) {
    const ClientOptions& options = proxy_->client_->options();
    if (absl::Now() + options.retry_pause >= deadline_) {
      Finish(absl::DeadlineExceededError(absl::StrCat(
          "invocation timed out while retrying ", method_.path, "; last error: ", why.message())));
      return;
    }
    proxy_->client_->RefreshAsync([this, pause = options.retry_pause] {
      alarm_ = std::make_unique<grpc::Alarm>();
      alarm_->Set(absl::ToChronoTime(absl::Now() + pause), [this](bool) {
        binding_ = proxy_->CurrentBinding();  // the refreshed table, if any
        Attempt();
      });
    });
  }

  void Finish(absl::Status status) {
    std::move(done_)(std::move(status));
    delete this;
  }

  std::shared_ptr<ProxyCore> proxy_;
  std::shared_ptr<const Binding> binding_;
  const MethodDescriptor& method_;
  grpc::ByteBuffer request_;
  google::protobuf::Message* response_;
  const int partition_;
  const std::string partition_text_;  // empty: not sent
  const absl::Time deadline_;
  absl::AnyInvocable<void(absl::Status) &&> done_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::Alarm> alarm_;  // the pause before the next attempt
};

ProxyCore::ProxyCore(std::shared_ptr<internal::ClientState> client,
                     const ServiceDescriptor& service, ProxyConfig config)
    : client_(std::move(client)), service_(service), config_(config) {}

ProxyCore::~ProxyCore() = default;

std::shared_ptr<const ProxyCore::Binding> ProxyCore::CurrentBinding() {
  std::shared_ptr<const internal::ClientState::Routing> routing = client_->routing();
  internal::MutexLock lock(&mu_);
  if (binding_ != nullptr && binding_->routing == routing) return binding_;
  auto binding = std::make_shared<Binding>();
  binding->routing = std::move(routing);
  binding->methods.reserve(binding->routing->channels.size() * service_.methods.size());
  for (const auto& channel : binding->routing->channels) {
    for (const MethodDescriptor& m : service_.methods) {
      binding->methods.emplace_back(m.path, grpc::internal::RpcMethod::NORMAL_RPC, channel);
    }
  }
  binding_ = std::move(binding);
  return binding_;
}

void ProxyCore::Start(const MethodDescriptor& method, const google::protobuf::Message& request,
                      google::protobuf::Message* response, const CallOptions& options,
                      absl::AnyInvocable<void(absl::Status) &&> done) {
  std::shared_ptr<const Binding> binding = CurrentBinding();
  int partition;
  const int partition_count = binding->routing->table->partition_count();
  if (method.routing_key != nullptr) {
    absl::StatusOr<uint64_t> key = method.routing_key(request);
    if (!key.ok()) {
      std::move(done)(key.status());
      return;
    }
    partition = PartitionOf(*key, partition_count);
  } else {
    // No routing key: any partition will do (XAP's default), spread at random.
    thread_local absl::InsecureBitGen random;
    partition = absl::Uniform(random, 0, partition_count);
  }

  grpc::ByteBuffer bytes;
  bool own_buffer;
  if (grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(
          request, &bytes, &own_buffer);
      !s.ok()) {
    std::move(done)(internal::FromGrpcStatus(s));
    return;
  }

  absl::Duration timeout = options.timeout;
  if (timeout == absl::ZeroDuration()) timeout = method.timeout;
  if (timeout == absl::ZeroDuration()) timeout = config_.timeout;
  if (timeout == absl::ZeroDuration()) timeout = client_->options().invocation_timeout;

  // The invocation keeps this core (and through it the client state) alive until it is done.
  (new Invocation(shared_from_this(), std::move(binding), method, std::move(bytes), response,
                  partition, absl::Now() + timeout, std::move(done)))
      ->Attempt();
}

}  // namespace gridrpc
