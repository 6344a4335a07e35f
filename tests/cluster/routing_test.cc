// Calls reach the member owning their partition: sync, async and callback; keyed, nested-keyed
// and keyless; through a smart client that follows table changes.
#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "cluster/cluster_fixture.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/wire.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ClusterTest, SeedCounterScenarioRunsEachIncOnItsOwner) {
  const auto table = cluster_->partition_table();
  for (int round = 1; round <= 2; ++round) {
    for (int k = 0; k < 4; ++k) {
      const std::string name = std::to_string(k) + "counter";
      absl::StatusOr<examples::IncResponse> r = counter_->Inc(Inc(name, 1));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->value(), round) << name;
    }
  }
  const std::vector<Execution> incs = log_.Of("Inc");
  ASSERT_EQ(incs.size(), 8u);
  for (const Execution& e : incs) {
    const int p = PartitionOf(KeyHash(e.key), table->partition_count());
    EXPECT_EQ(e.partition, p) << e.key;
    EXPECT_EQ(e.member_id, table->member(table->Owner(p)).id()) << e.key;
  }
}

TEST_F(ClusterTest, EveryMemberServesItsShareOfKeys) {
  std::map<std::string, int> per_member;
  for (int i = 0; i < 90; ++i) {
    ASSERT_TRUE(counter_->Inc(Inc("key" + std::to_string(i), 1)).ok());
  }
  for (const Execution& e : log_.Of("Inc")) {
    ++per_member[e.member_id];
    EXPECT_EQ(e.member_id, OwnerOf(e.key).id()) << e.key;
  }
  EXPECT_EQ(per_member.size(), 3u);
}

