// The runtime under every generated proxy, and the builder users create proxies with.
//
// Example:
//   auto counter = gridrpc::ProxyBuilder<examples::Counter>(*client)
//                      .Timeout(absl::Seconds(2))
//                      .Build();
//   absl::StatusOr<examples::IncResponse> r = counter->Inc(request);                 // sync
//   gridrpc::Future<examples::IncResponse> f = counter->IncAsync(request);           // future
//   counter->IncAsync(request, [](absl::StatusOr<examples::IncResponse> r) { ... }); // callback
#ifndef GRIDRPC_PROXY_H_
#define GRIDRPC_PROXY_H_

#include <functional>
#include <latch>
#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/client.h"
#include "gridrpc/future.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/service_descriptor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace gridrpc {

// Per-call settings.
struct CallOptions {
  // Deadline of this call, retries included. Zero: the contract's method timeout, else the
  // proxy's, else the client's invocation timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

// Settings shared by every call of one proxy.
struct ProxyConfig {
  // Zero: the contract's method timeout, else the client's invocation timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

// Sends one service's calls to the members owning their partitions. Thread-safe; shared by a
// proxy and the calls it has in flight.
class ProxyCore : public std::enable_shared_from_this<ProxyCore> {
 public:
  ProxyCore(std::shared_ptr<internal::ClientState> client, const ServiceDescriptor& service,
            ProxyConfig config);
  ~ProxyCore();

  // Starts a call; `done` runs exactly once, on the completing thread, after `*response` has
  // been filled. `response` must stay alive until then; `request` only until Start returns.
  void Start(const MethodDescriptor& method, const google::protobuf::Message& request,
             google::protobuf::Message* response, const CallOptions& options,
             absl::AnyInvocable<void(absl::Status) &&> done);

  template <typename Response>
  absl::StatusOr<Response> Call(const MethodDescriptor& method,
                                const google::protobuf::Message& request,
                                const CallOptions& options) {
    Response response;
    absl::Status status;
    std::latch finished(1);
    Start(method, request, &response, options, [&](absl::Status s) {
      status = std::move(s);
      finished.count_down();
    });
    finished.wait();
    if (!status.ok()) return status;
    return response;
  }

  template <typename Response>
  Future<Response> CallAsync(const MethodDescriptor& method,
                             const google::protobuf::Message& request, const CallOptions& options) {
    Promise<Response> promise;
    Future<Response> future = promise.future();
    CallAsync<Response>(method, request, options,
                        [promise = std::move(promise)](absl::StatusOr<Response> r) mutable {
                          promise.Set(std::move(r));
                        });
    return future;
  }

  template <typename Response, typename Done>
  void CallAsync(const MethodDescriptor& method, const google::protobuf::Message& request,
                 const CallOptions& options, Done done) {
    auto response = std::make_unique<Response>();
    Response* raw = response.get();
    Start(method, request, raw, options,
          [response = std::move(response), done = std::move(done)](absl::Status s) mutable {
            if (s.ok()) {
              done(absl::StatusOr<Response>(std::move(*response)));
            } else {
              done(absl::StatusOr<Response>(std::move(s)));
            }
          });
  }

  const ServiceDescriptor& service() const { return service_; }

 private:
  class Invocation;
  struct Binding;
  std::shared_ptr<const Binding> CurrentBinding();

  std::shared_ptr<internal::ClientState> client_;
  const ServiceDescriptor& service_;
  const ProxyConfig config_;
  internal::Mutex mu_;
  std::shared_ptr<const Binding> binding_ ABSL_GUARDED_BY(mu_);
};

// Builds a proxy for service S (a generated class such as examples::Counter).
template <typename S>
class ProxyBuilder {
 public:
  explicit ProxyBuilder(Client& client) : client_(client.state()) {}

  // Default deadline of the proxy's calls (see CallOptions::timeout).
  ProxyBuilder& Timeout(absl::Duration timeout) {
    config_.timeout = timeout;
    return *this;
  }

  std::unique_ptr<typename S::Proxy> Build() const {
    return std::make_unique<typename S::Proxy>(
        std::make_shared<ProxyCore>(client_, S::descriptor(), config_));
  }

 private:
  std::shared_ptr<internal::ClientState> client_;
  ProxyConfig config_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_PROXY_H_
