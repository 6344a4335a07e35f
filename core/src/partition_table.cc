#include "gridrpc/partition_table.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <queue>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace gridrpc {
namespace {

std::string ZoneName(const v1::MemberInfo& member) {
  auto it = member.labels().find(std::string(kZoneLabel));
  return it == member.labels().end() ? std::string() : it->second;
}

// The zone of each member, as an index into the zones sorted by name ("" for unlabelled
// members), and how many zones there are.
std::vector<int> ZonesOf(const std::vector<v1::MemberInfo>& members, int* zone_count) {
  std::set<std::string> names;
  for (const v1::MemberInfo& m : members) names.insert(ZoneName(m));
  std::vector<int> zone;
  for (const v1::MemberInfo& m : members) {
    zone.push_back(static_cast<int>(std::distance(names.begin(), names.find(ZoneName(m)))));
  }
  *zone_count = static_cast<int>(names.size());
  return zone;
}

// Minimum-cost flow, primal-dual: Dijkstra over reduced costs finds the cheapest paths, then
// depth-first searches push flow along every path that is that cheap, until none is left. Exact:
// the placement is an assignment of partitions to members under capacities, and an exact optimum
// is what makes Rebalance of its own result a fixpoint (a planner that moved replicas on every
// round would never settle). Edge costs take few distinct values, so few phases run.
class MinCostFlow {
 public:
  explicit MinCostFlow(int nodes) : out_(nodes) {}

  // Returns the edge's index, for Flow().
  int AddEdge(int from, int to, int64_t capacity, int64_t cost) {
    out_[from].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({to, capacity, cost});
    out_[to].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({from, 0, -cost});
    return static_cast<int>(edges_.size()) - 2;
  }

  int64_t Flow(int edge) const { return edges_[edge ^ 1].capacity; }

  // Pushes one unit along a path of edges that cost nothing. Only before Run: a flow made of
  // free edges costs the least any flow of its size can, so the cheapest paths stay valid.
  void PushFree(std::initializer_list<int> path) {
    for (int e : path) {
      --edges_[e].capacity;
      ++edges_[e ^ 1].capacity;
    }
  }

  // Pushes as much as can go from `source` to `sink`, at the least cost.
  void Run(int source, int sink) {
    const int n = static_cast<int>(out_.size());
    constexpr int64_t kUnreached = std::numeric_limits<int64_t>::max();
    potential_.assign(n, 0);  // every residual edge costs >= 0 so far
    std::vector<int64_t> dist(n);
    for (;;) {
      std::fill(dist.begin(), dist.end(), kUnreached);
      dist[source] = 0;
      using Entry = std::pair<int64_t, int>;
      std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
      queue.push({0, source});
      while (!queue.empty()) {
        auto [d, u] = queue.top();
        queue.pop();
        if (d != dist[u]) continue;
        for (int e : out_[u]) {
          const Edge& edge = edges_[e];
          if (edge.capacity <= 0) continue;
          const int64_t next = d + Reduced(u, edge);
          if (next < dist[edge.to]) {
            dist[edge.to] = next;
            queue.push({next, edge.to});
          }
        }
      }
      if (dist[sink] == kUnreached) return;
      // Nodes not reached move by the farthest distance reached: reduced costs stay >= 0.
      int64_t farthest = 0;
      for (int64_t d : dist) {
        if (d != kUnreached) farthest = std::max(farthest, d);
      }
      for (int v = 0; v < n; ++v) potential_[v] += dist[v] == kUnreached ? farthest : dist[v];
      // Every path of edges of reduced cost 0 is a cheapest one now.
      for (;;) {
        visited_.assign(n, false);
        if (Push(source, sink, std::numeric_limits<int64_t>::max()) == 0) break;
      }
    }
  }

 private:
  struct Edge {
    int to;
    int64_t capacity;
    int64_t cost;
  };

  int64_t Reduced(int from, const Edge& edge) const {
    return edge.cost + potential_[from] - potential_[edge.to];
  }

