// What client-side extension points see of a call, and the extension points themselves:
// routing handlers, meta-argument handlers and invocation aspects (XAP's IRemoteRoutingHandler,
// IMetaArgumentsHandler and IRemoteInvocationAspect).
//
// Example: a logging aspect and credentials as meta arguments.
//   class LoggingAspect : public gridrpc::InvocationAspect {
//     void Intercept(gridrpc::Interception& call) override {
//       std::printf("invoking %s\n", call.invocation().method.path);
//       call.Proceed([](gridrpc::Interception& call, absl::Status status) {
//         std::printf("result: %s\n", status.ToString().c_str());
//         return status;
//       });
//     }
//   };
//   auto proxy = gridrpc::ProxyBuilder<examples::Counter>(*client)
//                    .MetaArguments([](const gridrpc::Invocation&) {
//                      return gridrpc::MetaArguments{{"user", "alice"}, {"token", "s3cret"}};
//                    })
//                    .Aspects({std::make_shared<LoggingAspect>()})
//                    .Build();
#ifndef GRIDRPC_INVOCATION_H_
#define GRIDRPC_INVOCATION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "gridrpc/meta_arguments.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/service_descriptor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace gridrpc {

// One call as the client's extension points see it. Aspects may change `meta_arguments`.
struct Invocation {
  const ServiceDescriptor& service;
  std::string_view lookup_name;
  const MethodDescriptor& method;
  const google::protobuf::Message& request;
  MetaArguments meta_arguments;
};

// A routing value a routing handler computed: hashed like a contract routing key.
class RoutingKey {
 public:
  RoutingKey(std::string_view key) : hash_(KeyHash(key)) {}  // NOLINT: implicit by design
  RoutingKey(const std::string& key) : hash_(KeyHash(std::string_view(key))) {}  // NOLINT
  RoutingKey(int64_t key) : hash_(KeyHash(key)) {}                               // NOLINT
  RoutingKey(int32_t key) : hash_(KeyHash(key)) {}                               // NOLINT

  uint64_t hash() const { return hash_; }

 private:
  uint64_t hash_;
};

// Computes the routing value of a call; nullopt falls back to the contract's routing key, else
// a random partition. Called on the calling thread; must be thread-safe.
using RoutingHandler = std::function<std::optional<RoutingKey>(const Invocation&)>;

// Creates the meta arguments of a call. Called on the calling thread; must be thread-safe.
using MetaArgumentsHandler = std::function<MetaArguments(const Invocation&)>;

// A call passing through the client's aspect chain. Each aspect calls exactly one of Proceed()
// or Return(), now or later (from any thread); the remote call is the chain's last link.
class Interception {
 public:
  // Sees the outcome of the rest of the chain and returns the outcome to pass on (it may
  // rewrite response() or turn a success into an error and back).
  using OnResult = absl::AnyInvocable<absl::Status(Interception&, absl::Status) &&>;

  virtual ~Interception() = default;

  virtual Invocation& invocation() = 0;
  // Where the result is written: the response of the invocation's method type.
  virtual google::protobuf::Message& response() = 0;

  // Runs the rest of the chain; `on_result`, if given, runs when it has finished.
  virtual void Proceed(OnResult on_result = nullptr) = 0;
  // Ends the call here with `status` (an OK status returns response() as it is now); aspects
  // after this one and the remote call do not run.
  virtual void Return(absl::Status status) = 0;
};

// A link of the client's interception chain, shared by every call of a proxy. Thread-safe.
class InvocationAspect {
 public:
  virtual ~InvocationAspect() = default;
  virtual void Intercept(Interception& call) = 0;
};

}  // namespace gridrpc

#endif  // GRIDRPC_INVOCATION_H_
