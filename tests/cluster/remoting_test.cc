// Executor remoting against a 3-member embedded cluster: routing handlers, lookup names, meta
// arguments, client and server aspects, call kinds (async, callback, cancel, one-way) and
// deadlines.
#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cluster/cluster_fixture.h"
#include "gridrpc/client_aspects.h"
#include "gridrpc/execution_aspect.h"
#include "gridrpc/server_aspects.h"
#include "remoting_test.gridrpc.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

using ::remoting_test::Gate;
using ::remoting_test::KeyRequest;
using ::remoting_test::KeyResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// The value of a counter answer, or -1 (and a failure) when the call failed.
template <typename Response>
int64_t ValueOf(const absl::StatusOr<Response>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->value() : -1;
}

// How long a test waits for something that should happen at once; only reached on failure.
constexpr absl::Duration kWait = absl::Seconds(10);
// Generous bound on a call that should end at a deadline of a few hundred milliseconds.
constexpr absl::Duration kDeadlineBound = absl::Seconds(10);

// Holds the test contract's blocking methods until the test opens their gate (one per name).
// The wait is bounded, so a broken test cannot hang a member. Thread-safe.
class Gatekeeper {
 public:
  void Hold(const std::string& gate) {
    absl::MutexLock lock(&mu_);
    ++arrived_;
    auto open = [this, &gate]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return all_open_ || open_.contains(gate);
    };
    mu_.AwaitWithTimeout(absl::Condition(&open), absl::Seconds(20));
  }
  void Open(const std::string& gate) {
    absl::MutexLock lock(&mu_);
    open_.insert(gate);
  }
  void OpenAll() {
    absl::MutexLock lock(&mu_);
    all_open_ = true;
  }
  // Waits until `n` calls in all have arrived at a gate; true if they have.
  bool AwaitArrivals(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return arrived_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

 private:
  absl::Mutex mu_;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> open_ ABSL_GUARDED_BY(mu_);
  bool all_open_ ABSL_GUARDED_BY(mu_) = false;
};

// The test contract's Gate, recording every execution in the log.
class GateImpl final : public Gate::PartitionedService {
 public:
  GateImpl(ExecutionLog& log, Gatekeeper& gate) : log_(log), gate_(gate) {}

  absl::StatusOr<KeyResponse> Block(PartitionContext& context, State& state,
                                    const KeyRequest& request) override {
    log_.Add({"Block", context.member().id(), context.partition_id(), request.key()});
    gate_.Hold(GateOf(request));
    return Where(context);
  }
  absl::StatusOr<KeyResponse> BlockWithDeadline(PartitionContext& context, State& state,
                                                const KeyRequest& request) override {
    log_.Add({"BlockWithDeadline", context.member().id(), context.partition_id(), request.key()});
    gate_.Hold(GateOf(request));
    return Where(context);
  }
  absl::StatusOr<google::protobuf::Empty> BlockOneWay(PartitionContext& context, State& state,
                                                      const KeyRequest& request) override {
    log_.Add({"BlockOneWay", context.member().id(), context.partition_id(), request.key()});
    gate_.Hold(GateOf(request));
    log_.Add({"BlockOneWay done", context.member().id(), context.partition_id(), request.key()});
    if (request.fail()) return absl::InternalError("BlockOneWay asked to fail");
    return google::protobuf::Empty();
  }
  absl::StatusOr<KeyResponse> Inspect(PartitionContext& context, State& state,
                                      const KeyRequest& request) override {
    KeyResponse response = Where(context);
    // Names from the listing, values through the lookup: both ways a service reads them.
    for (const auto& [name, unused] : context.meta_arguments()) {
      std::optional<std::string_view> value = context.meta_argument(name);
      (*response.mutable_meta())[name] =
          value.has_value() ? std::string(*value) : "<lookup failed>";
    }
    return response;
  }
  absl::StatusOr<google::protobuf::Empty> InspectOneWay(PartitionContext& context, State& state,
                                                        const KeyRequest& request) override {
    std::optional<std::string_view> tenant = context.meta_argument("tenant");
    log_.Add({"InspectOneWay", context.member().id(), context.partition_id(),
              tenant.has_value() ? std::string(*tenant) : "<none>"});
    return google::protobuf::Empty();
  }

 private:
  static std::string GateOf(const KeyRequest& request) {
    return request.gate().empty() ? request.key() : request.gate();
  }
  static KeyResponse Where(const PartitionContext& context) {
    KeyResponse response;
    response.set_member(context.member().id());
    response.set_partition(context.partition_id());
    return response;
  }

  ExecutionLog& log_;
  Gatekeeper& gate_;
};

// The example counter, recording reads as well as increments (on the primary only: backups
// replay increments).
class ReadRecordingCounter final : public examples::CounterImpl {
 public:
  explicit ReadRecordingCounter(ExecutionLog& log) : log_(log) {}
  absl::StatusOr<examples::IncResponse> Inc(PartitionContext& context, State& state,
                                            const examples::IncRequest& request) override {
    if (!context.is_backup()) {
      log_.Add({"Inc", context.member().id(), context.partition_id(), request.name()});
    }
    return CounterImpl::Inc(context, state, request);
  }
  absl::StatusOr<examples::GetResponse> Get(PartitionContext& context, State& state,
                                            const examples::GetRequest& request) override {
    log_.Add({"Get", context.member().id(), context.partition_id(), request.name()});
    return CounterImpl::Get(context, state, request);
  }

