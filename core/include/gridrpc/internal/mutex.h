// A plain mutex with Abseil's thread-safety annotations, for locks taken on every call.
//
// Why not absl::Mutex: Debian builds Abseil without NDEBUG, which turns on absl::Mutex's
// deadlock detection; every Lock() then updates a process-wide lock graph under a global lock.
// Measured with callgrind on the routed-call benchmark, that bookkeeping costs several hundred
// instructions per acquisition. And ThreadSanitizer cannot see Debian's uninstrumented
// absl::Mutex synchronize, while it sees a std::mutex: gridrpc's library code uses these
// everywhere (with CondVar where it waits), so a TSan build reports races in our code only.
#ifndef GRIDRPC_INTERNAL_MUTEX_H_
#define GRIDRPC_INTERNAL_MUTEX_H_

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace gridrpc::internal {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  std::mutex& native() { return mu_; }  // for std::condition_variable

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for Mutex. Whoever changes what a waiter waits for notifies, after the
// change (under the mutex or not).
class CondVar {
 public:
  void NotifyAll() { cv_.notify_all(); }

  // Waits until `done()` (called with `mu` held) is true.
  template <typename Done>
  void Wait(Mutex& mu, Done done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
    cv_.wait(lock, done);
    lock.release();  // the caller's MutexLock unlocks
  }

  // Waits until `done()` is true or `deadline` passes; returns done().
  template <typename Done>
  bool WaitUntil(Mutex& mu, absl::Time deadline, Done done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu.native(), std::adopt_lock);
    const bool result = cv_.wait_until(lock, absl::ToChronoTime(deadline), done);
    lock.release();
    return result;
  }

 private:
  std::condition_variable cv_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_MUTEX_H_