  // Pushes up to `limit` from `u` to `sink` along edges of reduced cost 0; returns how much.
  int64_t Push(int u, int sink, int64_t limit) {
    if (u == sink) return limit;
    visited_[u] = true;
    int64_t pushed = 0;
    for (int e : out_[u]) {
      Edge& edge = edges_[e];
      if (edge.capacity <= 0 || visited_[edge.to] || Reduced(u, edge) != 0) continue;
      const int64_t d = Push(edge.to, sink, std::min(limit - pushed, edge.capacity));
      if (d == 0) continue;
      edge.capacity -= d;
      edges_[e ^ 1].capacity += d;
      pushed += d;
      if (pushed == limit) break;
    }
    return pushed;
  }

  std::vector<Edge> edges_;
  std::vector<std::vector<int>> out_;
  std::vector<int64_t> potential_;
  std::vector<bool> visited_;
};

// Places `replicas` replicas of each partition on the members (zone[m] is member m's zone),
// one replica index after the other, starting from `old` (per partition, the members that
// held its replicas, by index; -1 for one that is gone).
//
// Each index is spread evenly: every member takes P / n, and P % n members one more, those that
// had the fewest one-more places at earlier indexes (so that totals are even too, and a last
// index left with no choice, as when every member holds every partition, is even as well).
// Within that, the index is placed at the least cost, each kind of cost outweighing all costs
// of the kinds after it put together:
//   1. a replica beyond its member's share, only when nothing else fits;
//   2. a replica in a zone an earlier replica of its partition uses;
//   3. a copy (2), or a member that held another replica of the partition (1: no copy, but the
//      replica it held must be placed again);
//   4. a replica in the zone of a later replica that may stay where it is (which would then
//      have to move when its index is placed).
// Shares and costs 1 and 2 depend on the indexes placed before, not on `old` (except which of
// equal members get one more: those that held one more). So placing a table's own replicas again
// costs nothing and any other placement costs more: Rebalance of its own result changes
// nothing. int64 holds the weights for up to about 10^5 partitions.
std::vector<std::vector<int>> PlaceInZones(const std::vector<std::vector<int>>& old,
                                           const std::vector<int>& zone, int replicas) {
  const int partitions = static_cast<int>(old.size());
  const int n = static_cast<int>(zone.size());
  const int quota = partitions / n;
  const int extras = partitions % n;
  const int64_t kLaterZone = 1;
  const int64_t kPromote = kLaterZone * replicas * partitions + 1;
  const int64_t kCopy = 2 * kPromote;
  const int64_t kSameZone = kCopy * partitions + 1;
  const int64_t kOverShare = kSameZone * replicas * partitions + 1;
  std::vector<int> held(n, 0);          // replicas of earlier indexes per member
  std::vector<int> extras_taken(n, 0);  // one-more places at earlier indexes per member
  std::vector<std::vector<int>> assigned(partitions);
  for (int r = 0; r < replicas; ++r) {
    // Each member's share of this index. A member holds one replica of a partition at most:
    // after this index it must still find `quota` partitions it holds nothing of for each
    // index to come (binds only when members are about as many as replicas).
    std::vector<int> old_load(n, 0), share(n);
    for (int p = 0; p < partitions; ++p) {
      if (r < static_cast<int>(old[p].size()) && old[p][r] >= 0) ++old_load[old[p][r]];
    }
    std::vector<int> by_extras(n);
    for (int m = 0; m < n; ++m) by_extras[m] = m;
    // Fewest one-more places first; among equals, those that hold one more already (no move).
    std::stable_sort(by_extras.begin(), by_extras.end(), [&](int a, int b) {
      if (extras_taken[a] != extras_taken[b]) return extras_taken[a] < extras_taken[b];
      return std::min(old_load[a], quota + 1) > std::min(old_load[b], quota + 1);
    });
    int given = 0;
    for (int m : by_extras) {
      const int room = partitions - held[m] - quota * (replicas - 1 - r);
      share[m] = std::min(quota, room);
      if (given < extras && room > quota) {
        share[m] = quota + 1;
        ++extras_taken[m];
        ++given;
      }
    }

    // Nodes: source, partitions, members, sink.
    const int source = 0, first_member = 1 + partitions, sink = first_member + n;
    MinCostFlow flow(sink + 1);
    struct Choice {
      int member, edge;
      int64_t cost;
    };
    std::vector<int> from_source(partitions), to_sink(n);
    std::vector<std::vector<Choice>> choices(partitions);
    for (int p = 0; p < partitions; ++p) {
      from_source[p] = flow.AddEdge(source, 1 + p, 1, 0);
      std::vector<int> earlier(n, 0), later(n, 0);  // replicas per zone
      for (int m : assigned[p]) ++earlier[zone[m]];
      for (int i = r + 1; i < static_cast<int>(old[p].size()); ++i) {
        if (old[p][i] >= 0) ++later[zone[old[p][i]]];
      }
      for (int m = 0; m < n; ++m) {
        if (std::find(assigned[p].begin(), assigned[p].end(), m) != assigned[p].end()) continue;
        const auto it = std::find(old[p].begin(), old[p].end(), m);
        const int index = it == old[p].end() ? -1 : static_cast<int>(it - old[p].begin());
        int64_t cost = kSameZone * earlier[zone[m]];
        if (index != r) cost += index < 0 ? kCopy : kPromote;
        // A later replica on m itself moves anyway (it is promoted).
        cost += kLaterZone * (later[zone[m]] - (index > r ? 1 : 0));
        choices[p].push_back({m, flow.AddEdge(1 + p, first_member + m, 1, cost), cost});
      }
    }
    for (int m = 0; m < n; ++m) {
      to_sink[m] = flow.AddEdge(first_member + m, sink, share[m], 0);
      flow.AddEdge(first_member + m, sink, partitions, kOverShare);
    }
    // Replicas that stay where they were at no cost at all go first (a flow of free edges is
    // the cheapest of its size); then the cheapest paths place the rest.
    std::vector<int> load(n, 0);
    for (int p = 0; p < partitions; ++p) {
      if (r >= static_cast<int>(old[p].size()) || old[p][r] < 0) continue;
      const int m = old[p][r];
      auto choice = std::find_if(choices[p].begin(), choices[p].end(),
                                 [m](const Choice& c) { return c.member == m; });
      if (choice == choices[p].end() || choice->cost != 0 || load[m] >= share[m]) continue;
      flow.PushFree({from_source[p], choice->edge, to_sink[m]});
      ++load[m];
    }
    flow.Run(source, sink);
    for (int p = 0; p < partitions; ++p) {
      for (const Choice& c : choices[p]) {
        if (flow.Flow(c.edge) > 0) {
          assigned[p].push_back(c.member);
          ++held[c.member];
        }
      }
    }
  }
  return assigned;
}

// Places `replicas` replicas of each partition on n members that share one zone, starting from
// `old` (as for PlaceInZones). Two exact steps, each a minimum-cost flow:
//
//   1. Who holds what: every member P * replicas / n replicas in all, (P * replicas) % n of
//      them one more, at the fewest copies any such placement needs. Among those, copies go to
//      partitions that need one anyway (a holder gone) rather than to complete ones: every
//      partition copied to is frozen while its migration runs.
//   2. Which replica index each holder gets, one index after the other: with k indexes left, a
//      member holding h replicas not yet given an index takes h / k of this one, or one more if
//      k does not divide h. Such a choice always exists (each replica taking 1/k of every index
//      left is a fractional one, and flows with integral bounds have integral solutions), and
//      it leaves between (k - 1) * (h / k) and (k - 1) * (h / k + 1) for the k - 1 indexes
//      after. Totals from step 1 lie between replicas * (P / n) and replicas * (P / n + 1), so
//      by induction every index ends with P / n or P / n + 1 on every member, whatever step 1
//      chose. Within that: the fewest new primaries in partitions nothing is copied to (a new
//      primary freezes its partition too), then the least shift of replicas' indexes (squared,
//      so that two shifts of one place beat one of two: the replicas behind a promoted one keep
//      their order), a replica that is new counting as coming from behind the last index.
//
// An even table placed again costs nothing in either step, and any other placement costs more
// (step 1 copies something, step 2 shifts an index): Rebalance of its own result changes
// nothing. Costs and path lengths stay below about 2 * P^2 * replicas^2, far inside int64.
std::vector<std::vector<int>> PlaceInOneZone(const std::vector<std::vector<int>>& old, int n,
                                             int replicas) {
  const int partitions = static_cast<int>(old.size());
  std::vector<std::vector<int>> held_before(partitions);  // distinct members still here, in order
  for (int p = 0; p < partitions; ++p) {
    for (int m : old[p]) {
      if (m >= 0 &&
          std::find(held_before[p].begin(), held_before[p].end(), m) == held_before[p].end()) {
        held_before[p].push_back(m);
      }
    }
  }
  auto held = [&](int p, int m) {
    return std::find(held_before[p].begin(), held_before[p].end(), m) != held_before[p].end();
  };
  // Both steps use the same network: source -> partitions -> members -> sink, where each member
  // has an edge to the sink for the least it must take and one through the node `extra` for the
  // one more some members take. The edges into the sink add up to the flow's size, so a
  // maximum flow fills them all: every member gets its least, and exactly as many get one more
  // as there are to give.
  const int source = 0, first_member = 1 + partitions, extra = first_member + n, sink = extra + 1;

  // Step 1.
  const int64_t all = int64_t{partitions} * replicas;
  const int least_total = static_cast<int>(all / n);
  const int extra_total = static_cast<int>(all % n);
  const int64_t kCompleteTie = 1;  // a copy to a partition whose replicas are all still here
  const int64_t kCopy = kCompleteTie * all + 1;
  std::vector<std::vector<int>> holds(partitions);
  {
    MinCostFlow flow(sink + 1);
    std::vector<int> from_source(partitions), to_sink(n), to_extra(n);
    std::vector<std::vector<int>> edge(partitions, std::vector<int>(n));  // p -> m
    for (int p = 0; p < partitions; ++p) {
      from_source[p] = flow.AddEdge(source, 1 + p, replicas, 0);
      const bool complete = static_cast<int>(held_before[p].size()) >= replicas;
      for (int m = 0; m < n; ++m) {
        const int64_t cost = held(p, m) ? 0 : kCopy + (complete ? kCompleteTie : 0);
        edge[p][m] = flow.AddEdge(1 + p, first_member + m, 1, cost);
      }
    }
    for (int m = 0; m < n; ++m) {
      to_sink[m] = flow.AddEdge(first_member + m, sink, least_total, 0);
      to_extra[m] = flow.AddEdge(first_member + m, extra, 1, 0);
    }
    const int extra_to_sink = flow.AddEdge(extra, sink, extra_total, 0);
    // Replicas that stay go first, at no cost (a flow of free edges is the cheapest of its
    // size); the earlier replicas of a partition first, should it have more than it keeps.
    std::vector<int> load(n, 0);
    int extras_used = 0;
    for (int p = 0; p < partitions; ++p) {
      int placed = 0;
      for (int m : held_before[p]) {
        if (placed == replicas) break;
        if (load[m] < least_total) {
          flow.PushFree({from_source[p], edge[p][m], to_sink[m]});
        } else if (load[m] == least_total && extras_used < extra_total) {
          flow.PushFree({from_source[p], edge[p][m], to_extra[m], extra_to_sink});
          ++extras_used;
        } else {
          continue;
        }
        ++load[m];
        ++placed;
      }
    }
    flow.Run(source, sink);
    for (int p = 0; p < partitions; ++p) {
      for (int m = 0; m < n; ++m) {
        if (flow.Flow(edge[p][m]) > 0) holds[p].push_back(m);
      }
    }
  }

  // Step 2.
  int longest = replicas;  // lists may be longer than `replicas` when the backup count dropped
  std::vector<bool> frozen(partitions);  // copied to, or its primary leaves it anyway
  for (int p = 0; p < partitions; ++p) {
    longest = std::max(longest, static_cast<int>(old[p].size()));
    frozen[p] = held_before[p].empty() || held_before[p][0] != old[p][0] ||
                std::find(holds[p].begin(), holds[p].end(), old[p][0]) == holds[p].end() ||
                std::any_of(holds[p].begin(), holds[p].end(), [&](int m) { return !held(p, m); });
  }
  const int64_t kShift = 1;  // per squared place
  const int64_t kNewPrimary = kShift * longest * longest * partitions + 1;
  std::vector<std::vector<int>> assigned(partitions, std::vector<int>(replicas, -1));
  std::vector<int> unindexed(n, 0);
  for (int p = 0; p < partitions; ++p) {
    for (int m : holds[p]) ++unindexed[m];
  }
  for (int r = 0; r < replicas; ++r) {
    const int left = replicas - r;
    MinCostFlow flow(sink + 1);
    std::vector<int> from_source(partitions), to_sink(n), to_extra(n), least(n);
    int least_sum = 0;
    for (int m = 0; m < n; ++m) {
      least[m] = unindexed[m] / left;
      least_sum += least[m];
      to_sink[m] = flow.AddEdge(first_member + m, sink, least[m], 0);
      to_extra[m] = flow.AddEdge(first_member + m, extra, unindexed[m] % left == 0 ? 0 : 1, 0);
    }
    const int extras = partitions - least_sum;
    const int extra_to_sink = flow.AddEdge(extra, sink, extras, 0);
    struct Choice {
      int member, edge;
      int64_t cost;
    };
    std::vector<std::vector<Choice>> choices(partitions);
    for (int p = 0; p < partitions; ++p) {
      from_source[p] = flow.AddEdge(source, 1 + p, 1, 0);
      for (int m : holds[p]) {
        if (std::find(assigned[p].begin(), assigned[p].begin() + r, m) != assigned[p].begin() + r) {
          continue;
        }
        const auto it = std::find(old[p].begin(), old[p].end(), m);
        const int64_t was = it == old[p].end() ? longest : it - old[p].begin();
        int64_t cost = kShift * (was - r) * (was - r);
        if (r == 0 && was != 0 && !frozen[p]) cost += kNewPrimary;
        choices[p].push_back({m, flow.AddEdge(1 + p, first_member + m, 1, cost), cost});
      }
    }
    std::vector<int> load(n, 0);
    int extras_used = 0;
    for (int p = 0; p < partitions; ++p) {
      for (const Choice& c : choices[p]) {
        if (c.cost != 0) continue;  // at most one: the member that held this index
        if (load[c.member] < least[c.member]) {
          flow.PushFree({from_source[p], c.edge, to_sink[c.member]});
        } else if (load[c.member] == least[c.member] && unindexed[c.member] % left != 0 &&
                   extras_used < extras) {
          flow.PushFree({from_source[p], c.edge, to_extra[c.member], extra_to_sink});
          ++extras_used;
        } else {
          break;
        }
        ++load[c.member];
        break;
      }
    }
    flow.Run(source, sink);
    for (int p = 0; p < partitions; ++p) {
      for (const Choice& c : choices[p]) {
        if (flow.Flow(c.edge) > 0) {
          assigned[p][r] = c.member;
          --unindexed[c.member];
        }
      }
    }
  }
  return assigned;
}

// The table's proto: `members` and, per partition, its replicas, its lost mark and last holders
// as in `current` (new owners of a lost partition hold nothing either).
v1::PartitionTable BuildTable(const PartitionTable& current, std::vector<v1::MemberInfo> members,
                              const std::vector<std::vector<int>>& assigned, int64_t version) {
  v1::PartitionTable proto;
  proto.set_version(version);
  proto.set_cluster_name(current.cluster_name());
  proto.set_partition_count(current.partition_count());
  for (v1::MemberInfo& m : members) *proto.add_members() = std::move(m);
  for (int p = 0; p < current.partition_count(); ++p) {
    v1::PartitionReplicas* r = proto.add_partitions();
    for (int m : assigned[p]) r->add_members(m);
    r->set_lost(current.lost(p));
    *r->mutable_last_holders() = current.proto().partitions(p).last_holders();
  }
  return proto;
}

// Members in an order that interleaves their zones, each zone spread evenly around it (member
// j of a zone of s members sits at (j + 1/2) / s of the way): consecutive members are in
// distinct zones as often as the zones' sizes allow.
std::vector<int> InterleavedByZone(const std::vector<int>& zone, int zone_count) {
  std::vector<std::vector<int>> by_zone(zone_count);
  for (int m = 0; m < static_cast<int>(zone.size()); ++m) by_zone[zone[m]].push_back(m);
  struct Slot {
    int64_t numerator, denominator;  // the position, 2j + 1 over 2s
    int zone, member;
  };
  std::vector<Slot> slots;
  for (int z = 0; z < zone_count; ++z) {
    const int64_t s = static_cast<int64_t>(by_zone[z].size());
    for (int64_t j = 0; j < s; ++j) slots.push_back({2 * j + 1, 2 * s, z, by_zone[z][j]});
  }
  std::sort(slots.begin(), slots.end(), [](const Slot& a, const Slot& b) {
    const int64_t lhs = a.numerator * b.denominator, rhs = b.numerator * a.denominator;
    return lhs != rhs ? lhs < rhs : a.zone < b.zone;
  });
  std::vector<int> order;
  for (const Slot& slot : slots) order.push_back(slot.member);
  return order;
}

}  // namespace

