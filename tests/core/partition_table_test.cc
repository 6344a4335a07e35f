#include "gridrpc/partition_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
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

// Zones: members labelled `zone` get a partition's replicas in distinct zones while the even
// spread leaves room (see partition_table.h).
namespace gridrpc {
namespace {

// Member i is in zones[i] ("" leaves it unlabelled).
std::vector<v1::MemberInfo> ZonedMembers(const std::vector<std::string>& zones) {
  std::vector<v1::MemberInfo> out = Members(static_cast<int>(zones.size()));
  for (size_t i = 0; i < zones.size(); ++i) {
    if (!zones[i].empty()) (*out[i].mutable_labels())[std::string(kZoneLabel)] = zones[i];
  }
  return out;
}

std::string ZoneOf(const PartitionTable& table, int member) {
  auto it = table.member(member).labels().find(std::string(kZoneLabel));
  return it == table.member(member).labels().end() ? "" : it->second;
}

std::vector<int> Replicas(const PartitionTable& table, int p) {
  const auto& members = table.proto().partitions(p).members();
  return std::vector<int>(members.begin(), members.end());
}

// How many distinct zones partition p's replicas are in.
int ZonesSpanned(const PartitionTable& table, int p) {
  std::set<std::string> zones;
  for (int m : Replicas(table, p)) zones.insert(ZoneOf(table, m));
  return static_cast<int>(zones.size());
}

// Partitions whose replicas are all in distinct zones.
int ZoneDistinct(const PartitionTable& table) {
  int count = 0;
  for (int p = 0; p < table.partition_count(); ++p) {
    count += ZonesSpanned(table, p) == static_cast<int>(Replicas(table, p).size());
  }
  return count;
}

// A valid table with `replicas` replicas per partition on distinct members, each replica index
// spread evenly: every member holds P / n of it, P % n members one more.
void ExpectValidAndEven(const PartitionTable& table, int replicas, const std::string& what) {
  ASSERT_TRUE(PartitionTable::FromProto(table.proto()).ok()) << what;
  const int n = table.member_count(), partitions = table.partition_count();
  for (int p = 0; p < partitions; ++p) {
    ASSERT_EQ(Replicas(table, p).size(), replicas) << what << ", partition " << p;
  }
  for (int r = 0; r < replicas; ++r) {
    int above = 0;
    for (int load : Loads(table, r)) {
      EXPECT_GE(load, partitions / n) << what << ", replica index " << r;
      EXPECT_LE(load, partitions / n + 1) << what << ", replica index " << r;
      above += load > partitions / n;
    }
    EXPECT_EQ(above, partitions % n) << what << ", replica index " << r;
  }
}

// What "room" promises: a replica in a zone that an earlier replica of its partition already
// uses means no member of another such zone could have taken it within its share.
void ExpectNoRoomLeft(const PartitionTable& table, const std::string& what) {
  const int n = table.member_count(), partitions = table.partition_count();
  const int replicas = static_cast<int>(Replicas(table, 0).size());
  for (int r = 1; r < replicas; ++r) {
    const std::vector<int> load = Loads(table, r);
    const bool extras_left = std::count_if(load.begin(), load.end(), [&](int l) {
                               return l > partitions / n;
                             }) < partitions % n;
    for (int p = 0; p < partitions; ++p) {
      const std::vector<int> held = Replicas(table, p);
      std::set<std::string> earlier;
      for (int i = 0; i < r; ++i) earlier.insert(ZoneOf(table, held[i]));
      if (!earlier.contains(ZoneOf(table, held[r]))) continue;
      for (int m = 0; m < n; ++m) {
        if (earlier.contains(ZoneOf(table, m)) ||
            std::find(held.begin(), held.begin() + r, m) != held.begin() + r) {
          continue;
        }
        const bool room = load[m] < partitions / n || (load[m] == partitions / n && extras_left);
        EXPECT_FALSE(room) << what << ": partition " << p << " has replica " << r << " in zone "
                           << ZoneOf(table, held[r]) << " while member " << m << " (zone "
                           << ZoneOf(table, m) << ") holds " << load[m] << " of that index";
      }
    }
  }
}

// The planner runs Rebalance every round: on a table it made, for the same members, it must
// find nothing to do, or it would migrate forever. The planner lists members sorted by id, which
// need not be the table's order (Restore and KeepReplicas add members last): any order will do.
void ExpectFixpoint(const PartitionTable& table, int backup_count, const std::string& what) {
  std::vector<v1::MemberInfo> members(table.proto().members().begin(),
                                      table.proto().members().end());
  PartitionTable again = PartitionTable::Rebalance(table, members, backup_count, 99);
  for (int p = 0; p < table.partition_count(); ++p) {
    ASSERT_EQ(Replicas(again, p), Replicas(table, p)) << what << ", partition " << p;
  }
  std::reverse(members.begin(), members.end());
  again = PartitionTable::Rebalance(table, members, backup_count, 99);
  for (int p = 0; p < table.partition_count(); ++p) {
    const std::vector<int> replicas = Replicas(again, p);
    std::vector<std::string> ids, expected;
    for (int m : replicas) ids.push_back(again.member(m).id());
    for (int m : Replicas(table, p)) expected.push_back(table.member(m).id());
    ASSERT_EQ(ids, expected) << what << ", members in reverse, partition " << p;
  }
}

TEST(ZoneTest, ThreeZonesOfTwoPutPrimaryAndBackupInDifferentZones) {
  // Zones by member order and interleaved: the layout must not depend on how ids sort.
  for (const auto& zones : std::vector<std::vector<std::string>>{{"a", "a", "b", "b", "c", "c"},
                                                                 {"a", "b", "c", "a", "b", "c"}}) {
    PartitionTable table = PartitionTable::Plan("dev", 1, ZonedMembers(zones), 271, 1);
    ExpectValidAndEven(table, 2, "plan");
    for (int p = 0; p < 271; ++p) EXPECT_EQ(ZonesSpanned(table, p), 2) << "partition " << p;
    ExpectFixpoint(table, 1, "plan");
  }
}

TEST(ZoneTest, TwoBackupsSpanAllThreeZones) {
  for (int per_zone : {1, 2, 3}) {
    std::vector<std::string> zones;
    for (const char* z : {"a", "b", "c"}) zones.insert(zones.end(), per_zone, z);
    PartitionTable table = PartitionTable::Plan("dev", 1, ZonedMembers(zones), 271, 2);
    ExpectValidAndEven(table, 3, absl::StrCat(per_zone, " per zone"));
    for (int p = 0; p < 271; ++p) EXPECT_EQ(ZonesSpanned(table, p), 3) << "partition " << p;
    ExpectFixpoint(table, 2, "plan");
  }
}

// Three members in zone a, one in b: b's member takes its share of backups from a's primaries,
// and no more; the rest of a's partitions stay in a, with the spread even.
TEST(ZoneTest, UnevenZonesUseTheRoomTheEvenSpreadLeaves) {
  PartitionTable table = PartitionTable::Plan("dev", 1, ZonedMembers({"a", "a", "a", "b"}), 271, 1);
  ExpectValidAndEven(table, 2, "3+1");
  ExpectNoRoomLeft(table, "3+1");
  ExpectFixpoint(table, 1, "3+1");
  // 271 = 4 * 67 + 3: member 3 (zone b) holds 67 or 68 primaries, and 68 backups, since every
  // backup it takes is a partition that spans both zones.
  const int b_primaries = Loads(table, 0)[3], b_backups = Loads(table, 1)[3];
  EXPECT_EQ(b_backups, 68);
  EXPECT_EQ(ZoneDistinct(table), b_primaries + b_backups);
  EXPECT_GE(ZoneDistinct(table), 67 + 68);
}

// Without labels, and with every member in one zone, tables are the same; for these shapes Plan
// is the cyclic layout (P % n <= 1: its totals are even).
TEST(ZoneTest, OneZoneIsNoZones) {
  for (int n : {1, 2, 3, 5, 6}) {
    std::vector<v1::MemberInfo> plain = Members(n);
    std::vector<v1::MemberInfo> zoned = ZonedMembers(std::vector<std::string>(n, "a"));
    for (int backups : {1, 2}) {
      PartitionTable a = PartitionTable::Plan("dev", 1, plain, 271, backups);
      PartitionTable b = PartitionTable::Plan("dev", 1, zoned, 271, backups);
      for (int p = 0; p < 271; ++p) {
        ASSERT_EQ(Replicas(a, p), Replicas(b, p)) << n << " members, partition " << p;
        // The cyclic layout: primary p % n, backup i on (p + i) % n.
        for (int i = 0; i < static_cast<int>(Replicas(a, p).size()); ++i) {
          ASSERT_EQ(Replicas(a, p)[i], (p + i) % n);
        }
      }
      // A join and a leave rebalance identically too.
      std::vector<v1::MemberInfo> plain_more = Members(n + 1);
      std::vector<v1::MemberInfo> zoned_more = ZonedMembers(std::vector<std::string>(n + 1, "a"));
      PartitionTable a2 = PartitionTable::Rebalance(a, plain_more, backups, 2);
      PartitionTable b2 = PartitionTable::Rebalance(b, zoned_more, backups, 2);
      plain_more.erase(plain_more.begin());
      zoned_more.erase(zoned_more.begin());
      PartitionTable a3 = PartitionTable::Rebalance(a2, plain_more, backups, 3);
      PartitionTable b3 = PartitionTable::Rebalance(b2, zoned_more, backups, 3);
      for (int p = 0; p < 271; ++p) {
        ASSERT_EQ(Replicas(a2, p), Replicas(b2, p)) << n << " members, partition " << p;
        ASSERT_EQ(Replicas(a3, p), Replicas(b3, p)) << n << " members, partition " << p;
      }
    }
  }
}

// Members of a zone leave and join: the zone spread holds throughout, and about what must move
// moves (what a leaver held; a newcomer's share), within 1.5 times that.
TEST(ZoneTest, RebalanceKeepsTheZoneSpreadAndMovesLittle) {
  std::vector<v1::MemberInfo> members = ZonedMembers({"a", "a", "b", "b", "c", "c"});
  PartitionTable table = PartitionTable::Plan("dev", 1, members, 271, 1);
  auto expect_spread = [](const PartitionTable& t, const std::string& what) {
    ExpectValidAndEven(t, 2, what);
    for (int p = 0; p < 271; ++p) EXPECT_EQ(ZonesSpanned(t, p), 2) << what << ", partition " << p;
    ExpectFixpoint(t, 1, what);
  };
  auto held = [](const PartitionTable& t, std::string_view id) {
    const int m = t.MemberIndex(id);
    return Loads(t, 0)[m] + Loads(t, 1)[m];
  };

  // m0 leaves: zone a keeps one member. Every replica it held is copied somewhere (its
  // primaries promote their backups, which then need a new backup).
  members.erase(members.begin());
  PartitionTable left = PartitionTable::Rebalance(table, members, 1, 2);
  expect_spread(left, "m0 left");
  const int leaver_held = held(table, "m0");
  EXPECT_GE(Moves(table, left), leaver_held);
  EXPECT_LE(Moves(table, left), leaver_held * 3 / 2);

  // A member joins zone a again, then one joins zone b: each newcomer's share is copied.
  for (const char* zone : {"a", "b"}) {
    v1::MemberInfo joining;
    joining.set_id(absl::StrCat("new-", zone));
    (*joining.mutable_labels())[std::string(kZoneLabel)] = zone;
    members.push_back(joining);
    PartitionTable joined = PartitionTable::Rebalance(left, members, 1, left.version() + 1);
    expect_spread(joined, absl::StrCat("joined zone ", zone));
    const int share = held(joined, joining.id());
    EXPECT_GE(Moves(left, joined), share);
    EXPECT_LE(Moves(left, joined), share * 3 / 2) << "joined zone " << zone;
    left = joined;
  }
}

// A crash promotes without looking at zones; the next Rebalance restores the zone spread by
// copying only the replicas the crashed member held.
TEST(ZoneTest, RebalanceAfterACrashRestoresTheZoneSpread) {
  std::vector<v1::MemberInfo> members = ZonedMembers({"a", "a", "b", "b", "c", "c"});
  PartitionTable table = PartitionTable::Plan("dev", 1, members, 271, 1);
  PartitionTable promoted = PartitionTable::Promote(table, "m2", 2);
  members.erase(members.begin() + 2);
  PartitionTable next = PartitionTable::Rebalance(promoted, members, 1, 3);
  ExpectValidAndEven(next, 2, "after the crash");
  for (int p = 0; p < 271; ++p) EXPECT_EQ(ZonesSpanned(next, p), 2) << "partition " << p;
  ExpectFixpoint(next, 1, "after the crash");
  int held = 0;
  for (int r = 0; r < 2; ++r) held += Loads(table, r)[2];
  EXPECT_LE(Moves(promoted, next), held * 3 / 2);
}

// Every placement promise over many shapes of clusters: zones of any sizes (unlabelled members
// among them), one to three backups (every member holding every partition included), joins and
// leaves.
TEST(ZoneTest, PromisesHoldForManyShapes) {
  auto check = [](const PartitionTable& table, int backups, const std::string& what) {
    std::set<std::string> zones;
    for (int m = 0; m < table.member_count(); ++m) zones.insert(ZoneOf(table, m));
    if (zones.size() < 2) return;  // today's placement, tested above
    ExpectValidAndEven(table, std::min(table.member_count(), backups + 1), what);
    ExpectNoRoomLeft(table, what);
    ExpectFixpoint(table, backups, what);
  };
  std::mt19937 random(7);
  for (int round = 0; round < 150; ++round) {
    const int n = 2 + static_cast<int>(random() % 9);
    const int zone_count = 2 + static_cast<int>(random() % 3);
    const int backups = 1 + static_cast<int>(random() % 3);
    const int partitions = round % 3 == 0 ? 17 : 271;
    std::vector<std::string> zones;
    for (int i = 0; i < n; ++i) {
      const int z = static_cast<int>(random() % zone_count);
      zones.push_back(z == 0 ? "" : std::string(1, static_cast<char>('a' + z)));
    }
    const std::string what = absl::StrCat("round ", round, ": zones '", absl::StrJoin(zones, ","),
                                          "', ", backups, " backups, ", partitions, " partitions");
    std::vector<v1::MemberInfo> members = ZonedMembers(zones);
    PartitionTable table = PartitionTable::Plan("dev", 1, members, partitions, backups);
    check(table, backups, what);
    // A newcomer in a random zone, then a random member leaves.
    v1::MemberInfo joining;
    joining.set_id(absl::StrCat("new", round));
    (*joining.mutable_labels())[std::string(kZoneLabel)] = std::string(1, 'a' + random() % 3);
    members.push_back(joining);
    PartitionTable joined = PartitionTable::Rebalance(table, members, backups, 2);
    check(joined, backups, what + ", joined");
    members.erase(members.begin() + random() % members.size());
    check(PartitionTable::Rebalance(joined, members, backups, 3), backups, what + ", left");
  }
}

}  // namespace
}  // namespace gridrpc

