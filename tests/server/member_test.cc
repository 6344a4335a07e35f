// Member lifecycle: the SPI calls, health checking, the partition table it serves by.
#include "gridrpc/member.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "example_services.h"
#include "gridrpc/embedded_cluster.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "member/member_core.h"
#include "test_util.h"
#include "testing/fake_clock.h"

namespace gridrpc {
namespace {

using ::gridrpc::testing::RawCall;
using ::gridrpc::testing::RawResult;
using ::gridrpc::testing::StatusIs;
using ::testing::HasSubstr;

struct Lifecycle {
  std::string init_address;
  std::string init_property;
  int shutdowns = 0;
};

class LifecycleCounter final : public examples::CounterImpl {
 public:
  explicit LifecycleCounter(Lifecycle& seen) : seen_(seen) {}
  absl::Status Init(const MemberContext& member, const Properties& properties) override {
    seen_.init_address = member.address();
    if (auto it = properties.find("color"); it != properties.end())
      seen_.init_property = it->second;
    if (properties.contains("fail_init")) return absl::InternalError("refusing to start");
    return CounterImpl::Init(member, properties);
  }
  void Shutdown(bool terminate) override { ++seen_.shutdowns; }

 private:
  Lifecycle& seen_;
};

std::unique_ptr<Member> NewMember(Properties properties = {}) {
  return Member::Create({.properties = std::move(properties)}).value();
}

TEST(MemberTest, InitSeesPropertiesAndAddressAndShutdownIsCalledOnce) {
  Lifecycle seen;
  auto member = NewMember({{"color", "blue"}});
  ASSERT_TRUE(member->AddService(std::make_unique<LifecycleCounter>(seen)).ok());
  ASSERT_TRUE(member->Start().ok());
  EXPECT_EQ(seen.init_property, "blue");
  EXPECT_EQ(seen.init_address, member->address());
  EXPECT_THAT(member->address(), HasSubstr("127.0.0.1:"));
  member->Shutdown();
  member->Shutdown();
  EXPECT_EQ(seen.shutdowns, 1);
}

TEST(MemberTest, FailingInitFailsStart) {
  Lifecycle seen;
  auto member = NewMember({{"fail_init", ""}});
  ASSERT_TRUE(member->AddService(std::make_unique<LifecycleCounter>(seen)).ok());
  EXPECT_THAT(member->Start(), StatusIs(absl::StatusCode::kInternal,
                                        HasSubstr("examples.Counter.Init failed: refusing")));
}

TEST(MemberTest, RejectsDuplicateAndLateServices) {
  auto member = NewMember();
  ASSERT_TRUE(member->AddService(std::make_unique<examples::CounterImpl>()).ok());
  EXPECT_THAT(member->AddService(std::make_unique<examples::CounterImpl>()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("examples.Counter")));
  ASSERT_TRUE(member->Start().ok());
  EXPECT_THAT(member->AddService(std::make_unique<examples::DataProcessorImpl>()),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

TEST(MemberTest, RefusesCallsUntilItHasAPartitionTable) {
  auto member = NewMember();
  ASSERT_TRUE(examples::AddExampleServices(*member).ok());
  ASSERT_TRUE(member->Start().ok());
  examples::IncRequest inc;
  inc.set_name("x");
  inc.set_amount(1);
  RawResult r =
      RawCall(member->InProcessChannel(), "/examples.Counter/Inc", inc.SerializeAsString());
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(r.status.error_message(), HasSubstr("has no partition table yet"));

  ASSERT_TRUE(member->InstallPartitionTable(SingleMemberTable(*member)).ok());
  r = RawCall(member->InProcessChannel(), "/examples.Counter/Inc", inc.SerializeAsString());
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
}

TEST(MemberTest, InstallPartitionTableChecksTheTable) {
  auto member = NewMember();
  ASSERT_TRUE(member->Start().ok());
  v1::MemberInfo self;
  self.set_id(member->id());
  self.set_address(member->address());
  v1::MemberInfo other;
  other.set_id("other");
  EXPECT_THAT(member->InstallPartitionTable(std::make_shared<const PartitionTable>(
                  PartitionTable::Plan("dev", 1, {self}, 7, 0))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 7 partitions")));
  EXPECT_THAT(member->InstallPartitionTable(std::make_shared<const PartitionTable>(
                  PartitionTable::Plan("dev", 1, {other}, kDefaultPartitionCount, 0))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not list member")));
  ASSERT_TRUE(member->InstallPartitionTable(SingleMemberTable(*member)).ok());
  EXPECT_THAT(member->InstallPartitionTable(SingleMemberTable(*member)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not newer")));
}

TEST(MemberTest, ResetDropsPartitionStateAndResetsServices) {
  struct Resettable final : examples::CounterImpl {
    explicit Resettable(int& resets) : resets(resets) {}
    void Reset() override { ++resets; }
    int& resets;
  };
  int resets = 0;
  auto member = NewMember();
  ASSERT_TRUE(member->AddService(std::make_unique<Resettable>(resets)).ok());
  ASSERT_TRUE(member->Start().ok());
  ASSERT_TRUE(member->InstallPartitionTable(SingleMemberTable(*member)).ok());
  examples::IncRequest inc;
  inc.set_name("x");
  inc.set_amount(4);
  ASSERT_TRUE(RawCall(member->InProcessChannel(), "/examples.Counter/Inc", inc.SerializeAsString())
                  .status.ok());
  member->Reset();
  EXPECT_EQ(resets, 1);
  examples::GetRequest get;
  get.set_name("x");
  RawResult r =
      RawCall(member->InProcessChannel(), "/examples.Counter/Get", get.SerializeAsString());
  ASSERT_TRUE(r.status.ok());
  examples::GetResponse value;
  ASSERT_TRUE(value.ParseFromString(r.response));
  EXPECT_EQ(value.value(), 0);
}

TEST(MemberTest, ServesGrpcHealthChecking) {
  auto member = NewMember();
  ASSERT_TRUE(examples::AddExampleServices(*member).ok());
  ASSERT_TRUE(member->Start().ok());
  auto health = grpc::health::v1::Health::NewStub(member->InProcessChannel());
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace gridrpc

namespace gridrpc {
namespace {

using ::gridrpc::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MemberTest, AnAddressInUseFailsStartNamingIt) {
  auto first = Member::Create({}).value();
  ASSERT_TRUE(first->Start().ok());
  // gRPC would share the port (SO_REUSEPORT) if the member let it.
  auto second = Member::Create({.listen = first->address()}).value();
  EXPECT_THAT(second->Start(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(first->address())));
  auto peer_clash = Member::Create({.peer_listen = first->peer_address()}).value();
  EXPECT_THAT(peer_clash->Start(), StatusIs(absl::StatusCode::kUnavailable,
                                            HasSubstr(first->peer_address() + " (peer port)")));
}

TEST(MemberTest, IncompleteTlsOptionsAreRefusedAtCreate) {
  EXPECT_THAT(Member::Create({.tls = {.cert_chain = "-----BEGIN CERTIFICATE-----"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("private key")));
  EXPECT_THAT(Member::Create({.tls = {.ca_certs = "-----BEGIN CERTIFICATE-----"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs the member's")));
  EXPECT_THAT(Member::Create({.tls = {.cert_chain = "not a certificate", .private_key = "x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PEM certificate")));
  EXPECT_THAT(LoadTlsFiles("/nonexistent/member.pem", "", ""),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/member.pem")));
}

TEST(MemberTest, BadTunablesAreRefusedAtCreate) {
  EXPECT_THAT(Member::Create({.tunables = {.executor_workers = 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("executor_workers")));
  EXPECT_THAT(Member::Create({.tunables = {.backup_timeout = absl::ZeroDuration()}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("timeouts")));
}

// Labels travel in MemberInfo (the table operators and the planner read), so what would garble
// them is refused at Create, naming the label.
TEST(MemberTest, LabelsAreCheckedAtCreateAndPublished) {
  EXPECT_THAT(Member::Create({.labels = {{"", "a"}}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty key")));
  EXPECT_THAT(Member::Create({.labels = {{"zone", "eu\n1"}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value of label 'zone' ('eu\\n1') holds a control character")));
  EXPECT_THAT(Member::Create({.labels = {{"zo\x7fne", "a"}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key of label 'zo\\x7fne' holds a control character")));
  std::unique_ptr<Member> member =
      Member::Create({.labels = {{"zone", "europe-west1-b"}, {"team", "search"}}}).value();
  const v1::MemberInfo info = internal::CoreOf(*member).Info();
  EXPECT_EQ(info.labels().size(), 2);
  EXPECT_EQ(info.labels().at("zone"), "europe-west1-b");
  EXPECT_EQ(info.labels().at("team"), "search");
}

// Membership changes run while other threads read the cluster's members and table.
TEST(EmbeddedClusterTest, MembersCanBeReadWhileOthersJoin) {
  auto cluster = EmbeddedCluster::Start({.members = 1}, examples::AddExampleServices).value();
  std::atomic<bool> joining{true};
  std::thread joins([&] {
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(cluster->AddMember().ok());
    joining = false;
  });
  int reads = 0;
  while (joining || reads == 0) {
    for (int m = 0; m < cluster->size(); ++m) {
      EXPECT_FALSE(cluster->member(m).address().empty());
      EXPECT_EQ(cluster->FindMember(cluster->member(m).id()), &cluster->member(m));
    }
    EXPECT_EQ(cluster->addresses().size(), static_cast<size_t>(cluster->size()));
    EXPECT_NE(cluster->partition_table(), nullptr);
    ++reads;
  }
  joins.join();
  EXPECT_EQ(cluster->partition_table()->member_count(), 4);
}

}  // namespace
}  // namespace gridrpc

namespace gridrpc {
namespace {

using ::gridrpc::testing::FakeClock;

// A member acts on its membership only until its session is certainly alive, by its own clock:
// past that it answers no read and no write, before it has heard anything from its store.
TEST(MemberTest, AMemberPastItsSessionAnswersNothingUntilRenewed) {
  FakeClock clock;
  auto member = Member::Create({.cluster_secret = "s", .clock = &clock}).value();
  ASSERT_TRUE(examples::AddExampleServices(*member).ok());
  ASSERT_TRUE(member->Start().ok());
  ASSERT_TRUE(member->InstallPartitionTable(SingleMemberTable(*member)).ok());
  internal::Partitions& partitions = internal::CoreOf(*member).partitions();
  partitions.set_valid_until(clock.Now() + absl::Seconds(2));

  examples::IncRequest inc;
  inc.set_name("fenced");
  inc.set_amount(1);
  examples::GetRequest get;
  get.set_name("fenced");
  ASSERT_TRUE(RawCall(member->InProcessChannel(), "/examples.Counter/Inc", inc.SerializeAsString())
                  .status.ok());
  clock.Advance(absl::Seconds(3));  // the session may have expired
  for (const auto& [method, request] :
       {std::pair{"/examples.Counter/Inc", inc.SerializeAsString()},
        std::pair{"/examples.Counter/Get", get.SerializeAsString()}}) {
    RawResult r = RawCall(member->InProcessChannel(), method, request);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << method;
    EXPECT_THAT(r.status.error_message(), HasSubstr("cannot confirm its membership")) << method;
    EXPECT_TRUE(r.trailers.contains("gridrpc-wrong-owner")) << method;  // it did not run
  }
  partitions.set_valid_until(clock.Now() + absl::Seconds(2));  // renewed
  RawResult r =
      RawCall(member->InProcessChannel(), "/examples.Counter/Get", get.SerializeAsString());
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  examples::GetResponse value;
  ASSERT_TRUE(value.ParseFromString(r.response));
  EXPECT_EQ(value.value(), 1);  // the refused Inc did not run
}

}  // namespace
}  // namespace gridrpc
