// Broadcast remoting against a 3-member embedded cluster: the seed's search scenario, result
// filters and reducers (custom and built-in), errors inside results, stateless services, and
// stopping early (filter breaks and cancellation) with member calls still in flight.
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cluster/cluster_fixture.h"
#include "remoting_test.gridrpc.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

using ::examples::SearchRequest;
using ::examples::SearchResponse;
using ::remoting_test::Probe;
using ::remoting_test::VisitRequest;
using ::remoting_test::VisitResponse;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

// The test contract's Probe. Visit and Where record every partition they run on in the log.
class ProbeImpl final : public Probe::PartitionedService {
 public:
  ProbeImpl(ExecutionLog& log, const absl::Notification& wake) : log_(log), wake_(wake) {}

  absl::StatusOr<remoting_test::PutResponse> Put(
      PartitionContext& context, State& state, const remoting_test::PutRequest& request) override {
    (*state.mutable_entries())[request.key()] = true;
    return remoting_test::PutResponse();
  }
  absl::StatusOr<remoting_test::CountResponse> Count(
      PartitionContext& context, State& state,
      const remoting_test::CountRequest& request) override {
    remoting_test::CountResponse response;
    response.set_entries(state.entries_size());
    response.set_partitions(1);
    return response;
  }
  absl::StatusOr<VisitResponse> Where(PartitionContext& context, State& state,
                                      const VisitRequest& request) override {
    return Record("Where", context, request);
  }
  absl::StatusOr<VisitResponse> Visit(PartitionContext& context, State& state,
                                      const VisitRequest& request) override {
    return Record("Visit", context, request);
  }

 private:
  absl::StatusOr<VisitResponse> Record(const char* method, const PartitionContext& context,
                                       const VisitRequest& request) {
    const std::string& member = context.member().id();
    const int partition = context.partition_id();
    log_.Add({method, member, partition, ""});
    if (member == request.slow_member()) {
      // Slow, but the test can wake it up at its end instead of waiting.
      wake_.WaitForNotificationWithTimeout(absl::Milliseconds(request.sleep_ms()));
    }
    for (int p : request.fail_partitions()) {
      if (p == partition)
        return absl::FailedPreconditionError(absl::StrCat("partition ", p, " refuses"));
    }
    VisitResponse response;
    remoting_test::Visited* visited = response.add_visits();
    visited->set_partition(partition);
    visited->set_member(member);
    return response;
  }

  ExecutionLog& log_;
  const absl::Notification& wake_;
};

// What a filter saw of one result, and what it decided.
struct Decision {
  int partition;
  std::string member_id;
  bool ok;
  int received;
  int collected;
  int total_expected;
  FilterDecision decision;
};

// A filter deciding by a function of the filter info, recording every decision. Thread-safe.
template <typename Response>
class ScriptedFilter final : public ResultFilter<Response> {
 public:
  using Script = std::function<FilterDecision(const FilterInfo<Response>&)>;
  explicit ScriptedFilter(Script script) : script_(std::move(script)) {}

  FilterDecision Decide(const FilterInfo<Response>& info, const Invocation&) override {
    const FilterDecision decision = script_(info);
    absl::MutexLock lock(&mu_);
    decisions_.push_back({info.current.partition, info.current.member_id, info.current.value.ok(),
                          info.received, static_cast<int>(info.collected.size()),
                          info.total_expected, decision});
    return decision;
  }
  std::vector<Decision> decisions() const {
    absl::MutexLock lock(&mu_);
    return decisions_;
  }

 private:
  const Script script_;
  mutable absl::Mutex mu_;
  std::vector<Decision> decisions_ ABSL_GUARDED_BY(mu_);
};

