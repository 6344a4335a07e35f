// FakeClock: a Clock tests move by hand (MemberOptions::clock), so a test reaches a deadline
// without sleeping to it. Thread-safe.
#ifndef GRIDRPC_TESTING_FAKE_CLOCK_H_
#define GRIDRPC_TESTING_FAKE_CLOCK_H_

#include "absl/time/time.h"
#include "gridrpc/clock.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::testing {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override {
    internal::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    internal::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable internal::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::Now();
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTING_FAKE_CLOCK_H_