PartitionTable PartitionTable::Plan(std::string cluster_name, int64_t version,
                                    std::vector<v1::MemberInfo> members, int partition_count,
                                    int backup_count) {
  v1::PartitionTable proto;
  proto.set_version(version);
  proto.set_cluster_name(std::move(cluster_name));
  proto.set_partition_count(partition_count);
  const int n = static_cast<int>(members.size());
  for (const v1::MemberInfo& m : members) *proto.add_members() = m;
  const int replicas = n == 0 ? 0 : std::min(n, 1 + std::max(0, backup_count));
  int zone_count = 0;
  const std::vector<int> zone = ZonesOf(members, &zone_count);
  // In several zones the cyclic layout runs over the members interleaved by zone, which spreads
  // equal zones perfectly; Rebalance then fixes what uneven zones leave, moving nothing else.
  // In one zone Rebalance keeps the cyclic layout when its totals are even and otherwise evens
  // them out, copying the least: either way the first table is already its own Rebalance.
  std::vector<int> order(n);
  for (int m = 0; m < n; ++m) order[m] = m;
  if (zone_count > 1) order = InterleavedByZone(zone, zone_count);
  for (int p = 0; p < partition_count; ++p) {
    v1::PartitionReplicas* r = proto.add_partitions();
    for (int i = 0; i < replicas; ++i) r->add_members(order[(p + i) % n]);
  }
  PartitionTable cyclic(std::move(proto));
  return Rebalance(cyclic, std::move(members), backup_count, version);
}

