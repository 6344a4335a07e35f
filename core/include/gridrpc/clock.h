// Clock: where a member and its coordinator read the time, so tests can replace it (leveldb's
// Env, Envoy's TimeSource). gRPC deadlines are always taken from the system clock.
//
// Implementations must be thread-safe.
//
// Example:
//   class FakeClock : public gridrpc::Clock {
//    public:
//     absl::Time Now() const override { return now_.load(); }
//     void Advance(absl::Duration d) { now_.store(now_.load() + d); }
//    private:
//     std::atomic<absl::Time> now_{absl::UnixEpoch()};
//   };
#ifndef GRIDRPC_CLOCK_H_
#define GRIDRPC_CLOCK_H_

#include "absl/time/time.h"

namespace gridrpc {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The system clock (absl::Now). Lives forever.
const Clock& RealClock();

}  // namespace gridrpc

#endif  // GRIDRPC_CLOCK_H_