// A reducer keeping what it was given and answering with the merge of the successful results.
template <typename Response>
class CollectingReducer final : public ResultReducer<Response> {
 public:
  absl::StatusOr<Response> Reduce(std::vector<BroadcastResult<Response>> results,
                                  const Invocation&) override {
    Response merged;
    for (const BroadcastResult<Response>& r : results) {
      if (r.value.ok()) merged.MergeFrom(*r.value);
    }
    absl::MutexLock lock(&mu_);
    ++reductions_;
    results_ = std::move(results);
    return merged;
  }
  std::vector<BroadcastResult<Response>> results() const {
    absl::MutexLock lock(&mu_);
    return results_;
  }
  int reductions() const {
    absl::MutexLock lock(&mu_);
    return reductions_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<BroadcastResult<Response>> results_ ABSL_GUARDED_BY(mu_);
  int reductions_ ABSL_GUARDED_BY(mu_) = 0;
};

// The seed's SearchServiceReducer: concatenates every partition's hits, failing on an error; as a
// filter, stops once the request's `enough_results` hits are in (or at an error).
class SearchServiceReducer final : public ResultReducer<SearchResponse>,
                                   public ResultFilter<SearchResponse> {
 public:
  absl::StatusOr<SearchResponse> Reduce(std::vector<BroadcastResult<SearchResponse>> results,
                                        const Invocation& invocation) override {
    SearchResponse aggregated;
    for (const BroadcastResult<SearchResponse>& result : results) {
      if (!result.value.ok()) return result.value.status();
      aggregated.MergeFrom(*result.value);
    }
    return aggregated;
  }

  FilterDecision Decide(const FilterInfo<SearchResponse>& info,
                        const Invocation& invocation) override {
    {
      absl::MutexLock lock(&mu_);
      ++filtered_;
      last_received_ = info.received;
      total_expected_.insert(info.total_expected);
    }
    if (invocation.method.name != "SearchFor") return FilterDecision::kBreak;
    const int enough = static_cast<const SearchRequest&>(invocation.request).enough_results();
    int hits = 0;
    for (const BroadcastResult<SearchResponse>& result : info.collected) {
      if (!result.value.ok()) return FilterDecision::kBreak;
      hits += result.value->results_size();
    }
    if (!info.current.value.ok()) return FilterDecision::kBreak;
    hits += info.current.value->results_size();
    return hits >= enough ? FilterDecision::kBreak : FilterDecision::kContinue;
  }

  int filtered() const {
    absl::MutexLock lock(&mu_);
    return filtered_;
  }
  int last_received() const {
    absl::MutexLock lock(&mu_);
    return last_received_;
  }
  std::set<int> total_expected() const {
    absl::MutexLock lock(&mu_);
    return total_expected_;
  }

 private:
  mutable absl::Mutex mu_;
  int filtered_ ABSL_GUARDED_BY(mu_) = 0;
  int last_received_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> total_expected_ ABSL_GUARDED_BY(mu_);
};

// A 3-member cluster hosting the recording search and simple services and the test Probe.
class BroadcastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EmbeddedCluster>> cluster =
        EmbeddedCluster::Start({.members = 3}, [this](Member& m) -> absl::Status {
          for (absl::Status s : {m.AddService(std::make_unique<RecordingSearch>(log_)),
                                 m.AddService(std::make_unique<RecordingSimple>(log_)),
                                 m.AddService(std::make_unique<ProbeImpl>(log_, wake_))}) {
            if (!s.ok()) return s;
          }
          return absl::OkStatus();
        });
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
        {.members = {cluster_->member(0).address()}, .invocation_timeout = absl::Seconds(30)});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    table_ = cluster_->partition_table();
  }

  // Slow partitions finish at once, so the members shut down without waiting for them.
  void TearDown() override {
    if (!wake_.HasBeenNotified()) wake_.Notify();
  }

  int PartitionCount() const { return table_->partition_count(); }
  std::string OwnerOf(int partition) const { return table_->member(table_->Owner(partition)).id(); }
  int PartitionOfKey(std::string_view key) const {
    return PartitionOf(KeyHash(key), table_->partition_count());
  }
  int PartitionsOwnedBy(const std::string& member_id) const {
    int owned = 0;
    for (int p = 0; p < table_->partition_count(); ++p) owned += OwnerOf(p) == member_id;
    return owned;
  }
  // The first partition `member_id` owns.
  int FirstPartitionOf(const std::string& member_id) const {
    for (int p = 0; p < table_->partition_count(); ++p) {
      if (OwnerOf(p) == member_id) return p;
    }
    return -1;
  }
  int VisitsOn(const std::string& member_id) const {
    int visits = 0;
    for (const Execution& e : log_.Of("Visit")) visits += e.member_id == member_id;
    return visits;
  }
  // Waits until `member_id` has stopped starting new Visit partitions (none for `quiet`),
  // and returns how many it ran.
  int SettledVisitsOn(const std::string& member_id, absl::Duration quiet) const {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    int visits = VisitsOn(member_id);
    while (absl::Now() < deadline) {
      absl::SleepFor(quiet);
      const int now = VisitsOn(member_id);
      if (now == visits) break;
      visits = now;
    }
    return visits;
  }

  void IndexDocument(examples::SearchService::Proxy& search, const std::string& id,
                     const std::string& text) {
    examples::IndexRequest request;
    request.mutable_document()->set_id(id);
    request.mutable_document()->set_text(text);
    absl::StatusOr<examples::IndexResponse> r = search.Index(request);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  static SearchRequest Search(const std::string& keyword, int enough_results = 0) {
    SearchRequest request;
    request.set_keyword(keyword);
    request.set_enough_results(enough_results);
    return request;
  }

  // Declared before the cluster: services use them until it has shut down.
  ExecutionLog log_;
  absl::Notification wake_;
  std::unique_ptr<EmbeddedCluster> cluster_;
  std::unique_ptr<Client> client_;
  std::shared_ptr<const PartitionTable> table_;
};