 private:
  ExecutionLog& log_;
};

// A 3-member cluster hosting the example counter, data processor and simple service (all
// recording) and the test contract's Gate. Derived fixtures set `execution_aspects_` and
// `extra_services_` in their constructor.
class RemotingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EmbeddedCluster>> cluster = EmbeddedCluster::Start(
        {.members = 3, .execution_aspects = execution_aspects_}, [this](Member& m) -> absl::Status {
          for (absl::Status s : {m.AddService(std::make_unique<ReadRecordingCounter>(log_)),
                                 m.AddService(std::make_unique<RecordingDataProcessor>(log_)),
                                 m.AddService(std::make_unique<RecordingSimple>(log_)),
                                 m.AddService(std::make_unique<GateImpl>(log_, gate_))}) {
            if (!s.ok()) return s;
          }
          return extra_services_ ? extra_services_(m) : absl::OkStatus();
        });
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    // Well above every deadline the tests use, well below the default two minutes.
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
        {.members = {cluster_->member(0).address()}, .invocation_timeout = absl::Seconds(30)});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // Blocked methods return before the members shut down.
  void TearDown() override { gate_.OpenAll(); }

  int PartitionOfKey(std::string_view key) const {
    return PartitionOf(KeyHash(key), cluster_->partition_table()->partition_count());
  }
  int PartitionOfKey(int64_t key) const {
    return PartitionOf(KeyHash(key), cluster_->partition_table()->partition_count());
  }
  std::string OwnerOfPartition(int partition) const {
    const auto table = cluster_->partition_table();
    return table->member(table->Owner(partition)).id();
  }
  // A key on another partition than `key`'s, owned by the same member as it or by another one.
  std::string KeyBeside(std::string_view key, bool same_member) const {
    const int p = PartitionOfKey(key);
    for (int i = 0; i < 1000; ++i) {
      const std::string candidate = absl::StrCat("beside-", i);
      const int q = PartitionOfKey(candidate);
      if (q != p && (OwnerOfPartition(q) == OwnerOfPartition(p)) == same_member) return candidate;
    }
    ADD_FAILURE() << "no key beside " << key;
    return std::string(key);
  }
  int64_t OneWayFailures() {
    int64_t failures = 0;
    for (int i = 0; i < cluster_->size(); ++i) failures += cluster_->member(i).one_way_failures();
    return failures;
  }
  std::vector<std::string> LoggedMethods() {
    std::vector<std::string> out;
    for (const Execution& e : log_.Snapshot()) out.push_back(e.method);
    return out;
  }

  static examples::IncRequest Inc(const std::string& name, int64_t amount) {
    examples::IncRequest r;
    r.set_name(name);
    r.set_amount(amount);
    return r;
  }
  static examples::GetRequest Get(const std::string& name) {
    examples::GetRequest r;
    r.set_name(name);
    return r;
  }
  static KeyRequest Key(const std::string& key, bool fail = false) {
    KeyRequest r;
    r.set_key(key);
    r.set_fail(fail);
    return r;
  }
  static examples::Data Data(const std::string& type, const std::string& payload) {
    examples::Data d;
    d.set_data_type(type);
    d.set_payload(payload);
    return d;
  }

  std::vector<std::shared_ptr<ExecutionAspect>> execution_aspects_;
  ServiceInstaller extra_services_;

  // Declared before the cluster: services use them until it has shut down.
  ExecutionLog log_;
  Gatekeeper gate_;
  std::unique_ptr<EmbeddedCluster> cluster_;
  std::unique_ptr<Client> client_;
};

// ---------------------------------------------------------------------------------------------
// Routing handlers

TEST_F(RemotingTest, RoutingHandlerRoutesProcessDataByTheDataType) {
  std::atomic<int> handled{0};
  auto processor = ProxyBuilder<examples::DataProcessor>(*client_)
                       .RoutingHandler([&](const Invocation& call) -> std::optional<RoutingKey> {
                         if (call.method.name != "ProcessData") return std::nullopt;
                         handled.fetch_add(1);
                         return static_cast<const examples::Data&>(call.request).data_type();
                       })
                       .Build();
  const std::vector<std::string> types = {"orders", "invoices", "shipments", "refunds", "users"};
  for (const std::string& type : types) {
    absl::StatusOr<examples::Data> r = processor->ProcessData(Data(type, "x"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->processed());
  }
  EXPECT_EQ(handled.load(), static_cast<int>(types.size()));
  const std::vector<Execution> runs = log_.Of("ProcessData");
  ASSERT_EQ(runs.size(), types.size());
  for (const Execution& e : runs) {
    EXPECT_EQ(e.partition, PartitionOfKey(e.key)) << e.key;
    EXPECT_EQ(e.member_id, OwnerOfPartition(e.partition)) << e.key;
  }
}

TEST_F(RemotingTest, RoutingHandlerKeyWinsOverTheContractKey) {
  // The two routings land on different members.
  const std::string type = "orders";
  const std::string payload = KeyBeside(type, /*same_member=*/false);
  auto processor = ProxyBuilder<examples::DataProcessor>(*client_)
                       .RoutingHandler([](const Invocation& call) -> std::optional<RoutingKey> {
                         return static_cast<const examples::Data&>(call.request).payload();
                       })
                       .Build();
  ASSERT_TRUE(processor->ProcessData(Data(type, payload)).ok());
  const std::vector<Execution> runs = log_.Of("ProcessData");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].partition, PartitionOfKey(payload));
  EXPECT_EQ(runs[0].member_id, OwnerOfPartition(PartitionOfKey(payload)));
}

