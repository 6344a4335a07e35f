// Clients that report statistics are counted by the member they report to, by name and labels,
// until three periods after their last report; what a stranger reports is bounded.
#include <gmock/gmock.h>
#include <grpcpp/channel.h>
#include <gtest/gtest.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include "alone_member.h"
#include "gridrpc/client.h"
#include "gridrpc/cluster.grpc.pb.h"

namespace gridrpc {
namespace {

using ::testing::HasSubstr;

class ClientStatisticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::AloneMember> alone = testing::StartAloneMember();
    ASSERT_TRUE(alone.ok()) << alone.status();
    alone_ = *std::move(alone);
    member_ = alone_.member.get();
  }

  std::string Metrics() const {
    return prometheus::TextSerializer().Serialize(member_->metrics()->Collect());
  }
  // Waits (bounded) until the member's metrics contain, or no longer contain, `text`.
  bool WaitFor(const std::string& text, bool present) const {
    for (const absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
      if ((Metrics().find(text) != std::string::npos) == present) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  testing::AloneMember alone_;
  Member* member_ = nullptr;
};

TEST_F(ClientStatisticsTest, ReportingClientsAreCountedByNameAndLabelsUntilTheyStop) {
  const std::string two_checkouts =
      "gridrpc_connected_clients{client_labels=\"region=eu,team=shop\",client_name=\"checkout\"} 2";
  {
    ClientOptions options{.members = {member_->address()},
                          .name = "checkout",
                          .labels = {{"team", "shop"}, {"region", "eu"}},
                          .statistics_period = absl::Milliseconds(100)};
    auto first = Client::Create(options).value();
    auto second = Client::Create(options).value();
    auto silent = Client::Create({.members = {member_->address()}, .name = "silent"}).value();
    EXPECT_TRUE(WaitFor(two_checkouts, true)) << Metrics();
    EXPECT_THAT(Metrics(), ::testing::Not(HasSubstr("client_name=\"silent\"")));
  }
  // Gone: forgotten three periods after their last report.
  EXPECT_TRUE(WaitFor("client_name=\"checkout\"", false)) << Metrics();
}

TEST_F(ClientStatisticsTest, BadReportsAreRefusedAndChangeNothing) {
  auto stub = v1::Cluster::NewStub(member_->InProcessChannel());
  auto report = [&](v1::ClientStatistics statistics) {
    grpc::ClientContext context;
    v1::ClientStatisticsResponse response;
    return stub->ReportClientStatistics(&context, statistics, &response);
  };
  v1::ClientStatistics good;
  good.set_client_id("c1");
  good.set_name("ok");
  good.set_period_ms(1000);
  v1::ClientStatistics no_id = good;
  no_id.clear_client_id();
  v1::ClientStatistics long_name = good;
  long_name.set_name(std::string(129, 'x'));
  v1::ClientStatistics many_labels = good;
  for (int i = 0; i < 17; ++i) (*many_labels.mutable_labels())[std::to_string(i)] = "v";
  v1::ClientStatistics fast = good;
  fast.set_period_ms(1);
  for (const v1::ClientStatistics& bad : {no_id, long_name, many_labels, fast}) {
    EXPECT_EQ(report(bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.DebugString();
  }
  EXPECT_THAT(Metrics(), ::testing::Not(HasSubstr("gridrpc_connected_clients{")));
  EXPECT_TRUE(report(good).ok());
  EXPECT_THAT(Metrics(),
              HasSubstr("gridrpc_connected_clients{client_labels=\"\",client_name=\"ok\"} 1"));
}

TEST_F(ClientStatisticsTest, ABadPeriodIsRefusedAtCreate) {
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create({.members = {member_->address()}, .statistics_period = absl::Milliseconds(5)});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("statistics_period"));
}

}  // namespace
}  // namespace gridrpc
