// Both membership stores keep one contract (cluster/membership_store.h): sessions own what is
// written on them, one planner role at a time, commits fenced by term and table revision, and
// watches that report every change in order. The same tests run in memory and against a real
// etcd started by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "absl/time/clock.h"
#include "cluster/etcd_store.h"
#include "cluster/memory_store.h"
#include "gridrpc/internal/mutex.h"
#include "test_util.h"
#include "testing/etcd_server.h"

namespace gridrpc::internal {
namespace {

using ::gridrpc::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::MemberInfo Info(const std::string& id) {
  v1::MemberInfo info;
  info.set_id(id);
  info.set_address("127.0.0.1:1");
  info.set_peer_address("127.0.0.1:2");
  return info;
}

v1::PartitionTable TableVersion(int64_t version) {
  v1::PartitionTable table;
  table.set_version(version);
  table.set_cluster_name("store-test");
  return table;
}

// Records what a watch reports.
class Recorder {
 public:
  void Add(const StoreChange& change) {
    MutexLock lock(&mu_);
    revisions_.push_back(change.revision);
    if (change.table.has_value()) versions_.push_back(change.table->version());
    added_.NotifyAll();
  }
  // Waits (bounded) until `count` table versions arrived; returns them.
  std::vector<int64_t> TableVersions(size_t count) {
    MutexLock lock(&mu_);
    added_.WaitUntil(mu_, absl::Now() + absl::Seconds(10),
                     [&]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return versions_.size() >= count; });
    return versions_;
  }
  std::vector<int64_t> Revisions() {
    MutexLock lock(&mu_);
    return revisions_;
  }

 private:
  // gridrpc's own mutex: ThreadSanitizer sees it (it does not see Debian's absl::Mutex).
  Mutex mu_;
  CondVar added_;
  std::vector<int64_t> revisions_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> versions_ ABSL_GUARDED_BY(mu_);
};

enum class Kind { kInMemory, kEtcd };

class MembershipStoreTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kInMemory) {
      store_ = std::make_unique<InMemoryStore>();
      return;
    }
    absl::StatusOr<std::unique_ptr<testing::EtcdServer>> etcd = testing::EtcdServer::Start();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Connect({etcd_->endpoint()});
    ASSERT_TRUE(client.ok()) << client.status();
    store_ = std::make_unique<EtcdStore>(*std::move(client), "/gridrpc/store-test/");
  }

  void TearDown() override {
    store_.reset();
    etcd_.reset();
  }

  int64_t OpenSession() {
    absl::StatusOr<int64_t> session = store_->OpenSession(absl::Seconds(10), SessionEvents{});
    EXPECT_TRUE(session.ok()) << session.status();
    return session.value_or(0);
  }

  ClusterView Read() {
    absl::StatusOr<ClusterView> view = store_->Read();
    EXPECT_TRUE(view.ok()) << view.status();
    return view.value_or(ClusterView{});
  }

  std::unique_ptr<testing::EtcdServer> etcd_;
  std::unique_ptr<MembershipStore> store_;
};

TEST_P(MembershipStoreTest, WhatASessionHoldsGoesWithIt) {
  const int64_t a = OpenSession();
  const int64_t b = OpenSession();
  ASSERT_TRUE(store_->Register(a, Info("a")).ok());
  ASSERT_TRUE(store_->Register(b, Info("b")).ok());
  ASSERT_TRUE(store_->MarkLeaving(a, "a").ok());
  absl::StatusOr<int64_t> term = store_->Campaign(a, "a");
  ASSERT_TRUE(term.ok()) << term.status();
  ASSERT_GT(*term, 0);
  ClusterView view = Read();
  EXPECT_EQ(view.members.size(), 2u);
  EXPECT_EQ(view.members["b"].peer_address(), "127.0.0.1:2");
  EXPECT_TRUE(view.leaving.contains("a"));
  EXPECT_EQ(view.planner, "a");
  EXPECT_EQ(view.planner_term, *term);

  ASSERT_TRUE(store_->CloseSession(a).ok());
  view = Read();
  EXPECT_EQ(view.members.size(), 1u);
  EXPECT_TRUE(view.members.contains("b"));
  EXPECT_TRUE(view.leaving.empty());
  EXPECT_TRUE(view.planner.empty());
  EXPECT_EQ(view.planner_term, 0);
}

