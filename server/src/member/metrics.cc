#include "member/metrics.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace gridrpc::internal {
namespace {

prometheus::Counter& NewCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Gauge& NewGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "UNKNOWN";
}

class MigrationCounter final : public MigrationListener {
 public:
  explicit MigrationCounter(MemberMetrics& metrics) : metrics_(metrics) {}

  void MigrationStarted(const MigrationState& state) override {
    metrics_.migrations_started.Increment();
    metrics_.migrations_active.Increment();
    metrics_.replica_migrations_planned.Increment(state.planned);
  }
  void MigrationFinished(const MigrationState& state) override {
    metrics_.migrations_active.Decrement();
    metrics_.migration_duration.Observe(absl::ToDoubleSeconds(state.total_elapsed));
  }
  void ReplicaMigrationCompleted(const ReplicaMigrationEvent&) override {
    metrics_.replica_migrations_completed.Increment();
  }
  void ReplicaMigrationFailed(const ReplicaMigrationEvent&) override {
    metrics_.replica_migrations_failed.Increment();
  }
  void PartitionLost(const PartitionLostEvent&) override { metrics_.partitions_lost.Increment(); }

 private:
  MemberMetrics& metrics_;
};

}  // namespace

namespace {

// Call latency buckets, from 100 µs (a routed call on loopback) to 10 s (a call waiting for a
// backup that is retried), in nanoseconds for the call path and in seconds for the exposition.
constexpr std::array<int64_t, 16> kBucketNs = {
    100'000,       250'000,       500'000,       1'000'000,     2'500'000,   5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000, 500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

// The shard of the calling thread: threads take shards in turn, once.
int ShardOfThisThread(int shards) {
  static std::atomic<int> next{0};
  thread_local const int shard = next.fetch_add(1, std::memory_order_relaxed);
  return shard % shards;
}

}  // namespace

void MemberMetrics::Method::Record(grpc::StatusCode code,
                                   std::chrono::steady_clock::duration elapsed) {
  Shard& shard = shards_[ShardOfThisThread(kShards)];
  const int c = static_cast<int>(code);
  shard.calls[c >= 0 && c < kCodes ? c : static_cast<int>(grpc::StatusCode::UNKNOWN)].fetch_add(
      1, std::memory_order_relaxed);
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  const size_t bucket = std::upper_bound(kBucketNs.begin(), kBucketNs.end(), ns - 1) -
                        kBucketNs.begin();  // the first bound >= ns
  shard.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  shard.sum_ns.fetch_add(static_cast<uint64_t>(std::max<int64_t>(ns, 0)),
                         std::memory_order_relaxed);
}

void MemberMetrics::Method::Collect(prometheus::MetricFamily& calls,
                                    prometheus::MetricFamily& durations) const {
  std::array<uint64_t, kCodes> by_code{};
  std::array<uint64_t, 17> buckets{};
  uint64_t sum_ns = 0;
  for (const Shard& shard : shards_) {
    for (int c = 0; c < kCodes; ++c) by_code[c] += shard.calls[c].load(std::memory_order_relaxed);
    for (size_t b = 0; b < buckets.size(); ++b) {
      buckets[b] += shard.buckets[b].load(std::memory_order_relaxed);
    }
    sum_ns += shard.sum_ns.load(std::memory_order_relaxed);
  }
  for (int c = 0; c < kCodes; ++c) {
    if (by_code[c] == 0) continue;  // a code is a series once it happened
    prometheus::ClientMetric& metric = calls.metric.emplace_back();
    metric.label = {{"code", std::string(CodeName(static_cast<grpc::StatusCode>(c)))},
                    {"method", method_},
                    {"service", service_}};
    metric.counter.value = static_cast<double>(by_code[c]);
  }
  prometheus::ClientMetric& metric = durations.metric.emplace_back();
  metric.label = {{"method", method_}, {"service", service_}};
  uint64_t cumulative = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    cumulative += buckets[b];
    metric.histogram.bucket.push_back(
        {.cumulative_count = cumulative,
         .upper_bound = b < kBucketNs.size() ? static_cast<double>(kBucketNs[b]) / 1e9
                                             : std::numeric_limits<double>::infinity()});
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
}

MemberMetrics::MemberMetrics(std::shared_ptr<prometheus::Registry> registry)
    : forwarded_calls(NewCounter(*registry, "gridrpc_forwarded_calls_total",
                                 "Calls this member forwarded to the owner of their partition")),
      retried_calls(NewCounter(*registry, "gridrpc_retried_calls_total",
                               "Calls that were a client's second or later attempt")),
      one_way_failures(
          NewCounter(*registry, "gridrpc_one_way_failures_total",
                     "One-way calls whose method failed (their callers are not told)")),
      backups_sent(NewCounter(*registry, "gridrpc_backups_sent_total",
                              "Backup operations this member sent as a primary, retries included")),
      backups_acknowledged(NewCounter(*registry, "gridrpc_backups_acknowledged_total",
                                      "Backup operations a backup confirmed")),
      backup_failures(NewCounter(*registry, "gridrpc_backup_failures_total",
                                 "Backup attempts that failed or timed out")),
      backups_in_flight(NewGauge(*registry, "gridrpc_backups_in_flight",
                                 "Backup operations sent and not answered yet")),
      backup_replay_failures(NewCounter(*registry, "gridrpc_backup_replay_failures_total",
                                        "Backup operations whose replay failed on this backup")),
      resyncs(NewCounter(*registry, "gridrpc_resyncs_total",
                         "Whole-partition resyncs this member started as a backup that missed "
                         "operations")),
      resync_failures(NewCounter(*registry, "gridrpc_resync_failures_total",
                                 "Resyncs that failed (they are tried again)")),
      migrations_started(NewCounter(*registry, "gridrpc_migrations_started_total",
                                    "Migration processes started in the cluster")),
      migrations_active(NewGauge(*registry, "gridrpc_migrations_active",
                                 "Migration processes under way in the cluster")),
      replica_migrations_planned(NewCounter(*registry, "gridrpc_replica_migrations_planned_total",
                                            "Replica migrations planned by migration processes")),
      replica_migrations_completed(NewCounter(*registry,
                                              "gridrpc_replica_migrations_completed_total",
                                              "Replica migrations that completed")),
      replica_migrations_failed(NewCounter(*registry, "gridrpc_replica_migrations_failed_total",
                                           "Replica migrations that failed")),
      migration_duration(
          prometheus::BuildHistogram()
              .Name("gridrpc_migration_duration_seconds")
              .Help("Time the replica copies of a migration process took")
              .Register(*registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30,
                                                               60, 300})),
      partitions_lost(NewCounter(*registry, "gridrpc_partitions_lost_total",
                                 "Partitions that lost every replica")),
      migration_freeze_failures(NewCounter(*registry, "gridrpc_migration_freeze_failures_total",
                                           "Freezes of partitions on their primary that failed "
                                           "while this member planned a migration")),
      table_install_failures(NewCounter(*registry, "gridrpc_table_install_failures_total",
                                        "Partition table installs on members that failed")),
      event_relay_failures(NewCounter(*registry, "gridrpc_migration_events_lost_total",
                                      "Migration events this member planned that did not reach "
                                      "another member (its listeners miss them)")),
      session_losses(NewCounter(*registry, "gridrpc_session_losses_total",
                                "Times this member could not renew its session in the "
                                "membership store (it was fenced)")),
      store_errors(NewCounter(*registry, "gridrpc_store_errors_total",
                              "Failed operations on the membership store (etcd)")),
      planning_errors(NewCounter(*registry, "gridrpc_planning_errors_total",
                                 "Planning rounds of this member that ended in an error")),
      peer_calls_refused(NewCounter(*registry, "gridrpc_peer_calls_refused_total",
                                    "Calls on the peer port refused as not from a member")),
      registry_(std::move(registry)) {}

