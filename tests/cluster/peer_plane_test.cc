// The peer plane is apart and authenticated: the client port serves no peer method, the peer
// port refuses callers that are not members (and changes nothing for them), and what members
// send is checked as if a stranger had sent it. With TLS, clients and peers talk TLS, and peers
// prove themselves with certificates the cluster's CA signed.
#include <google/protobuf/descriptor.h>

#include <filesystem>

#include "cluster/cluster_fixture.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/partition_table.h"
#include "gridrpc/peer.grpc.pb.h"
#include "test_util.h"
#include "testing/certs.h"

namespace gridrpc::testing {
namespace {

using ::testing::HasSubstr;

// Every method of gridrpc.v1.Peer, with a request that would do harm if it were obeyed.
struct HarmfulCall {
  std::string method;
  std::string request;
};

class PeerPlaneTest : public ClusterTest {
 protected:
  void SetUp() override {
    StartCluster(3);
    for (int k = 0; k < 10; ++k) ASSERT_TRUE(counter_->Inc(Inc(Name(k), k + 1)).ok());
  }

  static std::string Name(int k) { return "guarded-" + std::to_string(k); }

  // After every refusal: the cluster routes, serves and replicates as before.
  void ExpectNothingChanged() {
    for (int k = 0; k < 10; ++k) EXPECT_EQ(CounterValue(Name(k)), k + 1) << Name(k);
    EXPECT_EQ(cluster_->partition_table()->version(), 1);
    for (int m = 0; m < cluster_->size(); ++m) {
      EXPECT_EQ(cluster_->member(m).partition_table()->version(), 1) << "member " << m;
    }
  }

  int PartitionOfKey(std::string_view key) {
    return PartitionOf(KeyHash(key), kDefaultPartitionCount);
  }