TEST_F(RemotingTest, RoutingHandlerReturningNulloptFallsBackToTheContractKey) {
  std::atomic<int> handled{0};
  auto processor = ProxyBuilder<examples::DataProcessor>(*client_)
                       .RoutingHandler([&](const Invocation&) -> std::optional<RoutingKey> {
                         handled.fetch_add(1);
                         return std::nullopt;
                       })
                       .Build();
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(processor->ProcessData(Data(absl::StrCat("type-", i), "x")).ok());
  }
  EXPECT_EQ(handled.load(), 12);
  std::set<std::string> members;
  for (const Execution& e : log_.Of("ProcessData")) {
    EXPECT_EQ(e.partition, PartitionOfKey(e.key)) << e.key;
    EXPECT_EQ(e.member_id, OwnerOfPartition(e.partition)) << e.key;
    members.insert(e.member_id);
  }
  EXPECT_GT(members.size(), 1u);  // the key really routes: not everything on one member
}

TEST_F(RemotingTest, RoutingHandlerRoutesAKeylessMethodWhereItSays) {
  auto simple = ProxyBuilder<examples::SimpleService>(*client_)
                    .RoutingHandler([](const Invocation& call) -> std::optional<RoutingKey> {
                      return static_cast<const examples::CalcRequest&>(call.request).value1();
                    })
                    .Build();
  for (int64_t v = 0; v < 20; ++v) {
    examples::CalcRequest calc;
    calc.set_value1(v);
    calc.set_value2(100);
    absl::StatusOr<examples::CalcResponse> r = simple->Calc(calc);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->result(), v + 100);
    const std::vector<Execution> runs = log_.Of("Calc");
    ASSERT_EQ(runs.size(), static_cast<size_t>(v + 1));
    EXPECT_EQ(runs.back().partition, PartitionOfKey(v)) << v;
    EXPECT_EQ(runs.back().member_id, OwnerOfPartition(PartitionOfKey(v))) << v;
  }
}

// ---------------------------------------------------------------------------------------------
// Lookup names

class LookupNameTest : public RemotingTest {
 protected:
  LookupNameTest() {
    extra_services_ = [](Member& m) {
      return m.AddService(std::make_unique<examples::CounterImpl>(), {"counters-b"});
    };
  }
};

TEST_F(LookupNameTest, LookupNameSelectsAnInstanceWithItsOwnState) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  auto counter_b = ProxyBuilder<examples::Counter>(*client_).LookupName("counters-b").Build();
  ASSERT_TRUE(counter->Inc(Inc("shared", 1)).ok());
  ASSERT_TRUE(counter->Inc(Inc("shared", 1)).ok());
  absl::StatusOr<examples::IncResponse> b = counter_b->Inc(Inc("shared", 10));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->value(), 10);
  EXPECT_EQ(ValueOf(counter->Get(Get("shared"))), 2);
  EXPECT_EQ(ValueOf(counter_b->Get(Get("shared"))), 10);
  // Only the default instance records: the "counters-b" calls ran elsewhere.
  EXPECT_EQ(log_.Of("Inc").size(), 2u);
}

TEST_F(LookupNameTest, UnknownLookupNameIsNotFoundAndNamesIt) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).LookupName("no-such-counter").Build();
  CallOptions options;
  options.timeout = absl::Seconds(3);  // a hang or retry loop would end DEADLINE_EXCEEDED
  EXPECT_THAT(counter->Inc(Inc("x", 1), options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'no-such-counter'")));
  EXPECT_TRUE(log_.Of("Inc").empty());
}

// ---------------------------------------------------------------------------------------------
// Meta arguments

// Records the `tenant` meta argument of every call it sees, as "aspect:<method>".
class TenantRecordingAspect final : public ExecutionAspect {
 public:
  explicit TenantRecordingAspect(ExecutionLog& log) : log_(log) {}
  absl::Status Intercept(ServerInvocation& call) override {
    std::optional<std::string_view> tenant = call.context().meta_argument("tenant");
    log_.Add({"aspect:" + std::string(call.method().name), call.context().member().id(),
              call.context().partition_id(), tenant.has_value() ? std::string(*tenant) : "<none>"});
    return call.Proceed();
  }

 private:
  ExecutionLog& log_;
};

class MetaArgumentsTest : public RemotingTest {
 protected:
  MetaArgumentsTest() { execution_aspects_ = {std::make_shared<TenantRecordingAspect>(log_)}; }

  std::unique_ptr<Gate::Proxy> ProxyWithMeta() {
    return ProxyBuilder<Gate>(*client_)
        .MetaArguments([](const Invocation& call) {
          return MetaArguments{{"tenant", "acme"}, {"method", std::string(call.method.name)}};
        })
        .Build();
  }
};

TEST_F(MetaArgumentsTest, MetaArgumentsReachTheExecutionAspectAndTheService) {
  absl::StatusOr<KeyResponse> r = ProxyWithMeta()->Inspect(Key("k"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->meta(), UnorderedElementsAre(Pair("tenant", "acme"), Pair("method", "Inspect")));
  const std::vector<Execution> seen = log_.Of("aspect:Inspect");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "acme");
  EXPECT_EQ(seen[0].partition, PartitionOfKey("k"));
}

TEST_F(MetaArgumentsTest, CallsWithoutAHandlerCarryNoMetaArguments) {
  absl::StatusOr<KeyResponse> r = ProxyBuilder<Gate>(*client_).Build()->Inspect(Key("k"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->meta().empty());
  const std::vector<Execution> seen = log_.Of("aspect:Inspect");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "<none>");
}

TEST_F(MetaArgumentsTest, MetaArgumentsReachOneWayMethods) {
  ASSERT_TRUE(ProxyWithMeta()->InspectOneWay(Key("k")).ok());
  // A one-way method runs after the caller has its answer.
  ASSERT_TRUE(WaitUntil([&] { return log_.Of("InspectOneWay").size() == 1; }));
  EXPECT_EQ(log_.Of("InspectOneWay")[0].key, "acme");
  const std::vector<Execution> seen = log_.Of("aspect:InspectOneWay");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].key, "acme");
}