// ---------------------------------------------------------------------------------------------
// The seed's search scenario

TEST_F(BroadcastTest, SearchForMergesTheMatchesOfEveryPartitionOnEveryMember) {
  auto search = ProxyBuilder<examples::SearchService>(*client_).Build();
  std::set<std::string> matching;
  for (int i = 0; i < 60; ++i) {
    const std::string id = absl::StrCat("doc-", i);
    const bool match = i % 2 == 0;
    ASSERT_NO_FATAL_FAILURE(IndexDocument(*search, id, match ? "grid computing" : "other things"));
    if (match) matching.insert(id);
  }

  auto broadcast = BroadcastProxyBuilder<examples::SearchService>(*client_).Build();
  absl::StatusOr<SearchResponse> hits = broadcast->SearchFor(Search("grid"));
  ASSERT_TRUE(hits.ok()) << hits.status();
  std::set<std::string> found, members;
  for (const examples::SearchResult& hit : hits->results()) {
    found.insert(hit.document_id());
    const int p = PartitionOfKey(hit.document_id());
    EXPECT_EQ(hit.partition(), p) << hit.document_id();
    EXPECT_EQ(hit.member(), OwnerOf(p)) << hit.document_id();
    members.insert(hit.member());
  }
  EXPECT_EQ(hits->results_size(), static_cast<int>(matching.size()));  // each exactly once
  EXPECT_EQ(found, matching);
  EXPECT_EQ(members.size(), 3u);
}

TEST_F(BroadcastTest, SearchServiceReducerWithEnoughResultsStopsEarly) {
  auto search = ProxyBuilder<examples::SearchService>(*client_).Build();
  constexpr int kDocuments = 90;
  for (int i = 0; i < kDocuments; ++i) {
    ASSERT_NO_FATAL_FAILURE(IndexDocument(*search, absl::StrCat("doc-", i), "grid computing"));
  }
  auto reducer = std::make_shared<SearchServiceReducer>();
  auto broadcast = BroadcastProxyBuilder<examples::SearchService>(*client_)
                       .Reducer(examples::SearchService::Methods::SearchFor, reducer)
                       .Filter(examples::SearchService::Methods::SearchFor, reducer)
                       .Build();
  absl::StatusOr<SearchResponse> hits = broadcast->SearchFor(Search("grid", 5));
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_GE(hits->results_size(), 5);
  EXPECT_LT(hits->results_size(), kDocuments);
  // The filter stopped before every partition's result had come in.
  EXPECT_EQ(reducer->filtered(), reducer->last_received());
  EXPECT_LT(reducer->filtered(), PartitionCount());
  EXPECT_EQ(reducer->total_expected(), std::set<int>{PartitionCount()});
}

