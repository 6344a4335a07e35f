// Server execution aspects: an ordered chain around every call a member executes (XAP's
// IServiceExecutionAspect). Wired once, in MemberOptions, before the member publishes anything.
//
// An aspect runs inside the call's partition, on the partition's thread: it may read the
// invocation, its meta arguments and the service, and must not block.
//
// Example: reject calls without valid credentials.
//   class RequireToken : public gridrpc::ExecutionAspect {
//     absl::Status Intercept(gridrpc::ServerInvocation& call) override {
//       std::optional<std::string_view> token = call.context().meta_argument("token");
//       if (!token) return absl::UnauthenticatedError("no token");
//       if (*token != "s3cret") return absl::PermissionDeniedError("bad token");
//       return call.Proceed();
//     }
//   };
#ifndef GRIDRPC_EXECUTION_ASPECT_H_
#define GRIDRPC_EXECUTION_ASPECT_H_

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "gridrpc/service.h"

namespace gridrpc {

// One call passing through the member's aspect chain. Valid only during Intercept.
class ServerInvocation {
 public:
  virtual ~ServerInvocation() = default;

  virtual std::string_view lookup_name() const = 0;
  virtual const MethodDescriptor& method() const = 0;
  virtual const google::protobuf::Message& request() const = 0;
  virtual ServiceBase& service() = 0;
  // Partition, member and meta arguments.
  virtual PartitionContext& context() = 0;

  // Runs the rest of the chain, the service method last, and returns its status. Call it at
  // most once.
  virtual absl::Status Proceed() = 0;
  // For an aspect that answers instead of the service: the response to send with an OK status.
  virtual void SetResponse(const google::protobuf::Message& response) = 0;
};

// A link of the member's execution chain. Shared by every call on every partition: thread-safe.
class ExecutionAspect {
 public:
  virtual ~ExecutionAspect() = default;
  // Either returns invocation.Proceed() (possibly after looking at or changing the outcome), or
  // returns without proceeding to short-circuit: an error, or OK after SetResponse().
  virtual absl::Status Intercept(ServerInvocation& invocation) = 0;
};

}  // namespace gridrpc

#endif  // GRIDRPC_EXECUTION_ASPECT_H_
