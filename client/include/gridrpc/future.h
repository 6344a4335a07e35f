// Future<T>: the result of an asynchronous call, to wait on or to chain.
//
// A future has one consumer: take its value once, with Get(), or hand it to a continuation with
// Then(). Continuations run on the thread that completes the call (a gRPC callback thread when
// the call went remote): keep them short and never block in them.
//
// Example:
//   gridrpc::Future<IncResponse> f = counter->IncAsync(request);
//   f.Then([](absl::StatusOr<IncResponse> r) { if (r.ok()) Print(r->value()); });
//
//   absl::StatusOr<int64_t> v = counter->IncAsync(request)
//       .Then([](absl::StatusOr<IncResponse> r) -> absl::StatusOr<int64_t> {
//         if (!r.ok()) return r.status();
//         return r->value() * 2;
//       })
//       .Get();
#ifndef GRIDRPC_FUTURE_H_
#define GRIDRPC_FUTURE_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gridrpc {

template <typename T>
class Future;

namespace internal {

// Something under way that can be asked to stop: a call, a broadcast.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  // Asks it to stop; it then completes with CANCELLED unless it completed first. Thread-safe.
  virtual void Cancel() = 0;
};

// Shared by a Promise and its Future. Every call is thread-safe.
template <typename T>
class FutureState {
 public:
  using Continuation = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

  // Completes the future once; a continuation already attached runs now, on this thread.
  void Set(absl::StatusOr<T> value) {
    Continuation continuation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!continuation_) {
        value_.emplace(std::move(value));
        ready_.notify_all();
        return;
      }
      continuation = std::move(continuation_);
    }
    std::move(continuation)(std::move(value));
  }

  // Runs `continuation` with the value: now if it is there, else when Set() is called.
  void OnReady(Continuation continuation) {
    std::optional<absl::StatusOr<T>> value;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!value_.has_value()) {
        continuation_ = std::move(continuation);
        return;
      }
      value.swap(value_);
    }
    std::move(continuation)(std::move(*value));
  }

  bool ready() const {
    std::lock_guard<std::mutex> lock(mu_);
    return value_.has_value();
  }

  std::weak_ptr<Cancellable> cancellable() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancellable_;
  }
  void set_cancellable(std::weak_ptr<Cancellable> cancellable) {
    std::lock_guard<std::mutex> lock(mu_);
    cancellable_ = std::move(cancellable);
  }
  void Cancel() {
    std::shared_ptr<Cancellable> target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      target = cancellable_.lock();
    }
    if (target != nullptr) target->Cancel();
  }

  bool WaitFor(absl::Duration timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return ready_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [this] { return value_.has_value(); });
  }

  absl::StatusOr<T> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    ready_.wait(lock, [this] { return value_.has_value(); });
    absl::StatusOr<T> out = std::move(*value_);
    value_.reset();
    return out;
  }

 private:
  // A std::mutex rather than absl::Mutex: one Set and one Take per call, see
  // gridrpc/internal/mutex.h for why that matters on Debian.
  mutable std::mutex mu_;
  mutable std::condition_variable ready_;
  std::optional<absl::StatusOr<T>> value_;  // guarded by mu_
  Continuation continuation_;               // guarded by mu_
  std::weak_ptr<Cancellable> cancellable_;  // guarded by mu_; what Cancel() stops
};

template <typename R>
struct ThenTraits {  // a continuation returning U or StatusOr<U> makes a Future<U>
  using Value = R;
};
template <typename U>
struct ThenTraits<absl::StatusOr<U>> {
  using Value = U;
};

}  // namespace internal

// The producing side of a Future. Copies share one state; Set() it exactly once.
template <typename T>
class Promise {
 public:
  Promise() : state_(std::make_shared<internal::FutureState<T>>()) {}

  Future<T> future() const { return Future<T>(state_); }
  void Set(absl::StatusOr<T> value) { state_->Set(std::move(value)); }
  // What the future's Cancel() stops. The promise is then still Set, with CANCELLED.
  void set_cancellable(std::weak_ptr<internal::Cancellable> c) {
    state_->set_cancellable(std::move(c));
  }

 private:
  std::shared_ptr<internal::FutureState<T>> state_;
};

template <typename T>
class Future {
 public:
  // True once the call has completed.
  bool ready() const { return state_->ready(); }
  // Waits up to `timeout`; true when the call has completed.
  bool WaitFor(absl::Duration timeout) const { return state_->WaitFor(timeout); }
  // Waits for the call and takes its result.
  absl::StatusOr<T> Get() && { return state_->Take(); }
  // Asks the call to stop: it ends with CANCELLED unless it completed first. A chained future
  // cancels the call it came from.
  void Cancel() const { state_->Cancel(); }

  // Hands the result to `f`, now or when the call completes. If `f` returns void, this is the
  // end of the chain; if it returns U or absl::StatusOr<U>, Then returns a Future<U>.
  template <typename F>
  auto Then(F&& f) && {
    using R = std::invoke_result_t<F, absl::StatusOr<T>>;
    if constexpr (std::is_void_v<R>) {
      state_->OnReady([f = std::forward<F>(f)](absl::StatusOr<T> v) mutable { f(std::move(v)); });
    } else {
      using U = typename internal::ThenTraits<R>::Value;
      Promise<U> next;
      Future<U> out = next.future();
      next.set_cancellable(state_->cancellable());
      state_->OnReady([f = std::forward<F>(f), next = std::move(next)](
                          absl::StatusOr<T> v) mutable { next.Set(f(std::move(v))); });
      return out;
    }
  }

 private:
  friend class Promise<T>;
  explicit Future(std::shared_ptr<internal::FutureState<T>> state) : state_(std::move(state)) {}

  std::shared_ptr<internal::FutureState<T>> state_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_FUTURE_H_
