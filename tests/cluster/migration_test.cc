// Membership changes in the embedded cluster: joins, graceful leaves and crashes move replicas
// without losing a value, and migration listeners see every replica migration in order.
#include <atomic>
#include <thread>

#include "cluster/cluster_fixture.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

// Records the events of every migration process, checking their order as they come.
class RecordingListener final : public MigrationListener {
 public:
  struct Process {
    MigrationState started, finished;
    std::vector<ReplicaMigrationEvent> completed, failed;
    bool open = true;
  };

  void MigrationStarted(const MigrationState& state) override {
    absl::MutexLock lock(&mu_);
    processes_.push_back({.started = state});
  }
  void MigrationFinished(const MigrationState& state) override {
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(!processes_.empty() && processes_.back().open) << "finished without start";
    processes_.back().finished = state;
    processes_.back().open = false;
  }
  void ReplicaMigrationCompleted(const ReplicaMigrationEvent& event) override {
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(!processes_.empty() && processes_.back().open) << "event outside a process";
    processes_.back().completed.push_back(event);
  }
  void ReplicaMigrationFailed(const ReplicaMigrationEvent& event) override {
    absl::MutexLock lock(&mu_);
    processes_.back().failed.push_back(event);
  }

  std::vector<Process> processes() const {
    absl::MutexLock lock(&mu_);
    return processes_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Process> processes_ ABSL_GUARDED_BY(mu_);
};

class MigrationTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    listener_ = std::make_shared<RecordingListener>();
    cluster_->AddMigrationListener(listener_);
    for (int k = 0; k < kCounters; ++k) {
      ASSERT_TRUE(counter_->Inc(Inc(Name(k), k + 1)).ok());
    }
  }

  static std::string Name(int k) { return "counter-" + std::to_string(k); }

  void ExpectEveryCounterKept() {
    for (int k = 0; k < kCounters; ++k) EXPECT_EQ(CounterValue(Name(k)), k + 1) << Name(k);
  }

  // Every partition has `replicas` replicas on distinct live members, and they agree.
  void ExpectReplicasInSync(int replicas) {
    const auto table = cluster_->partition_table();
    for (int p = 0; p < table->partition_count(); ++p) {
      const auto& members = table->proto().partitions(p).members();
      ASSERT_EQ(members.size(), replicas) << "partition " << p;
      int64_t primary_sequence = -1;
      for (int r = 0; r < members.size(); ++r) {
        const Member::ReplicaState state =
            cluster_->FindMember(table->member(members[r]).id())->replica_state(p);
        EXPECT_EQ(state.replica_index, r) << "partition " << p;
        if (r == 0) primary_sequence = state.sequence;
        EXPECT_EQ(state.sequence, primary_sequence) << "partition " << p << " replica " << r;
      }
    }
  }

  static void ExpectWellFormed(const RecordingListener::Process& process) {
    EXPECT_FALSE(process.open);
    EXPECT_TRUE(process.failed.empty());
    EXPECT_EQ(process.started.planned, static_cast<int>(process.completed.size()));
    EXPECT_EQ(process.finished.completed, process.started.planned);
    EXPECT_EQ(process.finished.remaining, 0);
    int completed = 0;
    for (const ReplicaMigrationEvent& e : process.completed) {
      EXPECT_TRUE(e.success);
      EXPECT_FALSE(e.destination.empty());
      EXPECT_NE(e.source, e.destination);
      EXPECT_EQ(e.state.completed, ++completed);  // progress counts up event by event
      EXPECT_EQ(e.state.remaining, process.started.planned - completed);
    }
  }

  static constexpr int kCounters = 60;
  std::shared_ptr<RecordingListener> listener_;
};

