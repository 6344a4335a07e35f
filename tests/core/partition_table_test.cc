#include "gridrpc/partition_table.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace gridrpc {
namespace {

using ::gridrpc::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<v1::MemberInfo> Members(int n) {
  std::vector<v1::MemberInfo> out;
  for (int i = 0; i < n; ++i) {
    v1::MemberInfo m;
    m.set_id("m" + std::to_string(i));
    m.set_address("127.0.0.1:" + std::to_string(5701 + i));
    out.push_back(m);
  }
  return out;
}

TEST(PartitionTableTest, PlanSpreadsPrimariesAndBackupsEvenly) {
  for (int n : {1, 2, 3, 5}) {
    PartitionTable table = PartitionTable::Plan("dev", 1, Members(n), 271, 1);
    std::vector<int> primaries(n), backups(n);
    for (int p = 0; p < 271; ++p) {
      const auto& replicas = table.proto().partitions(p).members();
      ASSERT_EQ(replicas.size(), std::min(n, 2));
      ++primaries[replicas[0]];
      if (replicas.size() > 1) {
        EXPECT_NE(replicas[0], replicas[1]);
        ++backups[replicas[1]];
      }
    }
    for (int m = 0; m < n; ++m) {
      EXPECT_LE(std::abs(primaries[m] - 271 / n), 1) << n << " members, member " << m;
      if (n > 1) EXPECT_LE(std::abs(backups[m] - 271 / n), 1);
    }
  }
}

TEST(PartitionTableTest, AnswersOwnerAndReplicaIndex) {
  PartitionTable table = PartitionTable::Plan("dev", 7, Members(3), 271, 1);
  EXPECT_EQ(table.version(), 7);
  EXPECT_EQ(table.Owner(4), 1);
  EXPECT_EQ(table.ReplicaIndex(4, 1), 0);
  EXPECT_EQ(table.ReplicaIndex(4, 2), 1);
  EXPECT_EQ(table.ReplicaIndex(4, 0), -1);
  EXPECT_EQ(table.Owner(271), -1);
  EXPECT_EQ(table.MemberIndex("m2"), 2);
  EXPECT_EQ(table.MemberIndex("nobody"), -1);
}

TEST(PartitionTableTest, FromProtoRoundTripsAPlan) {
  PartitionTable planned = PartitionTable::Plan("dev", 3, Members(2), 17, 1);
  absl::StatusOr<PartitionTable> parsed = PartitionTable::FromProto(planned.proto());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->proto().SerializeAsString(), planned.proto().SerializeAsString());
}

