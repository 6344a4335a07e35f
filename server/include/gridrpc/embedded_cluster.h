// EmbeddedCluster: several members in one process, each a real gRPC server on loopback (a client
// port and a peer port), coordinated through one in-memory membership store by the same planner
// that coordinates members in separate processes through etcd. The first table spreads
// primaries and backups evenly over the members it starts with.
//
// It is the test harness, the base of the demo, and the quickest way to try a service. Every
// member hosts the same services, added by the installer function. Its members authenticate
// each other on their peer ports (by default with a secret made up at start).
//
// Thread-safe: membership changes run one at a time; members, addresses and the table may be
// read from any thread meanwhile. The cluster owns its members.
//
// Example:
//   auto cluster = gridrpc::EmbeddedCluster::Start({.members = 2}, [](gridrpc::Member& m) {
//     return m.AddService(std::make_unique<CounterImpl>());
//   }).value();
//   auto client = gridrpc::Client::Create({.members = cluster->addresses()}).value();
#ifndef GRIDRPC_EMBEDDED_CLUSTER_H_
#define GRIDRPC_EMBEDDED_CLUSTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/member.h"
#include "gridrpc/migration.h"

namespace gridrpc {

class PartitionTable;

struct EmbeddedClusterOptions {
  int members = 2;
  std::string cluster_name = "dev";
  int partition_count = kDefaultPartitionCount;
  // Backups per partition in the table (capped by the member count).
  int backup_count = 1;
  Properties properties;  // handed to every service's Init on every member
  // Every member's execution aspects (see MemberOptions).
  std::vector<std::shared_ptr<ExecutionAspect>> execution_aspects;
  // Every member's tunables (see MemberOptions).
  MemberTunables tunables;
  // Every member's TLS and cluster secret (see MemberOptions). Without a secret or a CA (mutual
  // TLS), the members get a secret made up at start, which only they know.
  TlsOptions tls;
  std::string cluster_secret;
  // See EtcdCoordinatorOptions::reset_lost_partitions.
  bool reset_lost_partitions = false;
  // The labels of the member with this index (MemberOptions::labels), for every member the
  // cluster starts, at Start and by AddMember(); null: none. With `zone` among them the planner
  // places a partition's replicas in distinct zones:
  //   .member_labels = [](int i) -> std::map<std::string, std::string> {
  //     return {{"zone", i % 2 == 0 ? "a" : "b"}};
  //   }
  std::function<std::map<std::string, std::string>(int index)> member_labels;
};

// Adds the services a member hosts; called once per member, before it starts.
using ServiceInstaller = std::function<absl::Status(Member&)>;

class EmbeddedCluster {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(EmbeddedClusterOptions options,
                                                                const ServiceInstaller& install);
  ~EmbeddedCluster();  // shuts every member down

  // Members ever started, crashed and removed ones included (they keep their index).
  int size() const;
  Member& member(int index);
  // The member with this id, or nullptr.
  Member* FindMember(std::string_view id);
  // host:port (client port) of every member, in member order.
  std::vector<std::string> addresses() const;
  // The committed table.
  std::shared_ptr<const PartitionTable> partition_table() const;

  void Shutdown();

  // Membership changes. Each returns once the planner has nothing left to do: it planned a new
  // table (even spread, few moves), migrated the replicas that move (the partition's primary
  // serializes it, the destination applies it, the table commits, sources clear) and reported
  // the process to the migration listeners. Calls for a migrating partition are refused as
  // retryable and retried by smart clients; other partitions serve on.
  //
  // Starts one more member (same services and options) and moves its share to it. Returns its
  // index.
  absl::StatusOr<int> AddMember();
  // The same, for a member with these labels (instead of EmbeddedClusterOptions::member_labels).
  absl::StatusOr<int> AddMember(std::map<std::string, std::string> labels);
  // Hands member `index`'s replicas over, then shuts it down gracefully.
  absl::Status RemoveMember(int index);
  // Crashes member `index` (Member::Terminate; its session ends as a lost lease would): its
  // backups are promoted at once, then the backup count is restored by migration. The crashed
  // member stays in member(index) but serves nothing.
  absl::Status Crash(int index);
  // Crashes several members at once, before the cluster reacts to any of them: with more of
  // them than a partition has backups, partitions are lost (see PartitionLostEvent).
  absl::Status Crash(const std::vector<int>& indexes);

  // Hears every migration process (and partition loss) of the cluster, whichever member plans.
  void AddMigrationListener(std::shared_ptr<MigrationListener> listener);

  // Makes `table` the committed table without the planner's fences, for tests that stage a
  // table by hand (they install it on the members themselves).
  void CommitPartitionTableForTest(const PartitionTable& table);

 private:
  class Impl;
  explicit EmbeddedCluster(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// The table of a member alone in its cluster: it owns every partition. For standalone members.
std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member);

}  // namespace gridrpc

#endif  // GRIDRPC_EMBEDDED_CLUSTER_H_