// Placement without zones (every member in one zone): the promises of partition_table.h over
// many shapes of clusters, and over what the planner does between two Rebalance calls (joins,
// leaves, crashes and their promotions). Failures are collected and the smallest shape failing
// each promise is named, so that a regression points at a case small enough to read.
namespace gridrpc {
namespace {

// Replicas per member, every index together.
std::vector<int> Totals(const PartitionTable& table) {
  std::vector<int> total(table.member_count());
  for (int p = 0; p < table.partition_count(); ++p) {
    for (int m : table.proto().partitions(p).members()) ++total[m];
  }
  return total;
}

std::vector<std::string> Ids(const PartitionTable& table, int p) {
  std::vector<std::string> out;
  for (int m : table.proto().partitions(p).members()) out.push_back(table.member(m).id());
  return out;
}

std::vector<v1::MemberInfo> MembersOf(const PartitionTable& table) {
  return {table.proto().members().begin(), table.proto().members().end()};
}

// The promises, by letter:
//   a: every replica index spread evenly (P / n each, P % n members one more);
//   t: every member's total even (P * replicas / n, or one more);
//   b: Rebalance of the result, for the same members (in the table's order and sorted by id,
//      as the planner lists them), changes nothing;
//   c: the fewest copies any placement even in total needs (CheaperPlacement);
//   d: a valid table, no member twice in a replica list;
//   e: Plan's table is a fixed point of Rebalance too (b for Plan);
//   l: lost partitions stay marked, restored ones stay on the member that brought them back.
std::string SpreadProblem(const PartitionTable& table, int replicas) {
  const int n = table.member_count(), partitions = table.partition_count();
  for (int p = 0; p < partitions; ++p) {
    if (table.proto().partitions(p).members_size() != replicas) {
      return absl::StrCat("partition ", p, " has ", table.proto().partitions(p).members_size(),
                          " replicas, not ", replicas);
    }
  }
  for (int r = 0; r < replicas; ++r) {
    const std::vector<int> load = Loads(table, r);
    for (int m = 0; m < n; ++m) {
      if (load[m] < partitions / n || load[m] > partitions / n + 1) {
        return absl::StrCat(table.member(m).id(), " holds ", load[m], " replicas of index ", r,
                            ", its share is ", partitions / n, " or ", partitions / n + 1);
      }
    }
  }
  return "";
}

std::string TotalProblem(const PartitionTable& table, int replicas) {
  const int n = table.member_count(), partitions = table.partition_count();
  const std::vector<int> total = Totals(table);
  const int64_t all = int64_t{partitions} * replicas;
  for (int m = 0; m < n; ++m) {
    if (total[m] < all / n || total[m] > (all + n - 1) / n) {
      return absl::StrCat(table.member(m).id(), " holds ", total[m], " replicas in all, of ", all,
                          " over ", n, " members");
    }
  }
  return "";
}

std::string FixpointProblem(const PartitionTable& table, int backups) {
  std::vector<v1::MemberInfo> members = MembersOf(table);
  for (int order = 0; order < 2; ++order) {
    if (order == 1) {
      std::sort(members.begin(), members.end(),
                [](const v1::MemberInfo& a, const v1::MemberInfo& b) { return a.id() < b.id(); });
    }
    PartitionTable again = PartitionTable::Rebalance(table, members, backups, 99);
    for (int p = 0; p < table.partition_count(); ++p) {
      if (Ids(again, p) != Ids(table, p)) {
        return absl::StrCat("Rebalance of it moves partition ", p, " from [",
                            absl::StrJoin(Ids(table, p), ","), "] to [",
                            absl::StrJoin(Ids(again, p), ","), "]",
                            order == 1 ? " (members sorted by id)" : "");
      }
    }
  }
  return "";
}

// Whether `after` copies the fewest replicas from `before` of any placement as even in total
// (every member P * replicas / n replicas, (P * replicas) % n of them one more); what is wrong
// otherwise. Checked without placing anything, by the optimality condition of a minimum-cost
// flow: no cycle of changes saves a copy. A cycle moves a partition from one member to
// another (a -> p -> b: a drops p, b takes it), and may pass the one-more replica from one
// member to another (through the node `extra`); Bellman-Ford finds a cycle of negative cost.
std::string CheaperPlacement(const PartitionTable& before, const PartitionTable& after) {
  const int n = after.member_count(), partitions = after.partition_count();
  const int extra = partitions + n;  // nodes: partitions, members, extra
  struct Edge {
    int from, to, cost;
  };
  std::vector<Edge> edges;
  const std::vector<int> total = Totals(after);
  const int least = *std::min_element(total.begin(), total.end());
  for (int p = 0; p < partitions; ++p) {
    for (int m = 0; m < n; ++m) {
      const int old = before.MemberIndex(after.member(m).id());
      const int copy = old >= 0 && before.ReplicaIndex(p, old) >= 0 ? 0 : 1;
      if (after.ReplicaIndex(p, m) >= 0) {
        edges.push_back({partitions + m, p, -copy});  // m drops p
      } else {
        edges.push_back({p, partitions + m, copy});  // m takes p
      }
    }
  }
  for (int m = 0; m < n; ++m) {
    if (total[m] > least) {
      edges.push_back({extra, partitions + m, 0});  // m gives its one more up
    } else {
      edges.push_back({partitions + m, extra, 0});  // m takes one more
    }
  }
  std::vector<int64_t> dist(extra + 1, 0);
  for (int round = 0; round <= extra + 1; ++round) {
    bool changed = false;
    for (const Edge& e : edges) {
      if (dist[e.from] + e.cost < dist[e.to]) {
        dist[e.to] = dist[e.from] + e.cost;
        changed = true;
      }
    }
    if (!changed) return "";
  }
  return "a cycle of changes saves a copy";
}

struct ShapeKey {
  int partitions, members, backups;
  auto operator<=>(const ShapeKey&) const = default;
};

// The failures of each promise: how many, and the smallest shape failing it.
class Findings {
 public:
  void Check(char promise, const ShapeKey& shape, const std::string& what,
             const std::string& problem) {
    if (problem.empty()) return;
    // By promise and by what happened last (plan, join, leave, crash).
    const std::string kind = what.substr(what.rfind(' ') + 1);
    Finding& f = findings_[{promise, kind}];
    ++f.count;
    if (f.count == 1 || shape < f.smallest) {
      f.smallest = shape;
      f.example = absl::StrCat(what, ": ", problem);
    }
  }

