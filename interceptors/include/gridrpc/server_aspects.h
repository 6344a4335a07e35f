// Ready-made server execution aspects.
//
// Example:
//   gridrpc::MemberOptions options;
//   options.execution_aspects = {std::make_shared<gridrpc::CredentialsAspect>(
//       gridrpc::CredentialsAspect::Tokens{{"alice", "s3cret"}})};
#ifndef GRIDRPC_SERVER_ASPECTS_H_
#define GRIDRPC_SERVER_ASPECTS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "gridrpc/execution_aspect.h"

namespace gridrpc {

// Lets a call run only with valid credentials in its meta arguments `user` and `token` (sent by
// gridrpc::Credentials on the client): none is UNAUTHENTICATED, a wrong token is
// PERMISSION_DENIED. Immutable after construction: thread-safe.
class CredentialsAspect final : public ExecutionAspect {
 public:
  using Tokens = absl::flat_hash_map<std::string, std::string>;  // user -> token
  explicit CredentialsAspect(Tokens tokens) : tokens_(std::move(tokens)) {}
  absl::Status Intercept(ServerInvocation& invocation) override;

 private:
  const Tokens tokens_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_SERVER_ASPECTS_H_