// ---------------------------------------------------------------------------------------------
// Filter decisions

TEST_F(BroadcastTest, FilterSkipDropsResultsAndGoesOn) {
  const std::string skipped = cluster_->member(1).id();
  auto filter = std::make_shared<ScriptedFilter<VisitResponse>>([&](const auto& info) {
    return info.current.member_id == skipped ? FilterDecision::kSkip : FilterDecision::kContinue;
  });
  auto reducer = std::make_shared<CollectingReducer<VisitResponse>>();
  auto probe = BroadcastProxyBuilder<Probe>(*client_)
                   .Filter(Probe::Methods::Visit, filter)
                   .Reducer(Probe::Methods::Visit, reducer)
                   .Build();
  absl::StatusOr<VisitResponse> r = probe->Visit(VisitRequest());
  ASSERT_TRUE(r.ok()) << r.status();

  const std::vector<Decision> decisions = filter->decisions();
  EXPECT_EQ(static_cast<int>(decisions.size()), PartitionCount());  // every result was offered
  int kept = 0;
  for (size_t i = 0; i < decisions.size(); ++i) {
    EXPECT_EQ(decisions[i].received, static_cast<int>(i) + 1);
    EXPECT_EQ(decisions[i].collected, kept);  // skipped results are not collected
    kept += decisions[i].decision == FilterDecision::kContinue;
  }
  const std::vector<BroadcastResult<VisitResponse>> results = reducer->results();
  EXPECT_EQ(static_cast<int>(results.size()), PartitionCount() - PartitionsOwnedBy(skipped));
  for (const BroadcastResult<VisitResponse>& result : results) {
    EXPECT_NE(result.member_id, skipped);
  }
  EXPECT_EQ(r->visits_size(), static_cast<int>(results.size()));
}

TEST_F(BroadcastTest, FilterSkipAndBreakStopsWithoutCollectingTheCurrentResult) {
  auto filter = std::make_shared<ScriptedFilter<VisitResponse>>([](const auto& info) {
    return info.received == 10 ? FilterDecision::kSkipAndBreak : FilterDecision::kContinue;
  });
  auto reducer = std::make_shared<CollectingReducer<VisitResponse>>();
  auto probe = BroadcastProxyBuilder<Probe>(*client_)
                   .Filter(Probe::Methods::Visit, filter)
                   .Reducer(Probe::Methods::Visit, reducer)
                   .Build();
  absl::StatusOr<VisitResponse> r = probe->Visit(VisitRequest());
  ASSERT_TRUE(r.ok()) << r.status();

  const std::vector<Decision> decisions = filter->decisions();
  ASSERT_EQ(decisions.size(), 10u);  // nothing offered after the break
  const std::vector<BroadcastResult<VisitResponse>> results = reducer->results();
  ASSERT_EQ(results.size(), 9u);
  for (const BroadcastResult<VisitResponse>& result : results) {
    EXPECT_NE(result.partition, decisions.back().partition);
  }
}

TEST_F(BroadcastTest, FilterBreakCollectsTheCurrentResultAndStops) {
  auto filter = std::make_shared<ScriptedFilter<VisitResponse>>([](const auto& info) {
    return info.received == 10 ? FilterDecision::kBreak : FilterDecision::kContinue;
  });
  auto reducer = std::make_shared<CollectingReducer<VisitResponse>>();
  auto probe = BroadcastProxyBuilder<Probe>(*client_)
                   .Filter(Probe::Methods::Visit, filter)
                   .Reducer(Probe::Methods::Visit, reducer)
                   .Build();
  absl::StatusOr<VisitResponse> r = probe->Visit(VisitRequest());
  ASSERT_TRUE(r.ok()) << r.status();

  const std::vector<Decision> decisions = filter->decisions();
  ASSERT_EQ(decisions.size(), 10u);
  const std::vector<BroadcastResult<VisitResponse>> results = reducer->results();
  ASSERT_EQ(results.size(), 10u);
  EXPECT_EQ(results.back().partition, decisions.back().partition);
  EXPECT_EQ(r->visits_size(), 10);
}

