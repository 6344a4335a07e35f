#include "gridrpc/future.h"

#include <gtest/gtest.h>

#include <thread>

namespace gridrpc {
namespace {

TEST(FutureTest, GetWaitsForTheValue) {
  Promise<int> promise;
  Future<int> future = promise.future();
  EXPECT_FALSE(future.ready());
  std::thread producer([p = std::move(promise)]() mutable { p.Set(42); });
  EXPECT_EQ(std::move(future).Get().value(), 42);
  producer.join();
}

TEST(FutureTest, WaitForTimesOutWhileNotReady) {
  Promise<int> promise;
  Future<int> future = promise.future();
  EXPECT_FALSE(future.WaitFor(absl::Milliseconds(10)));
  promise.Set(1);
  EXPECT_TRUE(future.WaitFor(absl::Milliseconds(10)));
}

TEST(FutureTest, ThenRunsAtOnceWhenReadyAndLaterOtherwise) {
  Promise<int> ready;
  ready.Set(1);
  int seen = 0;
  ready.future().Then([&](absl::StatusOr<int> v) { seen = *v; });
  EXPECT_EQ(seen, 1);

  Promise<int> later;
  later.future().Then([&](absl::StatusOr<int> v) { seen = *v; });
  EXPECT_EQ(seen, 1);
  later.Set(2);
  EXPECT_EQ(seen, 2);
}

TEST(FutureTest, ThenChainsValuesAndErrors) {
  Promise<int> promise;
  Future<std::string> chained =
      promise.future()
          .Then([](absl::StatusOr<int> v) -> absl::StatusOr<int> {
            if (!v.ok()) return v.status();
            return *v * 2;
          })
          .Then([](absl::StatusOr<int> v) { return std::to_string(v.value_or(-1)); });
  promise.Set(21);
  EXPECT_EQ(std::move(chained).Get().value(), "42");

  Promise<int> failing;
  Future<int> failed = failing.future().Then([](absl::StatusOr<int> v) -> absl::StatusOr<int> {
    if (!v.ok()) return v.status();
    return *v;
  });
  failing.Set(absl::NotFoundError("gone"));
  EXPECT_EQ(std::move(failed).Get().status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gridrpc
