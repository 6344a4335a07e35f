// Zones: six members in three zones, one sync backup per partition. A whole zone dies at once
// (both its members crashed together) and nothing is lost: every partition had its backup in
// another zone. The same crash in a cluster without zones loses the partitions whose two
// replicas were on those two members, so it is the placement that saves the data.
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/partition_table.h"
#include "gridrpc/proxy.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

using Labels = std::map<std::string, std::string>;

class LostRecorder final : public MigrationListener {
 public:
  void PartitionLost(const PartitionLostEvent& event) override {
    absl::MutexLock lock(&mu_);
    lost_.insert(event.partition);
  }
  std::set<int> lost() const {
    absl::MutexLock lock(&mu_);
    return lost_;
  }

 private:
  mutable absl::Mutex mu_;
  std::set<int> lost_ ABSL_GUARDED_BY(mu_);
};

// What the cluster served after the crash, counter by counter.
struct Outcome {
  std::set<int> lost_partitions;  // PartitionLost events
  int exact = 0;                  // acknowledged value served
  int data_loss = 0;              // DATA_LOSS
  int wrong = 0;                  // another value, or another error
};

class ZoneTest : public ::testing::Test {
 protected:
  static constexpr int kMembers = 6;
  static constexpr int kCounters = 400;

  // Starts six members labelled by `labels`, writes every counter, crashes members 0 and 1
  // together (one zone, when zones are given), and reads every counter back.
  Outcome WriteCrashAndRead(std::function<Labels(int)> labels) {
    absl::StatusOr<std::unique_ptr<EmbeddedCluster>> started = EmbeddedCluster::Start(
        {.members = kMembers, .backup_count = 1, .member_labels = std::move(labels)},
        examples::AddExampleServices);
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return {};
    cluster_ = *std::move(started);
    auto listener = std::make_shared<LostRecorder>();
    cluster_->AddMigrationListener(listener);
    client_ = Client::Create({.members = cluster_->addresses()}).value();
    counter_ = ProxyBuilder<examples::Counter>(*client_).Build();

    // Two rounds of increments; only acknowledged ones count (all must be, before the crash).
    std::map<std::string, int64_t> acknowledged;
    for (int round = 0; round < 2; ++round) {
      for (int k = 0; k < kCounters; ++k) {
        examples::IncRequest inc;
        inc.set_name(absl::StrCat("counter-", k));
        inc.set_amount(k + 1 + round * 1000);
        absl::StatusOr<examples::IncResponse> r = counter_->Inc(inc);
        EXPECT_TRUE(r.ok()) << inc.name() << ": " << r.status();
        if (!r.ok()) continue;
        acknowledged[inc.name()] += inc.amount();
        EXPECT_EQ(r->value(), acknowledged[inc.name()]) << inc.name();
      }
    }
    table_before_ = cluster_->partition_table();

    EXPECT_TRUE(cluster_->Crash({0, 1}).ok());  // together: their sessions end at once
    EXPECT_TRUE(client_->RefreshPartitionTable().ok());

    Outcome outcome;
    outcome.lost_partitions = listener->lost();
    for (const auto& [name, value] : acknowledged) {
      examples::GetRequest get;
      get.set_name(name);
      CallOptions options;
      options.timeout = absl::Seconds(10);
      absl::StatusOr<examples::GetResponse> r = counter_->Get(get, options);
      if (r.ok() && r->value() == value) {
        ++outcome.exact;
      } else if (r.status().code() == absl::StatusCode::kDataLoss) {
        ++outcome.data_loss;
      } else {
        ++outcome.wrong;
        ADD_FAILURE() << name << ": acknowledged " << value << ", served "
                      << (r.ok() ? absl::StrCat(r->value()) : r.status().ToString());
      }
    }
    return outcome;
  }

  static std::string ZoneOf(const PartitionTable& table, int member) {
    auto it = table.member(member).labels().find(std::string(kZoneLabel));
    return it == table.member(member).labels().end() ? "" : it->second;
  }

  std::unique_ptr<EmbeddedCluster> cluster_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<examples::Counter::Proxy> counter_;
  std::shared_ptr<const PartitionTable> table_before_;
};

// Members 0 and 1 in zone-0, 2 and 3 in zone-1, 4 and 5 in zone-2.
Labels ThreeZones(int index) {
  return {{"zone", absl::StrCat("zone-", index / 2)}, {"rack", absl::StrCat("r", index)}};
}

