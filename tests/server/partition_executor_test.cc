#include "partition/partition_executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"

namespace gridrpc::internal {
namespace {

// Waits until everything queued on `partition` so far has run (operations run in order).
void RunAfterQueued(PartitionExecutor& executor, int partition) {
  absl::Notification done;
  executor.Execute(partition, [&] { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(PartitionExecutorTest, ExecuteLaterNeverRunsOnTheCaller) {
  PartitionExecutor executor(4);
  std::thread::id ran_on;
  executor.ExecuteLater(3, [&] { ran_on = std::this_thread::get_id(); });
  RunAfterQueued(executor, 3);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(PartitionExecutorTest, RunsInlineWhenThePartitionIsIdle) {
  PartitionExecutor executor(4);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  executor.Execute(2, [&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, caller);
}

TEST(PartitionExecutorTest, QueuesBehindTheHolderAndKeepsArrivalOrder) {
  PartitionExecutor executor(4);
  absl::Notification holder_started, release_holder;
  std::vector<int> order;  // touched only inside partition 1: no lock needed
  std::thread holder([&] {
    executor.Execute(1, [&] {
      holder_started.Notify();
      release_holder.WaitForNotification();
      order.push_back(0);
    });
  });
  holder_started.WaitForNotification();
  // The partition is held: these return at once, queued, and run on a worker afterwards (not
  // on the holder's thread, which may owe gRPC an answer).
  const std::thread::id me = std::this_thread::get_id();
  std::thread::id ran_on = me;
  for (int i = 1; i <= 3; ++i) {
    executor.Execute(1, [&, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
    });
  }
  // Another partition is not held up.
  bool other_ran = false;
  executor.Execute(2, [&] { other_ran = true; });
  EXPECT_TRUE(other_ran);
  EXPECT_TRUE(order.empty());
  release_holder.Notify();
  holder.join();
  RunAfterQueued(executor, 1);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_NE(ran_on, me);
}

TEST(PartitionExecutorTest, OperationsOfOnePartitionNeverOverlap) {
  PartitionExecutor executor(2);
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  int64_t unguarded_sum = 0;  // a data race if two operations ever overlapped
  constexpr int kThreads = 4, kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        executor.Execute(0, [&] {
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++unguarded_sum;
          inside.fetch_sub(1);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  RunAfterQueued(executor, 0);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(unguarded_sum, int64_t{kThreads} * kPerThread);
}

}  // namespace
}  // namespace gridrpc::internal