TEST_F(BroadcastTest, FilterBreakCancelsTheMemberCallsStillInFlight) {
  // Member 0's call is sent first, so it is under way when the other members' results arrive.
  const std::string slow = cluster_->member(0).id();
  const int slow_partitions = PartitionsOwnedBy(slow);
  constexpr int kSleepMs = 100;
  const absl::Duration slow_total = absl::Milliseconds(kSleepMs) * slow_partitions;  // ~9 s

  auto filter = std::make_shared<ScriptedFilter<VisitResponse>>(
      [](const auto&) { return FilterDecision::kBreak; });
  auto probe = BroadcastProxyBuilder<Probe>(*client_).Filter(Probe::Methods::Visit, filter).Build();
  VisitRequest request;
  request.set_slow_member(slow);
  request.set_sleep_ms(kSleepMs);
  const absl::Time start = absl::Now();
  absl::StatusOr<VisitResponse> r = probe->Visit(request);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->visits_size(), 1);
  EXPECT_NE(r->visits(0).member(), slow);
  EXPECT_LT(took, slow_total / 2);
  EXPECT_EQ(filter->decisions().size(), 1u);
  // The slow member gives up on the partitions it had not started when the call was cancelled.
  const int slow_visits = SettledVisitsOn(slow, 3 * absl::Milliseconds(kSleepMs));
  EXPECT_LT(slow_visits, slow_partitions);
}

// ---------------------------------------------------------------------------------------------
// Errors, reducers

TEST_F(BroadcastTest, PartitionErrorsReachTheReducerAsFailedResults) {
  // One failing partition on each of two members.
  const int failing_a = FirstPartitionOf(cluster_->member(0).id());
  const int failing_b = FirstPartitionOf(cluster_->member(2).id());
  auto reducer = std::make_shared<CollectingReducer<VisitResponse>>();
  auto probe =
      BroadcastProxyBuilder<Probe>(*client_).Reducer(Probe::Methods::Visit, reducer).Build();
  VisitRequest request;
  request.add_fail_partitions(failing_a);
  request.add_fail_partitions(failing_b);
  absl::StatusOr<VisitResponse> r = probe->Visit(request);
  ASSERT_TRUE(r.ok()) << r.status();  // this reducer decides that errors do not fail the call

  const std::vector<BroadcastResult<VisitResponse>> results = reducer->results();
  ASSERT_EQ(static_cast<int>(results.size()), PartitionCount());
  std::set<int> failed;
  for (const BroadcastResult<VisitResponse>& result : results) {
    EXPECT_EQ(result.member_id, OwnerOf(result.partition)) << result.partition;
    if (result.value.ok()) continue;
    failed.insert(result.partition);
    EXPECT_THAT(result.value, StatusIs(absl::StatusCode::kFailedPrecondition,
                                       absl::StrCat("partition ", result.partition, " refuses")));
  }
  EXPECT_EQ(failed, (std::set<int>{failing_a, failing_b}));
  EXPECT_EQ(r->visits_size(), PartitionCount() - 2);
}

TEST_F(BroadcastTest, MergeReducerFailsWithAPartitionsError) {
  const int failing = FirstPartitionOf(cluster_->member(1).id());
  auto probe = BroadcastProxyBuilder<Probe>(*client_).Build();
  VisitRequest request;
  request.add_fail_partitions(failing);
  EXPECT_THAT(probe->Visit(request), StatusIs(absl::StatusCode::kFailedPrecondition,
                                              absl::StrCat("partition ", failing, " refuses")));
}

