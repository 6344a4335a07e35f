#include "net/stall_watchdog.h"

#include "absl/time/clock.h"

namespace gridrpc::internal {

std::shared_ptr<StallWatchdog> StallWatchdog::New(grpc::ClientContext& context,
                                                  absl::Duration idle) {
  return std::make_shared<StallWatchdog>(context, idle);
}

void StallWatchdog::Start() {
  MutexLock lock(&mu_);
  last_progress_ = absl::Now();
  if (!stopped_ && alarm_ == nullptr) ArmLocked(last_progress_ + idle_);
}

void StallWatchdog::Progress() {
  MutexLock lock(&mu_);
  last_progress_ = absl::Now();  // the alarm, when it rings, sets itself again from here
}

bool StallWatchdog::fired() const {
  MutexLock lock(&mu_);
  return fired_;
}

void StallWatchdog::ArmLocked(absl::Time at) {
  // A new alarm each time: one must not be set again from inside its own callback. Replacing
  // the ringing one there is safe (gRPC keeps its state until the callback returns).
  alarm_ = std::make_unique<grpc::Alarm>();
  alarm_->Set(absl::ToChronoTime(at), [weak = weak_from_this()](bool ok) {
    if (std::shared_ptr<StallWatchdog> self = weak.lock(); self != nullptr && ok) {
      self->OnAlarm();
    }
  });
}

void StallWatchdog::OnAlarm() {
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    const absl::Time due = last_progress_ + idle_;
    if (absl::Now() < due) {
      ArmLocked(due);
      return;
    }
    fired_ = cancelling_ = true;
  }
  // Outside the lock: cancelling may complete the call, whose reactor then stops the watchdog.
  context_.TryCancel();
  absl::AnyInvocable<void() &&> then;
  {
    MutexLock lock(&mu_);
    cancelling_ = false;
    then = std::move(then_);
  }
  if (then) std::move(then)();
}

void StallWatchdog::Stop(absl::AnyInvocable<void() &&> then) {
  {
    MutexLock lock(&mu_);
    stopped_ = true;  // an alarm ringing from now on leaves the context alone
    if (cancelling_) {
      then_ = std::move(then);  // OnAlarm runs it once TryCancel returned
      return;
    }
  }
  std::move(then)();
}

}  // namespace gridrpc::internal
