// MemberMetrics: what a member counts and measures, for Prometheus (prometheus-cpp).
//
// Every degraded mode a member logs is also counted here (Envoy's rule: an operator alerts on
// the counter, and reads the log line to learn why). Calls are counted by service, method and
// status code, with a latency histogram per method; the rest is per member. Gauges whose truth
// lives elsewhere (partitions held, queue depth, fenced, ready) are read when scraped, through
// callbacks, so the call path pays nothing for them.
//
// Names follow Prometheus' conventions: the `gridrpc_` prefix, `_total` on counters, base units
// (`_seconds`, `_bytes`). docs/OPERATIONS.md lists them for operators.
//
// Thread-safe: the per-call instruments are sharded atomics (Method), the rest prometheus-cpp's;
// the per-method table is guarded, and a Method stays where it is once made.
#ifndef GRIDRPC_SERVER_SRC_MEMBER_METRICS_H_
#define GRIDRPC_SERVER_SRC_MEMBER_METRICS_H_

#include <grpcpp/support/status.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gridrpc/internal/mutex.h"
#include "gridrpc/migration.h"

namespace gridrpc::internal {

class MemberMetrics final : public prometheus::Collectable {
 public:
  // The calls of one user method: by status code, and how long they took from arrival to
  // answer (backups included). Recorded on every call, so it costs the call path little: each
  // thread counts in a shard of its own (relaxed atomics on cache lines other threads seldom
  // touch; a shared prometheus-cpp histogram takes a mutex and bounces its lines between
  // cores), and the shards are added up only when scraped.
  class Method {
   public:
    Method(std::string service, std::string method)
        : service_(std::move(service)), method_(std::move(method)) {}
    void Record(grpc::StatusCode code, std::chrono::steady_clock::duration elapsed);
    // Adds this method's samples to the calls and duration families.
    void Collect(prometheus::MetricFamily& calls, prometheus::MetricFamily& durations) const;

   private:
    static constexpr int kCodes = 17;
    static constexpr int kShards = 8;
    struct alignas(64) Shard {
      std::array<std::atomic<uint64_t>, kCodes> calls{};
      std::array<std::atomic<uint64_t>, 17> buckets{};  // the last: above every bound
      std::atomic<uint64_t> sum_ns{0};
    };

    const std::string service_;
    const std::string method_;
    std::array<Shard, kShards> shards_;
  };

  // A gauge read when scraped: one value per label set.
  using Sample = std::pair<std::map<std::string, std::string>, double>;
  using ScrapeGauge = std::function<std::vector<Sample>()>;

  // `registry`: where the member's instruments live; services and programs may add theirs.
  explicit MemberMetrics(std::shared_ptr<prometheus::Registry> registry);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // The instruments of `service`/`method`, made on first request; the reference stays valid
  // for the metrics' lifetime.
  Method& ForMethod(const std::string& service, const std::string& method);

  // Adds a gauge computed at scrape time.
  void AddScrapeGauge(std::string name, std::string help, ScrapeGauge read);
  // Drops the scrape-time gauges (their callbacks read the member, which is going away); the
  // metrics may be collected for longer, by whoever still holds them.
  void DropScrapeGauges();

  // Counts migration processes, replica migrations and lost partitions as the member hears of
  // them (every member hears every process).
  std::shared_ptr<MigrationListener> MigrationCounter();

  // The registry's families and the scrape-time gauges.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Calls.
  prometheus::Counter& forwarded_calls;
  prometheus::Counter& retried_calls;
  prometheus::Counter& one_way_failures;
  // Backups, on the primary and on the backup.
  prometheus::Counter& backups_sent;
  prometheus::Counter& backups_acknowledged;
  prometheus::Counter& backup_failures;
  prometheus::Gauge& backups_in_flight;
  prometheus::Counter& backup_replay_failures;
  prometheus::Counter& resyncs;
  prometheus::Counter& resync_failures;
  // Migrations this member planned or took part in.
  prometheus::Counter& migrations_started;
  prometheus::Gauge& migrations_active;
  prometheus::Counter& replica_migrations_planned;
  prometheus::Counter& replica_migrations_completed;
  prometheus::Counter& replica_migrations_failed;
  prometheus::Histogram& migration_duration;
  prometheus::Counter& partitions_lost;
  prometheus::Counter& migration_freeze_failures;
  prometheus::Counter& table_install_failures;
  prometheus::Counter& event_relay_failures;
  // Membership and the peer plane.
  prometheus::Counter& session_losses;
  prometheus::Counter& store_errors;
  prometheus::Counter& planning_errors;
  prometheus::Counter& peer_calls_refused;

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  mutable Mutex methods_mu_;  // a scrape may come while the member starts
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Method>> methods_
      ABSL_GUARDED_BY(methods_mu_);
  struct Scraped {
    std::string name;
    std::string help;
    ScrapeGauge read;
  };
  mutable Mutex scraped_mu_;  // a scrape may run while the member goes away
  std::vector<Scraped> scraped_ ABSL_GUARDED_BY(scraped_mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MEMBER_METRICS_H_