TEST_F(BroadcastTest, MergeReducerConcatenatesEveryPartitionsResult) {
  auto probe = BroadcastProxyBuilder<Probe>(*client_).Build();
  absl::StatusOr<VisitResponse> r = probe->Visit(VisitRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<int> partitions;
  for (const remoting_test::Visited& v : r->visits()) {
    partitions.insert(v.partition());
    EXPECT_EQ(v.member(), OwnerOf(v.partition())) << v.partition();
  }
  EXPECT_EQ(r->visits_size(), PartitionCount());
  EXPECT_EQ(static_cast<int>(partitions.size()), PartitionCount());
}

TEST_F(BroadcastTest, MethodWithoutReducerReturnsTheFirstResult) {
  auto probe = BroadcastProxyBuilder<Probe>(*client_).Build();
  absl::StatusOr<VisitResponse> r = probe->Where(VisitRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->visits_size(), 1);  // one partition's answer, not a merge
  EXPECT_EQ(r->visits(0).member(), OwnerOf(r->visits(0).partition()));
  EXPECT_FALSE(log_.Of("Where").empty());
}

TEST_F(BroadcastTest, SumReducerAddsEveryPartitionsNumbers) {
  auto probe = ProxyBuilder<Probe>(*client_).Build();
  constexpr int kEntries = 57;
  for (int i = 0; i < kEntries; ++i) {
    remoting_test::PutRequest put;
    put.set_key(absl::StrCat("entry-", i));
    ASSERT_TRUE(probe->Put(put).ok());
  }
  auto broadcast = BroadcastProxyBuilder<Probe>(*client_).Build();
  absl::StatusOr<remoting_test::CountResponse> r = broadcast->Count(remoting_test::CountRequest());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entries(), kEntries);
  EXPECT_EQ(r->partitions(), PartitionCount());
}

// ---------------------------------------------------------------------------------------------
// Stateless services, cancellation

TEST_F(BroadcastTest, StatelessServiceRunsOncePerMember) {
  auto filter = std::make_shared<ScriptedFilter<examples::CalcResponse>>(
      [](const auto&) { return FilterDecision::kContinue; });
  auto reducer = std::make_shared<CollectingReducer<examples::CalcResponse>>();
  auto simple = BroadcastProxyBuilder<examples::SimpleService>(*client_)
                    .Filter(examples::SimpleService::Methods::Calc, filter)
                    .Reducer(examples::SimpleService::Methods::Calc, reducer)
                    .Build();
  examples::CalcRequest calc;
  calc.set_value1(2);
  calc.set_value2(3);
  ASSERT_TRUE(simple->Calc(calc).ok());

  const std::vector<BroadcastResult<examples::CalcResponse>> results = reducer->results();
  ASSERT_EQ(results.size(), 3u);
  std::set<std::string> members;
  for (const auto& result : results) {
    ASSERT_TRUE(result.value.ok()) << result.value.status();
    EXPECT_EQ(result.value->result(), 5);
    members.insert(result.member_id);
  }
  EXPECT_EQ(members.size(), 3u);
  for (const Decision& d : filter->decisions()) EXPECT_EQ(d.total_expected, 3);
  const std::vector<Execution> runs = log_.Of("Calc");
  ASSERT_EQ(runs.size(), 3u);
  std::set<std::string> ran_on;
  for (const Execution& e : runs) {
    ran_on.insert(e.member_id);
    EXPECT_EQ(e.member_id, OwnerOf(e.partition));
  }
  EXPECT_EQ(ran_on, members);
}

TEST_F(BroadcastTest, CancelEndsABroadcastWithCancelledAndStopsTheMembers) {
  const std::string slow = cluster_->member(0).id();
  const int slow_partitions = PartitionsOwnedBy(slow);
  constexpr int kSleepMs = 100;
  auto probe = BroadcastProxyBuilder<Probe>(*client_).Build();
  VisitRequest request;
  request.set_slow_member(slow);
  request.set_sleep_ms(kSleepMs);
  Future<VisitResponse> f = probe->VisitAsync(request);
  ASSERT_TRUE(WaitUntil([&] { return VisitsOn(slow) >= 1; }));
  EXPECT_FALSE(f.ready());

  const absl::Time cancelled_at = absl::Now();
  f.Cancel();
  ASSERT_TRUE(f.WaitFor(kWait));
  EXPECT_LT(absl::Now() - cancelled_at, kWait);
  EXPECT_THAT(std::move(f).Get(), StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  const int slow_visits = SettledVisitsOn(slow, 3 * absl::Milliseconds(kSleepMs));
  EXPECT_LT(slow_visits, slow_partitions);
}

}  // namespace
}  // namespace gridrpc::testing
