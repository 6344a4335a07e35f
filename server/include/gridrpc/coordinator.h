// Coordinator: where a cluster keeps its membership and its partition table, and who plans the
// migrations when members come and go.
//
// A member joins a cluster through a coordinator and leaves through it. The coordinator installs
// every table the cluster commits on the member and, when it is this member's turn, plans the
// next table and runs the migration to it. Every coordinator runs the same planner over a
// membership store (internal: server/src/cluster/planner.h, membership_store.h); the store is
// what differs:
// - in memory (the default, NewEmbeddedCoordinator): the member is the whole cluster and owns
//   every partition. EmbeddedCluster is several members of one process over one in-memory
//   store (AddMember, RemoveMember, Crash), so its tests run the production planner.
// - etcd (NewEtcdCoordinator): members in separate processes, on one machine or many. Members
//   are keys on leases (a member that stops renewing its lease is declared crashed when the TTL
//   expires), the table is one key whose revision fences its writers, and one member at a time
//   plans: the holder of the planner key, a key on its lease. Every table it commits is
//   conditioned on still holding that key and on the table being the one it planned from, so
//   a planner that lost its lease can no longer commit. No consensus of our own: etcd's.
//
// Example (what `gridrpc-member --coordinator=etcd` does):
//   auto member = gridrpc::Member::Create({.listen = "127.0.0.1:0"}).value();
//   ... AddService ..., member->Start();
//   auto coordinator = gridrpc::NewEtcdCoordinator({.endpoints = {"http://127.0.0.1:2379"}});
//   if (absl::Status s = (*coordinator)->Join(*member); !s.ok()) return s;
//   ...
//   (*coordinator)->Leave();  // hands the member's replicas over
//   member->Shutdown();
#ifndef GRIDRPC_COORDINATOR_H_
#define GRIDRPC_COORDINATOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/member.h"

namespace gridrpc {

class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // Makes the started `member` part of the cluster named by its MemberOptions::cluster_name,
  // and returns once it holds a partition table listing it. One member per coordinator; the
  // member must outlive the coordinator.
  virtual absl::Status Join(Member& member) = 0;

  // Hands the member's replicas over to the members staying and leaves the cluster; the member
  // serves nothing afterwards and may be shut down. The last member leaves without handing over.
  virtual absl::Status Leave() = 0;

  // Migration events of the processes this member plans. Every member's own listeners
  // (Member::AddMigrationListener) hear every process, whoever plans it.
  virtual void AddMigrationListener(std::shared_ptr<MigrationListener> listener) = 0;
};

struct EtcdCoordinatorOptions {
  // etcd client URLs, e.g. {"http://127.0.0.1:2379"}; several may be given.
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  // A member that does not renew its lease for this long is declared crashed and its backups
  // are promoted. Whole seconds; etcd's minimum is 2 s by default.
  absl::Duration lease_ttl = absl::Seconds(5);
  // Backups per partition in the tables this member plans (capped by the member count).
  int backup_count = 1;
  // A partition that lost every replica serves again at once, empty, instead of answering
  // DATA_LOSS until an operator resets it (for caches: --on_partition_lost=reset).
  bool reset_lost_partitions = false;
  // Keys live under <key_prefix><cluster_name>/.
  std::string key_prefix = "/gridrpc/";
  // How long Join waits for a table listing the member, and Leave for one without it.
  absl::Duration membership_timeout = absl::Seconds(60);
  // Called once, from the coordinator's planner thread, when the member was expelled: it lost
  // its lease, or a committed table no longer lists it although it did not leave. Its
  // partitions are being promoted elsewhere, so it must stop serving; the default terminates the
  // member (Member::Terminate). Must not block for long.
  std::function<void()> on_expelled;
};

// A member alone in its cluster: Join installs a table giving it every partition
// (SingleMemberTable); Leave has nobody to hand over to. No migrations, so no events.
std::unique_ptr<Coordinator> NewEmbeddedCoordinator();

absl::StatusOr<std::unique_ptr<Coordinator>> NewEtcdCoordinator(EtcdCoordinatorOptions options);

}  // namespace gridrpc

#endif  // GRIDRPC_COORDINATOR_H_