TEST_F(ClusterTest, AsyncFuturesAndCallbacksWithManyCallsInFlight) {
  constexpr int kCalls = 200;
  std::vector<Future<examples::IncResponse>> futures;
  for (int i = 0; i < kCalls; ++i) futures.push_back(counter_->IncAsync(Inc("hot", 1)));
  std::set<int64_t> values;
  for (auto& f : futures) {
    absl::StatusOr<examples::IncResponse> r = std::move(f).Get();
    ASSERT_TRUE(r.ok()) << r.status();
    values.insert(r->value());
  }
  // Every increment ran exactly once: the answers are 1..kCalls, each once.
  EXPECT_EQ(values.size(), size_t{kCalls});
  EXPECT_EQ(*values.begin(), 1);
  EXPECT_EQ(*values.rbegin(), kCalls);

  absl::Notification called;
  int64_t seen = 0;
  counter_->IncAsync(Inc("hot", 10), [&](absl::StatusOr<examples::IncResponse> r) {
    seen = r.ok() ? r->value() : -1;
    called.Notify();
  });
  ASSERT_TRUE(called.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(seen, kCalls + 10);

  absl::StatusOr<int64_t> doubled =
      counter_->IncAsync(Inc("hot", 0))
          .Then([](absl::StatusOr<examples::IncResponse> r) -> absl::StatusOr<int64_t> {
            if (!r.ok()) return r.status();
            return r->value() * 2;
          })
          .Get();
  EXPECT_EQ(doubled.value_or(-1), 2 * (kCalls + 10));
}

TEST_F(ClusterTest, NestedRoutingPathRoutesByDocumentId) {
  auto search = ProxyBuilder<examples::SearchService>(*client_).Build();
  for (const char* id : {"doc-1", "doc-2", "doc-3", "doc-4"}) {
    examples::IndexRequest request;
    request.mutable_document()->set_id(id);
    request.mutable_document()->set_text("grid computing");
    ASSERT_TRUE(search->Index(request).ok());
  }
  const auto table = cluster_->partition_table();
  const std::vector<Execution> indexed = log_.Of("Index");
  ASSERT_EQ(indexed.size(), 4u);
  for (const Execution& e : indexed) {
    EXPECT_EQ(e.partition, PartitionOf(KeyHash(e.key), table->partition_count()));
    EXPECT_EQ(e.member_id, OwnerOf(e.key).id());
  }
  // The proxy refuses a request whose routing path runs through an unset message.
  EXPECT_THAT(search->Index(examples::IndexRequest()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'document'")));
}

TEST_F(ClusterTest, RoutingByAPlainFieldPathReachesTheDataTypeOwner) {
  auto processor = ProxyBuilder<examples::DataProcessor>(*client_).Build();
  examples::Data data;
  data.set_data_type("orders");
  data.set_payload("x");
  absl::StatusOr<examples::Data> r = processor->ProcessData(data);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->processed());
  EXPECT_EQ(r->payload(), "x");
}

TEST_F(ClusterTest, KeylessCallsSpreadOverPartitionsAndMembers) {
  auto simple = ProxyBuilder<examples::SimpleService>(*client_).Build();
  for (int i = 0; i < 200; ++i) {
    examples::CalcRequest calc;
    calc.set_value1(i);
    calc.set_value2(1);
    absl::StatusOr<examples::CalcResponse> r = simple->Calc(calc);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->result(), i + 1);
  }
  std::set<int> partitions;
  std::set<std::string> members;
  const auto table = cluster_->partition_table();
  for (const Execution& e : log_.Of("Calc")) {
    partitions.insert(e.partition);
    members.insert(e.member_id);
    EXPECT_EQ(e.member_id, table->member(table->Owner(e.partition)).id());
  }
  // 200 uniform draws over 271 partitions hit ~141 distinct ones; 100 is far in the tail.
  EXPECT_GT(partitions.size(), 100u);
  EXPECT_EQ(members.size(), 3u);
}

TEST_F(ClusterTest, OneWayCallReturnsOkEvenWhenTheMethodFails) {
  auto simple = ProxyBuilder<examples::SimpleService>(*client_).Build();
  examples::PrintRequest print;
  print.set_msg("");  // SimpleServiceImpl::Print fails on an empty message
  EXPECT_TRUE(simple->Print(print).ok());
  print.set_msg("hello");
  EXPECT_TRUE(simple->Print(print).ok());
  // One-way methods run after the answer: wait for them.
  auto failures = [&] {
    int64_t total = 0;
    for (int i = 0; i < cluster_->size(); ++i) total += cluster_->member(i).one_way_failures();
    return total;
  };
  EXPECT_TRUE(WaitUntil([&] { return failures() == 1 && log_.Of("Print").size() == 2u; }));
  EXPECT_EQ(failures(), 1);
}

TEST_F(ClusterTest, NonOwnerRefusesAForwardedCallWithoutRunningIt) {
  ASSERT_TRUE(counter_->Inc(Inc("guarded", 5)).ok());
  const int p = PartitionOf(KeyHash(std::string_view("guarded")), kDefaultPartitionCount);
  Member& stranger = NonOwnerOf("guarded");
  // A call another member forwarded already is never forwarded again: members with tables
  // that disagree must not bounce it around.
  RawResult r = RawCall(
      stranger.InProcessChannel(), "/examples.Counter/Inc", Inc("guarded", 1).SerializeAsString(),
      {{internal::kPartitionKey, std::to_string(p)}, {internal::kForwardedKey, "1"}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("partition " + std::to_string(p) + " is not owned by member"));
  EXPECT_EQ(r.trailers.count(internal::kWrongOwnerKey), 1u);
  EXPECT_EQ(log_.Of("Inc").size(), 1u);
  EXPECT_EQ(CounterValue("guarded"), 5);
}

TEST_F(ClusterTest, NonOwnerForwardsAPlainCallToTheOwner) {
  RawResult r = RawCall(NonOwnerOf("relay").InProcessChannel(), "/examples.Counter/Inc",
                        Inc("relay", 4).SerializeAsString());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  examples::IncResponse response;
  ASSERT_TRUE(response.ParseFromString(r.response));
  EXPECT_EQ(response.value(), 4);
  EXPECT_EQ(r.trailers.count(internal::kTableVersionKey), 1u);  // "your table is behind"
  const std::vector<Execution> incs = log_.Of("Inc");
  ASSERT_EQ(incs.size(), 1u);
  EXPECT_EQ(incs[0].member_id, OwnerOf("relay").id());
}

TEST_F(ClusterTest, UnisocketClientReachesEveryOwnerThroughOneMember) {
  Member& gateway = cluster_->member(0);
  absl::StatusOr<std::unique_ptr<Client>> unisocket =
      Client::Create({.members = {gateway.address()}, .smart_routing = false});
  ASSERT_TRUE(unisocket.ok()) << unisocket.status();
  auto counter = ProxyBuilder<examples::Counter>(**unisocket).Build();
  std::set<std::string> owners;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "uni" + std::to_string(i);
    absl::StatusOr<examples::IncResponse> r = counter->Inc(Inc(key, 1));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->value(), 1);
    owners.insert(OwnerOf(key).id());
  }
  EXPECT_EQ(owners.size(), 3u);  // keys owned by all three members...
  for (const Execution& e : log_.Of("Inc")) {
    EXPECT_EQ(e.member_id, OwnerOf(e.key).id()) << e.key;  // ...each ran on its owner
  }
}

