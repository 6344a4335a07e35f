// Backups: a mutating call of a partitioned service reaches its sync backups before the caller
// hears back, in sequence order; a crashed primary's backup takes over with every acknowledged
// write; stale primaries are fenced off; a backup that missed an operation resyncs.
#include "cluster/cluster_fixture.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/peer.grpc.pb.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

class BackupTest : public ClusterTest {
 protected:
  int PartitionOfKey(std::string_view key) {
    return PartitionOf(KeyHash(key), kDefaultPartitionCount);
  }
  Member& ReplicaOf(std::string_view key, int replica_index) {
    const auto table = cluster_->partition_table();
    const int p = PartitionOfKey(key);
    const int index = table->proto().partitions(p).members(replica_index);
    return *cluster_->FindMember(table->member(index).id());
  }
};

TEST_F(BackupTest, SyncBackupHasTheWriteBeforeTheCallerHearsOfIt) {
  const int p = PartitionOfKey("acked");
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(counter_->Inc(Inc("acked", 1)).ok());
    // No waiting: the answer came after the backup applied the write.
    EXPECT_EQ(ReplicaOf("acked", 0).replica_state(p).sequence, i);
    EXPECT_EQ(ReplicaOf("acked", 1).replica_state(p).sequence, i);
    EXPECT_EQ(ReplicaOf("acked", 1).replica_state(p).replica_index, 1);
  }
}

TEST_F(BackupTest, ReadOnlyCallsAreNotBackedUp) {
  ASSERT_TRUE(counter_->Inc(Inc("read", 1)).ok());
  for (int i = 0; i < 3; ++i) CounterValue("read");
  EXPECT_EQ(ReplicaOf("read", 1).replica_state(PartitionOfKey("read")).sequence, 1);
}

TEST_F(BackupTest, PrimaryAndBackupSequencesAgreeAfterAWorkload) {
  std::vector<Future<examples::IncResponse>> calls;
  for (int i = 0; i < 300; ++i)
    calls.push_back(counter_->IncAsync(Inc("w" + std::to_string(i % 60), 1)));
  for (auto& call : calls) ASSERT_TRUE(std::move(call).Get().ok());

  // Through the control plane, as a tool would: every replica of every partition.
  std::map<int, std::map<int, int64_t>> sequences;  // partition -> replica index -> sequence
  for (int m = 0; m < cluster_->size(); ++m) {
    auto stub = v1::Cluster::NewStub(cluster_->member(m).InProcessChannel());
    grpc::ClientContext context;
    v1::ReplicaSequencesResponse response;
    ASSERT_TRUE(stub->GetReplicaSequences(&context, {}, &response).ok());
    for (const v1::ReplicaSequence& r : response.replicas()) {
      sequences[r.partition()][r.replica_index()] = r.sequence();
    }
  }
  int64_t total = 0;
  for (const auto& [partition, replicas] : sequences) {
    ASSERT_EQ(replicas.size(), 2u) << "partition " << partition;
    EXPECT_EQ(replicas.at(0), replicas.at(1)) << "partition " << partition;
    total += replicas.at(0);
  }
  EXPECT_EQ(total, 300);
}

TEST_F(BackupTest, CrashedPrimarysBackupServesEveryAcknowledgedWrite) {
  for (int i = 0; i < 20; ++i) {
    for (int k = 0; k < 10; ++k) ASSERT_TRUE(counter_->Inc(Inc("c" + std::to_string(k), 1)).ok());
  }
  // The seed scenario: the member holding these counters' primaries crashes.
  Member& primary = ReplicaOf("c0", 0);
  int index = 0;
  while (&cluster_->member(index) != &primary) ++index;
  ASSERT_TRUE(cluster_->Crash(index).ok());
  EXPECT_EQ(cluster_->partition_table()->member_count(), 2);

  // The client still routes by the old table: Get is read-only, so it retries until it has
  // the new one and reaches the promoted backup.
  for (int k = 0; k < 10; ++k) EXPECT_EQ(CounterValue("c" + std::to_string(k)), 20) << k;
  EXPECT_GE(client_->partition_table()->version(), 2);
  // Writes go on, now to the new primaries.
  absl::StatusOr<examples::IncResponse> after = counter_->Inc(Inc("c0", 1));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->value(), 21);
}