PartitionTable PartitionTable::Rebalance(const PartitionTable& current,
                                         std::vector<v1::MemberInfo> members, int backup_count,
                                         int64_t version) {
  const int n = static_cast<int>(members.size());
  const int partitions = current.partition_count();
  const int replicas = n == 0 ? 0 : std::min(n, 1 + std::max(0, backup_count));
  // Old member index -> new member index, -1 for members that left.
  std::vector<int> renumber(current.member_count(), -1);
  for (int i = 0; i < current.member_count(); ++i) {
    for (int j = 0; j < n; ++j) {
      if (members[j].id() == current.member(i).id()) renumber[i] = j;
    }
  }
  int zone_count = 0;
  const std::vector<int> zone = ZonesOf(members, &zone_count);
  std::vector<std::vector<int>> old(partitions);
  for (int p = 0; p < partitions; ++p) {
    for (int m : current.proto().partitions(p).members()) old[p].push_back(renumber[m]);
  }
  std::vector<std::vector<int>> assigned(partitions);
  if (zone_count > 1) {
    assigned = PlaceInZones(old, zone, replicas);
  } else if (n > 0) {
    assigned = PlaceInOneZone(old, n, replicas);
  }
  return PartitionTable(BuildTable(current, std::move(members), assigned, version));
}

