// Ready-made client invocation aspects and meta-argument handlers.
//
// Example:
//   auto cache = std::make_shared<gridrpc::CachingAspect>();
//   auto counter = gridrpc::ProxyBuilder<examples::Counter>(*client)
//                      .MetaArguments(gridrpc::Credentials("alice", "s3cret"))
//                      .Aspects({std::make_shared<gridrpc::LoggingAspect>(), cache})
//                      .Build();
#ifndef GRIDRPC_CLIENT_ASPECTS_H_
#define GRIDRPC_CLIENT_ASPECTS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/invocation.h"

namespace gridrpc {

// Logs each invocation before it proceeds and its outcome after (the seed's
// RemoteInvocationLoggingAspect). Thread-safe if `sink` is.
class LoggingAspect final : public InvocationAspect {
 public:
  using Sink = std::function<void(std::string_view line)>;
  // Default sink: one line on stderr per event.
  explicit LoggingAspect(Sink sink = nullptr);
  void Intercept(Interception& call) override;

 private:
  Sink sink_;
};

// Answers read-only methods from earlier answers to the same request (by lookup name, method
// and request bytes); other methods always proceed. Keeps at most `max_entries`, dropping all
// when full (a cache for demos and tests, not a near cache with invalidation). Thread-safe.
class CachingAspect final : public InvocationAspect {
 public:
  explicit CachingAspect(size_t max_entries = 1024) : max_entries_(max_entries) {}
  void Intercept(Interception& call) override;

  int64_t hits() const;
  void Clear();

 private:
  const size_t max_entries_;
  mutable internal::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> answers_ ABSL_GUARDED_BY(mu_);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

// Meta arguments `user` and `token` on every call, for a member's CredentialsAspect.
MetaArgumentsHandler Credentials(std::string user, std::string token);

}  // namespace gridrpc

#endif  // GRIDRPC_CLIENT_ASPECTS_H_