TEST_F(BackupTest, BackupStampedWithAnOlderTableIsRefused) {
  ASSERT_TRUE(counter_->Inc(Inc("fenced", 1)).ok());
  const int p = PartitionOfKey("fenced");
  Member& backup = ReplicaOf("fenced", 1);
  v1::BackupRequest request;
  request.set_partition(p);
  request.set_table_version(0);  // older than the member's table (version 1)
  request.set_sequence(2);
  request.set_method("/examples.Counter/Inc");
  request.set_lookup_name("examples.Counter");
  request.set_request(Inc("fenced", 100).SerializeAsString());
  grpc::ClientContext context;
  v1::BackupResponse response;
  const grpc::Status status =
      v1::Peer::NewStub(backup.PeerChannelForTest())->Backup(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("it is not the primary"));
  EXPECT_EQ(backup.replica_state(p).sequence, 1);
}

// While a new table is being installed member by member, a backup may already have it when its
// primary does not. If that table keeps the roles, the backup must take the write: refusing it
// would leave an acknowledged write on the primary alone.
TEST_F(BackupTest, BackupAheadOfItsPrimaryTakesWritesWhenTheRolesStay) {
  ASSERT_TRUE(counter_->Inc(Inc("ahead", 1)).ok());
  const int p = PartitionOfKey("ahead");
  Member& primary = ReplicaOf("ahead", 0);
  Member& backup = ReplicaOf("ahead", 1);
  v1::PartitionTable proto = cluster_->partition_table()->proto();
  proto.set_version(proto.version() + 1);
  ASSERT_TRUE(backup
                  .InstallPartitionTable(std::make_shared<const PartitionTable>(
                      PartitionTable::FromProto(proto).value()))
                  .ok());
  ASSERT_TRUE(counter_->Inc(Inc("ahead", 1)).ok());
  EXPECT_EQ(primary.backup_failures(), 0);
  EXPECT_EQ(backup.replica_state(p).sequence, 2);
}

TEST_F(BackupTest, BackupThatMissedAnOperationResyncsFromThePrimary) {
  ASSERT_TRUE(counter_->Inc(Inc("gap", 1)).ok());
  const int p = PartitionOfKey("gap");
  Member& primary = ReplicaOf("gap", 0);
  Member& backup = ReplicaOf("gap", 1);
  // The backup moves first to a table version 2 in which the partition's replicas are swapped,
  // so it fences off the primary's next backup (stamped 1, from a member that is no longer the
  // primary there): that operation is lost to it, as a lost async backup would be, and its
  // caller is told the write ran but was not replicated.
  const auto v1_table = cluster_->partition_table();
  auto with_version = [&](int64_t version, bool swap) {
    v1::PartitionTable proto = v1_table->proto();
    proto.set_version(version);
    if (swap) proto.mutable_partitions(p)->mutable_members()->SwapElements(0, 1);
    return std::make_shared<const PartitionTable>(PartitionTable::FromProto(proto).value());
  };
  ASSERT_TRUE(backup.InstallPartitionTable(with_version(2, /*swap=*/true)).ok());
  EXPECT_THAT(counter_->Inc(Inc("gap", 1)),
              StatusIs(absl::StatusCode::kAborted, ::testing::HasSubstr("but was not replicated")));
  EXPECT_EQ(primary.backup_failures(), 1);
  EXPECT_EQ(backup.replica_state(p).sequence, 1);

  // Everyone on version 3, the first assignment again: the next backup arrives with a gap
  // before it, and the backup resyncs the partition from the primary.
  const auto v3_table = with_version(3, /*swap=*/false);
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_TRUE(cluster_->member(i).InstallPartitionTable(v3_table).ok());
  }
  cluster_->CommitPartitionTableForTest(*v3_table);  // what the planner plans the crash from
  absl::StatusOr<examples::IncResponse> third = counter_->Inc(Inc("gap", 1));
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(backup.resyncs(), 1);
  EXPECT_EQ(backup.replica_state(p).sequence, 3);
  EXPECT_EQ(primary.replica_state(p).sequence, 3);

  // And its state is the primary's: after a crash it answers 3.
  int index = 0;
  while (&cluster_->member(index) != &primary) ++index;
  ASSERT_TRUE(cluster_->Crash(index).ok());
  EXPECT_EQ(CounterValue("gap"), 3);
}

}  // namespace
}  // namespace gridrpc::testing

