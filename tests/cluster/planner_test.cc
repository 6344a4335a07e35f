// The production planner, in process: real members (peer ports, backups, freezes, copies), an
// in-memory store, and two members' planners. A planner that loses its role in the middle of a
// migration cannot commit what it planned; the member that takes the role over plans from the
// committed table, and no acknowledged write is lost.
#include "cluster/planner.h"

#include <gmock/gmock.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>

#include "cluster/memory_store.h"
#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/partition_table.h"
#include "gridrpc/peer.grpc.pb.h"
#include "gridrpc/proxy.h"
#include "member/member_core.h"
#include "test_util.h"
#include "testing/fake_clock.h"

namespace gridrpc::internal {
namespace {

using ::gridrpc::testing::StatusIs;
using ::testing::HasSubstr;

// Counts migration processes and runs a hook when one starts.
class Hooked final : public MigrationListener {
 public:
  std::function<void()> on_started;
  int started = 0;
  void MigrationStarted(const MigrationState&) override {
    ++started;
    if (on_started) on_started();
  }
};

class PlannerTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<Member> member;
    int64_t session = 0;
    std::unique_ptr<Planner> planner;
    Hooked events;
  };

  void SetUp() override {
    for (int i = 0; i < 3; ++i) AddNode();
  }

  Node& AddNode(std::string secret = "planner test") {
    auto node = std::make_unique<Node>();
    node->member = Member::Create({.member_id = "m" + std::to_string(nodes_.size()),
                                   .cluster_secret = std::move(secret),
                                   .tunables = tunables_,
                                   .clock = &clock_})
                       .value();
    EXPECT_TRUE(examples::AddExampleServices(*node->member).ok());
    EXPECT_TRUE(node->member->Start().ok());
    node->session = store_.OpenSession(absl::Seconds(10), SessionEvents{}).value();
    MemberCore& core = CoreOf(*node->member);
    EXPECT_TRUE(store_.Register(node->session, core.Info()).ok());
    // What its coordinator's watch would do: a joining member learns the committed table.
    if (store_.ReadTable().value().has_value()) core.partitions().Observe(Committed());
    Node* raw = node.get();
    node->planner = std::make_unique<Planner>(
        store_,
        Planner::Context{
            .member_id = core.id(),
            .cluster_name = core.options().cluster_name,
            .partition_count = core.options().partition_count,
            .backup_count = 1,
            .recovery_grace = recovery_grace_,
            .peers = core.peers(),
            .tunables = core.tunables(),
            .clock = core.clock(),
            .notify =
                [raw](const std::function<void(MigrationListener&)>& event) { event(raw->events); },
            .metrics = core.metrics(),
        });
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // The node's session ended (a lease that expired while the store was away); it registers
  // again with a new one, as its coordinator does when the store is back.
  void Reregister(Node& node) {
    node.session = store_.OpenSession(absl::Seconds(10), SessionEvents{}).value();
    ASSERT_TRUE(store_.Register(node.session, CoreOf(*node.member).Info()).ok());
  }

  std::shared_ptr<const PartitionTable> Committed() {
    return std::make_shared<const PartitionTable>(
        PartitionTable::FromProto(*store_.ReadTable().value()).value());
  }

  testing::FakeClock clock_;  // the members' and their planners'
  absl::Duration recovery_grace_ = absl::ZeroDuration();
  MemberTunables tunables_;
  InMemoryStore store_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(PlannerTest, APlannerThatLostItsRoleCannotCommitAndTheNextPlansFromTheCommittedTable) {
  Node& a = *nodes_[0];
  Node& b = *nodes_[1];
  absl::StatusOr<Planner::Round> first = a.planner->RunRound(a.session);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, Planner::Outcome::kChanged);
  ASSERT_EQ(Committed()->version(), 1);
  EXPECT_EQ(b.planner->RunRound(b.session)->outcome, Planner::Outcome::kNotPlanner);

  // Writes acknowledged on version 1 (one sync backup each).
  auto client = Client::Create({.members = {b.member->address()}}).value();
  auto counter = ProxyBuilder<examples::Counter>(*client).Build();
  for (int k = 0; k < 20; ++k) {
    examples::IncRequest inc;
    inc.set_name("k" + std::to_string(k));
    inc.set_amount(k + 1);
    ASSERT_TRUE(counter->Inc(inc).ok());
  }

  // A fourth member joins. a starts moving replicas to it, and loses its role meanwhile (its
  // session ends: a lease that expired while it migrated); b takes the role over.
  Node& d = AddNode();
  a.events.on_started = [&] {
    store_.AbandonSession(a.session);
    EXPECT_GT(store_.Campaign(b.session, b.member->id()).value(), 0);
  };
  absl::StatusOr<Planner::Round> lost = a.planner->RunRound(a.session);
  EXPECT_THAT(lost, StatusIs(absl::StatusCode::kAborted, HasSubstr("no longer plans")));
  EXPECT_EQ(a.events.started, 1);
  a.events.on_started = nullptr;
  EXPECT_EQ(Committed()->version(), 1);  // nothing a planned was committed

  // b plans from the committed table: a's backups are promoted, then the replicas spread over
  // b, the third member and the newcomer.
  absl::StatusOr<Planner::Round> taken = b.planner->RunRound(b.session);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->outcome, Planner::Outcome::kChanged);
  std::shared_ptr<const PartitionTable> table = Committed();
  EXPECT_EQ(table->version(), 3);  // promotion, then the rebalance
  EXPECT_EQ(table->member_count(), 3);
  EXPECT_EQ(table->MemberIndex(a.member->id()), -1);
  EXPECT_GE(table->MemberIndex(d.member->id()), 0);
  EXPECT_EQ(b.planner->RunRound(b.session)->outcome, Planner::Outcome::kSettled);