TEST(PartitionTableTest, FromProtoRejectsInconsistentTables) {
  v1::PartitionTable bad = PartitionTable::Plan("dev", 1, Members(2), 5, 1).proto();
  bad.set_partition_count(0);
  EXPECT_THAT(PartitionTable::FromProto(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not positive")));

  bad = PartitionTable::Plan("dev", 1, Members(2), 5, 1).proto();
  bad.mutable_partitions()->RemoveLast();
  EXPECT_THAT(PartitionTable::FromProto(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 replica lists for 5")));

  bad = PartitionTable::Plan("dev", 1, Members(2), 5, 1).proto();
  bad.mutable_partitions(3)->set_members(0, 9);
  EXPECT_THAT(PartitionTable::FromProto(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                                       HasSubstr("partition 3 names member 9")));

  bad = PartitionTable::Plan("dev", 1, Members(2), 5, 1).proto();
  bad.mutable_partitions(2)->set_members(1, bad.partitions(2).members(0));
  EXPECT_THAT(PartitionTable::FromProto(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("twice")));
}

}  // namespace
}  // namespace gridrpc

namespace gridrpc {
namespace {

// Replicas of index `r` per member.
std::vector<int> Loads(const PartitionTable& table, int r) {
  std::vector<int> load(table.member_count());
  for (int p = 0; p < table.partition_count(); ++p) ++load[table.proto().partitions(p).members(r)];
  return load;
}

int Moves(const PartitionTable& before, const PartitionTable& after) {
  int moves = 0;
  for (int p = 0; p < after.partition_count(); ++p) {
    for (int m : after.proto().partitions(p).members()) {
      const int old = before.MemberIndex(after.member(m).id());
      moves += old < 0 || before.ReplicaIndex(p, old) < 0;  // a copy is needed
    }
  }
  return moves;
}

TEST(RebalanceTest, JoinsSpreadEvenlyAndMoveLittle) {
  PartitionTable table = PartitionTable::Plan("dev", 1, Members(3), 271, 1);
  for (int n = 4; n <= 6; ++n) {
    PartitionTable next = PartitionTable::Rebalance(table, Members(n), 1, table.version() + 1);
    for (int r = 0; r < 2; ++r) {
      for (int load : Loads(next, r)) EXPECT_LE(std::abs(load - 271 / n), 1) << n << " " << r;
    }
    for (int p = 0; p < 271; ++p) {
      EXPECT_NE(next.proto().partitions(p).members(0), next.proto().partitions(p).members(1));
    }
    // The newcomer's share of both replica indexes must be copied (about 2 * 271 / n); the
    // planner may add a few swaps to keep the spread even, but stays within 1.5x of that.
    EXPECT_GE(Moves(table, next), 2 * (271 / n));
    EXPECT_LE(Moves(table, next), 3 * (271 / n + 1)) << n;
    table = next;
  }
}

TEST(RebalanceTest, LeavesPromoteBackupsBeforeCopying) {
  PartitionTable table = PartitionTable::Plan("dev", 1, Members(4), 271, 1);
  std::vector<v1::MemberInfo> staying = Members(4);
  staying.erase(staying.begin() + 2);
  PartitionTable next = PartitionTable::Rebalance(table, staying, 1, 2);
  EXPECT_EQ(next.member_count(), 3);
  for (int r = 0; r < 2; ++r) {
    for (int load : Loads(next, r)) EXPECT_LE(std::abs(load - 271 / 3), 1);
  }
  EXPECT_EQ(next.MemberIndex("m2"), -1);
}

// What a migration commits when some copies failed: those partitions keep their replicas,
// even on a member the new table leaves out; the rest is the new table.
TEST(PartitionTableTest, KeepReplicasRestoresTheFailedPartitionsOfTheCurrentTable) {
  std::vector<v1::MemberInfo> three = Members(3);
  PartitionTable current = PartitionTable::Plan("dev", 1, three, 12, 1);
  std::vector<v1::MemberInfo> staying = {three[1], three[2]};  // m0 leaves
  PartitionTable next = PartitionTable::Rebalance(current, staying, 1, 2);
  ASSERT_EQ(next.MemberIndex("m0"), -1);
  PartitionTable kept = PartitionTable::KeepReplicas(next, current, {0, 5});
  ASSERT_TRUE(PartitionTable::FromProto(kept.proto()).ok());
  EXPECT_EQ(kept.version(), 2);
  auto ids = [](const PartitionTable& t, int p) {
    std::vector<std::string> out;
    for (int m : t.proto().partitions(p).members()) out.push_back(t.member(m).id());
    return out;
  };
  for (int p = 0; p < 12; ++p) {
    EXPECT_EQ(ids(kept, p), p == 0 || p == 5 ? ids(current, p) : ids(next, p)) << p;
  }
  EXPECT_EQ(ids(kept, 0).front(), "m0");  // partition 0 stays on the leaving member
}

// A partition that lost every replica remembers who held it; only those members may bring it
// back, and a restore or a reset forgets them.
TEST(PartitionTableTest, LostPartitionsRememberTheirLastHoldersUntilRestoredOrReset) {
  std::vector<v1::MemberInfo> four = Members(4);
  PartitionTable before = PartitionTable::Plan("dev", 1, four, 8, 1);
  // m1 and m2 crash at once: partition 1 had exactly those two (primary m1, backup m2).
  PartitionTable promoted =
      PartitionTable::Promote(PartitionTable::Promote(before, "m1", 2), "m2", 2);
  ASSERT_EQ(promoted.proto().partitions(1).members_size(), 0);
  PartitionTable lost = PartitionTable::MarkLost(promoted, before, {1});
  EXPECT_TRUE(lost.lost(1));
  EXPECT_TRUE(lost.LostFrom(1, "m1"));
  EXPECT_TRUE(lost.LostFrom(1, "m2"));
  EXPECT_FALSE(lost.LostFrom(1, "m0"));
  EXPECT_FALSE(lost.LostFrom(0, "m1"));  // partition 0 was not lost
  // Rebalancing gives it new, empty owners and keeps the mark and its holders.
  PartitionTable rebalanced = PartitionTable::Rebalance(lost, {four[0], four[3]}, 1, 3);
  EXPECT_TRUE(rebalanced.LostFrom(1, "m2"));

  v1::MemberInfo back = four[2];
  back.add_held()->set_partition(1);  // what it registers with must not end up in the table
  PartitionTable restored = PartitionTable::Restore(rebalanced, {{1, back}}, 4);
  ASSERT_TRUE(PartitionTable::FromProto(restored.proto()).ok());
  EXPECT_EQ(restored.version(), 4);
  EXPECT_FALSE(restored.lost(1));
  EXPECT_FALSE(restored.LostFrom(1, "m2"));
  ASSERT_GE(restored.MemberIndex("m2"), 0);
  EXPECT_EQ(restored.Owner(1), restored.MemberIndex("m2"));
  EXPECT_EQ(restored.proto().partitions(1).members_size(), 1);
  EXPECT_EQ(restored.member(restored.MemberIndex("m2")).held_size(), 0);
  auto replicas = [](const PartitionTable& t, int p) {
    const auto& members = t.proto().partitions(p).members();
    return std::vector<int>(members.begin(), members.end());
  };
  for (int p = 0; p < 8; ++p) {
    if (p != 1) EXPECT_EQ(replicas(restored, p), replicas(rebalanced, p)) << p;
  }

  PartitionTable reset = PartitionTable::ResetLost(rebalanced, {1});
  EXPECT_FALSE(reset.lost(1));
  EXPECT_FALSE(reset.LostFrom(1, "m1"));
}

}  // namespace
}  // namespace gridrpc
