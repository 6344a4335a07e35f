// Member: one gRPC server hosting gridrpc services and owning partition replicas.
//
// Each user method is served as an ordinary gRPC method (`/examples.Counter/Inc`), so any gRPC
// client in any language can call a member. A call runs only on the member owning its
// partition, inside the partition (never concurrently with another operation of the same
// partition); a member that does not own it forwards it to the owner or answers UNAVAILABLE
// with the `gridrpc-wrong-owner` trailer, and does not run it. Beside the user's services the
// client port serves gRPC health checking, server reflection and gridrpc.v1.Cluster (the
// partition table smart clients route by, broadcasts, migration events).
//
// Members talk to each other on a second port, the peer port (backups, migration, partition
// tables), which clients cannot reach.
//
// Services are hosted under lookup names: by default the contract's (the full service name),
// or others, so one member can host several instances of one contract. A call picks one with
// `gridrpc-lookup-name` metadata (the proxy builder's LookupName); an unknown name is NOT_FOUND.
//
// Every call runs through the member's execution aspects (MemberOptions::execution_aspects),
// in order, inside its partition.
//
// Lifecycle: Create, AddService..., Start, then a coordinator (gridrpc/coordinator.h) or the
// embedded cluster installs partition tables; Shutdown or Terminate. Thread-safe: after Create
// any method may be called from any thread (AddService only before Start); Shutdown and
// Terminate may race each other, and the second waits for the first.
//
// Example:
//   auto member = gridrpc::Member::Create({.listen = "127.0.0.1:5701"}).value();
//   member->AddService(std::make_unique<CounterImpl>()).IgnoreError();
//   if (absl::Status s = member->Start(); !s.ok()) return s;
//   member->InstallPartitionTable(gridrpc::SingleMemberTable(*member)).IgnoreError();
#ifndef GRIDRPC_MEMBER_H_
#define GRIDRPC_MEMBER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/clock.h"
#include "gridrpc/execution_aspect.h"
#include "gridrpc/migration.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/service.h"

namespace grpc {
class Channel;
}  // namespace grpc
namespace prometheus {
class Collectable;
class Registry;
}  // namespace prometheus

namespace gridrpc {

class Member;
class PartitionTable;
namespace internal {
class MemberCore;
// For gridrpc's coordinators and the embedded cluster: the member's parts. Not for users.
MemberCore& CoreOf(Member& member);
}  // namespace internal

// The timeouts, limits and pool sizes a member works with. The defaults suit production; tests
// shrink them instead of sleeping past them.
struct MemberTunables {
  // How long a primary waits for one answer of a backup (Hazelcast's
  // operation.backup.timeout.millis); a sync backup is tried again until the call's deadline.
  absl::Duration backup_timeout = absl::Seconds(5);
  // The first pause before a sync backup is tried again; it doubles, up to half a second.
  absl::Duration backup_retry_pause = absl::Milliseconds(20);
  // How long a gap in a backup's sequence may stay open before the backup resyncs the whole
  // partition from its primary (operations sent in order may arrive out of order).
  absl::Duration gap_grace = absl::Milliseconds(200);
  // Threads that run partition operations which queued behind others.
  int executor_workers = 2;
  // The largest message a client may send or receive; peer messages may be somewhat larger
  // (they wrap a client's).
  int max_message_bytes = 4 * 1024 * 1024;
  // When this member plans migrations: replica copies in flight at once, and the deadline of
  // the planner's other calls to members (freeze, install, event relay).
  int migration_parallelism = 16;
  absl::Duration control_timeout = absl::Seconds(5);
  // A partition's copy (a migration's, or a backup's resync) travels in chunks of at most this
  // many bytes of container data. It takes as long as the partition's size needs, but is given
  // up when no chunk arrives for copy_idle_timeout: a paused member costs that much, whatever the
  // partition's size. (A planner allows the destination control_timeout more, so that the
  // destination can report a stalled source first.)
  int copy_chunk_bytes = 1024 * 1024;
  absl::Duration copy_idle_timeout = absl::Seconds(10);
};

// TLS for both of a member's ports, as PEM text (LoadTlsFiles reads it from files).
//
// With a certificate and key, clients and peers reach the member over TLS. With a CA as well,
// the peer port is mutual TLS: a peer must present a certificate the CA signed, and this member
// presents its own when it dials peers; the client port does not ask clients for one. Peers
// verify the certificate of the member they dial against the CA (else the system's roots), for
// the host they dial: certificates need the advertised host names or IP addresses.
struct TlsOptions {
  std::string cert_chain;
  std::string private_key;
  std::string ca_certs;

