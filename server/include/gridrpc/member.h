// Member: one gRPC server hosting gridrpc services and owning partition replicas.
//
// Each user method is served as an ordinary gRPC method (`/examples.Counter/Inc`), so any gRPC
// client in any language can call a member. A call runs only on the member owning its
// partition, inside the partition (see internal/partition_executor.h); a member that does not
// own it answers UNAVAILABLE with the `gridrpc-wrong-owner` trailer and does not run it. A
// member also serves gRPC health checking, server reflection and the gridrpc.v1.Cluster control
// plane (the partition table smart clients route by).
//
// Services are hosted under lookup names: by default the contract's (the full service name),
// or others, so one member can host several instances of one contract. A call picks one with
// `gridrpc-lookup-name` metadata (the proxy builder's LookupName); an unknown name is NOT_FOUND.
//
// Every call runs through the member's execution aspects (MemberOptions::execution_aspects),
// in order, inside its partition.
//
// Lifecycle: Create, AddService..., Start, InstallPartitionTable (the embedded cluster or the
// coordinator does this), Shutdown. Thread-safe after Start.
//
// Example:
//   auto member = gridrpc::Member::Create({.listen = "127.0.0.1:5701"}).value();
//   member->AddService(std::make_unique<CounterImpl>()).IgnoreError();
//   if (absl::Status s = member->Start(); !s.ok()) return s;
//   member->InstallPartitionTable(SingleMemberTable(*member));
#ifndef GRIDRPC_MEMBER_H_
#define GRIDRPC_MEMBER_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/cluster.pb.h"
#include "gridrpc/execution_aspect.h"
#include "gridrpc/internal/life_guard.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/internal/partition_executor.h"
#include "gridrpc/migration.h"
#include "gridrpc/partition_table.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/service.h"

namespace grpc {
class Channel;
class Server;
class ServerUnaryReactor;
}  // namespace grpc

