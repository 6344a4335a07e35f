// EtcdClient against a real etcd: keys, transactions, leases, watches, connection failures.
#include "cluster/etcd_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "test_util.h"
#include "testing/etcd_server.h"

namespace gridrpc::internal {
namespace {

using ::gridrpc::testing::EtcdServer;
using ::gridrpc::testing::StatusIs;
using ::gridrpc::testing::WaitUntil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What a watch reported. Thread-safe.
class WatchLog {
 public:
  void OnEvents(const std::vector<EtcdEvent>& events, int64_t revision) {
    absl::MutexLock lock(&mu_);
    for (const EtcdEvent& e : events) {
      // The batch's revision covers every event in it.
      EXPECT_GE(revision, e.kv.mod_revision);
      events_.push_back(e);
    }
  }
  void OnError(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    errors_.push_back(status);
  }
  std::vector<EtcdEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<absl::Status> errors() const {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

  std::unique_ptr<EtcdWatch> Watch(EtcdClient& client, const std::string& prefix,
                                   int64_t start_revision) {
    return client.WatchPrefix(
        prefix, start_revision,
        [this](const std::vector<EtcdEvent>& events, int64_t revision) {
          OnEvents(events, revision);
        },
        [this](const absl::Status& status) { OnError(status); });
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<EtcdEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Status> errors_ ABSL_GUARDED_BY(mu_);
};

// "put k=v" or "delete k", keys relative to the test's prefix.
std::vector<std::string> Describe(const std::vector<EtcdEvent>& events, const std::string& prefix) {
  std::vector<std::string> out;
  for (const EtcdEvent& e : events) {
    const std::string key = e.kv.key.substr(prefix.size());
    out.push_back(e.type == EtcdEvent::Type::kPut ? "put " + key + "=" + e.kv.value
                                                  : "delete " + key);
  }
  return out;
}

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<EtcdServer>> server = EtcdServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "etcd did not start";
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Connect({server_->endpoint()});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    // Each test works under its own prefix of the shared etcd.
    prefix_ = absl::StrCat("/test/",
                           ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }

  std::optional<EtcdKeyValue> Get(const std::string& key) {
    absl::StatusOr<std::optional<EtcdKeyValue>> kv = client_->Get(key);
    EXPECT_TRUE(kv.ok()) << kv.status();
    return kv.ok() ? *kv : std::nullopt;
  }

  inline static std::unique_ptr<EtcdServer> server_;
  std::unique_ptr<EtcdClient> client_;
  std::string prefix_;
};

TEST_F(EtcdClientTest, PutGetAndPrefix) {
  absl::StatusOr<int64_t> rev_a = client_->Put(prefix_ + "a", "1");
  ASSERT_TRUE(rev_a.ok()) << rev_a.status();
  absl::StatusOr<int64_t> rev_b = client_->Put(prefix_ + "b", "2");
  ASSERT_TRUE(rev_b.ok()) << rev_b.status();
  EXPECT_GT(*rev_b, *rev_a);
  ASSERT_TRUE(client_->Put(prefix_ + "c/d", "3").ok());
  // Just past the prefix: "/test/Name0" sorts after "/test/Name/..." and is not in it.
  ASSERT_TRUE(client_->Put(prefix_.substr(0, prefix_.size() - 1) + "0", "outside").ok());

  int64_t read_at = 0;
  absl::StatusOr<std::optional<EtcdKeyValue>> a = client_->Get(prefix_ + "a", &read_at);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->value, "1");
  EXPECT_EQ((*a)->create_revision, *rev_a);
  EXPECT_EQ((*a)->mod_revision, *rev_a);
  EXPECT_EQ((*a)->lease, 0);
  EXPECT_GE(read_at, *rev_b);
  EXPECT_EQ(Get(prefix_ + "missing"), std::nullopt);

  absl::StatusOr<std::vector<EtcdKeyValue>> all = client_->GetPrefix(prefix_, &read_at);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> keys;
  for (const EtcdKeyValue& kv : *all)
    keys.push_back(kv.key.substr(prefix_.size()) + "=" + kv.value);
  EXPECT_THAT(keys, ElementsAre("a=1", "b=2", "c/d=3"));

  // A prefix ending in 0xff ends at the next byte up.
  ASSERT_TRUE(client_->Put(prefix_ + "\xff" + "x", "ff").ok());
  absl::StatusOr<std::vector<EtcdKeyValue>> ff = client_->GetPrefix(prefix_ + "\xff");
  ASSERT_TRUE(ff.ok()) << ff.status();
  ASSERT_EQ(ff->size(), 1u);
  EXPECT_EQ((*ff)[0].value, "ff");