TEST_F(ZoneTest, AZoneDiesAndNothingIsLost) {
  const Outcome outcome = WriteCrashAndRead(ThreeZones);
  ASSERT_NE(table_before_, nullptr);
  // The labels reached the table through registration, and the planner used them.
  for (int m = 0; m < table_before_->member_count(); ++m) {
    EXPECT_EQ(ZoneOf(*table_before_, m), absl::StrCat("zone-", m / 2));
    EXPECT_EQ(table_before_->member(m).labels().at("rack"), absl::StrCat("r", m));
  }
  for (int p = 0; p < table_before_->partition_count(); ++p) {
    const auto& replicas = table_before_->proto().partitions(p).members();
    ASSERT_EQ(replicas.size(), 2);
    EXPECT_NE(ZoneOf(*table_before_, replicas[0]), ZoneOf(*table_before_, replicas[1]))
        << "partition " << p;
  }
  EXPECT_TRUE(outcome.lost_partitions.empty())
      << outcome.lost_partitions.size() << " partitions lost";
  EXPECT_EQ(outcome.data_loss, 0);
  EXPECT_EQ(outcome.wrong, 0);
  EXPECT_EQ(outcome.exact, kCounters);
  // The survivors took over every partition, with backups in the zones left.
  const auto table = cluster_->partition_table();
  ASSERT_EQ(table->member_count(), kMembers - 2);
  for (int p = 0; p < table->partition_count(); ++p) {
    EXPECT_FALSE(table->lost(p)) << "partition " << p;
    const auto& replicas = table->proto().partitions(p).members();
    ASSERT_EQ(replicas.size(), 2) << "partition " << p;
    EXPECT_NE(ZoneOf(*table, replicas[0]), ZoneOf(*table, replicas[1])) << "partition " << p;
  }

  // A member comes back to zone-0: it takes its share, the zones stay apart, values stay.
  absl::StatusOr<int> added = cluster_->AddMember({{"zone", "zone-0"}});
  ASSERT_TRUE(added.ok()) << added.status();
  const auto after = cluster_->partition_table();
  ASSERT_EQ(after->member_count(), kMembers - 1);
  const int newcomer = after->MemberIndex(cluster_->member(*added).id());
  ASSERT_GE(newcomer, 0);
  EXPECT_EQ(ZoneOf(*after, newcomer), "zone-0");
  int primaries = 0;
  for (int p = 0; p < after->partition_count(); ++p) {
    const auto& replicas = after->proto().partitions(p).members();
    ASSERT_EQ(replicas.size(), 2) << "partition " << p;
    EXPECT_NE(ZoneOf(*after, replicas[0]), ZoneOf(*after, replicas[1])) << "partition " << p;
    primaries += replicas[0] == newcomer;
  }
  EXPECT_GE(primaries, after->partition_count() / after->member_count());
  ASSERT_TRUE(client_->RefreshPartitionTable().ok());
  for (int k = 0; k < kCounters; k += 7) {
    examples::GetRequest get;
    get.set_name(absl::StrCat("counter-", k));
    absl::StatusOr<examples::GetResponse> r = counter_->Get(get);
    ASSERT_TRUE(r.ok()) << get.name() << ": " << r.status();
    EXPECT_EQ(r->value(), 2 * (k + 1) + 1000) << get.name();
  }
}

// The converse, so that the test above can fail: without zones the same two members hold both
// replicas of some partitions (today's layout: partition p on members p % 6 and p % 6 + 1), and
// crashing them together loses those.
TEST_F(ZoneTest, WithoutZonesTheSameCrashLosesPartitions) {
  const Outcome outcome = WriteCrashAndRead(nullptr);
  EXPECT_FALSE(outcome.lost_partitions.empty());
  EXPECT_GT(outcome.data_loss, 0);
  EXPECT_EQ(outcome.wrong, 0);  // lost is reported, never served as something else
  EXPECT_EQ(outcome.exact + outcome.data_loss, kCounters);
}

// Every member in one zone is the same as no zones.
TEST_F(ZoneTest, OneZoneIsNoZones) {
  const Outcome outcome = WriteCrashAndRead([](int) { return Labels{{"zone", "only"}}; });
  EXPECT_FALSE(outcome.lost_partitions.empty());
  EXPECT_GT(outcome.data_loss, 0);
  EXPECT_EQ(outcome.wrong, 0);
}

}  // namespace
}  // namespace gridrpc::testing