  std::vector<HarmfulCall> HarmfulCalls() {
    const int p = PartitionOfKey(Name(0));
    std::vector<HarmfulCall> calls;
    {  // replaces an acknowledged write on a backup
      v1::BackupRequest backup;
      backup.set_partition(p);
      backup.set_table_version(1);
      backup.set_sequence(2);
      backup.set_method("/examples.Counter/Inc");
      backup.set_lookup_name("examples.Counter");
      backup.set_request(Inc(Name(0), 1000000).SerializeAsString());
      backup.set_primary_id(OwnerOf(Name(0)).id());
      calls.push_back({"Backup", backup.SerializeAsString()});
    }
    {  // hands the partition out
      v1::SyncRequest sync;
      sync.set_partition(p);
      calls.push_back({"Sync", sync.SerializeAsString()});
    }
    {  // freezes every partition
      v1::BeginMigrationRequest freeze;
      for (int q = 0; q < kDefaultPartitionCount; ++q) freeze.add_partitions(q);
      freeze.set_until_version(1000);
      calls.push_back({"BeginMigration", freeze.SerializeAsString()});
    }
    {  // overwrites a replica from elsewhere
      v1::CopyReplicaRequest copy;
      copy.set_partition(p);
      copy.set_source_member_id(NonOwnerOf(Name(0)).id());
      calls.push_back({"CopyReplica", copy.SerializeAsString()});
    }
    {  // splits routing: every partition to one member
      v1::PartitionTable table = cluster_->partition_table()->proto();
      table.set_version(100);
      for (auto& replicas : *table.mutable_partitions()) {
        replicas.clear_members();
        replicas.add_members(0);
      }
      calls.push_back({"InstallPartitionTable", table.SerializeAsString()});
    }
    {  // spoofs listeners
      v1::MigrationEvent event;
      event.set_kind(v1::MigrationEvent::MIGRATION_STARTED);
      calls.push_back({"ReportMigration", event.SerializeAsString()});
    }
    {  // discards data (a partition that is not lost is refused anyway, once admitted)
      v1::ResetLostPartitionsRequest reset;
      reset.add_partitions(p);
      calls.push_back({"ResetLostPartitions", reset.SerializeAsString()});
    }
    return calls;
  }
};

TEST_F(PeerPlaneTest, HarmfulCallsCoverEveryPeerMethod) {
  const google::protobuf::ServiceDescriptor* peer =
      v1::BackupRequest::descriptor()->file()->FindServiceByName("Peer");
  ASSERT_NE(peer, nullptr);
  std::set<std::string> covered;
  for (const HarmfulCall& call : HarmfulCalls()) covered.insert(call.method);
  std::set<std::string> methods;
  for (int i = 0; i < peer->method_count(); ++i) methods.insert(peer->method(i)->name());
  EXPECT_EQ(covered, methods);
}

TEST_F(PeerPlaneTest, TheClientPortServesNoPeerMethod) {
  for (int m = 0; m < cluster_->size(); ++m) {
    for (const HarmfulCall& call : HarmfulCalls()) {
      for (const char* service : {"gridrpc.v1.Peer", "gridrpc.v1.Cluster"}) {
        const std::string path = absl::StrCat("/", service, "/", call.method);
        RawResult r = RawCall(cluster_->member(m).InProcessChannel(), path, call.request);
        EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << path;
        EXPECT_THAT(r.status.error_message(), std::string_view(service) == "gridrpc.v1.Peer"
                                                  ? HasSubstr("served only on the peer port")
                                                  : HasSubstr("has no method " + call.method))
            << path;
      }
    }
  }
  ExpectNothingChanged();
}

TEST_F(PeerPlaneTest, ThePeerPortRefusesCallersWithoutTheClusterSecret) {
  for (const std::map<std::string, std::string>& metadata :
       std::vector<std::map<std::string, std::string>>{
           {}, {{"gridrpc-cluster-secret", "guessed"}}, {{"gridrpc-cluster-secret", ""}}}) {
    for (int m = 0; m < cluster_->size(); ++m) {
      auto channel = grpc::CreateChannel(cluster_->member(m).peer_address(),
                                         grpc::InsecureChannelCredentials());
      for (const HarmfulCall& call : HarmfulCalls()) {
        RawResult r = RawCall(channel, "/gridrpc.v1.Peer/" + call.method, call.request, metadata);
        EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << call.method;
        EXPECT_THAT(r.status.error_message(), HasSubstr("admits members only"));
        EXPECT_TRUE(r.response.empty()) << call.method;  // Sync handed nothing out
      }
    }
  }
  ExpectNothingChanged();
  // The forged backup did not land: the backup promoted by a crash holds the true value.
  Member& primary = OwnerOf(Name(0));
  for (int m = 0; m < cluster_->size(); ++m) {
    if (&cluster_->member(m) == &primary) ASSERT_TRUE(cluster_->Crash(m).ok());
  }
  EXPECT_EQ(CounterValue(Name(0)), 1);
}

// What authenticated peers send is still checked: a copy names a member of the table, a
// request parses, a broadcast runs each partition once.
TEST_F(PeerPlaneTest, ACopyFromSomeoneOutsideTheTableIsRefused) {
  const int p = PartitionOfKey(Name(3));
  Member& backup = NonOwnerOf(Name(3));
  v1::CopyReplicaRequest copy;
  copy.set_partition(p);
  copy.set_source_member_id("a-member-nobody-knows");
  grpc::ClientContext context;
  auto stream = v1::Peer::NewStub(backup.PeerChannelForTest())->CopyReplica(&context, copy);
  v1::CopyReplicaProgress progress;
  EXPECT_FALSE(stream->Read(&progress));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("not a member of the table"));
  ExpectNothingChanged();
}

TEST_F(PeerPlaneTest, UnparsableControlRequestsAreInvalidArgumentNamingTheMethod) {
  const std::string garbage("\xff\xff\xff\xff", 4);
  Member& member = cluster_->member(0);
  for (const HarmfulCall& call : HarmfulCalls()) {
    RawResult r = RawCall(member.PeerChannelForTest(), "/gridrpc.v1.Peer/" + call.method, garbage);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << call.method;
    EXPECT_THAT(r.status.error_message(),
                HasSubstr("request to /gridrpc.v1.Peer/" + call.method + " does not parse as "));
  }
  for (const char* method : {"GetPartitionTable", "Broadcast", "GetReplicaSequences"}) {
    RawResult r =
        RawCall(member.InProcessChannel(), absl::StrCat("/gridrpc.v1.Cluster/", method), garbage);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(r.status.error_message(),
                HasSubstr(absl::StrCat("request to /gridrpc.v1.Cluster/", method)));
  }
  ExpectNothingChanged();
}

TEST_F(PeerPlaneTest, ABroadcastListingAPartitionTwiceIsRefused) {
  Member& owner = OwnerOf(Name(1));
  v1::BroadcastRequest broadcast;
  broadcast.set_method("/examples.Counter/Inc");
  broadcast.set_request(Inc(Name(1), 1).SerializeAsString());
  for (int i = 0; i < 500; ++i) broadcast.add_partitions(PartitionOfKey(Name(1)));
  grpc::ClientContext context;
  v1::BroadcastResponse response;
  grpc::Status status =
      v1::Cluster::NewStub(owner.InProcessChannel())->Broadcast(&context, broadcast, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("is listed more than once"));
  ExpectNothingChanged();
}

// A cluster whose members hold certificates of one CA: clients use TLS, peers mutual TLS.
class TlsClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gridrpc-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    absl::StatusOr<std::unique_ptr<TestCertificates>> certs = TestCertificates::Make(dir_);
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *std::move(certs);
    absl::StatusOr<std::unique_ptr<EmbeddedCluster>> cluster = EmbeddedCluster::Start(
        {.members = 3, .tls = certs_->Member()}, examples::AddExampleServices);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }
  void TearDown() override {
    cluster_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(const std::string& cert = "") {
    grpc::SslCredentialsOptions options{.pem_root_certs = certs_->Read("ca", "pem")};
    if (!cert.empty()) {
      options.pem_private_key = certs_->Read(cert, "key");
      options.pem_cert_chain = certs_->Read(cert, "pem");
    }
    return grpc::SslCredentials(options);
  }

  std::string dir_;
  std::unique_ptr<TestCertificates> certs_;
  std::unique_ptr<EmbeddedCluster> cluster_;
};

