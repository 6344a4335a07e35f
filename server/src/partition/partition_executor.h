// Runs operations so that those of one partition never overlap and keep their arrival order.
//
// Execute() runs an operation inline on the calling thread when its partition is idle; when
// another thread holds the partition, the operation is queued behind it. There is no thread
// hand-off in the common case (measured in ../shared/PLATFORM.md: a hand-off to partition
// threads costs ~20% of throughput on these machines), and no thread ever blocks waiting for a
// partition: a caller either runs or leaves its operation behind.
//
// What queued up while an operation ran is drained by a worker thread, not by the caller: the
// caller is usually a gRPC handler, and gRPC sends the handler's answer only when it returns,
// so draining there would hold that answer back behind other callers' work. ExecuteLater()
// never runs inline, for work that must not hold up the caller at all (one-way calls).
//
// Thread-safe. The workers are joined by the destructor; operations still queued then are
// dropped, so stop feeding it first.
#ifndef GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_
#define GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class PartitionExecutor {
 public:
  using Operation = absl::AnyInvocable<void() &&>;

  explicit PartitionExecutor(int partition_count, int workers = 2)
      : partition_count_(partition_count), slots_(new Slot[partition_count]) {
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
  }

  ~PartitionExecutor() {
    {
      std::lock_guard<std::mutex> lock(ready_mu_);
      stopping_ = true;
    }
    ready_cv_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }

  int partition_count() const { return partition_count_; }
  // Operations waiting behind the one running in their partition (a gauge; cheap).
  int64_t queued() const { return queued_.load(std::memory_order_relaxed); }

  // Runs `op` for `partition` (in range): now, on this thread, if the partition is idle, or
  // later on a worker. Operations of a partition run in the order of these calls.
  template <typename F>
  void Execute(int partition, F&& op) {
    Slot& slot = slots_[partition];
    {
      MutexLock lock(&slot.mu);
      if (slot.busy) {
        slot.queue.emplace_back(std::forward<F>(op));
        queued_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      slot.busy = true;
    }
    std::forward<F>(op)();
    Release(slot);
  }

  // Like Execute, but never on the calling thread.
  void ExecuteLater(int partition, Operation op) {
    Slot& slot = slots_[partition];
    {
      MutexLock lock(&slot.mu);
      slot.queue.push_back(std::move(op));
      queued_.fetch_add(1, std::memory_order_relaxed);
      if (slot.busy) return;
      slot.busy = true;
    }
    Schedule(slot);
  }

 private:
  struct alignas(64) Slot {  // one cache line each: partitions do not contend
    Mutex mu;
    bool busy ABSL_GUARDED_BY(mu) = false;
    std::deque<Operation> queue ABSL_GUARDED_BY(mu);
  };

  // After the holder's operation: frees the partition, or leaves what queued to a worker.
  void Release(Slot& slot) {
    {
      MutexLock lock(&slot.mu);
      if (slot.queue.empty()) {
        slot.busy = false;
        return;
      }
    }
    Schedule(slot);
  }

  // Runs what is queued, in order, then frees the partition. On a worker.
  void Drain(Slot& slot) {
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
      queued_.fetch_sub(1, std::memory_order_relaxed);
      std::move(next)();
    }
  }

  void Schedule(Slot& slot) {
    {
      std::lock_guard<std::mutex> lock(ready_mu_);
      ready_.push_back(&slot);
    }
    ready_cv_.notify_one();
  }

  void Work() {
    for (;;) {
      Slot* slot;
      {
        std::unique_lock<std::mutex> lock(ready_mu_);
        ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
        if (stopping_) return;
        slot = ready_.front();
        ready_.pop_front();
      }
      Drain(*slot);
    }
  }

  const int partition_count_;
  std::unique_ptr<Slot[]> slots_;
  std::atomic<int64_t> queued_{0};
  // Partitions whose queue a worker should drain; each is here at most once, as it stays busy.
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  std::deque<Slot*> ready_;  // guarded by ready_mu_
  bool stopping_ = false;    // guarded by ready_mu_
  std::vector<std::thread> workers_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_PARTITION_EXECUTOR_H_
