#include "gridrpc/clock.h"

#include "absl/time/clock.h"

namespace gridrpc {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& RealClock() {
  static const SystemClock* const clock = new SystemClock();
  return *clock;
}

}  // namespace gridrpc
