// StallWatchdog: cancels a client stream that stops making progress.
//
// A peer that is paused, or cut off without its connection breaking, keeps the connection open
// and sends nothing: only a deadline tells. A deadline for the whole call cannot suit a stream
// whose length is the size of a partition (a large one needs long, a paused peer should cost
// little), so a replica copy is given a deadline per message instead: the watchdog cancels the
// call's context when `idle` passes without Progress().
//
// Thread-safe. Made with New() and held by the stream's reactor: Start() when the call starts,
// Progress() on every message, Stop(then) when the call is done; `then` runs (at once, or once a
// cancellation in progress returns) when the watchdog will no longer touch the context, so the
// reactor may be deleted there. Its alarm holds it weakly: a watchdog whose owner is gone rings
// no more.
#ifndef GRIDRPC_SERVER_SRC_NET_STALL_WATCHDOG_H_
#define GRIDRPC_SERVER_SRC_NET_STALL_WATCHDOG_H_

#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class StallWatchdog : public std::enable_shared_from_this<StallWatchdog> {
 public:
  // `context` must stay valid until Stop's `then` runs.
  static std::shared_ptr<StallWatchdog> New(grpc::ClientContext& context, absl::Duration idle);

  void Start();
  void Progress();
  // Whether the watchdog cancelled the call (it stalled).
  bool fired() const;
  void Stop(absl::AnyInvocable<void() &&> then);

  StallWatchdog(grpc::ClientContext& context, absl::Duration idle)
      : context_(context), idle_(idle) {}

 private:
  void ArmLocked(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAlarm();

  grpc::ClientContext& context_;
  const absl::Duration idle_;
  mutable Mutex mu_;
  std::unique_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  bool cancelling_ ABSL_GUARDED_BY(mu_) = false;  // TryCancel is running, outside the lock
  bool fired_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void() &&> then_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_NET_STALL_WATCHDOG_H_
