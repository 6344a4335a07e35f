// Runs operations so that those of one partition never overlap and keep their arrival order.
//
// An operation runs inline on the calling thread when its partition is idle; when another
// thread holds the partition, it is queued and that thread runs it next. There is no thread
// hand-off in the common case (measured in ../shared/PLATFORM.md: a hand-off to partition
// threads costs ~20% of throughput on these machines), and no thread ever blocks waiting for a
// partition: a caller either runs or leaves its operation behind.
//
// The price: a thread that holds a busy partition keeps draining its queue, so one hot
// partition can hold one gRPC thread for as long as work keeps arriving for it.
//
// Thread-safe.
#ifndef GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_
#define GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_

#include <deque>
#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class PartitionExecutor {
 public:
  using Operation = absl::AnyInvocable<void() &&>;

  explicit PartitionExecutor(int partition_count)
      : partition_count_(partition_count), slots_(new Slot[partition_count]) {}

  int partition_count() const { return partition_count_; }

  // Runs `op` for `partition` (in range): now, on this thread, if the partition is idle, or
  // later on the thread holding it. Operations of a partition run in the order of these calls.
  template <typename F>
  void Execute(int partition, F&& op) {
    Slot& slot = slots_[partition];
    {
      MutexLock lock(&slot.mu);
      if (slot.busy) {
        slot.queue.emplace_back(std::forward<F>(op));
        return;
      }
      slot.busy = true;
    }
    std::forward<F>(op)();
    Drain(slot);
  }

 private:
  struct alignas(64) Slot {  // one cache line each: partitions do not contend
    Mutex mu;
    bool busy ABSL_GUARDED_BY(mu) = false;
    std::deque<Operation> queue ABSL_GUARDED_BY(mu);
  };

  // Runs what queued up behind the holder, then releases the partition.
  static void Drain(Slot& slot) {
    for (;;) {
      Operation next;
      {
        MutexLock lock(&slot.mu);
        if (slot.queue.empty()) {
          slot.busy = false;
          return;
        }
        next = std::move(slot.queue.front());
        slot.queue.pop_front();
      }
      std::move(next)();
    }
  }

  const int partition_count_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_
