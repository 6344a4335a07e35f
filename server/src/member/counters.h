// What a member counts about its degraded modes (failed one-way calls, backups, resyncs).
// Thread-safe: relaxed atomics, read through the Member facade.
#ifndef GRIDRPC_SERVER_SRC_MEMBER_COUNTERS_H_
#define GRIDRPC_SERVER_SRC_MEMBER_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace gridrpc::internal {

struct MemberCounters {
  std::atomic<int64_t> one_way_failures{0};
  std::atomic<int64_t> backup_failures{0};
  std::atomic<int64_t> resyncs{0};

  static void Increment(std::atomic<int64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MEMBER_COUNTERS_H_