PartitionTable PartitionTable::Promote(const PartitionTable& table, std::string_view member_id,
                                       int64_t version) {
  const int gone = table.MemberIndex(member_id);
  v1::PartitionTable proto = table.proto();
  proto.set_version(version);
  if (gone < 0) return PartitionTable(std::move(proto));
  proto.mutable_members()->DeleteSubrange(gone, 1);
  for (v1::PartitionReplicas& replicas : *proto.mutable_partitions()) {
    google::protobuf::RepeatedField<int32_t> kept;
    for (int m : replicas.members()) {
      if (m != gone) kept.Add(m > gone ? m - 1 : m);  // indexes after it shift down
    }
    *replicas.mutable_members() = std::move(kept);
  }
  return PartitionTable(std::move(proto));
}

namespace {

// The index of `member` in `proto`, which lists it last if it did not yet (without what it
// registered beyond its identity: the replicas it offered are not part of a table).
int FindOrAddMember(v1::PartitionTable& proto, const v1::MemberInfo& member) {
  for (int i = 0; i < proto.members_size(); ++i) {
    if (proto.members(i).id() == member.id()) return i;
  }
  v1::MemberInfo& added = *proto.add_members();
  added = member;
  added.clear_held();
  return proto.members_size() - 1;
}

}  // namespace

