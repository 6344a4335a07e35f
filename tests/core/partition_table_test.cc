#include "gridrpc/partition_table.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
// find nothing to do, or it would migrate forever.
void ExpectFixpoint(const PartitionTable& table, int backup_count, const std::string& what) {
  std::vector<v1::MemberInfo> members(table.proto().members().begin(),
                                      table.proto().members().end());
  PartitionTable again = PartitionTable::Rebalance(table, members, backup_count, 99);
  for (int p = 0; p < table.partition_count(); ++p) {
    ASSERT_EQ(Replicas(again, p), Replicas(table, p)) << what << ", partition " << p;
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

// Without labels, and with every member in one zone, tables are what they were before zones.
TEST(ZoneTest, OneZoneIsNoZones) {
  for (int n : {1, 2, 3, 5, 6}) {
    std::vector<v1::MemberInfo> plain = Members(n);
    std::vector<v1::MemberInfo> zoned = ZonedMembers(std::vector<std::string>(n, "a"));
    for (int backups : {1, 2}) {
      PartitionTable a = PartitionTable::Plan("dev", 1, plain, 271, backups);
      PartitionTable b = PartitionTable::Plan("dev", 1, zoned, 271, backups);
      for (int p = 0; p < 271; ++p) {
        ASSERT_EQ(Replicas(a, p), Replicas(b, p)) << n << " members, partition " << p;
        // Today's layout: primary p % n, backup i on (p + i) % n.
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