  // Every acknowledged write is served by the new owners.
  ASSERT_TRUE(client->RefreshPartitionTable().ok());
  for (int k = 0; k < 20; ++k) {
    examples::GetRequest get;
    get.set_name("k" + std::to_string(k));
    absl::StatusOr<examples::GetResponse> value = counter->Get(get);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value(), k + 1) << get.name();
  }
}

// A member the others cannot copy to (here: it does not share their secret, so its peer port
// refuses them) joins. The planner plans it a share, every copy to it fails, and the committed
// table keeps those partitions where they were: no table lists a replica without its data, and
// every acknowledged write is still served.
TEST_F(PlannerTest, PartitionsWhoseCopiesFailKeepTheirReplicas) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  auto client = Client::Create({.members = {a.member->address()}}).value();
  auto counter = ProxyBuilder<examples::Counter>(*client).Build();
  for (int k = 0; k < 40; ++k) {
    examples::IncRequest inc;
    inc.set_name("kept" + std::to_string(k));
    inc.set_amount(k + 1);
    ASSERT_TRUE(counter->Inc(inc).ok());
  }
  Node& stranger = AddNode("not the cluster's secret");
  absl::StatusOr<Planner::Round> round = a.planner->RunRound(a.session);
  EXPECT_THAT(round, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("failed twice")));
  std::shared_ptr<const PartitionTable> table = Committed();
  EXPECT_EQ(table->version(), 2);
  const int index = table->MemberIndex(stranger.member->id());
  for (int p = 0; p < table->partition_count(); ++p) {
    EXPECT_EQ(table->ReplicaIndex(p, index), -1) << "partition " << p;
    EXPECT_EQ(table->proto().partitions(p).members_size(), 2) << "partition " << p;
  }
  ASSERT_TRUE(client->RefreshPartitionTable().ok());
  for (int k = 0; k < 40; ++k) {
    examples::GetRequest get;
    get.set_name("kept" + std::to_string(k));
    absl::StatusOr<examples::GetResponse> value = counter->Get(get);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value(), k + 1) << get.name();
  }
}

// A store outage ends every session at once (etcd revoking leases that could not be renewed).
// The first member back takes the planner role while the others are still away: it must not
// promote them out of the table, which would reset every partition they held alone.
class RecoveryPlannerTest : public PlannerTest {
 protected:
  void SetUp() override {
    recovery_grace_ = absl::Seconds(5);
    PlannerTest::SetUp();
  }
};