bool PartitionTable::LostFrom(int partition, std::string_view member_id) const {
  const v1::PartitionReplicas& replicas = proto_.partitions(partition);
  return replicas.lost() &&
         std::find(replicas.last_holders().begin(), replicas.last_holders().end(), member_id) !=
             replicas.last_holders().end();
}

PartitionTable PartitionTable::MarkLost(const PartitionTable& table, const PartitionTable& before,
                                        const std::set<int>& partitions) {
  v1::PartitionTable proto = table.proto();
  for (int p : partitions) {
    v1::PartitionReplicas* replicas = proto.mutable_partitions(p);
    replicas->set_lost(true);
    replicas->clear_last_holders();
    for (int m : before.proto().partitions(p).members()) {
      replicas->add_last_holders(before.member(m).id());
    }
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::ResetLost(const PartitionTable& table,
                                         const std::set<int>& partitions) {
  v1::PartitionTable proto = table.proto();
  for (int p : partitions) {
    proto.mutable_partitions(p)->set_lost(false);
    proto.mutable_partitions(p)->clear_last_holders();
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::Restore(const PartitionTable& table,
                                       const std::map<int, v1::MemberInfo>& owners,
                                       int64_t version) {
  v1::PartitionTable proto = table.proto();
  proto.set_version(version);
  for (const auto& [p, owner] : owners) {
    const int index = FindOrAddMember(proto, owner);
    v1::PartitionReplicas* replicas = proto.mutable_partitions(p);
    replicas->clear_members();  // the new owners the lost partition had hold nothing
    replicas->add_members(index);
    replicas->set_lost(false);
    replicas->clear_last_holders();
  }
  return PartitionTable(std::move(proto));
}

PartitionTable PartitionTable::KeepReplicas(const PartitionTable& next,
                                            const PartitionTable& current,
                                            const std::set<int>& partitions) {
  v1::PartitionTable proto = next.proto();
  for (int p : partitions) {
    google::protobuf::RepeatedField<int32_t> kept;
    for (int m : current.proto().partitions(p).members()) {
      const v1::MemberInfo& member = current.member(m);
      // A member `next` leaves out (one that is leaving) keeps its replica.
      kept.Add(FindOrAddMember(proto, member));
    }
    *proto.mutable_partitions(p)->mutable_members() = std::move(kept);
  }
  return PartitionTable(std::move(proto));
}

absl::StatusOr<PartitionTable> PartitionTable::FromProto(v1::PartitionTable proto) {
  if (proto.partition_count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("partition table: partition_count ",
                                                   proto.partition_count(), " is not positive"));
  }
  if (proto.partitions_size() != proto.partition_count()) {
    return absl::InvalidArgumentError(absl::StrCat("partition table: ", proto.partitions_size(),
                                                   " replica lists for ", proto.partition_count(),
                                                   " partitions"));
  }
  for (int p = 0; p < proto.partitions_size(); ++p) {
    absl::flat_hash_set<int> seen;
    for (int m : proto.partitions(p).members()) {
      if (m < 0 || m >= proto.members_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition table: partition ", p, " names member ", m, " of ", proto.members_size()));
      }
      if (!seen.insert(m).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("partition table: partition ", p, " lists member ", m, " twice"));
      }
    }
  }
  return PartitionTable(std::move(proto));
}

int PartitionTable::Owner(int partition) const {
  if (partition < 0 || partition >= proto_.partitions_size()) return -1;
  const auto& members = proto_.partitions(partition).members();
  return members.empty() ? -1 : members[0];
}

int PartitionTable::ReplicaIndex(int partition, int member_index) const {
  if (partition < 0 || partition >= proto_.partitions_size()) return -1;
  const auto& members = proto_.partitions(partition).members();
  for (int i = 0; i < members.size(); ++i) {
    if (members[i] == member_index) return i;
  }
  return -1;
}

int PartitionTable::MemberIndex(std::string_view member_id) const {
  for (int i = 0; i < proto_.members_size(); ++i) {
    if (proto_.members(i).id() == member_id) return i;
  }
  return -1;
}

}  // namespace gridrpc