namespace gridrpc {
namespace internal {
class MigrationEvents;
}  // namespace internal

struct MemberOptions {
  // host:port to listen on; port 0 picks a free port (see Member::address()).
  std::string listen = "127.0.0.1:0";
  // host:port clients and other members dial; empty: the listen host with the bound port.
  std::string advertise_address;
  std::string cluster_name = "dev";
  int partition_count = kDefaultPartitionCount;
  // Handed to every hosted service's Init().
  Properties properties;
  // Unique member id; empty: a random one.
  std::string member_id;
  // Run, in this order, around every call the member executes (XAP's server execution aspects).
  std::vector<std::shared_ptr<ExecutionAspect>> execution_aspects;
};

class Member {
 public:
  static absl::StatusOr<std::unique_ptr<Member>> Create(MemberOptions options);
  ~Member();  // shuts down if still running

  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Hosts `service` under `lookup_names` (default: the contract's lookup name). Several
  // instances of one contract may be hosted under different names. Before Start only.
  absl::Status AddService(std::unique_ptr<ServiceBase> service,
                          std::vector<std::string> lookup_names = {});

  // Initializes the services, then listens and serves. Calls are refused as "no partition table
  // yet" until InstallPartitionTable.
  absl::Status Start();

  // Adopts a newer table: the member serves the partitions it is primary of in `table`, which
  // must list this member and have this member's partition count.
  absl::Status InstallPartitionTable(std::shared_ptr<const PartitionTable> table);

  // Drops the state of every partition and calls each service's Reset() (Hazelcast resets a
  // member's services this way before it merges into another cluster). Each partition's
  // containers are cleared in order with that partition's calls.
  void Reset();

  // Migration events of the processes that involve this member, as C++ listener calls; the same
  // events stream to gRPC clients from Cluster/WatchMigrations.
  void AddMigrationListener(std::shared_ptr<MigrationListener> listener);
  // Where the coordinator reports migration events for this member.
  MigrationListener& migration_events();

  // Stops accepting calls, lets calls in flight finish (up to `grace`), then shuts services down.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Stops at once, as a crash would: calls in flight are cut off, services are told
  // Shutdown(terminate=true), nothing is handed over.
  void Terminate();

  const MemberContext& context() const { return context_; }
  const std::string& id() const { return context_.id(); }
  const std::string& address() const { return context_.address(); }
  std::shared_ptr<const PartitionTable> partition_table() const;
  // A channel into this member's server without the network. Valid after Start.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // One-way calls whose method failed since Start (their callers are not told).
  int64_t one_way_failures() const { return one_way_failures_.load(std::memory_order_relaxed); }

  // What this member holds of a partition: its replica index (0 primary, 1.. backups, -1 none)
  // and the replica's sequence (mutating operations applied). Cheap; may lag a running
  // operation by that operation.
  struct ReplicaState {
    int replica_index = -1;
    int64_t sequence = 0;
  };
  ReplicaState replica_state(int partition) const;
  // Backups that failed or timed out since Start; the call was answered regardless.
  int64_t backup_failures() const { return backup_failures_.load(std::memory_order_relaxed); }
  // Partition resyncs from a primary after a missed backup, since Start.
  int64_t resyncs() const { return resyncs_.load(std::memory_order_relaxed); }

 private:
  struct HostedService;
  struct ServiceType;
  struct HostedMethod;
  struct PendingBackup;
  struct PartitionState;
  class RawService;
  class ControlService;
  class UnknownMethodService;
  class AspectChain;
  class PeerStubs;

  friend class MemberContext;

  explicit Member(MemberOptions options, std::string id);
  void RunOnPartition(int partition, const ServiceBase& service,
                      absl::AnyInvocable<void(Container* container) &&> fn);
  void Stop(absl::Duration grace, bool terminate);

  // The unary path of a user method.
  grpc::ServerUnaryReactor* Handle(const HostedMethod& hosted, grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request_bytes,
                                   grpc::ByteBuffer* response);
  // The member half of a broadcast (gridrpc.v1.Cluster/Broadcast).
  grpc::ServerUnaryReactor* HandleBroadcast(grpc::CallbackServerContext* ctx,
                                            const v1::BroadcastRequest& request,
                                            v1::BroadcastResponse* response);

  absl::StatusOr<const HostedService*> Resolve(const ServiceType& type,
                                               std::string_view lookup_name) const;
  absl::StatusOr<int> RoutePartition(const HostedMethod& hosted,
                                     const grpc::CallbackServerContext& ctx,
                                     const google::protobuf::Message& request);
  // Inside the partition: OK when this member is its primary, else UNAVAILABLE saying so.
  absl::Status CheckOwner(int partition) const;
  // Inside the partition, for a call this member does not own: sends it to the owner in this
  // member's table and relays the answer (plain gRPC clients, unisocket clients, smart clients
  // with a stale table). False when it cannot: the call was forwarded once already, or no other
  // member owns the partition.
  bool Forward(const MethodDescriptor& method, grpc::CallbackServerContext* ctx,
               grpc::ServerUnaryReactor* reactor, const google::protobuf::Message& request,
               int partition, grpc::ByteBuffer* response);
  // Inside the partition: the instance's container there, created on first use; null for
  // stateless services.
  Container* ContainerOf(const HostedService& hosted, int partition);
  // Inside the partition: runs the execution aspects and the method, serializing into `out`;
  // a backup payload the method set lands in `backup_payload`.
  absl::Status RunMethod(const HostedService& hosted, const MethodDescriptor& method,
                         const grpc::CallbackServerContext* ctx, const MetaArguments* detached,
                         const google::protobuf::Message& request, int partition,
                         grpc::ByteBuffer* out, std::optional<std::string>* backup_payload);

  // Backups (server/src/backup.cc). Inside the partition: sends a successful mutating
  // operation to the partition's backups and runs `on_synced` once the sync ones answered: OK,
  // or ABORTED when one refused it because a newer table no longer makes this member the
  // primary (the write then lives on a replica that is being replaced: the caller must not
  // take it as done). A sync backup that is unreachable or slow is counted, not reported.
  void Replicate(int partition, const HostedService& hosted, const MethodDescriptor& method,
                 const google::protobuf::Message& request, std::optional<std::string> payload,
                 absl::AnyInvocable<void(absl::Status) &&> on_synced);
  grpc::ServerUnaryReactor* HandleBackup(grpc::CallbackServerContext* ctx,
                                         const v1::BackupRequest& request,
                                         v1::BackupResponse* response);
  grpc::ServerUnaryReactor* HandleSync(grpc::CallbackServerContext* ctx,
                                       const v1::SyncRequest& request, v1::SyncResponse* response);
  // Migration (Cluster/BeginMigration): freezes the partition on this member, its primary, until
  // a table of at least `until_version` is installed; calls for it are refused as retryable.
  // Runs `frozen` once the freeze holds and every write already applied has its sync backups.
  void Freeze(int partition, int64_t until_version, absl::AnyInvocable<void() &&> frozen);
  // Inside the partition: runs the freezes waiting for its sync backups, if none is missing.
  void WakeFrozenWaiters(int partition);
  // Destination half of a replica migration: copies the partition from its primary.
  grpc::ServerUnaryReactor* HandleCopyReplica(grpc::CallbackServerContext* ctx,
                                              const v1::CopyReplicaRequest& request,
                                              v1::CopyReplicaResponse* response);
  // Inside the partition: replaces the replica with `data` (a primary's Sync answer); on error
  // the replica is cleared.
  absl::Status ApplyPartitionData(int partition, const v1::SyncResponse& data);
  grpc::ServerUnaryReactor* HandleReplicaSequences(grpc::CallbackServerContext* ctx,
                                                   v1::ReplicaSequencesResponse* response);
  // Whether this member's current table makes `member_id` the primary of `partition`.
  bool IsPrimaryInOwnTable(int partition, std::string_view member_id) const;
  // Inside the partition: applies buffered backups that are next in sequence.
  void ApplyPendingBackups(int partition);
  // Inside the partition: asks the primary for the whole partition, after a gap that did not
  // fill up.
  void Resync(int partition);
  void Publish(int partition);  // makes replica_state(partition) current
  const HostedService* FindInstance(std::string_view lookup_name) const;
  bool NeedsBackup(const HostedService& hosted, const MethodDescriptor& method) const;

  const MemberOptions options_;
  MemberContext context_;
  // Indexed by partition; each entry is touched only by operations of its partition.
  std::vector<PartitionState> partitions_;

  std::vector<std::unique_ptr<ServiceBase>> services_;
  std::vector<std::unique_ptr<HostedService>> hosted_;
  std::vector<std::unique_ptr<ServiceType>> types_;
  std::vector<std::unique_ptr<HostedMethod>> methods_;  // handlers point into these
  std::vector<std::unique_ptr<RawService>> raw_services_;
  int container_slots_ = 0;
  std::unique_ptr<ControlService> control_service_;
  std::unique_ptr<UnknownMethodService> unknown_method_service_;
  std::unique_ptr<grpc::Server> server_;
  bool started_ = false;
  bool shut_down_ = false;

  mutable internal::Mutex table_mu_;
  std::shared_ptr<const PartitionTable> table_ ABSL_GUARDED_BY(table_mu_);
  // Partitions this member is primary of, for plain-gRPC calls without a routing key.
  std::shared_ptr<const std::vector<int>> owned_ ABSL_GUARDED_BY(table_mu_);
  std::atomic<uint64_t> next_owned_{0};
  std::atomic<int64_t> one_way_failures_{0};
  std::atomic<int64_t> backup_failures_{0};
  std::atomic<int64_t> resyncs_{0};
  // replica_state() without entering partitions: written inside them, read from anywhere.
  std::unique_ptr<std::atomic<int>[]> published_replica_index_;
  std::unique_ptr<std::atomic<int64_t>[]> published_sequence_;
  // Primary and not migrating: where a one-way call may be answered before it runs.
  std::unique_ptr<std::atomic<bool>[]> published_serving_;

  std::unique_ptr<PeerStubs> peers_;  // control-plane stubs to other members, by address
  std::unique_ptr<internal::MigrationEvents> migration_events_;
  // Asynchronous callbacks (backup answers, resync answers, gap alarms) may outlive the member:
  // they enter this first, and Stop() closes it.
  std::shared_ptr<internal::LifeGuard> guard_ = std::make_shared<internal::LifeGuard>();
  // Last: destroyed first, so its workers stop before the state their operations touch.
  internal::PartitionExecutor executor_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_MEMBER_H_
