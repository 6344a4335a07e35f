// LifeGuard: lets asynchronous callbacks (gRPC completions, alarms) use an object only while it
// is alive. A callback enters a scope first; Close() waits for open scopes and makes later
// entries fail, so the owner can be destroyed once it returns.
//
// Example:
//   stub->async()->Call(..., [this, guard = guard_](grpc::Status s) {
//     LifeGuard::Scope scope = guard->Enter();
//     if (!scope) return;  // the owner is gone
//     ... use this ...
//   });
#ifndef GRIDRPC_INTERNAL_LIFE_GUARD_H_
#define GRIDRPC_INTERNAL_LIFE_GUARD_H_

#include <condition_variable>
#include <mutex>

namespace gridrpc::internal {

class LifeGuard {
 public:
  class Scope {
   public:
    explicit Scope(LifeGuard* guard) : guard_(guard) {}
    Scope(Scope&& other) noexcept : guard_(other.guard_) { other.guard_ = nullptr; }
    ~Scope() {
      if (guard_ != nullptr) guard_->Leave();
    }
    explicit operator bool() const { return guard_ != nullptr; }

   private:
    LifeGuard* guard_;
  };

  Scope Enter() {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return Scope(nullptr);
    ++open_;
    return Scope(this);
  }

  // Waits for open scopes to end; Enter() fails from now on. Must not be called from inside a
  // scope.
  void Close() {
    std::unique_lock<std::mutex> lock(mu_);
    closed_ = true;
    idle_.wait(lock, [this] { return open_ == 0; });
  }

 private:
  void Leave() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--open_ == 0) idle_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable idle_;
  int open_ = 0;         // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_LIFE_GUARD_H_