// ---------------------------------------------------------------------------------------------
// Client invocation aspects

// Thread-safe list of what aspects saw.
class Events {
 public:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> Snapshot() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

// Records "N>" when a call passes in and "<N <outcome>" when its result passes back out.
class RecordingAspect final : public InvocationAspect {
 public:
  RecordingAspect(std::string name, Events& events) : name_(std::move(name)), events_(events) {}
  void Intercept(Interception& call) override {
    events_.Add(name_ + ">");
    call.Proceed([this](Interception& call, absl::Status status) {
      events_.Add(absl::StrCat("<", name_, " ",
                               status.ok() ? call.response().ShortDebugString()
                                           : absl::StatusCodeToString(status.code())));
      return status;
    });
  }

 private:
  const std::string name_;
  Events& events_;
};

// Ends Counter.Inc calls itself: OK with `value` as the answer, or an error.
class ReturningAspect final : public InvocationAspect {
 public:
  explicit ReturningAspect(absl::Status status, int64_t value = 0)
      : status_(std::move(status)), value_(value) {}
  void Intercept(Interception& call) override {
    if (status_.ok()) static_cast<examples::IncResponse&>(call.response()).set_value(value_);
    call.Return(status_);
  }

 private:
  const absl::Status status_;
  const int64_t value_;
};

// Proceeds from a thread of its own, after Intercept has returned.
class ProceedLaterAspect final : public InvocationAspect {
 public:
  ~ProceedLaterAspect() override { Join(); }
  void Intercept(Interception& call) override {
    absl::MutexLock lock(&mu_);
    threads_.emplace_back([this, &call] {
      {
        absl::MutexLock lock(&mu_);
        proceeded_on_.insert(std::this_thread::get_id());
      }
      call.Proceed();
    });
  }
  void Join() {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }
  std::set<std::thread::id> proceeded_on() {
    absl::MutexLock lock(&mu_);
    return proceeded_on_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::set<std::thread::id> proceeded_on_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RemotingTest, ClientAspectsSeeTheCallInOrderAndTheResultInReverse) {
  Events events;
  auto counter = ProxyBuilder<examples::Counter>(*client_)
                     .Aspects({std::make_shared<RecordingAspect>("A", events),
                               std::make_shared<RecordingAspect>("B", events),
                               std::make_shared<RecordingAspect>("C", events)})
                     .Build();
  absl::StatusOr<examples::IncResponse> r = counter->Inc(Inc("ordered", 7));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 7);
  EXPECT_THAT(events.Snapshot(),
              ElementsAre("A>", "B>", "C>", "<C value: 7", "<B value: 7", "<A value: 7"));
  EXPECT_EQ(log_.Of("Inc").size(), 1u);
}

TEST_F(RemotingTest, ClientAspectReturnEndsTheCallWithoutTheRestOfTheChain) {
  Events events;
  auto counter = ProxyBuilder<examples::Counter>(*client_)
                     .Aspects({std::make_shared<RecordingAspect>("A", events),
                               std::make_shared<ReturningAspect>(absl::OkStatus(), 42),
                               std::make_shared<RecordingAspect>("C", events)})
                     .Build();
  absl::StatusOr<examples::IncResponse> r = counter->Inc(Inc("short", 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 42);
  EXPECT_THAT(events.Snapshot(), ElementsAre("A>", "<A value: 42"));
  EXPECT_TRUE(log_.Of("Inc").empty());
}

TEST_F(RemotingTest, ClientAspectReturnCanEndTheCallWithAnError) {
  Events events;
  auto counter =
      ProxyBuilder<examples::Counter>(*client_)
          .Aspects({std::make_shared<RecordingAspect>("A", events),
                    std::make_shared<ReturningAspect>(absl::PermissionDeniedError("not today")),
                    std::make_shared<RecordingAspect>("C", events)})
          .Build();
  EXPECT_THAT(counter->Inc(Inc("short", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied, "not today"));
  EXPECT_THAT(events.Snapshot(), ElementsAre("A>", "<A PERMISSION_DENIED"));
  EXPECT_TRUE(log_.Of("Inc").empty());
}

TEST_F(RemotingTest, ClientAspectMayProceedFromAnotherThread) {
  Events events;
  auto later = std::make_shared<ProceedLaterAspect>();
  auto counter = ProxyBuilder<examples::Counter>(*client_)
                     .Aspects({std::make_shared<RecordingAspect>("A", events), later,
                               std::make_shared<RecordingAspect>("C", events)})
                     .Build();
  absl::StatusOr<examples::IncResponse> r = counter->Inc(Inc("later", 3));
  later->Join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 3);
  EXPECT_THAT(events.Snapshot(), ElementsAre("A>", "C>", "<C value: 3", "<A value: 3"));
  EXPECT_EQ(log_.Of("Inc").size(), 1u);
  const std::set<std::thread::id> threads = later->proceeded_on();
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

TEST_F(RemotingTest, LoggingAspectLogsEachInvocationAndItsOutcome) {
  Events lines;
  auto logging =
      std::make_shared<LoggingAspect>([&](std::string_view line) { lines.Add(std::string(line)); });
  auto counter = ProxyBuilder<examples::Counter>(*client_).Aspects({logging}).Build();
  ASSERT_TRUE(counter->Inc(Inc("logged", 3)).ok());
  EXPECT_THAT(lines.Snapshot(), ElementsAre("Invoking: examples.Counter Inc", "Result: value: 3"));

  auto nowhere =
      ProxyBuilder<examples::Counter>(*client_).LookupName("nowhere").Aspects({logging}).Build();
  EXPECT_FALSE(nowhere->Inc(Inc("logged", 1)).ok());
  const std::vector<std::string> all = lines.Snapshot();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[2], "Invoking: nowhere Inc");
  EXPECT_THAT(all[3], HasSubstr("Failed: NOT_FOUND"));
}

TEST_F(RemotingTest, CachingAspectAnswersARepeatedReadFromTheCache) {
  auto cache = std::make_shared<CachingAspect>();
  auto counter = ProxyBuilder<examples::Counter>(*client_).Aspects({cache}).Build();
  ASSERT_TRUE(counter->Inc(Inc("cached", 5)).ok());
  EXPECT_EQ(ValueOf(counter->Get(Get("cached"))), 5);
  EXPECT_EQ(ValueOf(counter->Get(Get("cached"))), 5);
  EXPECT_EQ(log_.Of("Get").size(), 1u);
  EXPECT_EQ(cache->hits(), 1);
  // A different request is a different entry.
  EXPECT_EQ(ValueOf(counter->Get(Get("other"))), 0);
  EXPECT_EQ(log_.Of("Get").size(), 2u);
}

TEST_F(RemotingTest, CachingAspectNeverCachesWrites) {
  auto cache = std::make_shared<CachingAspect>();
  auto counter = ProxyBuilder<examples::Counter>(*client_).Aspects({cache}).Build();
  EXPECT_EQ(ValueOf(counter->Inc(Inc("written", 5))), 5);
  EXPECT_EQ(ValueOf(counter->Inc(Inc("written", 5))), 10);
  EXPECT_EQ(log_.Of("Inc").size(), 2u);
  EXPECT_EQ(cache->hits(), 0);
}

// ---------------------------------------------------------------------------------------------
// Server execution aspects

// Logs "N>" (with the method name as key) before the rest of the chain and "<N" after it.
class RecordingExecutionAspect final : public ExecutionAspect {
 public:
  RecordingExecutionAspect(std::string name, ExecutionLog& log)
      : name_(std::move(name)), log_(log) {}
  absl::Status Intercept(ServerInvocation& call) override {
    const std::string method(call.method().name);
    log_.Add({name_ + ">", call.context().member().id(), call.context().partition_id(), method});
    absl::Status status = call.Proceed();
    log_.Add({"<" + name_, call.context().member().id(), call.context().partition_id(), method});
    return status;
  }

 private:
  const std::string name_;
  ExecutionLog& log_;
};

// Answers Counter.Inc "short" with 42 and refuses Counter.Inc "refused"; proceeds otherwise.
class ShortCircuitAspect final : public ExecutionAspect {
 public:
  absl::Status Intercept(ServerInvocation& call) override {
    const auto* inc = dynamic_cast<const examples::IncRequest*>(&call.request());
    if (inc != nullptr && inc->name() == "short") {
      examples::IncResponse answer;
      answer.set_value(42);
      call.SetResponse(answer);
      return absl::OkStatus();
    }
    if (inc != nullptr && inc->name() == "refused") {
      return absl::FailedPreconditionError("refused by the aspect");
    }
    return call.Proceed();
  }
};

class ExecutionAspectTest : public RemotingTest {
 protected:
  ExecutionAspectTest() {
    execution_aspects_ = {std::make_shared<RecordingExecutionAspect>("A", log_),
                          std::make_shared<ShortCircuitAspect>(),
                          std::make_shared<RecordingExecutionAspect>("B", log_),
                          std::make_shared<RecordingExecutionAspect>("C", log_)};
  }
};

TEST_F(ExecutionAspectTest, AspectsRunInOrderAroundTheServiceOnTheOwner) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  ASSERT_EQ(ValueOf(counter->Inc(Inc("ordered", 1))), 1);
  EXPECT_THAT(LoggedMethods(), ElementsAre("A>", "B>", "C>", "Inc", "<C", "<B", "<A"));
  const int p = PartitionOfKey("ordered");
  for (const Execution& e : log_.Snapshot()) {
    EXPECT_EQ(e.partition, p) << e.method;
    EXPECT_EQ(e.member_id, OwnerOfPartition(p)) << e.method;
  }
}

TEST_F(ExecutionAspectTest, AspectAnswersWithItsOwnResponseWithoutTheService) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  absl::StatusOr<examples::IncResponse> r = counter->Inc(Inc("short", 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 42);
  EXPECT_THAT(LoggedMethods(), ElementsAre("A>", "<A"));
}

TEST_F(ExecutionAspectTest, AspectRefusesWithAnErrorWithoutTheService) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  EXPECT_THAT(counter->Inc(Inc("refused", 1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, "refused by the aspect"));
  EXPECT_THAT(LoggedMethods(), ElementsAre("A>", "<A"));
  EXPECT_EQ(ValueOf(counter->Get(Get("refused"))), 0);
}

class CredentialsTest : public RemotingTest {
 protected:
  CredentialsTest() {
    execution_aspects_ = {
        std::make_shared<CredentialsAspect>(CredentialsAspect::Tokens{{"alice", "s3cret"}})};
  }
  std::unique_ptr<examples::Counter::Proxy> CounterAs(std::string user, std::string token) {
    return ProxyBuilder<examples::Counter>(*client_)
        .MetaArguments(Credentials(std::move(user), std::move(token)))
        .Build();
  }
};

TEST_F(CredentialsTest, CallWithoutCredentialsIsUnauthenticatedAndDoesNotRun) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  EXPECT_THAT(counter->Inc(Inc("guarded", 1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("'user' and 'token'")));
  EXPECT_TRUE(log_.Of("Inc").empty());
}

TEST_F(CredentialsTest, CallWithAWrongTokenOrUserIsPermissionDeniedAndDoesNotRun) {
  EXPECT_THAT(CounterAs("alice", "guess")->Inc(Inc("guarded", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("'alice'")));
  EXPECT_THAT(CounterAs("mallory", "s3cret")->Inc(Inc("guarded", 1)),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("'mallory'")));
  EXPECT_TRUE(log_.Of("Inc").empty());
}

TEST_F(CredentialsTest, RefusalsLeaveTheMemberServingTheRightCredentials) {
  auto alice = CounterAs("alice", "s3cret");
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(ProxyBuilder<examples::Counter>(*client_).Build()->Inc(Inc("guarded", 1)).ok());
    ASSERT_FALSE(CounterAs("alice", "guess")->Inc(Inc("guarded", 1)).ok());
    absl::StatusOr<examples::IncResponse> r = alice->Inc(Inc("guarded", 10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value(), 10 * (i + 1));  // only the accepted increments counted
  }
  EXPECT_EQ(log_.Of("Inc").size(), 3u);
}

TEST_F(CredentialsTest, RefusedOneWayCallIsCountedNotReported) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  EXPECT_TRUE(gate->InspectOneWay(Key("k")).ok());
  EXPECT_TRUE(WaitUntil([&] { return OneWayFailures() == 1; }));
  EXPECT_TRUE(log_.Of("InspectOneWay").empty());
}