MemberMetrics::Method& MemberMetrics::ForMethod(const std::string& service,
                                                const std::string& method) {
  MutexLock lock(&methods_mu_);
  std::unique_ptr<Method>& slot = methods_[{service, method}];
  if (slot == nullptr) slot = std::make_unique<Method>(service, method);
  return *slot;
}

void MemberMetrics::AddScrapeGauge(std::string name, std::string help, ScrapeGauge read) {
  MutexLock lock(&scraped_mu_);
  scraped_.push_back({std::move(name), std::move(help), std::move(read)});
}

void MemberMetrics::DropScrapeGauges() {
  MutexLock lock(&scraped_mu_);
  scraped_.clear();
}

std::shared_ptr<MigrationListener> MemberMetrics::MigrationCounter() {
  return std::make_shared<class MigrationCounter>(*this);
}

std::vector<prometheus::MetricFamily> MemberMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  prometheus::MetricFamily calls{
      .name = "gridrpc_calls_total",
      .help = "User method calls answered by this member, by status code",
      .type = prometheus::MetricType::Counter};
  prometheus::MetricFamily durations{
      .name = "gridrpc_call_duration_seconds",
      .help = "Time from a call's arrival to its answer (sync backups included)",
      .type = prometheus::MetricType::Histogram};
  bool any = false;
  {
    MutexLock lock(&methods_mu_);
    for (const auto& [name, method] : methods_) method->Collect(calls, durations);
    any = !methods_.empty();
  }
  if (any) {
    families.push_back(std::move(calls));
    families.push_back(std::move(durations));
  }
  MutexLock lock(&scraped_mu_);
  for (const Scraped& gauge : scraped_) {
    prometheus::MetricFamily& family = families.emplace_back();
    family.name = gauge.name;
    family.help = gauge.help;
    family.type = prometheus::MetricType::Gauge;
    for (const auto& [labels, value] : gauge.read()) {
      prometheus::ClientMetric& metric = family.metric.emplace_back();
      for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
      metric.gauge.value = value;
    }
  }
  return families;
}

}  // namespace gridrpc::internal