TEST_F(RecoveryPlannerTest, MembersBackFromAnOutageAreNotPromotedAway) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  for (auto& node : nodes_) store_.AbandonSession(node->session);  // the outage
  Reregister(a);
  absl::StatusOr<Planner::Round> first = a.planner->RunRound(a.session);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, Planner::Outcome::kWaiting);  // the others may come back
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kWaiting);
  for (int i = 1; i < 3; ++i) Reregister(*nodes_[i]);
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kSettled);
  EXPECT_EQ(Committed()->version(), 1);  // nobody was promoted: the cluster resumes as it was
  EXPECT_EQ(Committed()->member_count(), 3);
}

TEST_F(RecoveryPlannerTest, AMemberStillAwayAfterTheGraceIsTakenForCrashed) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  for (auto& node : nodes_) store_.AbandonSession(node->session);
  Reregister(a);
  Reregister(*nodes_[1]);
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kWaiting);
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  EXPECT_EQ(Committed()->member_count(), 2);
  EXPECT_EQ(Committed()->MemberIndex(nodes_[2]->member->id()), -1);
}

// A member the planner saw registered in its own term and that then went away crashed: its
// session ended while the store was there to see it. No grace.
TEST_F(RecoveryPlannerTest, AMemberSeenInTheTermIsPromotedAtOnce) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  store_.AbandonSession(nodes_[2]->session);
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  EXPECT_EQ(Committed()->MemberIndex(nodes_[2]->member->id()), -1);
}

// Two members crash at once (with one backup): the partitions they held both are lost. One of
// them was only away and registers again before it learns it was replaced, offering nothing
// yet: the planner does not make it a new member (its offer would then be refused), but waits
// for the offer, which brings the partitions back with their data.
TEST_F(RecoveryPlannerTest, ALastHolderBackWithoutItsOfferYetIsAwaitedNotRebalancedIn) {
  Node& a = *nodes_[0];
  Node& b = *nodes_[1];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  store_.AbandonSession(b.session);
  store_.AbandonSession(nodes_[2]->session);
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  std::shared_ptr<const PartitionTable> lost = Committed();
  std::vector<int> lost_from_b;
  for (int p = 0; p < lost->partition_count(); ++p) {
    if (lost->LostFrom(p, b.member->id())) lost_from_b.push_back(p);
  }
  ASSERT_FALSE(lost_from_b.empty());

  Reregister(b);  // no offer yet
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kWaiting);
  EXPECT_EQ(Committed()->version(), lost->version());

  v1::MemberInfo offer = CoreOf(*b.member).Info();
  for (int p : lost_from_b) {
    v1::HeldReplica& held = *offer.add_held();
    held.set_partition(p);
    held.set_sequence(0);
  }
  ASSERT_TRUE(store_.Register(b.session, offer).ok());
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  std::shared_ptr<const PartitionTable> restored = Committed();
  for (int p : lost_from_b) {
    EXPECT_FALSE(restored->lost(p)) << "partition " << p;
    EXPECT_EQ(restored->member(restored->Owner(p)).id(), b.member->id()) << "partition " << p;
  }
}

TEST_F(RecoveryPlannerTest, ALastHolderThatNeverOffersJoinsAsANewMemberAfterTheGrace) {
  Node& a = *nodes_[0];
  Node& b = *nodes_[1];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  store_.AbandonSession(b.session);
  store_.AbandonSession(nodes_[2]->session);
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  Reregister(b);
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kWaiting);
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  EXPECT_GE(Committed()->MemberIndex(b.member->id()), 0);
}

