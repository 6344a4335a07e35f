// The runtime under every generated proxy, and the builders users create proxies with
// (XAP's ExecutorRemotingProxyBuilder and ExecutorBroadcastRemotingProxyBuilder).
//
// Example:
//   auto counter = gridrpc::ProxyBuilder<examples::Counter>(*client)
//                      .Timeout(absl::Seconds(2))
//                      .Build();
//   absl::StatusOr<examples::IncResponse> r = counter->Inc(request);                 // sync
//   gridrpc::Future<examples::IncResponse> f = counter->IncAsync(request);           // future
//   counter->IncAsync(request, [](absl::StatusOr<examples::IncResponse> r) { ... }); // callback
//
//   auto processor = gridrpc::ProxyBuilder<examples::DataProcessor>(*client)
//                        .RoutingHandler([](const gridrpc::Invocation& call)
//                                            -> std::optional<gridrpc::RoutingKey> {
//                          return static_cast<const examples::Data&>(call.request).data_type();
//                        })
//                        .Build();
#ifndef GRIDRPC_PROXY_H_
#define GRIDRPC_PROXY_H_

#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/broadcast.h"
#include "gridrpc/client.h"
#include "gridrpc/future.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/invocation.h"
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

// Settings shared by every call of one proxy; see the builders.
struct ProxyConfig {
  absl::Duration timeout = absl::ZeroDuration();
  std::string lookup_name;  // empty: the contract's
  RoutingHandler routing_handler;
  MetaArgumentsHandler meta_arguments;
  std::vector<std::shared_ptr<InvocationAspect>> aspects;
  bool broadcast = false;
  // Broadcast only, by method index: collector factories from typed reducers and filters; a
  // missing entry means the contract's reducer.
  std::map<int, internal::CollectorFactory> collectors;
};

// Sends one service's calls. Thread-safe; shared by a proxy and the calls it has in flight.
class ProxyCore : public std::enable_shared_from_this<ProxyCore> {
 public:
  ProxyCore(std::shared_ptr<internal::ClientState> client, const ServiceDescriptor& service,
            ProxyConfig config);
  ~ProxyCore();

  // Starts a call; `done` runs exactly once, on the completing thread, after `*response` has
  // been filled. `response` must stay alive until then; `request` only until Start returns.
  // Returns a handle that cancels the call while it is under way.
  std::weak_ptr<internal::Cancellable> Start(const MethodDescriptor& method,
                                             const google::protobuf::Message& request,
                                             google::protobuf::Message* response,
                                             const CallOptions& options,
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
    std::weak_ptr<internal::Cancellable> call = CallAsync<Response>(
        method, request, options,
        [promise](absl::StatusOr<Response> r) mutable { promise.Set(std::move(r)); });
    promise.set_cancellable(std::move(call));
    return promise.future();
  }