// ---------------------------------------------------------------------------------------------
// Call kinds

TEST_F(RemotingTest, ThenChainsTransformTheResultOfAnAsyncCall) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  absl::StatusOr<std::string> text =
      counter->IncAsync(Inc("chained", 21))
          .Then([](absl::StatusOr<examples::IncResponse> r) -> absl::StatusOr<int64_t> {
            if (!r.ok()) return r.status();
            return r->value() * 2;
          })
          .Then([](absl::StatusOr<int64_t> v) -> absl::StatusOr<std::string> {
            if (!v.ok()) return v.status();
            return absl::StrCat("=", *v);
          })
          .Get();
  EXPECT_EQ(text.value_or("error"), "=42");
}

TEST_F(RemotingTest, ThenHandsAFailedCallsErrorToTheContinuation) {
  auto nowhere = ProxyBuilder<examples::Counter>(*client_).LookupName("nowhere").Build();
  std::atomic<int> continuations{0};
  absl::StatusOr<int64_t> v =
      nowhere->IncAsync(Inc("chained", 1))
          .Then([&](absl::StatusOr<examples::IncResponse> r) -> absl::StatusOr<int64_t> {
            continuations.fetch_add(1);
            if (!r.ok()) return r.status();
            return r->value();
          })
          .Get();
  EXPECT_THAT(v, StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nowhere'")));
  EXPECT_EQ(continuations.load(), 1);
}

TEST_F(RemotingTest, ThenOnACompletedFutureRunsAtOnceOnTheCallingThread) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  Future<examples::IncResponse> f = counter->IncAsync(Inc("done", 4));
  ASSERT_TRUE(f.WaitFor(kWait));
  std::optional<std::thread::id> ran_on;
  int64_t value = -1;
  std::move(f).Then([&](absl::StatusOr<examples::IncResponse> r) {
    ran_on = std::this_thread::get_id();
    value = r.ok() ? r->value() : -2;
  });
  ASSERT_TRUE(ran_on.has_value());
  EXPECT_EQ(*ran_on, std::this_thread::get_id());
  EXPECT_EQ(value, 4);
}