TEST_F(TlsClusterTest, ClientsCallOverTlsAndBackupsCrossMutualTls) {
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create({.members = cluster_->addresses(), .credentials = ClientCredentials()});
  ASSERT_TRUE(client.ok()) << client.status();
  auto counter = ProxyBuilder<examples::Counter>(**client).Build();
  examples::IncRequest inc;
  inc.set_name("secure");
  inc.set_amount(5);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(counter->Inc(inc).ok());
  // The backups crossed the peer ports: after the primary crashes its backup has every write.
  const auto table = cluster_->partition_table();
  const int p = PartitionOf(KeyHash(std::string_view("secure")), table->partition_count());
  const std::string primary = table->member(table->Owner(p)).id();
  for (int m = 0; m < cluster_->size(); ++m) {
    if (cluster_->member(m).id() == primary) ASSERT_TRUE(cluster_->Crash(m).ok());
  }
  examples::GetRequest get;
  get.set_name("secure");
  absl::StatusOr<examples::GetResponse> value = counter->Get(get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 15);

  // A plaintext client reaches nothing.
  absl::StatusOr<std::unique_ptr<Client>> plaintext = Client::Create(
      {.members = cluster_->addresses(), .connect_timeout = absl::Milliseconds(500)});
  EXPECT_FALSE(plaintext.ok());
}

TEST_F(TlsClusterTest, ThePeerPortAdmitsOnlyCertificatesOfTheClustersCa) {
  Member& member = cluster_->member(0);
  v1::PartitionTable current = cluster_->partition_table()->proto();
  auto install = [&](std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto stub = v1::Peer::NewStub(grpc::CreateChannel(member.peer_address(), credentials));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::InstallPartitionTableResponse response;
    return stub->InstallPartitionTable(&context, current, &response);
  };
  // TLS, but no certificate: refused, named.
  grpc::Status anonymous = install(ClientCredentials());
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(anonymous.error_message(), HasSubstr("no certificate signed by the cluster's CA"));
  // A certificate of another CA: the handshake fails, no call is made.
  EXPECT_EQ(install(ClientCredentials("stranger")).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A member's certificate: admitted, and then the table is judged (it is not newer).
  grpc::Status admitted = install(ClientCredentials("member"));
  EXPECT_EQ(admitted.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(admitted.error_message(), HasSubstr("is not newer than"));
}

}  // namespace
}  // namespace gridrpc::testing
