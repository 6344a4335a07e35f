// MemberCore: everything a Member is, wired together; the Member class is its facade.
//
// It owns the parts and their order of construction and destruction, assembles the two gRPC
// servers (the client port: user methods, health, reflection, gridrpc.v1.Cluster; the peer port:
// gridrpc.v1.Peer) and runs the member's lifecycle. Coordinators reach a member's parts through
// it (internal::CoreOf).
//
//   client port ── CallDispatcher ── Invoker ── (execution aspects, service method)
//                │        ├─ Forwarder                 └─ Replicator ──> peers' BackupApplier
//                │        └─ PartitionExecutor ── Partitions (one PartitionReplica each)
//                └─ ClusterService ── BroadcastRunner, MigrationEvents
//   peer port ─── PeerService ── BackupApplier, MigrationParticipant, MigrationEvents
//
// Thread-safe: the lifecycle is guarded by one mutex; the parts are thread-safe themselves.
#ifndef GRIDRPC_SERVER_SRC_MEMBER_MEMBER_CORE_H_
#define GRIDRPC_SERVER_SRC_MEMBER_MEMBER_CORE_H_

#include <grpcpp/server.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/cluster_service.h"
#include "control/peer_service.h"
#include "dispatch/broadcast_runner.h"
#include "dispatch/call_dispatcher.h"
#include "dispatch/forwarder.h"
#include "dispatch/invoker.h"
#include "dispatch/service_registry.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/member.h"
#include "member/metrics.h"
#include "migration/migration_events.h"
#include "migration/migration_participant.h"
#include "net/peer_channels.h"
#include "net/peer_security.h"
#include "partition/partition_executor.h"
#include "partition/partitions.h"
#include "replication/backup_applier.h"
#include "replication/replicator.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

class MemberCore {
 public:
  static absl::StatusOr<std::unique_ptr<MemberCore>> Create(MemberOptions options);
  ~MemberCore();

  absl::Status AddService(std::unique_ptr<ServiceBase> service,
                          std::vector<std::string> lookup_names);
  absl::Status Start();
  absl::Status InstallPartitionTable(std::shared_ptr<const PartitionTable> table);
  void Reset();
  // Graceful (calls in flight get `grace`) or, with `terminate`, at once. Idempotent; a call
  // that races another waits until the member has stopped.
  void Stop(absl::Duration grace, bool terminate);

  const MemberOptions& options() const { return options_; }
  const MemberTunables& tunables() const { return options_.tunables; }
  const Clock& clock() const { return clock_; }
  const MemberContext& context() const { return context_; }
  const std::string& id() const { return context_.id(); }
  Partitions& partitions() { return partitions_; }
  const Partitions& partitions() const { return partitions_; }
  PeerChannels& peers() { return peers_; }
  const PeerSecurity& security() const { return security_; }
  MigrationEvents& events() { return events_; }
  MemberMetrics& metrics() { return *metrics_; }
  const MemberMetrics& metrics() const { return *metrics_; }
  const std::shared_ptr<MemberMetrics>& shared_metrics() const { return metrics_; }
  Readiness readiness() const;
  // What this member tells others about itself (the coordinator stores it).
  v1::MemberInfo Info() const;

  std::shared_ptr<grpc::Channel> InProcessChannel();
  std::shared_ptr<grpc::Channel> PeerInProcessChannel();

  // Where Peer/ResetLostPartitions goes: the member's coordinator (null: none, UNIMPLEMENTED).
  // `done` gets the version of the table that serves them again.
  using ResetLostHandler = std::function<void(std::set<int> partitions,
                                              std::function<void(absl::StatusOr<int64_t>)> done)>;
  void SetResetLostHandler(ResetLostHandler handler);
  void ResetLost(std::set<int> partitions, std::function<void(absl::StatusOr<int64_t>)> done);

 private:
  enum class State { kCreated, kStarting, kRunning, kStopping, kStopped };

  MemberCore(MemberOptions options, std::string id, PeerSecurity security);
  // Builds and starts the servers; fills in the member's addresses.
  absl::Status Serve();
  // The gauges read when scraped.
  void AddScrapeGauges();
  void StopServers(absl::Duration grace);

  const MemberOptions options_;
  const Clock& clock_;
  const PeerSecurity security_;
  MemberContext context_;
  const std::shared_ptr<MemberMetrics> metrics_;
  // Asynchronous callbacks (backup answers, resync answers, gap alarms) may outlive the member:
  // they enter this first, and Stop() closes it.
  const std::shared_ptr<LifeGuard> guard_ = std::make_shared<LifeGuard>();
  ServiceRegistry registry_;
  Partitions partitions_;
  PeerChannels peers_;
  MigrationEvents events_;
  Replicator replicator_;
  BackupApplier backups_;
  MigrationParticipant migration_;
  Invoker invoker_;
  Forwarder forwarder_;
  BroadcastRunner broadcasts_;
  CallDispatcher dispatcher_;
  std::unique_ptr<ClusterService> cluster_service_;
  std::unique_ptr<PeerService> peer_service_;
  std::unique_ptr<UnknownMethodService> unknown_methods_;
  std::unique_ptr<grpc::Server> server_;       // the client port
  std::unique_ptr<grpc::Server> peer_server_;  // the peer port

  Mutex reset_mu_;
  ResetLostHandler reset_lost_ ABSL_GUARDED_BY(reset_mu_);

  mutable Mutex lifecycle_mu_;
  CondVar lifecycle_changed_;
  State state_ ABSL_GUARDED_BY(lifecycle_mu_) = State::kCreated;

  // Last: destroyed first, so its workers stop before the state their operations touch. The
  // parts above only keep a reference to it until then.
  PartitionExecutor executor_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MEMBER_MEMBER_CORE_H_
