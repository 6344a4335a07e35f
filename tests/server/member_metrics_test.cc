#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "member/metrics.h"

namespace gridrpc::internal {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

std::string Label(const prometheus::ClientMetric& metric, const std::string& name) {
  for (const auto& label : metric.label) {
    if (label.name == name) return label.value;
  }
  return "";
}

TEST(MemberMetricsTest, NoMethodFamiliesBeforeAMethodIsKnown) {
  MemberMetrics metrics(std::make_shared<prometheus::Registry>());
  const auto families = metrics.Collect();
  EXPECT_EQ(Find(families, "gridrpc_calls_total"), nullptr);
  EXPECT_EQ(Find(families, "gridrpc_call_duration_seconds"), nullptr);
}

// A sample on a bucket's bound belongs to it (Prometheus' `le`); one above goes to the next.
TEST(MemberMetricsTest, BucketsAreCumulativeAndBoundsInclusive) {
  MemberMetrics metrics(std::make_shared<prometheus::Registry>());
  MemberMetrics::Method& method = metrics.ForMethod("s.S", "M");
  method.Record(grpc::StatusCode::OK, microseconds(100));         // le 0.0001
  method.Record(grpc::StatusCode::OK, nanoseconds(100'001));      // le 0.00025
  method.Record(grpc::StatusCode::OK, std::chrono::seconds(60));  // +Inf only
  method.Record(grpc::StatusCode::OK, nanoseconds(0));            // le 0.0001

  const auto families = metrics.Collect();
  const prometheus::MetricFamily* durations = Find(families, "gridrpc_call_duration_seconds");
  ASSERT_NE(durations, nullptr);
  ASSERT_EQ(durations->metric.size(), 1u);
  const prometheus::ClientMetric::Histogram& h = durations->metric[0].histogram;
  ASSERT_EQ(h.bucket.size(), 17u);
  EXPECT_DOUBLE_EQ(h.bucket[0].upper_bound, 0.0001);
  EXPECT_EQ(h.bucket[0].cumulative_count, 2u);
  EXPECT_DOUBLE_EQ(h.bucket[1].upper_bound, 0.00025);
  EXPECT_EQ(h.bucket[1].cumulative_count, 3u);
  EXPECT_EQ(h.bucket[15].cumulative_count, 3u);  // le 10
  EXPECT_TRUE(std::isinf(h.bucket[16].upper_bound));
  EXPECT_EQ(h.bucket[16].cumulative_count, 4u);
  EXPECT_EQ(h.sample_count, 4u);
  EXPECT_NEAR(h.sample_sum, 60.000200001, 1e-9);
}

// Threads count in shards of their own; a scrape adds them up, exactly.
TEST(MemberMetricsTest, CallsFromManyThreadsAddUpByCode) {
  MemberMetrics metrics(std::make_shared<prometheus::Registry>());
  MemberMetrics::Method& method = metrics.ForMethod("s.S", "M");
  constexpr int kThreads = 12;  // more than the shards: some share one
  constexpr int kCalls = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        method.Record(t % 3 == 0 ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::OK,
                      microseconds(300));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const auto families = metrics.Collect();
  const prometheus::MetricFamily* calls = Find(families, "gridrpc_calls_total");
  ASSERT_NE(calls, nullptr);
  std::map<std::string, double> by_code;
  for (const auto& metric : calls->metric) {
    EXPECT_EQ(Label(metric, "service"), "s.S");
    EXPECT_EQ(Label(metric, "method"), "M");
    by_code[Label(metric, "code")] = metric.counter.value;
  }
  EXPECT_EQ(by_code,
            (std::map<std::string, double>{{"OK", 8 * kCalls}, {"UNAVAILABLE", 4 * kCalls}}));
  const prometheus::ClientMetric::Histogram& h =
      Find(families, "gridrpc_call_duration_seconds")->metric[0].histogram;
  EXPECT_EQ(h.sample_count, uint64_t{kThreads * kCalls});
  EXPECT_EQ(h.bucket[1].cumulative_count, 0u);                           // le 0.00025
  EXPECT_EQ(h.bucket[2].cumulative_count, uint64_t{kThreads * kCalls});  // le 0.0005
}

TEST(MemberMetricsTest, ExpositionIsOneFamilyPerNameWithEveryMethod) {
  MemberMetrics metrics(std::make_shared<prometheus::Registry>());
  metrics.ForMethod("s.S", "A").Record(grpc::StatusCode::OK, microseconds(1));
  metrics.ForMethod("s.S", "B").Record(grpc::StatusCode::NOT_FOUND, microseconds(1));
  EXPECT_EQ(&metrics.ForMethod("s.S", "A"), &metrics.ForMethod("s.S", "A"));
  const std::string text = prometheus::TextSerializer().Serialize(metrics.Collect());
  EXPECT_NE(text.find("gridrpc_calls_total{code=\"OK\",method=\"A\",service=\"s.S\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gridrpc_calls_total{code=\"NOT_FOUND\",method=\"B\",service=\"s.S\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gridrpc_call_duration_seconds_count{method=\"B\",service=\"s.S\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace gridrpc::internal
