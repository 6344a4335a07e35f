// PartitionReplica: what this member holds of one partition. One per partition, touched only by
// operations of that partition (see partition_executor.h), so none of its plain fields needs a
// lock; SyncBarrier's counter is the one thing other threads touch, and says so.
#ifndef GRIDRPC_SERVER_SRC_PARTITION_PARTITION_REPLICA_H_
#define GRIDRPC_SERVER_SRC_PARTITION_PARTITION_REPLICA_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "gridrpc/service.h"

namespace gridrpc::internal {

// Counts the writes applied to a replica whose sync backups have not all answered yet, and runs
// waiters (a migration's freeze) once there is none: a partition may only move once its
// backups hold every write the primary may acknowledge.
//
// Add() and Await() run inside the partition; Done() runs on whatever thread the backup's
// answer arrives on, and costs one atomic decrement unless a waiter waits.
class SyncBarrier {
 public:
  void Add() { unsynced_.fetch_add(1); }

  // One write's sync backups all answered. True when a waiter waits and this was the last
  // write: the caller must then run Wake() inside the partition.
  bool Done() { return unsynced_.fetch_sub(1) == 1 && wake_wanted_.load(); }

  // Runs `waiter` now if no write waits for its backups, else once the last one is done (after
  // Done() returned true and Wake() ran).
  void Await(absl::AnyInvocable<void() &&> waiter) {
    waiters_.push_back(std::move(waiter));
    // Set before looking at the count: an answer that brings it to zero afterwards sees it.
    wake_wanted_.store(true);
    Wake();
  }

  // Runs the waiters if no write waits for its backups any more.
  void Wake() {
    if (unsynced_.load() != 0) return;  // the last answer will ask again
    wake_wanted_.store(false);
    std::vector<absl::AnyInvocable<void() &&>> waiters;
    waiters.swap(waiters_);
    for (auto& waiter : waiters) std::move(waiter)();
  }

 private:
  std::atomic<int> unsynced_{0};
  std::atomic<bool> wake_wanted_{false};
  std::vector<absl::AnyInvocable<void() &&>> waiters_;  // inside the partition only
};

struct PartitionReplica {
  // 0: this member is the primary; 1..: a backup; -1: it holds no replica.
  int replica_index = -1;
  // The version of the table the role comes from (0: no table yet).
  int64_t table_version = 0;
  // One per partitioned service instance (ServiceRegistry's container slots), made on first use.
  std::vector<std::unique_ptr<Container>> containers;
  // Mutating operations applied to this replica; primaries stamp backups with it.
  int64_t sequence = 0;
  // Being copied to a new owner or handing its primary role over: calls are refused
  // (retryable) until a table of at least `frozen_until` is installed.
  bool frozen = false;
  int64_t frozen_until = 0;
  // The table marks the partition lost: every replica was lost, this one holds nothing.
  bool lost = false;
  SyncBarrier sync;

  // Whether calls for the partition run here now.
  bool serving() const { return replica_index == 0 && !frozen && !lost; }
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_PARTITION_PARTITION_REPLICA_H_
