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

namespace gridrpc {

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

  // Crashes member `index` (Member::Terminate) and installs, on the members left, the table
  // that promotes its backups. Returns that table. The crashed member stays in member(index)
  // but serves nothing.
  absl::StatusOr<std::shared_ptr<const PartitionTable>> Crash(int index);

 private:
  EmbeddedCluster() = default;

  std::vector<std::unique_ptr<Member>> members_;
  std::shared_ptr<const PartitionTable> table_;
};

// The table of a member alone in its cluster: it owns every partition. For standalone members.
std::shared_ptr<const PartitionTable> SingleMemberTable(const Member& member);

}  // namespace gridrpc

#endif  // GRIDRPC_EMBEDDED_CLUSTER_H_
