// Helpers shared by gridrpc's tests.
#ifndef GRIDRPC_TESTS_TEST_UTIL_H_
#define GRIDRPC_TESTS_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace gridrpc::testing {

// Polls `condition` every few milliseconds until it holds or `timeout` passes; true if it held.
// For effects that happen after a call has answered (one-way methods, cancelled work).
inline bool WaitUntil(const std::function<bool()>& condition,
                      absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Matches an absl::Status or absl::StatusOr<T> by code and message.
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& status = [&]() -> const absl::Status& {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

struct RawResult {
  grpc::Status status;
  std::string response;  // serialized bytes
  std::multimap<std::string, std::string> trailers;
};

// One unary call with raw request bytes, as any gRPC client could send them.
inline RawResult RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const std::string& request_bytes,
                         const std::map<std::string, std::string>& metadata = {}) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  for (const auto& [k, v] : metadata) context.AddMetadata(k, v);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  RawResult result;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    result.status = std::move(s);
    done.Notify();
  });
  done.WaitForNotification();
  std::vector<grpc::Slice> slices;
  if (result.status.ok() && response.Dump(&slices).ok()) {
    for (const auto& s : slices)
      result.response.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  for (const auto& [k, v] : context.GetServerTrailingMetadata()) {
    result.trailers.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
  }
  return result;
}

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTS_TEST_UTIL_H_
