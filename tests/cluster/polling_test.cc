// The seed's calculation with polling: members pull tasks from their own partitions only, and
// when members join, leave or crash, the work moves with the partitions and every task gets
// exactly one recorded result.
#include "calculator_service.h"
#include "cluster/cluster_fixture.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

class PollingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = EmbeddedCluster::Start({.members = 3}, [this](Member& m) {
                 auto calculator = std::make_unique<examples::CalculatorImpl>(
                     examples::CalculatorImpl::Options{.idle_pause = absl::Milliseconds(5)});
                 calculators_.push_back(calculator.get());
                 return m.AddService(std::move(calculator));
               }).value();
    client_ = Client::Create({.members = cluster_->addresses()}).value();
    calculator_ = ProxyBuilder<examples::Calculator>(*client_).Build();
  }

  void Submit(int count) {
    for (int i = 0; i < count; ++i) {
      examples::Task task;
      task.set_id("task-" + std::to_string(i));
      task.set_a(i);
      task.set_b(1000);
      ASSERT_TRUE(calculator_->Submit(task).ok());
    }
  }

  // Every task has its result, computed right, by a member that was its partition's primary.
  void ExpectAllDone(int count) {
    for (int i = 0; i < count; ++i) {
      examples::ResultRequest request;
      request.set_id("task-" + std::to_string(i));
      absl::StatusOr<examples::ResultResponse> result;
      ASSERT_TRUE(WaitUntil([&] {
        result = calculator_->GetResult(request);
        return result.ok() && result->done();
      })) << request.id()
          << " partition "
          << PartitionOf(KeyHash(std::string_view(request.id())), kDefaultPartitionCount) << ": "
          << (result.ok() ? result->ShortDebugString() : result.status().ToString());
      EXPECT_EQ(result->result(), i + 1000);
      EXPECT_FALSE(result->member().empty());
    }
  }

  int64_t Computed() {
    int64_t total = 0;
    for (const auto* c : calculators_) total += c->computed();
    return total;
  }

  std::vector<examples::CalculatorImpl*> calculators_;  // by member, outlives the cluster
  std::unique_ptr<EmbeddedCluster> cluster_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<examples::Calculator::Proxy> calculator_;
};

TEST_F(PollingTest, EveryMemberComputesOnlyItsOwnPartitionsTasks) {
  Submit(200);
  ExpectAllDone(200);
  EXPECT_EQ(Computed(), 200);  // nothing moved: no task computed twice
  const auto table = cluster_->partition_table();
  for (int i = 0; i < 200; ++i) {
    examples::ResultRequest request;
    request.set_id("task-" + std::to_string(i));
    const int p = PartitionOf(KeyHash(std::string_view(request.id())), kDefaultPartitionCount);
    EXPECT_EQ(calculator_->GetResult(request)->member(), table->member(table->Owner(p)).id());
  }
  int busy_members = 0;
  for (const auto* c : calculators_) busy_members += c->computed() > 0;
  EXPECT_EQ(busy_members, 3);
}

TEST_F(PollingTest, WorkMovesWithPartitionsAcrossJoinLeaveAndCrash) {
  Submit(300);
  ASSERT_TRUE(cluster_->AddMember().ok());
  ASSERT_TRUE(cluster_->RemoveMember(1).ok());
  ASSERT_TRUE(cluster_->Crash(0).ok());
  ExpectAllDone(300);
  // A task in a worker's hands while its partition moved may be computed again by the new
  // owner; its result is still recorded once (Complete is idempotent).
  EXPECT_GE(Computed(), 300);
}

}  // namespace
}  // namespace gridrpc::testing