TEST_F(ClusterTest, PlainGrpcCallWithoutMetadataIsRoutedByTheMember) {
  RawResult r = RawCall(OwnerOf("plain").InProcessChannel(), "/examples.Counter/Inc",
                        Inc("plain", 3).SerializeAsString());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  examples::IncResponse response;
  ASSERT_TRUE(response.ParseFromString(r.response));
  EXPECT_EQ(response.value(), 3);
  EXPECT_EQ(CounterValue("plain"), 3);
}

TEST_F(ClusterTest, SmartClientFollowsANewPartitionTable) {
  ASSERT_TRUE(counter_->Inc(Inc("mover", 1)).ok());
  // Rotate ownership: every partition gets a new primary, as after a rebalance. (Moving the
  // state with it is migration, a later issue: the counter starts over on its new owner.)
  const auto old_table = cluster_->partition_table();
  std::vector<v1::MemberInfo> rotated;
  for (int i = 1; i <= cluster_->size(); ++i) {
    rotated.push_back(old_table->member(i % cluster_->size()));
  }
  auto new_table = std::make_shared<const PartitionTable>(
      PartitionTable::Plan("dev", 2, rotated, kDefaultPartitionCount, 1));
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->member(i).InstallPartitionTable(new_table).ok());
  }
  EXPECT_EQ(client_->partition_table()->version(), 1);

  // The old owner forwards the call to the new one and says its table is newer; the client
  // reloads in the background.
  absl::StatusOr<examples::IncResponse> r = counter_->Inc(Inc("mover", 1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(WaitUntil([&] { return client_->partition_table()->version() == 2; }));
  const int p = PartitionOf(KeyHash(std::string_view("mover")), kDefaultPartitionCount);
  const std::vector<Execution> incs = log_.Of("Inc");
  ASSERT_EQ(incs.size(), 2u);
  EXPECT_EQ(incs[0].member_id, old_table->member(old_table->Owner(p)).id());
  EXPECT_EQ(incs[1].member_id, new_table->member(new_table->Owner(p)).id());
  EXPECT_NE(incs[0].member_id, incs[1].member_id);
}

// Members that take a table request, hold it a while and refuse it, counting how many they
// hold at once: down or paused members, as a client's reload meets them.
class SlowRefusers final : public v1::Cluster::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetPartitionTable(grpc::CallbackServerContext* context,
                                              const v1::GetPartitionTableRequest*,
                                              v1::PartitionTable*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
    grpc::Alarm& alarm = *alarms_.emplace_back(std::make_unique<grpc::Alarm>());
    alarm.Set(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)), [this, reactor](bool) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --in_flight_;
      }
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
    });
    return reactor;
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  int max_in_flight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_in_flight_;
  }

 private:
  mutable std::mutex mu_;
  int calls_ = 0;
  int in_flight_ = 0;
  int max_in_flight_ = 0;
  std::vector<std::unique_ptr<grpc::Alarm>> alarms_;
};

