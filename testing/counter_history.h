// CounterHistory: the operations a test ran against counters (increments by 1 and reads), with
// when each began and ended and how it ended, and a checker of what a correct counter can
// answer (a linearizability check for one register that only grows):
//
//   every read returns at least the increments acknowledged before it began, and at most the
//   increments begun before it ended.
//
// An increment that failed may or may not have happened (its outcome is unknown); one that was
// acknowledged must be counted by every later read. Thread-safe.
//
// Example:
//   CounterHistory history;
//   auto inc = history.BeginIncrement("a");
//   history.End(inc, counter->Inc(request).ok());
//   auto read = history.BeginRead("a");
//   ... history.EndRead(read, value) ...
//   EXPECT_THAT(history.Violations(), ::testing::IsEmpty());
#ifndef GRIDRPC_TESTING_COUNTER_HISTORY_H_
#define GRIDRPC_TESTING_COUNTER_HISTORY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::testing {

class CounterHistory {
 public:
  struct Operation {
    std::string key;
    bool read = false;
    absl::Time begin;
    absl::Time end = absl::InfiniteFuture();  // never ended: unknown
    bool ok = false;
    int64_t value = 0;  // what a read returned
  };
  using Id = size_t;

  Id BeginIncrement(const std::string& key) { return Begin(key, /*read=*/false); }
  Id BeginRead(const std::string& key) { return Begin(key, /*read=*/true); }

  // `ok`: acknowledged (an increment), answered (a read, with `value`).
  void End(Id id, bool ok, int64_t value = 0) {
    internal::MutexLock lock(&mu_);
    Operation& op = operations_[id];
    op.end = absl::Now();
    op.ok = ok;
    op.value = value;
  }

  // The final value each key must have, at the earliest and at the latest: acknowledged
  // increments, and every increment begun.
  std::pair<int64_t, int64_t> Bounds(const std::string& key) const {
    internal::MutexLock lock(&mu_);
    int64_t low = 0, high = 0;
    for (const Operation& op : operations_) {
      if (op.key != key || op.read) continue;
      ++high;
      if (op.ok) ++low;
    }
    return {low, high};
  }

  std::vector<std::string> Keys() const {
    internal::MutexLock lock(&mu_);
    std::map<std::string, bool> keys;
    for (const Operation& op : operations_) keys[op.key] = true;
    std::vector<std::string> out;
    for (const auto& [key, unused] : keys) out.push_back(key);
    return out;
  }

  // Every answered read that no correct counter could have given, explained.
  std::vector<std::string> Violations() const {
    internal::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const Operation& read : operations_) {
      if (!read.read || !read.ok) continue;
      int64_t acknowledged_before = 0, begun_before = 0;
      for (const Operation& inc : operations_) {
        if (inc.read || inc.key != read.key) continue;
        if (inc.ok && inc.end < read.begin) ++acknowledged_before;
        if (inc.begin < read.end) ++begun_before;
      }
      if (read.value < acknowledged_before || read.value > begun_before) {
        out.push_back(absl::StrCat(read.key, " read ", read.value, " at ",
                                   absl::FormatTime(read.begin), ": ", acknowledged_before,
                                   " increments were acknowledged before, ", begun_before,
                                   " begun before it ended"));
      }
    }
    return out;
  }

  int64_t Count(bool read, bool ok) const {
    internal::MutexLock lock(&mu_);
    int64_t n = 0;
    for (const Operation& op : operations_) n += op.read == read && op.ok == ok;
    return n;
  }

 private:
  Id Begin(const std::string& key, bool read) {
    internal::MutexLock lock(&mu_);
    operations_.push_back({.key = key, .read = read, .begin = absl::Now()});
    return operations_.size() - 1;
  }

  mutable internal::Mutex mu_;
  std::vector<Operation> operations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTING_COUNTER_HISTORY_H_
