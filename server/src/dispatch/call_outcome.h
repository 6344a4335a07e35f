// CallOutcome: how a user call is answered, wherever on its path that happens (refused at once,
// answered inside its partition, after its backups, by the owner it was forwarded to). It
// finishes the call's reactor and records the answer in the method's metrics, once.
//
// A value type: copied into whichever callback answers the call. Thread-compatible; Finish is
// called exactly once per call.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_CALL_OUTCOME_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_CALL_OUTCOME_H_

#include <grpcpp/support/server_callback.h>

#include <chrono>

#include "member/metrics.h"

namespace gridrpc::internal {

class CallOutcome {
 public:
  CallOutcome(grpc::ServerUnaryReactor* reactor, MemberMetrics::Method& metrics)
      : reactor_(reactor), metrics_(&metrics), start_(std::chrono::steady_clock::now()) {}

  void Finish(const grpc::Status& status) const {
    metrics_->Record(status.error_code(), std::chrono::steady_clock::now() - start_);
    reactor_->Finish(status);
  }

 private:
  grpc::ServerUnaryReactor* reactor_;
  MemberMetrics::Method* metrics_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_CALL_OUTCOME_H_