  ASSERT_TRUE(client_->Delete(prefix_ + "a").ok());
  EXPECT_EQ(Get(prefix_ + "a"), std::nullopt);
  EXPECT_TRUE(client_->Delete(prefix_ + "a").ok()) << "deleting a missing key is fine";
}

TEST_F(EtcdClientTest, TxnCreatesOnlyIfAbsent) {
  const std::string key = prefix_ + "owner";
  int64_t revision = 0;
  absl::StatusOr<bool> first = client_->Txn({EtcdCompare::CreateRevision(key, 0)},
                                            {EtcdOp::Put(key, "first")}, {}, &revision);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  EXPECT_GT(revision, 0);

  absl::StatusOr<bool> second =
      client_->Txn({EtcdCompare::CreateRevision(key, 0)}, {EtcdOp::Put(key, "second")},
                   {EtcdOp::Put(prefix_ + "lost", "yes")});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);
  EXPECT_EQ(Get(key)->value, "first");
  ASSERT_TRUE(Get(prefix_ + "lost").has_value()) << "else_ops run when a compare fails";
  EXPECT_EQ(Get(prefix_ + "lost")->value, "yes");
}

TEST_F(EtcdClientTest, ModRevisionFencesStaleWriters) {
  const std::string key = prefix_ + "table";
  absl::StatusOr<int64_t> v1 = client_->Put(key, "v1");
  ASSERT_TRUE(v1.ok()) << v1.status();

  int64_t v2 = 0;
  absl::StatusOr<bool> fresh =
      client_->Txn({EtcdCompare::ModRevision(key, *v1)}, {EtcdOp::Put(key, "v2")}, {}, &v2);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(*fresh);
  EXPECT_GT(v2, *v1);

  // A writer still holding v1's revision loses.
  absl::StatusOr<bool> stale =
      client_->Txn({EtcdCompare::ModRevision(key, *v1)}, {EtcdOp::Put(key, "v3")});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_FALSE(*stale);
  EXPECT_EQ(Get(key)->value, "v2");
  EXPECT_EQ(Get(key)->mod_revision, v2);

  // Value compares, and a delete op.
  absl::StatusOr<bool> wrong_value =
      client_->Txn({EtcdCompare::Value(key, "v1")}, {EtcdOp::Delete(key)});
  ASSERT_TRUE(wrong_value.ok()) << wrong_value.status();
  EXPECT_FALSE(*wrong_value);
  absl::StatusOr<bool> right_value =
      client_->Txn({EtcdCompare::Value(key, "v2")}, {EtcdOp::Delete(key)});
  ASSERT_TRUE(right_value.ok()) << right_value.status();
  EXPECT_TRUE(*right_value);
  EXPECT_EQ(Get(key), std::nullopt);
}

TEST_F(EtcdClientTest, RevokingALeaseDeletesItsKeys) {
  absl::StatusOr<int64_t> lease = client_->GrantLease(absl::Seconds(30));
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(client_->Put(prefix_ + "member", "addr", *lease).ok());
  ASSERT_TRUE(Get(prefix_ + "member").has_value());
  EXPECT_EQ(Get(prefix_ + "member")->lease, *lease);

  ASSERT_TRUE(client_->RevokeLease(*lease).ok());
  EXPECT_EQ(Get(prefix_ + "member"), std::nullopt);
  EXPECT_THAT(client_->Put(prefix_ + "member", "addr", *lease),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("Put of")));
  EXPECT_THAT(client_->RevokeLease(*lease),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("LeaseRevoke")));
}

TEST_F(EtcdClientTest, ALeaseNotKeptAliveExpires) {
  absl::StatusOr<int64_t> lease = client_->GrantLease(absl::Seconds(1));
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(client_->Put(prefix_ + "member", "addr", *lease).ok());
  EXPECT_TRUE(WaitUntil([&] { return !Get(prefix_ + "member").has_value(); }, absl::Seconds(10)));
}

TEST_F(EtcdClientTest, AKeptAliveLeaseSurvivesItsTtl) {
  absl::StatusOr<int64_t> lease = client_->GrantLease(absl::Seconds(1));
  ASSERT_TRUE(lease.ok()) << lease.status();
  std::atomic<int> lost = 0;
  ASSERT_TRUE(client_->KeepAlive(*lease, absl::Seconds(1), [&] { ++lost; }).ok());
  EXPECT_THAT(client_->KeepAlive(*lease, absl::Seconds(1), [] {}),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already")));
  ASSERT_TRUE(client_->Put(prefix_ + "member", "addr", *lease).ok());

  absl::SleepFor(absl::Seconds(3));  // longer than the TTL etcd granted (its minimum, 2 s)
  EXPECT_TRUE(Get(prefix_ + "member").has_value());
  EXPECT_EQ(lost, 0);

  ASSERT_TRUE(client_->RevokeLease(*lease).ok());
  EXPECT_EQ(Get(prefix_ + "member"), std::nullopt);
  EXPECT_EQ(lost, 0) << "revoking is not losing";
}

TEST_F(EtcdClientTest, KeepAliveReportsALeaseRevokedElsewhere) {
  absl::StatusOr<int64_t> lease = client_->GrantLease(absl::Seconds(3));
  ASSERT_TRUE(lease.ok()) << lease.status();
  std::atomic<int> lost = 0;
  ASSERT_TRUE(client_->KeepAlive(*lease, absl::Seconds(3), [&] { ++lost; }).ok());

  absl::StatusOr<std::unique_ptr<EtcdClient>> other = EtcdClient::Connect({server_->endpoint()});
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->RevokeLease(*lease).ok());
  // The next refresh (every second) hears TTL <= 0.
  EXPECT_TRUE(WaitUntil([&] { return lost > 0; }, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(lost, 1);
}

TEST_F(EtcdClientTest, WatchSeesPutsAndDeletesInOrder) {
  WatchLog log;
  std::unique_ptr<EtcdWatch> watch = log.Watch(*client_, prefix_, 0);
  // WatchPrefix returns once the watch is registered: nothing written from here is missed.
  ASSERT_TRUE(client_->Put(prefix_ + "a", "1").ok());
  ASSERT_TRUE(client_->Put(prefix_ + "b", "2").ok());
  ASSERT_TRUE(client_->Put("/elsewhere", "x").ok());
  ASSERT_TRUE(client_->Put(prefix_ + "a", "3").ok());
  ASSERT_TRUE(client_->Delete(prefix_ + "b").ok());

  ASSERT_TRUE(WaitUntil([&] { return log.events().size() >= 4; }, absl::Seconds(10)))
      << log.events().size();
  const std::vector<EtcdEvent> events = log.events();
  EXPECT_THAT(Describe(events, prefix_), ElementsAre("put a=1", "put b=2", "put a=3", "delete b"));
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision);
  }
  watch.reset();
  EXPECT_TRUE(log.errors().empty()) << "cancelling is not an error";
}