TEST_F(MigrationTest, ThreeMembersJoinAndEveryCounterKeepsItsValueAndSomeMove) {
  std::map<std::string, std::string> owner_before;
  for (int k = 0; k < kCounters; ++k) owner_before[Name(k)] = OwnerOf(Name(k)).id();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cluster_->AddMember().ok());

  EXPECT_EQ(cluster_->partition_table()->member_count(), 6);
  ExpectEveryCounterKept();
  ExpectReplicasInSync(2);
  int moved = 0;
  for (int k = 0; k < kCounters; ++k) moved += OwnerOf(Name(k)).id() != owner_before[Name(k)];
  EXPECT_GT(moved, kCounters / 4);  // half the partitions move to the newcomers

  const auto processes = listener_->processes();
  ASSERT_EQ(processes.size(), 3u);
  for (const auto& process : processes) {
    ExpectWellFormed(process);
    EXPECT_GT(process.started.planned, 0);
    std::set<int> replica_indexes;
    for (const auto& e : process.completed) replica_indexes.insert(e.replica_index);
    EXPECT_EQ(replica_indexes, (std::set<int>{0, 1}));  // primaries and backups alike
  }
}

TEST_F(MigrationTest, GracefulLeaveHandsEveryReplicaOver) {
  const std::string leaving = cluster_->member(1).id();
  ASSERT_TRUE(cluster_->RemoveMember(1).ok());
  EXPECT_EQ(cluster_->partition_table()->MemberIndex(leaving), -1);
  ExpectEveryCounterKept();
  ExpectReplicasInSync(2);
  const auto processes = listener_->processes();
  ASSERT_EQ(processes.size(), 1u);
  ExpectWellFormed(processes[0]);
  for (const auto& e : processes[0].completed) EXPECT_NE(e.destination, leaving);
}

TEST_F(MigrationTest, CrashPromotesBackupsThenRestoresTheBackupCount) {
  const std::string crashed = cluster_->member(2).id();
  ASSERT_TRUE(cluster_->Crash(2).ok());
  ExpectEveryCounterKept();
  ExpectReplicasInSync(2);
  const auto processes = listener_->processes();
  ASSERT_EQ(processes.size(), 2u);  // promotion, then the restored backups
  for (const auto& process : processes) ExpectWellFormed(process);
  EXPECT_GT(processes[0].started.planned, 0);
  for (const auto& e : processes[0].completed) {
    EXPECT_EQ(e.replica_index, 0);
    EXPECT_EQ(e.source, crashed);
  }
  for (const auto& e : processes[1].completed) EXPECT_NE(e.destination, crashed);
}

TEST_F(MigrationTest, WritesDuringAJoinAreNeitherLostNorDoubled) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> acknowledged{0};
  std::thread writer([&] {
    auto counter = ProxyBuilder<examples::Counter>(*client_).Build();
    for (int i = 0; i < 20000 && !stop.load(); ++i) {
      if (counter->Inc(Inc("busy-" + std::to_string(i % 20), 1)).ok()) ++acknowledged;
    }
  });
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(cluster_->AddMember().ok());
  stop = true;
  writer.join();
  int64_t total = 0;
  for (int k = 0; k < 20; ++k) total += CounterValue("busy-" + std::to_string(k));
  EXPECT_EQ(total, acknowledged.load());
  EXPECT_GT(acknowledged.load(), 0);
  ExpectReplicasInSync(2);
}

}  // namespace
}  // namespace gridrpc::testing

