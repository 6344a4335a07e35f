// A plain mutex with Abseil's thread-safety annotations, for locks taken on every call.
//
// Why not absl::Mutex: Debian builds Abseil without NDEBUG, which turns on absl::Mutex's
// deadlock detection; every Lock() then updates a process-wide lock graph under a global lock.
// Measured with callgrind on the routed-call benchmark, that bookkeeping costs several hundred
// instructions per acquisition. gridrpc's per-call locks are short and never nested, so a
// std::mutex does the job; absl::Mutex stays where conditions or rare paths want it.
#ifndef GRIDRPC_INTERNAL_MUTEX_H_
#define GRIDRPC_INTERNAL_MUTEX_H_

#include <mutex>

#include "absl/base/thread_annotations.h"

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

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_MUTEX_H_