TEST_F(EtcdClientTest, WatchReplaysFromAPastRevision) {
  absl::StatusOr<int64_t> first = client_->Put(prefix_ + "k", "1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(client_->Put(prefix_ + "k", "2").ok());

  WatchLog log;
  std::unique_ptr<EtcdWatch> watch = log.Watch(*client_, prefix_, *first);
  ASSERT_TRUE(client_->Put(prefix_ + "k", "3").ok());
  ASSERT_TRUE(WaitUntil([&] { return log.events().size() >= 3; }, absl::Seconds(10)));
  EXPECT_THAT(Describe(log.events(), prefix_), ElementsAre("put k=1", "put k=2", "put k=3"));
}

TEST_F(EtcdClientTest, ConnectToADeadEndpointFailsWithinTheTimeout) {
  absl::StatusOr<std::vector<int>> port = gridrpc::testing::PickFreePorts(1);
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string dead = absl::StrCat("http://127.0.0.1:", (*port)[0]);
  const absl::Time start = absl::Now();
  EXPECT_THAT(
      EtcdClient::Connect({dead}, absl::Seconds(1)),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr(absl::StrCat("127.0.0.1:", (*port)[0]))));
  // Bounded, not a timing measurement: a hang would take far longer.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  // Listed with a live one (two IPv4 literals: one round-robin channel), the dead one is skipped.
  absl::StatusOr<std::unique_ptr<EtcdClient>> both =
      EtcdClient::Connect({dead + "," + server_->endpoint()}, absl::Seconds(5));
  ASSERT_TRUE(both.ok()) << both.status();
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE((*both)->Put(prefix_ + "k", "v").ok());
  }
}

TEST_F(EtcdClientTest, RejectsBadEndpoints) {
  EXPECT_THAT(EtcdClient::Connect({"https://127.0.0.1:2379"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("https")));
  EXPECT_THAT(EtcdClient::Connect({"127.0.0.1:notaport"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
  EXPECT_THAT(EtcdClient::Connect({}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no")));
}

// Its own etcd, killed mid-test: the watch reports the break, the keep-alive the lost lease.
TEST_F(EtcdClientTest, AnEtcdCrashBreaksWatchesAndLosesLeases) {
  absl::StatusOr<std::unique_ptr<EtcdServer>> doomed = EtcdServer::Start();
  ASSERT_TRUE(doomed.ok()) << doomed.status();
  absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Connect({(*doomed)->endpoint()});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<int64_t> lease = (*client)->GrantLease(absl::Seconds(1));
  ASSERT_TRUE(lease.ok()) << lease.status();
  std::atomic<int> lost = 0;
  ASSERT_TRUE((*client)->KeepAlive(*lease, absl::Seconds(1), [&] { ++lost; }).ok());
  WatchLog log;
  std::unique_ptr<EtcdWatch> watch = log.Watch(**client, "/", 0);
  ASSERT_TRUE((*client)->Put("/k", "v").ok());
  ASSERT_TRUE(WaitUntil([&] { return log.events().size() == 1; }, absl::Seconds(10)));

  (*doomed)->Kill();
  EXPECT_TRUE(WaitUntil([&] { return !log.errors().empty(); }, absl::Seconds(10)));
  EXPECT_TRUE(WaitUntil([&] { return lost > 0; }, absl::Seconds(10)));
  ASSERT_EQ(log.errors().size(), 1u);
  EXPECT_THAT(log.errors()[0], StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Watch")));
  EXPECT_EQ(lost, 1);
  EXPECT_THAT((*client)->Put("/k", "v"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Put")));
}

}  // namespace
}  // namespace gridrpc::internal