namespace gridrpc::testing {
namespace {

// A write with a sync backup is acknowledged only once its backup applied it.
class SyncBackupTest : public BackupTest {
 protected:
  // Stops the backup of `key`'s partition behind the cluster's back: its planner still thinks it
  // is alive, so no newer table drops it.
  int StopBackupOf(std::string_view key) {
    Member& backup = ReplicaOf(key, 1);
    int index = 0;
    while (&cluster_->member(index) != &backup) ++index;
    backup.Terminate();
    return index;
  }
};

TEST_F(SyncBackupTest, AWriteWhoseBackupCannotConfirmItIsNotAcknowledged) {
  ASSERT_TRUE(counter_->Inc(Inc("unconfirmed", 1)).ok());
  StopBackupOf("unconfirmed");
  CallOptions options;
  options.timeout = absl::Milliseconds(400);
  absl::StatusOr<examples::IncResponse> r = counter_->Inc(Inc("unconfirmed", 1), options);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded,
                          ::testing::HasSubstr("the outcome is unknown")));
  EXPECT_GT(ReplicaOf("unconfirmed", 0).backup_failures(), 1);  // tried more than once
}

TEST_F(SyncBackupTest, AWriteWaitsForItsBackupUntilANewerTableDropsIt) {
  ASSERT_TRUE(counter_->Inc(Inc("dropped", 1)).ok());
  const int backup = StopBackupOf("dropped");
  Future<examples::IncResponse> pending = counter_->IncAsync(Inc("dropped", 1));
  absl::SleepFor(absl::Milliseconds(100));  // the write ran and waits for its backup
  // The cluster notices the crash: a table without the backup is committed and installed.
  ASSERT_TRUE(cluster_->Crash(backup).ok());
  absl::StatusOr<examples::IncResponse> r = std::move(pending).Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value(), 2);
  EXPECT_EQ(CounterValue("dropped"), 2);
  // The backup count is restored, with the write on the new backup too.
  const int p = PartitionOfKey("dropped");
  EXPECT_EQ(ReplicaOf("dropped", 1).replica_state(p).sequence,
            ReplicaOf("dropped", 0).replica_state(p).sequence);
}

// Peer messages carry whatever a client may send: a backup wraps the client's request.
TEST_F(SyncBackupTest, ARequestOfTheLargestAllowedSizeIsBackedUp) {
  auto search = ProxyBuilder<examples::SearchService>(*client_).Build();
  examples::IndexRequest index;
  index.mutable_document()->set_id("big");
  index.mutable_document()->set_text("grid " + std::string(4 * 1024 * 1024 - 64 - 100, 'x'));
  ASSERT_LT(index.ByteSizeLong(), 4u * 1024 * 1024);
  absl::StatusOr<examples::IndexResponse> indexed = search->Index(index);
  ASSERT_TRUE(indexed.ok()) << indexed.status();
  const int p = PartitionOf(KeyHash(std::string_view("big")), kDefaultPartitionCount);
  const auto table = cluster_->partition_table();
  Member& primary = *cluster_->FindMember(table->member(table->Owner(p)).id());
  EXPECT_EQ(primary.backup_failures(), 0);
  int index_of_primary = 0;
  while (&cluster_->member(index_of_primary) != &primary) ++index_of_primary;
  ASSERT_TRUE(cluster_->Crash(index_of_primary).ok());
  ASSERT_TRUE(client_->RefreshPartitionTable().ok());
  auto everywhere = BroadcastProxyBuilder<examples::SearchService>(*client_).Build();
  examples::SearchRequest query;
  query.set_keyword("grid");
  absl::StatusOr<examples::SearchResponse> hits = everywhere->SearchFor(query);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->results_size(), 1);
  EXPECT_EQ(hits->results(0).document_id(), "big");
}

}  // namespace
}  // namespace gridrpc::testing
