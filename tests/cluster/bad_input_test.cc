// Bad input gets a precise status, the member keeps serving, and no container changes.
#include "cluster/cluster_fixture.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/wire.h"
#include "gridrpc/peer.grpc.pb.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public ClusterTest {
 protected:
  void SetUp() override {
    StartCluster(2);
    ASSERT_TRUE(counter_->Inc(Inc("victim", 7)).ok());
    channel_ = OwnerOf("victim").InProcessChannel();
  }

  // After every refusal: the member still serves and the counter is untouched.
  void TearDown() override {
    EXPECT_EQ(CounterValue("victim"), 7);
    EXPECT_EQ(log_.Of("Inc").size(), 1u);
  }

  std::string VictimPartition() {
    return std::to_string(PartitionOf(KeyHash(std::string_view("victim")), kDefaultPartitionCount));
  }

  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BadInputTest, UnparsableRequestIsInvalidArgument) {
  RawResult r = RawCall(channel_, "/examples.Counter/Inc", std::string("\xff\xff\xff\xff", 4),
                        {{internal::kPartitionKey, VictimPartition()}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.status.error_message(),
            "request to /examples.Counter/Inc does not parse as examples.IncRequest");
}

TEST_F(BadInputTest, UnknownMethodIsUnimplemented) {
  RawResult r = RawCall(channel_, "/examples.Counter/Dec", Inc("victim", 1).SerializeAsString());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(r.status.error_message(), "service examples.Counter has no method Dec");
}

TEST_F(BadInputTest, UnknownServiceIsUnimplemented) {
  RawResult r = RawCall(channel_, "/examples.Nope/Inc", Inc("victim", 1).SerializeAsString());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(r.status.error_message(), HasSubstr("hosts no service examples.Nope"));
}

TEST_F(BadInputTest, RoutingPathThroughAnAbsentMessageIsInvalidArgument) {
  // An Index without a document, from a plain client: the member cannot route it.
  RawResult r = RawCall(channel_, "/examples.SearchService/Index",
                        examples::IndexRequest().SerializeAsString());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("routing path 'document.id' runs through 'document', which is not set"));
  EXPECT_TRUE(log_.Of("Index").empty());
}

TEST_F(BadInputTest, PartitionMetadataThatIsNotANumberIsInvalidArgument) {
  RawResult r = RawCall(channel_, "/examples.Counter/Inc", Inc("victim", 1).SerializeAsString(),
                        {{internal::kPartitionKey, "seventeen"}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r.status.error_message(),
            "metadata gridrpc-partition: 'seventeen' is not a partition id");
}

TEST_F(BadInputTest, PartitionMetadataOutOfRangeIsInvalidArgument) {
  for (const char* bad : {"271", "100000"}) {
    RawResult r = RawCall(channel_, "/examples.Counter/Inc", Inc("victim", 1).SerializeAsString(),
                          {{internal::kPartitionKey, bad}});
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(r.status.error_message(), HasSubstr("out of range [0, 271)"));
  }
}

// A keyed call whose partition hint is not where its key is would write where reads by key
// never look: refused, unless a routing handler chose the partition (and says so).
TEST_F(BadInputTest, APartitionHintThatDisagreesWithTheKeyIsInvalidArgument) {
  const std::string elsewhere = std::to_string((std::stoi(VictimPartition()) + 1) % 271);
  RawResult r = RawCall(channel_, "/examples.Counter/Inc", Inc("victim", 1).SerializeAsString(),
                        {{internal::kPartitionKey, elsewhere}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(r.status.error_message(),
              HasSubstr("is not the partition of the call's routing key (name)"));
  // The same hint on a forwarded call (from a stranger claiming to be a member) is refused too.
  r = RawCall(NonOwnerOf("victim").InProcessChannel(), "/examples.Counter/Inc",
              Inc("victim", 1).SerializeAsString(),
              {{internal::kPartitionKey, elsewhere}, {internal::kForwardedKey, "1"}});
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// The coordinators' control calls check what they are sent, and refusing changes nothing (the
// fixture's TearDown reads the counter, which a frozen partition would refuse).
TEST_F(BadInputTest, ControlPlaneCallsRefuseBadInput) {
  auto stub = v1::Peer::NewStub(OwnerOf("victim").PeerChannelForTest());
  {
    grpc::ClientContext context;
    v1::BeginMigrationRequest request;
    request.add_partitions(std::stoi(VictimPartition()));
    request.add_partitions(271);
    v1::BeginMigrationResponse response;
    const grpc::Status status = stub->BeginMigration(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "partition 271 out of range");
  }
  {
    grpc::ClientContext context;
    v1::CopyReplicaRequest request;
    request.set_partition(std::stoi(VictimPartition()));
    auto stream = stub->CopyReplica(&context, request);
    v1::CopyReplicaProgress progress;
    EXPECT_FALSE(stream->Read(&progress));
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("names no source"));
  }
  {
    grpc::ClientContext context;
    v1::PartitionTable stale = cluster_->partition_table()->proto();  // the version it has
    v1::InstallPartitionTableResponse response;
    const grpc::Status status = stub->InstallPartitionTable(&context, stale, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(), HasSubstr("is not newer than"));
  }
  {
    grpc::ClientContext context;
    v1::MigrationEvent event;  // no kind
    v1::ReportMigrationResponse response;
    const grpc::Status status = stub->ReportMigration(&context, event, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("unknown kind 0"));
  }
  // The victim's partition was not frozen by the refused request: TearDown still reads it.
}

}  // namespace
}  // namespace gridrpc::testing