TEST_P(MembershipStoreTest, OnePlannerAtATimeAndANewTermAfterIt) {
  const int64_t a = OpenSession();
  const int64_t b = OpenSession();
  absl::StatusOr<int64_t> first = store_->Campaign(a, "a");
  ASSERT_TRUE(first.ok() && *first > 0);
  absl::StatusOr<int64_t> lost = store_->Campaign(b, "b");
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(*lost, 0);                                  // a plans
  EXPECT_EQ(store_->Campaign(a, "a").value(), *first);  // and keeps its term
  ASSERT_TRUE(store_->CloseSession(a).ok());
  absl::StatusOr<int64_t> second = store_->Campaign(b, "b");
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  EXPECT_EQ(Read().planner, "b");
}

TEST_P(MembershipStoreTest, CommitsAreFencedByTermAndByTheTableTheyPlannedFrom) {
  const int64_t a = OpenSession();
  const int64_t b = OpenSession();
  const int64_t term_a = store_->Campaign(a, "a").value();
  absl::StatusOr<int64_t> v1 = store_->CommitTable(term_a, 0, TableVersion(1));
  ASSERT_TRUE(v1.ok()) << v1.status();
  // Planned from "no table", but there is one now.
  EXPECT_THAT(store_->CommitTable(term_a, 0, TableVersion(2)),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  // A term that does not hold the role.
  EXPECT_THAT(store_->CommitTable(term_a + 1000, *v1, TableVersion(2)),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  absl::StatusOr<int64_t> v2 = store_->CommitTable(term_a, *v1, TableVersion(2));
  ASSERT_TRUE(v2.ok()) << v2.status();

  // a loses the role (its session ends: a crash, a lost lease); b takes over. a's term can no
  // longer commit or delete, even over the right table revision.
  store_->AbandonSession(a);
  if (GetParam() == Kind::kEtcd) {
    ASSERT_TRUE(store_->CloseSession(a).ok());  // do not wait out the TTL
  }
  const int64_t term_b = store_->Campaign(b, "b").value();
  ASSERT_GT(term_b, 0);
  EXPECT_THAT(store_->CommitTable(term_a, *v2, TableVersion(3)),
              StatusIs(absl::StatusCode::kAborted, ::testing::_));
  EXPECT_THAT(store_->DeleteTable(term_a), StatusIs(absl::StatusCode::kAborted, ::testing::_));
  EXPECT_EQ(Read().table->version(), 2);
  ASSERT_TRUE(store_->CommitTable(term_b, *v2, TableVersion(3)).ok());
  ASSERT_TRUE(store_->DeleteTable(term_b).ok());
  EXPECT_FALSE(Read().table.has_value());
  EXPECT_FALSE(store_->ReadTable().value().has_value());
}

TEST_P(MembershipStoreTest, AWatchReportsEveryChangeAfterItInOrder) {
  const int64_t a = OpenSession();
  ASSERT_TRUE(store_->Register(a, Info("early")).ok());  // before the watch: not reported
  Recorder recorder;
  absl::StatusOr<std::unique_ptr<StoreWatch>> watch = store_->Watch(
      [&](const StoreChange& change) { recorder.Add(change); }, [](const absl::Status&) {});
  ASSERT_TRUE(watch.ok()) << watch.status();
  const int64_t term = store_->Campaign(a, "a").value();
  int64_t revision = 0;
  for (int v = 1; v <= 3; ++v)
    revision = store_->CommitTable(term, revision, TableVersion(v)).value();
  EXPECT_THAT(recorder.TableVersions(3), ElementsAre(1, 2, 3));
  const std::vector<int64_t> revisions = recorder.Revisions();
  EXPECT_TRUE(std::is_sorted(revisions.begin(), revisions.end()));
  EXPECT_EQ(revisions.back(), revision);
  watch->reset();  // no callback runs after this
}

TEST_P(MembershipStoreTest, AnEndedSessionWritesNothing) {
  const int64_t a = OpenSession();
  ASSERT_TRUE(store_->CloseSession(a).ok());
  EXPECT_FALSE(store_->Register(a, Info("ghost")).ok());
  EXPECT_TRUE(Read().members.empty());
}

INSTANTIATE_TEST_SUITE_P(Stores, MembershipStoreTest,
                         ::testing::Values(Kind::kInMemory, Kind::kEtcd),
                         [](const ::testing::TestParamInfo<Kind>& info) {
                           return info.param == Kind::kInMemory ? "InMemory" : "Etcd";
                         });

}  // namespace
}  // namespace gridrpc::internal