  bool enabled() const { return !cert_chain.empty() || !private_key.empty(); }
};

// Reads PEM files into TlsOptions; empty `ca_file`: no CA. An error names the file: NOT_FOUND
// (or the like, from errno) when it cannot be read, INVALID_ARGUMENT when it holds no PEM text
// of its kind.
absl::StatusOr<TlsOptions> LoadTlsFiles(const std::string& cert_file, const std::string& key_file,
                                        const std::string& ca_file);
// Reads a cluster secret (the file's content, without trailing white space); an error names the
// file, and an empty secret is an error.
absl::StatusOr<std::string> LoadClusterSecretFile(const std::string& path);
// A new random secret (128 bits, hex): for members that all live in one process, or a member
// that is its own only peer.
std::string NewClusterSecret();

struct MemberOptions {
  // host:port to serve clients on; port 0 picks a free port (see Member::address()).
  std::string listen = "127.0.0.1:0";
  // host:port clients and other members dial; empty: the listen host with the bound port.
  std::string advertise_address;
  // host:port to serve other members on (the peer port); empty: the listen host, port 0.
  std::string peer_listen;
  // host:port other members dial for the peer port; empty: the peer listen host, bound port.
  std::string peer_advertise_address;
  std::string cluster_name = "dev";
  int partition_count = kDefaultPartitionCount;
  // Handed to every hosted service's Init().
  Properties properties;
  // Unique member id; empty: a random one.
  std::string member_id;
  // The member's labels, published in MemberInfo.labels (the partition table, which clients
  // and operators read). One is read by the planner: `zone` (gridrpc::kZoneLabel), the member's
  // failure domain; a partition's replicas go to distinct zones while the even spread leaves
  // room (see gridrpc/partition_table.h). Members without it share one zone. Keys must not be
  // empty; keys and values must not hold control characters.
  std::map<std::string, std::string> labels;
  // Run, in this order, around every call the member executes (XAP's server execution aspects).
  std::vector<std::shared_ptr<ExecutionAspect>> execution_aspects;
  // How the peer port authenticates peers: by mutual TLS (tls with a CA), by this secret (peers
  // send it in metadata; compared in constant time; without TLS it crosses the network in the
  // clear), or both (a peer must pass both). With neither, anyone who reaches the peer port can
  // change the cluster: the member logs a warning (the development default).
  TlsOptions tls;
  std::string cluster_secret;
  MemberTunables tunables;
  // Where the member reads the time; null: the system clock. Must outlive the member.
  const Clock* clock = nullptr;
  // Where the member registers its Prometheus metrics (prometheus-cpp); null: a registry of its
  // own. Share one to serve your own metrics beside the member's. Members of one process need
  // registries of their own (their metrics have the same names).
  std::shared_ptr<prometheus::Registry> metrics_registry;
};

// Whether a member should take traffic (Kubernetes' readiness): it holds a partition table
// listing it, can confirm its membership (not fenced), and its replicas are in step: no backup
// replica waits for a missing operation, and no write waits to retry a sync backup that failed.
struct Readiness {
  bool ready = false;
  std::vector<std::string> reasons;  // why not, one sentence each; empty when ready
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
  // yet" until a table is installed.
  absl::Status Start();

  // Adopts a newer table: the member serves the partitions it is primary of in `table`, which
  // must list this member and have this member's partition count. Coordinators call this; a
  // member alone may be given SingleMemberTable().
  absl::Status InstallPartitionTable(std::shared_ptr<const PartitionTable> table);

  // Drops the state of every partition and calls each service's Reset() (Hazelcast resets a
  // member's services this way before it merges into another cluster). Each partition's
  // containers are cleared in order with that partition's calls.
  void Reset();

  // Migration events of the processes that involve this member, as C++ listener calls; the same
  // events stream to gRPC clients from Cluster/WatchMigrations.
  void AddMigrationListener(std::shared_ptr<MigrationListener> listener);

  // Stops accepting calls, lets calls in flight finish (up to `grace`), then shuts services down.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  // Stops at once, as a crash would: calls in flight are cut off, services are told
  // Shutdown(terminate=true), nothing is handed over.
  void Terminate();

  const MemberContext& context() const;
  const std::string& id() const;
  // host:port clients dial. Valid after Start.
  const std::string& address() const;
  // host:port other members dial. Valid after Start.
  const std::string& peer_address() const;
  std::shared_ptr<const PartitionTable> partition_table() const;
  // A channel into this member's client port without the network. Valid after Start.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // A channel into this member's peer port without the network, authenticated as a peer. For
  // tests that play a peer. Valid after Start.
  std::shared_ptr<grpc::Channel> PeerChannelForTest();

  // One-way calls whose method failed since Start (their callers are not told).
  int64_t one_way_failures() const;

  // What this member holds of a partition: its replica index (0 primary, 1.. backups, -1 none)
  // and the replica's sequence (mutating operations applied). Cheap; may lag a running
  // operation by that operation.
  struct ReplicaState {
    int replica_index = -1;
    int64_t sequence = 0;
  };
  ReplicaState replica_state(int partition) const;
  // Backup attempts that failed or timed out since Start (a sync backup is tried again until
  // the call's deadline; an async one is not).
  int64_t backup_failures() const;
  // Partition resyncs from a primary after a missed backup, since Start.
  int64_t resyncs() const;

  Readiness readiness() const;
  // The member's metrics registry (MemberOptions::metrics_registry, or its own).
  std::shared_ptr<prometheus::Registry> metrics_registry() const;
  // Everything to expose at /metrics: the registry's families and the gauges read when scraped
  // (partitions held, queue depth, fenced, ready, ...). docs/OPERATIONS.md lists them.
  std::shared_ptr<prometheus::Collectable> metrics() const;

 private:
  friend internal::MemberCore& internal::CoreOf(Member& member);
  explicit Member(std::unique_ptr<internal::MemberCore> core);

  std::unique_ptr<internal::MemberCore> core_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_MEMBER_H_
