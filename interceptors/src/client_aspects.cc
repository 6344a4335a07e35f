#include "gridrpc/client_aspects.h"

#include <google/protobuf/message.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc {

LoggingAspect::LoggingAspect(Sink sink) : sink_(std::move(sink)) {
  if (!sink_) {
    sink_ = [](std::string_view line) {
      std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    };
  }
}

void LoggingAspect::Intercept(Interception& call) {
  const Invocation& invocation = call.invocation();
  sink_(absl::StrCat("Invoking: ", internal::AsAbsl(invocation.lookup_name), " ",
                     internal::AsAbsl(invocation.method.name)));
  call.Proceed([this](Interception& call, absl::Status status) {
    sink_(status.ok() ? absl::StrCat("Result: ", call.response().ShortDebugString())
                      : absl::StrCat("Failed: ", status.ToString()));
    return status;
  });
}

void CachingAspect::Intercept(Interception& call) {
  const Invocation& invocation = call.invocation();
  if (!invocation.method.read_only) {
    call.Proceed();
    return;
  }
  // Meta arguments are part of the key: an answer given to one caller's credentials must not
  // be served to another's.
  std::string key =
      absl::StrCat(internal::AsAbsl(invocation.lookup_name), "\n", invocation.method.path, "\n",
                   invocation.request.SerializeAsString());
  for (const auto& [name, value] : invocation.meta_arguments) {
    absl::StrAppend(&key, "\n", name, "=", value);
  }
  bool hit = false;
  {
    internal::MutexLock lock(&mu_);
    if (auto it = answers_.find(key); it != answers_.end()) {
      hit = call.response().ParseFromString(it->second);
      if (hit) ++hits_;
    }
  }
  if (hit) {
    call.Return(absl::OkStatus());  // short-circuit: no remote call
    return;
  }
  call.Proceed([this, key = std::move(key)](Interception& call, absl::Status status) mutable {
    if (status.ok()) {
      internal::MutexLock lock(&mu_);
      if (answers_.size() >= max_entries_) answers_.clear();
      answers_[std::move(key)] = call.response().SerializeAsString();
    }
    return status;
  });
}

int64_t CachingAspect::hits() const {
  internal::MutexLock lock(&mu_);
  return hits_;
}

void CachingAspect::Clear() {
  internal::MutexLock lock(&mu_);
  answers_.clear();
}

MetaArgumentsHandler Credentials(std::string user, std::string token) {
  return [user = std::move(user), token = std::move(token)](const Invocation&) {
    return MetaArguments{{"user", user}, {"token", token}};
  };
}

}  // namespace gridrpc