TEST_F(RemotingTest, CallbackFormDeliversResultsAndErrors) {
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  auto nowhere = ProxyBuilder<examples::Counter>(*client_).LookupName("nowhere").Build();
  absl::Notification ok_done, error_done;
  absl::StatusOr<examples::IncResponse> ok_result, error_result;
  counter->IncAsync(Inc("called", 6), [&](absl::StatusOr<examples::IncResponse> r) {
    ok_result = std::move(r);
    ok_done.Notify();
  });
  nowhere->IncAsync(Inc("called", 6), [&](absl::StatusOr<examples::IncResponse> r) {
    error_result = std::move(r);
    error_done.Notify();
  });
  ASSERT_TRUE(ok_done.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(error_done.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(ok_result.ok()) << ok_result.status();
  EXPECT_EQ(ok_result->value(), 6);
  EXPECT_THAT(error_result, StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nowhere'")));
}

TEST_F(RemotingTest, ManyCallsInFlightFromOneThreadAllCompleteOnTheirOwners) {
  constexpr int kKeys = 30;
  constexpr int kCallsPerKey = 10;
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  std::atomic<int> completed{0}, failed{0};
  absl::Notification all_done;
  for (int round = 0; round < kCallsPerKey; ++round) {
    for (int k = 0; k < kKeys; ++k) {
      counter->IncAsync(Inc(absl::StrCat("key-", k), 1),
                        [&](absl::StatusOr<examples::IncResponse> r) {
                          if (!r.ok()) failed.fetch_add(1);
                          if (completed.fetch_add(1) + 1 == kKeys * kCallsPerKey) {
                            all_done.Notify();
                          }
                        });
    }
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(failed.load(), 0);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(ValueOf(counter->Get(Get(absl::StrCat("key-", k)))), kCallsPerKey) << k;
  }
  const std::vector<Execution> incs = log_.Of("Inc");
  EXPECT_EQ(incs.size(), size_t{kKeys * kCallsPerKey});
  std::set<std::string> members;
  for (const Execution& e : incs) {
    EXPECT_EQ(e.member_id, OwnerOfPartition(PartitionOfKey(e.key))) << e.key;
    members.insert(e.member_id);
  }
  EXPECT_EQ(members.size(), 3u);
}

TEST_F(RemotingTest, CancelEndsACallBlockedInTheServiceWithCancelled) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  Future<KeyResponse> blocked = gate->BlockAsync(Key("stuck"));
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  EXPECT_FALSE(blocked.ready());
  const absl::Time cancelled_at = absl::Now();
  blocked.Cancel();
  ASSERT_TRUE(blocked.WaitFor(kWait));
  EXPECT_LT(absl::Now() - cancelled_at, kWait);
  EXPECT_THAT(std::move(blocked).Get(), StatusIs(absl::StatusCode::kCancelled, ::testing::_));
  // The member still serves other partitions meanwhile.
  ASSERT_NE(PartitionOfKey("elsewhere"), PartitionOfKey("stuck"));
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  EXPECT_TRUE(counter->Inc(Inc("elsewhere", 1)).ok());
}

// gRPC delivers a handler's answer only once the handler returns: a one-way method must run
// elsewhere (a regression test: it once ran inline after the answer, holding it back).
TEST_F(RemotingTest, OneWayCallReturnsWhileTheMethodStillRuns) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  CallOptions options;
  options.timeout = absl::Seconds(5);  // waiting for the method would end DEADLINE_EXCEEDED
  EXPECT_THAT(gate->BlockOneWay(Key("fire"), options), StatusIs(absl::StatusCode::kOk, ""));
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  EXPECT_TRUE(log_.Of("BlockOneWay done").empty());

  gate_.Open("fire");
  ASSERT_TRUE(WaitUntil([&] { return log_.Of("BlockOneWay done").size() == 1; }));
  const std::vector<Execution> runs = log_.Of("BlockOneWay");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].member_id, OwnerOfPartition(PartitionOfKey("fire")));
  EXPECT_EQ(OneWayFailures(), 0);
}