  // One line per failing promise; empty when all hold.
  std::string Report() const {
    std::string out;
    for (const auto& [key, f] : findings_) {
      absl::StrAppend(&out, "promise (", std::string(1, key.first), ") fails ", f.count,
                      " times; smallest: ", f.example, "\n");
    }
    return out;
  }

 private:
  struct Finding {
    int count = 0;
    ShapeKey smallest{};
    std::string example;
  };
  std::map<std::pair<char, std::string>, Finding> findings_;
};

// Checks one Rebalance from `before` to `members`, and returns its result.
PartitionTable CheckRebalance(Findings& findings, const ShapeKey& shape, const std::string& what,
                              const PartitionTable& before,
                              const std::vector<v1::MemberInfo>& members, int backups) {
  const int replicas = std::min(static_cast<int>(members.size()), 1 + backups);
  PartitionTable after = PartitionTable::Rebalance(before, members, backups, before.version() + 1);
  absl::StatusOr<PartitionTable> valid = PartitionTable::FromProto(after.proto());
  findings.Check('d', shape, what, valid.ok() ? "" : valid.status().ToString());
  if (!valid.ok()) return after;
  findings.Check('a', shape, what, SpreadProblem(after, replicas));
  findings.Check('t', shape, what, TotalProblem(after, replicas));
  findings.Check('b', shape, what, FixpointProblem(after, backups));
  findings.Check('c', shape, what, CheaperPlacement(before, after));
  return after;
}

std::string Describe(int n, int backups, int partitions) {
  return absl::StrCat(n, " members, ", backups, " backups, ", partitions, " partitions");
}

TEST(OneZoneTest, PromisesHoldForEveryShape) {
  Findings findings;
  for (int partitions : {1, 7, 271, 1009}) {
    for (int n = 1; n <= 12; ++n) {
      for (int backups = 0; backups <= 3; ++backups) {
        const ShapeKey shape{partitions, n, backups};
        const std::string what = Describe(n, backups, partitions);
        const int replicas = std::min(n, 1 + backups);
        std::vector<v1::MemberInfo> members = Members(n);
        PartitionTable plan = PartitionTable::Plan("dev", 1, members, partitions, backups);
        absl::StatusOr<PartitionTable> valid = PartitionTable::FromProto(plan.proto());
        findings.Check('d', shape, what + ", plan", valid.ok() ? "" : valid.status().ToString());
        findings.Check('a', shape, what + ", plan", SpreadProblem(plan, replicas));
        findings.Check('t', shape, what + ", plan", TotalProblem(plan, replicas));
        findings.Check('e', shape, what + ", plan", FixpointProblem(plan, backups));

        std::vector<v1::MemberInfo> more = Members(n + 1);
        CheckRebalance(findings, shape, what + ", m" + std::to_string(n) + " joins", plan, more,
                       backups);
        if (n == 1) continue;
        // The first, a middle and the last member leave (gracefully: Rebalance from a table that
        // still lists it) or crash (Promote first, as the planner does).
        for (int gone : std::set<int>{0, n / 2, n - 1}) {
          std::vector<v1::MemberInfo> fewer = members;
          fewer.erase(fewer.begin() + gone);
          const std::string id = members[gone].id();
          CheckRebalance(findings, shape, what + ", " + id + " leaves", plan, fewer, backups);
          PartitionTable promoted = PartitionTable::Promote(plan, id, 2);
          CheckRebalance(findings, shape, what + ", " + id + " crashes", promoted, fewer, backups);
        }
      }
    }
  }
  EXPECT_EQ(findings.Report(), "");
}

// Joins, leaves and crashes one after the other, each from the table the one before made (the
// tables a long-lived cluster actually has, not only those Plan makes).
TEST(OneZoneTest, PromisesHoldThroughJoinsLeavesAndCrashes) {
  Findings findings;
  std::mt19937 random(11);
  int joined = 0;
  for (int partitions : {1, 7, 271, 1009}) {
    for (int backups = 0; backups <= 3; ++backups) {
      for (int run = 0; run < (partitions > 271 ? 2 : 6); ++run) {
        std::vector<v1::MemberInfo> members = Members(1 + static_cast<int>(random() % 12));
        PartitionTable table = PartitionTable::Plan("dev", 1, members, partitions, backups);
        std::string history = Describe(static_cast<int>(members.size()), backups, partitions);
        for (int step = 0; step < 8; ++step) {
          const int n = static_cast<int>(members.size());
          const int op = n == 1    ? 0
                         : n == 12 ? 1 + static_cast<int>(random() % 2)
                                   : static_cast<int>(random() % 3);
          PartitionTable before = table;
          if (op == 0) {
            v1::MemberInfo newcomer;
            newcomer.set_id(absl::StrCat("j", ++joined));
            members.push_back(newcomer);
            absl::StrAppend(&history, ", ", newcomer.id(), " joins");
          } else {
            const int gone = static_cast<int>(random() % n);
            absl::StrAppend(&history, ", ", members[gone].id(), op == 1 ? " leaves" : " crashes");
            if (op == 2) before = PartitionTable::Promote(table, members[gone].id(), 2);
            members.erase(members.begin() + gone);
          }
          table = CheckRebalance(findings, {partitions, static_cast<int>(members.size()), backups},
                                 history, before, members, backups);
        }
      }
    }
  }
  EXPECT_EQ(findings.Report(), "");
}

// What the planner commits between two Rebalance calls besides joins and leaves: a migration whose
// copies failed keeps those partitions' replicas (KeepReplicas, a leaving member included);
// members crash together and partitions are lost (Promote, MarkLost); a last holder comes back
// (Restore); an operator resets a loss (ResetLost). Each table Rebalance makes from these keeps
// every promise, so the next round finds nothing to do.
TEST(OneZoneTest, PromisesHoldAfterKeepReplicasLossesAndRestores) {
  Findings findings;
  for (int partitions : {7, 271}) {
    for (int n = 2; n <= 6; ++n) {
      for (int backups : {1, 2}) {
        const ShapeKey shape{partitions, n, backups};
        const std::string what = Describe(n, backups, partitions);
        std::vector<v1::MemberInfo> members = Members(n);
        const PartitionTable plan = PartitionTable::Plan("dev", 1, members, partitions, backups);

        // Copies failed for every second partition that changed, joining and leaving.
        std::vector<v1::MemberInfo> more = Members(n + 1);
        std::vector<v1::MemberInfo> fewer(members.begin() + 1, members.end());
        using Event = std::pair<std::string, std::vector<v1::MemberInfo>>;
        for (const auto& [event, target] :
             {Event{"m" + std::to_string(n) + " joins", more}, Event{"m0 leaves", fewer}}) {
          PartitionTable next = PartitionTable::Rebalance(plan, target, backups, 2);
          std::set<int> failed;
          bool skip = false;
          for (int p = 0; p < partitions; ++p) {
            if (Ids(plan, p) != Ids(next, p) && !(skip = !skip)) failed.insert(p);
          }
          PartitionTable kept = PartitionTable::KeepReplicas(next, plan, failed);
          CheckRebalance(findings, shape, what + ", " + event + ", copies failed, next round", kept,
                         target, backups);
        }

        // Two neighbours crash at once: with one backup, the partitions they both held are lost.
        if (n < 3) continue;
        PartitionTable promoted =
            PartitionTable::Promote(PartitionTable::Promote(plan, "m1", 2), "m2", 2);
        std::set<int> newly_lost;
        for (int p = 0; p < partitions; ++p) {
          if (promoted.proto().partitions(p).members_size() == 0) newly_lost.insert(p);
        }
        PartitionTable lost = PartitionTable::MarkLost(promoted, plan, newly_lost);
        std::vector<v1::MemberInfo> survivors = members;
        survivors.erase(survivors.begin() + 1, survivors.begin() + 3);
        PartitionTable rebalanced = CheckRebalance(
            findings, shape, what + ", m1 and m2 crash, partitions lost", lost, survivors, backups);
        for (int p : newly_lost) {
          findings.Check('l', shape, what + ", m1 and m2 crash, partitions lost",
                         rebalanced.LostFrom(p, "m2")
                             ? ""
                             : absl::StrCat("partition ", p, " forgot it was lost"));
        }
        findings.Check('b', shape, what + ", a loss reset",
                       FixpointProblem(PartitionTable::ResetLost(rebalanced, newly_lost), backups));
        if (newly_lost.empty()) continue;

        // m2 comes back with its replicas of the lost partitions; the next round keeps them on it
        // (copies of them come from m2 either way, but moving them would copy one more) and
        // gives them their backups.
        std::map<int, v1::MemberInfo> owners;
        for (int p : newly_lost) owners[p] = members[2];
        PartitionTable restored = PartitionTable::Restore(rebalanced, owners, 4);
        std::vector<v1::MemberInfo> back = survivors;
        back.push_back(members[2]);
        std::sort(back.begin(), back.end(),
                  [](const v1::MemberInfo& a, const v1::MemberInfo& b) { return a.id() < b.id(); });
        PartitionTable after = CheckRebalance(findings, shape, what + ", m2 restores what was lost",
                                              restored, back, backups);
        for (int p : newly_lost) {
          findings.Check('l', shape, what + ", m2 restores what was lost",
                         after.ReplicaIndex(p, after.MemberIndex("m2")) >= 0
                             ? ""
                             : absl::StrCat("partition ", p, " restored on m2 is now on [",
                                            absl::StrJoin(Ids(after, p), ","), "]"));
        }
      }
    }
  }
  EXPECT_EQ(findings.Report(), "");
}

// The numbers partition_table.h quotes: what joins, leaves and crashes copy and freeze, against
// what they must copy at least, and how long placing 100 members and 1,009 partitions takes. A
// measurement, not a test (nothing to assert, and timings vary with the machine's load):
//   partition_table_test --gtest_also_run_disabled_tests --gtest_filter='*Measure*'
TEST(OneZoneTest, DISABLED_MeasureMovesAndPlanningTime) {
  // At least: every replica slot no staying holder fills, and every replica a member holds
  // beyond what it held (a newcomer's share), whichever is more.
  auto at_least = [](const PartitionTable& before, const std::vector<v1::MemberInfo>& members,
                     int replicas) {
    const int n = static_cast<int>(members.size());
    std::vector<int> kept_by(n, 0);
    int missing = 0;
    for (int p = 0; p < before.partition_count(); ++p) {
      int kept = 0;
      for (int j = 0; j < n; ++j) {
        const int old = before.MemberIndex(members[j].id());
        if (old >= 0 && before.ReplicaIndex(p, old) >= 0) {
          ++kept;
          ++kept_by[j];
        }
      }
      missing += std::max(0, replicas - kept);
    }
    int short_of_share = 0;
    for (int j = 0; j < n; ++j) {
      short_of_share += std::max(0, before.partition_count() * replicas / n - kept_by[j]);
    }
    return std::max(missing, short_of_share);
  };
  // Partitions a migration freezes: copied to, or given a new primary.
  auto frozen = [](const PartitionTable& before, const PartitionTable& after, int* primaries) {
    int count = 0;
    for (int p = 0; p < after.partition_count(); ++p) {
      if (before.Owner(p) < 0) continue;
      bool copied = false;
      for (int m : after.proto().partitions(p).members()) {
        const int old = before.MemberIndex(after.member(m).id());
        copied = copied || old < 0 || before.ReplicaIndex(p, old) < 0;
      }
      const bool new_primary = after.Owner(p) < 0 || after.member(after.Owner(p)).id() !=
                                                         before.member(before.Owner(p)).id();
      *primaries += new_primary;
      count += copied || new_primary;
    }
    return count;
  };
  struct Sum {
    int64_t copies = 0, least = 0, frozen = 0, primaries = 0;
  };
  std::map<std::string, Sum> sums;
  auto add = [&](const std::string& event, const PartitionTable& before,
                 const std::vector<v1::MemberInfo>& members, int backups) {
    const int replicas = std::min(static_cast<int>(members.size()), backups + 1);
    PartitionTable after = PartitionTable::Rebalance(before, members, backups, 2);
    Sum& sum = sums[event];
    sum.copies += Moves(before, after);
    sum.least += at_least(before, members, replicas);
    int primaries = 0;
    sum.frozen += frozen(before, after, &primaries);
    sum.primaries += primaries;
  };
  for (int partitions : {271, 1009}) {
    for (int backups : {1, 2, 3}) {
      for (int n : {2, 3, 4, 5, 6, 8, 10, 12, 20}) {
        std::vector<v1::MemberInfo> members = Members(n);
        PartitionTable plan = PartitionTable::Plan("dev", 1, members, partitions, backups);
        add("join", plan, Members(n + 1), backups);
        std::vector<v1::MemberInfo> fewer = members;
        fewer.erase(fewer.begin() + n / 2);
        add("leave", plan, fewer, backups);
        add("crash", PartitionTable::Promote(plan, members[n / 2].id(), 2), fewer, backups);
      }
    }
  }
  for (const auto& [event, sum] : sums) {
    printf("%-5s copies %lld (at least %lld), partitions frozen %lld, new primaries %lld\n",
           event.c_str(), static_cast<long long>(sum.copies), static_cast<long long>(sum.least),
           static_cast<long long>(sum.frozen), static_cast<long long>(sum.primaries));
  }

  auto median_ms = [](const std::function<void()>& run) {
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) {
      const absl::Time start = absl::Now();
      run();
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
    }
    std::sort(ms.begin(), ms.end());
    return ms[2];
  };
  for (int backups : {1, 2}) {
    std::vector<v1::MemberInfo> members = Members(100);
    PartitionTable plan = PartitionTable::Plan("dev", 1, members, 1009, backups);
    std::vector<v1::MemberInfo> more = Members(101), fewer = members;
    fewer.erase(fewer.begin() + 50);
    PartitionTable promoted = PartitionTable::Promote(plan, members[50].id(), 2);
    printf(
        "100 members, 1009 partitions, %d backups: plan %.1f ms, same members %.1f ms, "
        "join %.1f ms, leave %.1f ms, crash %.1f ms\n",
        backups, median_ms([&] { PartitionTable::Plan("dev", 1, members, 1009, backups); }),
        median_ms([&] { PartitionTable::Rebalance(plan, members, backups, 2); }),
        median_ms([&] { PartitionTable::Rebalance(plan, more, backups, 2); }),
        median_ms([&] { PartitionTable::Rebalance(plan, fewer, backups, 2); }),
        median_ms([&] { PartitionTable::Rebalance(promoted, fewer, backups, 2); }));
  }
}

}  // namespace
}  // namespace gridrpc
