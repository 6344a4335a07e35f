// EmbeddedCluster: several members in one process, each a real gRPC server on loopback, sharing
// one partition table computed at start (primaries and backups spread evenly).
//
// It is the test harness, the base of the demo, and the quickest way to try a service. Every
// member hosts the same services, added by the installer function.
//
// Thread-safe after Start.
//
// Example:
//   auto cluster = gridrpc::EmbeddedCluster::Start({.members = 2}, [](gridrpc::Member& m) {
//     return m.AddService(std::make_unique<CounterImpl>());
//   }).value();
//   auto client = gridrpc::Client::Create({.members = cluster->addresses()}).value();
#ifndef GRIDRPC_EMBEDDED_CLUSTER_H_
#define GRIDRPC_EMBEDDED_CLUSTER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/member.h"
#include "gridrpc/migration.h"

namespace gridrpc {
namespace internal {
struct MigrationDriver;
}  // namespace internal

struct EmbeddedClusterOptions {
  int members = 2;
  std::string cluster_name = "dev";
  int partition_count = kDefaultPartitionCount;
  // Backups per partition in the table (capped by the member count).
  int backup_count = 1;
  Properties properties;  // handed to every service's Init on every member
  // Every member's execution aspects (see MemberOptions).
  std::vector<std::shared_ptr<ExecutionAspect>> execution_aspects;
};

// Adds the services a member hosts; called once per member, before it starts.
using ServiceInstaller = std::function<absl::Status(Member&)>;

class EmbeddedCluster {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedCluster>> Start(EmbeddedClusterOptions options,
                                                                const ServiceInstaller& install);
  ~EmbeddedCluster();  // shuts every member down

  int size() const { return static_cast<int>(members_.size()); }
  Member& member(int index) { return *members_[index]; }
  // The member with this id, or nullptr.
  Member* FindMember(std::string_view id);
  // host:port of every member, in member order.
  std::vector<std::string> addresses() const;
  std::shared_ptr<const PartitionTable> partition_table() const { return table_; }

  void Shutdown();

  // Membership changes. Each plans a new table (even spread, few moves), migrates the replicas
  // that move (the partition's primary serializes it, the destination applies it, the table
  // commits, sources clear), reporting to the migration listeners. Calls for a migrating
  // partition are refused as retryable and retried by smart clients; other partitions serve on.
  //
  // Starts one more member (same services and options) and moves its share to it. Returns its
  // index.
  absl::StatusOr<int> AddMember();
  // Hands member `index`'s replicas over, then shuts it down gracefully.
  absl::Status RemoveMember(int index);
  // Crashes member `index` (Member::Terminate): its backups are promoted at once, then the
  // backup count is restored by migration. The crashed member stays in member(index) but
  // serves nothing.
  absl::Status Crash(int index);

  void AddMigrationListener(std::shared_ptr<MigrationListener> listener);

 private:
  EmbeddedCluster(EmbeddedClusterOptions options, ServiceInstaller install)
      : options_(std::move(options)), install_(std::move(install)) {}

  absl::StatusOr<std::unique_ptr<Member>> StartMember();
  // Plans the table for `members` and migrates to it.
  absl::Status Rebalance(const std::vector<Member*>& members);
  // How the shared migration process reaches this cluster's members.
  internal::MigrationDriver Driver();
  // Installs `table` on every member it lists.
  absl::Status Commit(std::shared_ptr<const PartitionTable> table);
  std::vector<Member*> LiveMembers();
  // Reports a migration event to the cluster's listeners and to every live member's.
  void Notify(const std::function<void(MigrationListener&)>& event);

  const EmbeddedClusterOptions options_;
  const ServiceInstaller install_;
  std::vector<std::unique_ptr<Member>> members_;
  std::vector<bool> live_;
  std::shared_ptr<const PartitionTable> table_;
  std::vector<std::shared_ptr<MigrationListener>> listeners_;
};

// The table of a member alone in its cluster: it owns every partition. For standalone members.
std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member);

}  // namespace gridrpc

#endif  // GRIDRPC_EMBEDDED_CLUSTER_H_