namespace gridrpc::testing {
namespace {

// The seed's polling dispatcher needs, without internal APIs: which partitions are mine now,
// and a look into my primary containers in order with their calls.
TEST(LocalPartitionsTest, MembersSeeTheirOwnPrimariesAndTheirContainers) {
  std::vector<const examples::CounterImpl*> services;  // by member
  auto cluster = EmbeddedCluster::Start({.members = 2}, [&](Member& m) {
                   auto counter = std::make_unique<examples::CounterImpl>();
                   services.push_back(counter.get());
                   return m.AddService(std::move(counter));
                 }).value();
  auto client = Client::Create({.members = cluster->addresses()}).value();
  auto counter = ProxyBuilder<examples::Counter>(*client).Build();
  examples::IncRequest inc;
  inc.set_name("local");
  inc.set_amount(7);
  ASSERT_TRUE(counter->Inc(inc).ok());

  auto primaries_of = [&](int m) { return cluster->member(m).context().PrimaryPartitions(); };
  std::set<int> all;
  size_t total = 0;
  for (int m = 0; m < cluster->size(); ++m) {
    total += primaries_of(m)->size();
    all.insert(primaries_of(m)->begin(), primaries_of(m)->end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kDefaultPartitionCount));       // disjoint...
  EXPECT_EQ(all.size(), static_cast<size_t>(kDefaultPartitionCount));  // ...and complete

  const int p = PartitionOf(KeyHash(std::string_view("local")), kDefaultPartitionCount);
  for (int m = 0; m < cluster->size(); ++m) {
    const bool mine = std::count(primaries_of(m)->begin(), primaries_of(m)->end(), p) == 1;
    absl::Notification ran;
    int64_t seen = -1;
    cluster->member(m).context().RunOnPartition(p, *services[m], [&](Container* container) {
      if (container != nullptr) {
        auto& state = static_cast<MessageContainer<examples::CounterState>&>(*container).state();
        seen = state.values().at("local");
      }
      ran.Notify();
    });
    ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_EQ(seen, mine ? 7 : -1) << "member " << m;  // a backup's copy is not offered
  }

  // A join replaces the snapshots; one taken before stays as it was.
  std::shared_ptr<const std::vector<int>> before = primaries_of(0);
  const size_t before_size = before->size();
  absl::StatusOr<int> joined = cluster->AddMember();
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(before->size(), before_size);
  EXPECT_LT(primaries_of(0)->size(), before_size);
  EXPECT_FALSE(primaries_of(*joined)->empty());
}

}  // namespace
}  // namespace gridrpc::testing

namespace gridrpc::testing {
namespace {

// Tools watch migrations over gRPC: the same events, in the same order, as C++ listeners get.
TEST(MigrationStreamTest, WatchMigrationsStreamsAJoinInOrder) {
  auto cluster = EmbeddedCluster::Start({.members = 2}, examples::AddExampleServices).value();
  auto stub = v1::Cluster::NewStub(cluster->member(0).InProcessChannel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  std::unique_ptr<grpc::ClientReader<v1::MigrationEvent>> stream =
      stub->WatchMigrations(&context, v1::WatchMigrationsRequest());
  stream->WaitForInitialMetadata();  // registered from here on

  ASSERT_TRUE(cluster->AddMember().ok());
  std::vector<v1::MigrationEvent> events;
  v1::MigrationEvent event;
  while (stream->Read(&event)) {
    events.push_back(event);
    if (event.kind() == v1::MigrationEvent::MIGRATION_FINISHED) break;
  }
  context.TryCancel();
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().kind(), v1::MigrationEvent::MIGRATION_STARTED);
  EXPECT_EQ(events.back().kind(), v1::MigrationEvent::MIGRATION_FINISHED);
  const int planned = events.front().state().planned();
  EXPECT_GT(planned, 0);
  EXPECT_EQ(static_cast<int>(events.size()), planned + 2);
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].kind(), v1::MigrationEvent::REPLICA_MIGRATION_COMPLETED);
    EXPECT_EQ(events[i].state().completed(), static_cast<int>(i));
    EXPECT_FALSE(events[i].destination().empty());
    EXPECT_GT(events[i].bytes(), 0);
  }
  EXPECT_EQ(events.back().state().completed(), planned);
}

}  // namespace
}  // namespace gridrpc::testing

namespace gridrpc::testing {
namespace {

// A broadcast that races a migration still hears from every partition exactly once: what a
// member no longer owns is sent again to the new owner.
TEST(BroadcastDuringMigrationTest, EveryDocumentIsFoundExactlyOnce) {
  auto cluster = EmbeddedCluster::Start({.members = 3}, examples::AddExampleServices).value();
  auto client = Client::Create({.members = cluster->addresses()}).value();
  auto search = ProxyBuilder<examples::SearchService>(*client).Build();
  constexpr int kDocuments = 60;
  for (int i = 0; i < kDocuments; ++i) {
    examples::IndexRequest index;
    index.mutable_document()->set_id("doc-" + std::to_string(i));
    index.mutable_document()->set_text("grid");
    ASSERT_TRUE(search->Index(index).ok());
  }
  auto everywhere = BroadcastProxyBuilder<examples::SearchService>(*client).Build();
  examples::SearchRequest query;
  query.set_keyword("grid");

  std::atomic<bool> migrating{true};
  std::thread joins([&] {
    for (int i = 0; i < 2; ++i) EXPECT_TRUE(cluster->AddMember().ok());
    migrating = false;
  });
  int broadcasts = 0;
  while (broadcasts < 200 && (migrating || broadcasts < 3)) {
    absl::StatusOr<examples::SearchResponse> hits = everywhere->SearchFor(query);
    ASSERT_TRUE(hits.ok()) << hits.status();
    std::map<std::string, int> seen;
    for (const auto& hit : hits->results()) ++seen[hit.document_id()];
    ASSERT_EQ(seen.size(), static_cast<size_t>(kDocuments)) << "broadcast " << broadcasts;
    for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
    ++broadcasts;
  }
  joins.join();
  EXPECT_GT(broadcasts, 0);
}

}  // namespace
}  // namespace gridrpc::testing