// As above: the answer must not wait for the method, even when the method fails.
TEST_F(RemotingTest, OneWayMethodErrorIsCountedButNeverReachesTheCaller) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  CallOptions options;
  options.timeout = absl::Seconds(5);
  EXPECT_THAT(gate->BlockOneWay(Key("doomed", /*fail=*/true), options),
              StatusIs(absl::StatusCode::kOk, ""));
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  EXPECT_EQ(OneWayFailures(), 0);  // the method has not failed yet: the caller has moved on
  gate_.Open("doomed");
  EXPECT_TRUE(WaitUntil([&] { return OneWayFailures() == 1; }));
  EXPECT_EQ(log_.Of("BlockOneWay done").size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Deadlines

TEST_F(RemotingTest, PerCallTimeoutEndsASlowCall) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_THAT(gate->Block(Key("slow"), options),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_LT(absl::Now() - start, kDeadlineBound);
  EXPECT_EQ(log_.Of("Block").size(), 1u);  // it did reach the method
}

TEST_F(RemotingTest, ProxyTimeoutEndsASlowCall) {
  auto gate = ProxyBuilder<Gate>(*client_).Timeout(absl::Milliseconds(300)).Build();
  const absl::Time start = absl::Now();
  EXPECT_THAT(gate->Block(Key("slow")),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_LT(absl::Now() - start, kDeadlineBound);
  EXPECT_EQ(log_.Of("Block").size(), 1u);
}

TEST_F(RemotingTest, ContractTimeoutEndsASlowCall) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  const absl::Time start = absl::Now();
  EXPECT_THAT(gate->BlockWithDeadline(Key("slow")),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_LT(absl::Now() - start, kDeadlineBound);
  EXPECT_EQ(log_.Of("BlockWithDeadline").size(), 1u);
}

TEST_F(RemotingTest, PerCallTimeoutOverridesTheContractTimeout) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  CallOptions options;
  options.timeout = absl::Seconds(15);
  Future<KeyResponse> f = gate->BlockWithDeadlineAsync(Key("patient"), options);
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  // Well past the contract's 300 ms, the call is still waiting for the method.
  EXPECT_FALSE(f.WaitFor(absl::Seconds(1)));
  gate_.Open("patient");
  ASSERT_TRUE(f.WaitFor(kWait));
  absl::StatusOr<KeyResponse> r = std::move(f).Get();
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(RemotingTest, CallQueuedBehindABusyPartitionNeverRunsOnceItsDeadlinePassed) {
  // Counter.Inc and Gate.Block with the same key share a partition.
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  Future<KeyResponse> holder = gate->BlockAsync(Key("busy"));
  ASSERT_TRUE(gate_.AwaitArrivals(1));

  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  EXPECT_THAT(counter->Inc(Inc("busy", 1), options),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_LT(absl::Now() - start, kDeadlineBound);
  // Time for the member to notice (its deadline is the caller's plus the transit time). Noticing
  // late is the next test's subject.
  absl::SleepFor(absl::Milliseconds(200));

  gate_.Open("busy");
  ASSERT_TRUE(holder.WaitFor(kWait));
  EXPECT_TRUE(std::move(holder).Get().ok());
  // Queued behind the late Inc, if that is still there: it has had its turn when this answers.
  EXPECT_EQ(ValueOf(counter->Inc(Inc("busy", 10))), 10);
  EXPECT_EQ(log_.Of("Inc").size(), 1u);
}

// gRPC marks a call cancelled (ServerContext::IsCancelled) on one of its callback threads; when
// they are all busy (two on this machine: one holds the partition, one is held below), only the
// call's deadline tells the member it is over. A regression test: the member once ran it.
TEST_F(RemotingTest, QueuedCallPastItsDeadlineNeverRunsEvenWhenEveryServerThreadIsBusy) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  Future<KeyResponse> holder = gate->BlockAsync(Key("busy"));
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  Future<examples::IncResponse> late = counter->IncAsync(Inc("busy", 1), options);
  // An answer from the same member after the late call was sent: it has most likely reached the
  // partition's queue (if not, it reaches the idle partition after its deadline: the same test).
  ASSERT_TRUE(counter->Inc(Inc(KeyBeside("busy", /*same_member=*/true), 1)).ok());
  ASSERT_NE(PartitionOfKey("occupier"), PartitionOfKey("busy"));
  Future<KeyResponse> occupier = gate->BlockAsync(Key("occupier"));
  ASSERT_TRUE(gate_.AwaitArrivals(2));
  absl::SleepFor(absl::Milliseconds(400));  // the late call's deadline passes meanwhile

  gate_.Open("busy");
  ASSERT_TRUE(holder.WaitFor(kWait));
  gate_.Open("occupier");
  ASSERT_TRUE(occupier.WaitFor(kWait));
  ASSERT_TRUE(late.WaitFor(kWait));
  EXPECT_THAT(std::move(late).Get(), StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  for (const Execution& e : log_.Of("Inc")) {
    EXPECT_NE(e.key, "busy") << "the Inc ran after its deadline";
  }
  EXPECT_EQ(ValueOf(counter->Inc(Inc("busy", 10))), 10);
}

// The thread that runs a call inline must not go on to run what queued up behind it: gRPC sends
// the first call's answer only when that thread returns (a regression test).
TEST_F(RemotingTest, AnswerDoesNotWaitForCallsQueuedBehindIt) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();
  KeyRequest first = Key("line");
  first.set_gate("first");
  KeyRequest second = Key("line");  // same partition
  second.set_gate("second");
  Future<KeyResponse> running = gate->BlockAsync(first);
  ASSERT_TRUE(gate_.AwaitArrivals(1));
  Future<KeyResponse> queued = gate->BlockAsync(second);
  // The second call has most likely reached its partition's queue when a later call to the
  // same member has been answered; there is no direct signal of a queued call.
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
  ASSERT_TRUE(counter->Inc(Inc(KeyBeside("line", /*same_member=*/true), 1)).ok());

  gate_.Open("first");
  ASSERT_TRUE(gate_.AwaitArrivals(2));  // the first call is done: the second one holds now
  EXPECT_TRUE(running.WaitFor(absl::Seconds(5)))
      << "the first call's answer waits for the call queued behind it";
  EXPECT_FALSE(queued.ready());
  gate_.Open("second");
  ASSERT_TRUE(running.WaitFor(kWait));
  ASSERT_TRUE(queued.WaitFor(kWait));
  EXPECT_TRUE(std::move(running).Get().ok());
  EXPECT_TRUE(std::move(queued).Get().ok());
}

// ---------------------------------------------------------------------------------------------
// Services hosted side by side

// A mutating call of a service without backups must not take a sequence number of the
// partition, or the next backed-up call of another service there reaches its backup with a
// gap and waits out a resync (a regression test).
TEST_F(RemotingTest, WriteWithoutBackupsLeavesAnotherServicesBackupsInSequence) {
  auto gate = ProxyBuilder<Gate>(*client_).Build();  // the Gate contract has no backups
  auto counter = ProxyBuilder<examples::Counter>(*client_).Build();  // one sync backup
  ASSERT_TRUE(gate->Inspect(Key("neighbours")).ok());
  ASSERT_TRUE(counter->Inc(Inc("neighbours", 1)).ok());
  int64_t resyncs = 0;
  for (int i = 0; i < cluster_->size(); ++i) resyncs += cluster_->member(i).resyncs();
  EXPECT_EQ(resyncs, 0);
}

}  // namespace
}  // namespace gridrpc::testing