// A reload asks a few members at a time, not every member at once (each client's reload would
// reach the whole cluster), and still ends with the table of a member that answers when the
// first waves meet only members that do not.
TEST_F(ClusterTest, AReloadAsksAFewMembersAtATimeUntilOneAnswers) {
  SlowRefusers refusers;
  grpc::ServerBuilder builder;
  constexpr int kRefusers = 7;
  std::vector<int> ports(kRefusers);
  for (int& port : ports) {
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  }
  builder.RegisterService(&refusers);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ClientOptions options;
  for (int i = 0; i < cluster_->size(); ++i)
    options.members.push_back(cluster_->member(i).address());
  for (int port : ports) options.members.push_back(absl::StrCat("127.0.0.1:", port));
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ(refusers.calls(), 0);  // the table came from the first address, a member
  auto counter = ProxyBuilder<examples::Counter>(**client).Build();

  // Version 2, which only a reload brings (the cluster may commit newer ones meanwhile).
  v1::PartitionTable staged = cluster_->partition_table()->proto();
  staged.set_version(2);
  auto next = std::make_shared<const PartitionTable>(*PartitionTable::FromProto(staged));
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->member(i).InstallPartitionTable(next).ok());
  }
  // A call that times out makes the client reload. Each round of reloads may start with
  // refusers only (the order is random); the client ends up with version 2 all the same.
  CallOptions instant;
  instant.timeout = absl::Microseconds(1);
  for (int round = 0; round < 20 && (*client)->partition_table()->version() < 2; ++round) {
    EXPECT_FALSE(counter->Inc(Inc("reload", 1), instant).ok());
    WaitUntil([&] { return (*client)->partition_table()->version() >= 2; }, absl::Seconds(2));
  }
  EXPECT_GE((*client)->partition_table()->version(), 2);
  // A member's answer can end the reload before the calls to the others (on new channels) even
  // arrived: give those time to arrive, well within the time the refusers hold them.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_LE(refusers.max_in_flight(), 3)  // ClientState::kRefreshWave
      << "of " << refusers.calls() << " calls";
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

// A paused member (SIGSTOP, a hung host) accepts connections and answers nothing: calls to it
// time out. Meanwhile the cluster replaced it; the timeout makes the client reload its table,
// so the next calls go to the new owner instead of timing out too.
TEST_F(ClusterTest, ACallThatTimesOutMakesTheClientReloadItsTable) {
  // A server that takes every call and never answers: the paused member.
  grpc::AsyncGenericService black_hole;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterAsyncGenericService(&black_hole);
  std::unique_ptr<grpc::ServerCompletionQueue> queue = builder.AddCompletionQueue();
  std::unique_ptr<grpc::Server> paused = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  grpc::GenericServerContext pending_context;
  grpc::GenericServerAsyncReaderWriter pending_stream(&pending_context);
  black_hole.RequestCall(&pending_context, &pending_stream, queue.get(), queue.get(), nullptr);

  // Version 2: the client learns that member 0 lives at the black hole's address.
  const auto table = cluster_->partition_table();
  v1::PartitionTable staged = table->proto();
  staged.set_version(2);
  staged.mutable_members(0)->set_address(absl::StrCat("127.0.0.1:", port));
  auto stale = std::make_shared<const PartitionTable>(*PartitionTable::FromProto(staged));
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->member(i).InstallPartitionTable(stale).ok());
  }
  ASSERT_TRUE(client_->RefreshPartitionTable().ok());
  ASSERT_EQ(client_->partition_table()->version(), 2);
  // Version 3: the member is back where it was (the cluster replaced the paused one).
  staged.set_version(3);
  *staged.mutable_members(0) = table->member(0);
  auto current = std::make_shared<const PartitionTable>(*PartitionTable::FromProto(staged));
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->member(i).InstallPartitionTable(current).ok());
  }

  std::string key;
  for (int i = 0; key.empty(); ++i) {
    const std::string k = absl::StrCat("paused", i);
    const int p = PartitionOf(KeyHash(std::string_view(k)), kDefaultPartitionCount);
    if (table->Owner(p) == 0) key = k;
  }
  CallOptions options;
  options.timeout = absl::Milliseconds(300);
  EXPECT_THAT(counter_->Inc(Inc(key, 1), options),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_TRUE(WaitUntil([&] { return client_->partition_table()->version() == 3; }));
  absl::StatusOr<examples::IncResponse> r = counter_->Inc(Inc(key, 1), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 1);  // the first one never reached a member

  paused->Shutdown(absl::ToChronoTime(absl::Now()));
  queue->Shutdown();
  void* tag;
  bool ok;
  while (queue->Next(&tag, &ok)) {
  }
}

TEST_F(ClusterTest, ReadOnlyCallsRetryUntilTheirDeadlineOthersFailFast) {
  cluster_->Shutdown();
  CallOptions options;
  options.timeout = absl::Milliseconds(500);
  // Get is read-only, so safe to retry: it keeps trying until its own deadline.
  examples::GetRequest get;
  get.set_name("late");
  EXPECT_THAT(counter_->Get(get, options),
              StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  // Inc might have run before a connection broke, so it is not retried behind the caller's back.
  EXPECT_THAT(counter_->Inc(Inc("late", 1), options),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

}  // namespace
}  // namespace gridrpc::testing