  template <typename Response, typename Done>
  std::weak_ptr<internal::Cancellable> CallAsync(const MethodDescriptor& method,
                                                 const google::protobuf::Message& request,
                                                 const CallOptions& options, Done done) {
    auto response = std::make_unique<Response>();
    Response* raw = response.get();
    return Start(method, request, raw, options,
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
  class Interceptions;
  class RemoteCall;
  class BroadcastCall;
  struct Binding;
  std::shared_ptr<const Binding> CurrentBinding();
  absl::Time DeadlineFor(const MethodDescriptor& method, const CallOptions& options) const;
  std::shared_ptr<internal::Cancellable> StartRemote(
      const MethodDescriptor& method, const google::protobuf::Message& request,
      google::protobuf::Message* response, const Invocation* invocation, absl::Time deadline,
      absl::AnyInvocable<void(absl::Status) &&> done);

  std::shared_ptr<internal::ClientState> client_;
  const ServiceDescriptor& service_;
  const ProxyConfig config_;
  internal::Mutex mu_;
  std::shared_ptr<const Binding> binding_ ABSL_GUARDED_BY(mu_);
};

namespace internal {

// What both builders share. Builders are cheap values: configure, Build(), reuse.
template <typename S, typename Derived>
class ProxyBuilderBase {
 public:
  explicit ProxyBuilderBase(Client& client) : client_(client.state()) {}

  // Default deadline of the proxy's calls (see CallOptions::timeout).
  Derived& Timeout(absl::Duration timeout) {
    config_.timeout = timeout;
    return self();
  }
  // The lookup name of the service instance to call (default: the contract's).
  Derived& LookupName(std::string lookup_name) {
    config_.lookup_name = std::move(lookup_name);
    return self();
  }
  // Creates each call's meta arguments.
  Derived& MetaArguments(MetaArgumentsHandler handler) {
    config_.meta_arguments = std::move(handler);
    return self();
  }
  // The client invocation aspects, run in this order around every call.
  Derived& Aspects(std::vector<std::shared_ptr<InvocationAspect>> aspects) {
    config_.aspects = std::move(aspects);
    return self();
  }

  std::unique_ptr<typename S::Proxy> Build() const {
    return std::make_unique<typename S::Proxy>(
        std::make_shared<ProxyCore>(client_, S::descriptor(), config_));
  }

 protected:
  Derived& self() { return static_cast<Derived&>(*this); }

  std::shared_ptr<ClientState> client_;
  ProxyConfig config_;
};

}  // namespace internal

// Builds a proxy whose calls go to the partition owning them. S is a generated service class
// such as examples::Counter.
template <typename S>
class ProxyBuilder : public internal::ProxyBuilderBase<S, ProxyBuilder<S>> {
 public:
  using internal::ProxyBuilderBase<S, ProxyBuilder<S>>::ProxyBuilderBase;

  // Computes the routing value of each call; returning nullopt falls back to the contract's
  // routing key, else a random partition.
  ProxyBuilder& RoutingHandler(gridrpc::RoutingHandler handler) {
    this->config_.routing_handler = std::move(handler);
    return *this;
  }
};

// Builds a proxy whose calls run on every partition (or every member, for stateless services)
// and return one result folded by a reducer (see gridrpc/broadcast.h).
template <typename S>
class BroadcastProxyBuilder : public internal::ProxyBuilderBase<S, BroadcastProxyBuilder<S>> {
 public:
  explicit BroadcastProxyBuilder(Client& client)
      : internal::ProxyBuilderBase<S, BroadcastProxyBuilder<S>>(client) {
    this->config_.broadcast = true;
  }

  // Folds method M's results (M is a method tag such as
  // examples::SearchService::Methods::SearchFor).
  template <typename M>
  BroadcastProxyBuilder& Reducer(M, std::shared_ptr<ResultReducer<typename M::Response>> reducer) {
    Slot<M>()->reducer = std::move(reducer);
    Publish<M>();
    return *this;
  }
  // Decides, result by result, what method M's broadcast keeps and when it stops.
  template <typename M>
  BroadcastProxyBuilder& Filter(M, std::shared_ptr<ResultFilter<typename M::Response>> filter) {
    Slot<M>()->filter = std::move(filter);
    Publish<M>();
    return *this;
  }

 private:
  template <typename M>
  std::shared_ptr<internal::TypedBroadcastConfig<typename M::Response>> Slot() {
    using Config = internal::TypedBroadcastConfig<typename M::Response>;
    std::shared_ptr<void>& any = typed_[M::kIndex];
    if (any == nullptr) any = std::make_shared<Config>();
    return std::static_pointer_cast<Config>(any);
  }

  // Puts a snapshot of method M's typed configuration into the config a Build() copies.
  template <typename M>
  void Publish() {
    using Config = internal::TypedBroadcastConfig<typename M::Response>;
    auto snapshot = std::make_shared<const Config>(*Slot<M>());
    this->config_.collectors[M::kIndex] = [snapshot](const Invocation& invocation) {
      return std::make_unique<internal::TypedCollector<typename M::Response>>(snapshot, invocation);
    };
  }

  std::map<int, std::shared_ptr<void>> typed_;  // TypedBroadcastConfig<Response> per method
};

}  // namespace gridrpc

#endif  // GRIDRPC_PROXY_H_