// A peer that is paused, or cut off without its connection breaking: it takes calls and never
// answers a stream. Sync sends the first chunk of a replica, then nothing; CopyReplica reports
// nothing. Other calls are answered OK. Streams end when their caller gives up.
class SilentPeer final : public v1::Peer::CallbackService {
 public:
  SilentPeer() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    info_.set_id("silent");
    info_.set_address(absl::StrCat("127.0.0.1:", port));
    info_.set_peer_address(absl::StrCat("127.0.0.1:", port));
    info_.set_partition_count(kDefaultPartitionCount);
  }
  ~SilentPeer() override { server_->Shutdown(); }

  const v1::MemberInfo& info() const { return info_; }
  int copies() const { return copies_.load(); }

  grpc::ServerWriteReactor<v1::SyncChunk>* Sync(grpc::CallbackServerContext*,
                                                const v1::SyncRequest*) override {
    class FirstChunkOnly final : public grpc::ServerWriteReactor<v1::SyncChunk> {
     public:
      FirstChunkOnly() {
        chunk_.set_sequence(5);
        StartWrite(&chunk_);
      }
      void OnWriteDone(bool) override {}
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }

     private:
      v1::SyncChunk chunk_;
    };
    return new FirstChunkOnly();
  }

  grpc::ServerWriteReactor<v1::CopyReplicaProgress>* CopyReplica(
      grpc::CallbackServerContext*, const v1::CopyReplicaRequest*) override {
    ++copies_;
    class Nothing final : public grpc::ServerWriteReactor<v1::CopyReplicaProgress> {
     public:
      void OnCancel() override { Finish(grpc::Status::CANCELLED); }
      void OnDone() override { delete this; }
    };
    return new Nothing();
  }

  grpc::ServerUnaryReactor* InstallPartitionTable(grpc::CallbackServerContext* ctx,
                                                  const v1::PartitionTable*,
                                                  v1::InstallPartitionTableResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::unique_ptr<grpc::Server> server_;
  v1::MemberInfo info_;
  std::atomic<int> copies_{0};
};

// Copies stall only as long as a copy may go without a chunk, whatever the size of the
// partition: a copy has no deadline of its own (a large partition takes long), so without the
// per-chunk deadline these tests would wait forever.
class StalledCopyTest : public PlannerTest {
 protected:
  void SetUp() override {
    tunables_.copy_idle_timeout = absl::Milliseconds(200);
    tunables_.control_timeout = absl::Milliseconds(300);
    PlannerTest::SetUp();
  }
};

TEST_F(StalledCopyTest, APlannerGivesUpOnADestinationThatReportsNothing) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  SilentPeer silent;
  const int64_t session = store_.OpenSession(absl::Seconds(10), SessionEvents{}).value();
  ASSERT_TRUE(store_.Register(session, silent.info()).ok());

  absl::StatusOr<Planner::Round> round = a.planner->RunRound(a.session);
  EXPECT_THAT(round, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("failed twice")));
  // It stalled the copies sent to it at once; after that the round failed the others at once.
  EXPECT_GT(silent.copies(), 0);
  EXPECT_LE(silent.copies(), tunables_.migration_parallelism);
  std::shared_ptr<const PartitionTable> table = Committed();
  const int index = table->MemberIndex("silent");
  for (int p = 0; p < table->partition_count(); ++p) {
    EXPECT_EQ(table->ReplicaIndex(p, index), -1) << "partition " << p;
  }
}

TEST_F(StalledCopyTest, ADestinationGivesUpOnASourceThatStopsSending) {
  Node& a = *nodes_[0];
  ASSERT_EQ(a.planner->RunRound(a.session)->outcome, Planner::Outcome::kChanged);
  // The destination learns of a table in which the silent peer is the source of partition 0.
  SilentPeer silent;
  v1::PartitionTable proto = Committed()->proto();
  proto.set_version(proto.version() + 1);
  *proto.add_members() = silent.info();
  proto.mutable_partitions(0)->clear_members();
  proto.mutable_partitions(0)->add_members(proto.members_size() - 1);
  MemberCore& destination = CoreOf(*a.member);
  destination.partitions().Observe(
      std::make_shared<const PartitionTable>(PartitionTable::FromProto(proto).value()));

  v1::CopyReplicaRequest copy;
  copy.set_partition(0);
  copy.set_source_member_id("silent");
  grpc::ClientContext context;
  auto stream = v1::Peer::NewStub(a.member->PeerChannelForTest())->CopyReplica(&context, copy);
  v1::CopyReplicaProgress progress;
  ASSERT_TRUE(stream->Read(&progress));  // the first chunk arrived
  EXPECT_GT(progress.bytes(), 0);
  while (stream->Read(&progress)) {
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("sent nothing for 200ms (after 1 chunks)"));
}

}  // namespace
}  // namespace gridrpc::internal