namespace gridrpc::testing {
namespace {

// Any partition size migrates: replicas travel in bounded chunks. Measured before: a partition
// of 6 MB could not be copied (a 4 MB message limit), the table committed a backup that held
// nothing, and the data was gone when the primary died too.
TEST(LargePartitionTest, APartitionOf64MbIsCopiedAndSurvivesBothOfItsFirstReplicas) {
  auto cluster = EmbeddedCluster::Start({.members = 3}, examples::AddExampleServices).value();
  auto client = Client::Create({.members = cluster->addresses()}).value();
  auto search = ProxyBuilder<examples::SearchService>(*client).Build();
  // Sixteen documents of 4 MB, all in one partition.
  constexpr int kDocuments = 16;
  const int target = PartitionOf(KeyHash(std::string_view("big-0")), kDefaultPartitionCount);
  std::vector<std::string> ids;
  for (int i = 0; static_cast<int>(ids.size()) < kDocuments; ++i) {
    std::string id = "big-" + std::to_string(i);
    if (PartitionOf(KeyHash(std::string_view(id)), kDefaultPartitionCount) == target) {
      ids.push_back(std::move(id));
    }
  }
  for (const std::string& id : ids) {
    examples::IndexRequest index;
    index.mutable_document()->set_id(id);
    index.mutable_document()->set_text("grid " + std::string(4 * 1024 * 1024 - 1024, 'x'));
    ASSERT_TRUE(search->Index(index).ok()) << id;
  }
  auto index_of = [&](int replica) {
    const auto table = cluster->partition_table();
    const std::string id = table->member(table->proto().partitions(target).members(replica)).id();
    for (int m = 0; m < cluster->size(); ++m) {
      if (cluster->member(m).id() == id) return m;
    }
    return -1;
  };
  // The primary crashes: its backup takes over, and the backup count is restored by copying the
  // 64 MB partition to the third member. Then the new primary crashes too: only the copy is left.
  auto listener = std::make_shared<RecordingListener>();
  cluster->AddMigrationListener(listener);
  ASSERT_TRUE(cluster->Crash(index_of(0)).ok());
  int64_t copied = 0;
  for (const auto& process : listener->processes()) {
    EXPECT_TRUE(process.failed.empty());
    for (const ReplicaMigrationEvent& e : process.completed) {
      if (e.partition == target) copied += e.bytes;
    }
  }
  EXPECT_GE(copied, int64_t{kDocuments} * (4 * 1024 * 1024 - 1024));
  ASSERT_EQ(cluster->partition_table()->proto().partitions(target).members_size(), 2);
  ASSERT_TRUE(cluster->Crash(index_of(0)).ok());
  EXPECT_FALSE(cluster->partition_table()->lost(target));
  ASSERT_TRUE(client->RefreshPartitionTable().ok());
  auto everywhere = BroadcastProxyBuilder<examples::SearchService>(*client).Build();
  examples::SearchRequest query;
  query.set_keyword("grid");
  absl::StatusOr<examples::SearchResponse> hits = everywhere->SearchFor(query);
  ASSERT_TRUE(hits.ok()) << hits.status();
  std::set<std::string> found;
  for (const auto& hit : hits->results()) found.insert(hit.document_id());
  EXPECT_EQ(found, std::set<std::string>(ids.begin(), ids.end()));
}

}  // namespace
}  // namespace gridrpc::testing
