// The member-side SPI: what a hosted service is, the context each call runs in, and the
// per-partition containers that hold a partitioned service's state.
//
// Generated server bases (`examples::Counter::PartitionedService`) implement ServiceBase; users
// derive from those and override the contract's methods. A service whose state is not a proto
// message derives from the generated base of a contract without a `state` option, implements
// NewContainer() with its own Container, and reads it through PartitionContext::container().
//
// Threading: a member runs the operations of one partition one at a time, in arrival order, so
// code running for a partition needs no lock for that partition's container. Different
// partitions run concurrently; a stateless service's methods may run on several threads at once.
#ifndef GRIDRPC_SERVICE_H_
#define GRIDRPC_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gridrpc/meta_arguments.h"
#include "gridrpc/service_descriptor.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf
namespace grpc {
class ByteBuffer;
class CallbackServerContext;
class ChannelCredentials;
}  // namespace grpc

namespace gridrpc {

class ServiceBase;
namespace internal {
class MemberCore;
class Partitions;
}  // namespace internal

// Service properties handed to ManagedService::Init (Hazelcast's service `Properties`).
using Properties = std::map<std::string, std::string, std::less<>>;

// Fills a container with a replica copy as the copy arrives: piece by piece, in order, on a
// gRPC thread, never concurrently with itself. The container it fills is a new one
// (ServiceBase::NewContainer) that serves nothing yet; the member installs it in the partition
// once Finish succeeded, and drops it otherwise, so a failed copy leaves nothing behind.
class MigrationReceiver {
 public:
  virtual ~MigrationReceiver() = default;
  // The next piece of what ToMigrationData() produced at the source, cut at any byte.
  virtual absl::Status Append(std::string_view piece) = 0;
  // Everything has arrived: the container holds it, or the error says why not.
  virtual absl::Status Finish() = 0;
};

// The state of one partitioned service for one partition. Touched only by operations of that
// partition, which never run concurrently: implementations need no locking.
class Container {
 public:
  virtual ~Container() = default;
  // Everything the partition holds, for migration and backup resync.
  virtual absl::StatusOr<std::string> ToMigrationData() const = 0;
  // Replaces the state with what ToMigrationData() produced elsewhere. On error the container
  // is left as it was.
  virtual absl::Status ApplyMigrationData(std::string_view data) = 0;
  // A receiver that fills this container, new and empty, with a copy as it arrives. The default
  // keeps the pieces and calls ApplyMigrationData() with them joined, so a copy costs the
  // destination its size twice at the end; override to apply pieces as they come (as
  // MessageContainer does).
  virtual std::unique_ptr<MigrationReceiver> ReceiveMigrationData();
  // Drops everything (the source after a migration, the destination after a rollback).
  virtual void Clear() = 0;
};

namespace internal {
// Parses a copy of `message` as it arrives: each complete top-level field is merged into
// `message` at once, so the receiver holds at most the piece it was given plus one incomplete
// field. `message` must outlive the receiver.
std::unique_ptr<MigrationReceiver> NewMessageReceiver(google::protobuf::Message* message);
}  // namespace internal

// The container of a contract that declares its state as a proto message.
template <typename State>
class MessageContainer final : public Container {
 public:
  State& state() { return state_; }
  const State& state() const { return state_; }

  absl::StatusOr<std::string> ToMigrationData() const override {
    std::string out;
    if (!state_.SerializeToString(&out)) {
      return absl::InternalError("cannot serialize " + state_.GetTypeName());
    }
    return out;
  }
  absl::Status ApplyMigrationData(std::string_view data) override {
    State next;
    std::unique_ptr<MigrationReceiver> receiver = internal::NewMessageReceiver(&next);
    absl::Status parsed = receiver->Append(data);
    if (parsed.ok()) parsed = receiver->Finish();
    if (parsed.ok()) state_ = std::move(next);
    return parsed;
  }
  std::unique_ptr<MigrationReceiver> ReceiveMigrationData() override {
    return internal::NewMessageReceiver(&state_);
  }
  void Clear() override { state_.Clear(); }

 private:
  State state_;
};

// The member a service runs on. Lives as long as the member; thread-safe.
//
// It also lets a service work on its local data without internal APIs (the seed's polling
// dispatcher): which partitions this member is primary of right now, and running code inside one
// of them with the service's container, in order with the partition's calls.
class MemberContext {
 public:
  MemberContext(std::string id, std::string cluster_name, int partition_count)
      : id_(std::move(id)),
        cluster_name_(std::move(cluster_name)),
        partition_count_(partition_count) {}

  // The partitions this member is primary of now: a shared snapshot, replaced (not changed)
  // when the partition table changes, so holding it costs nothing.
  std::shared_ptr<const std::vector<int>> PrimaryPartitions() const;

  // Runs `fn` inside `partition` with `service`'s container there (never concurrently with the
  // partition's calls, so `fn` needs no lock), now on this thread if the partition is idle, else
  // later on a worker. `fn` gets nullptr if this member is not the partition's primary by then,
  // or if `service` is stateless or not hosted here. It must not block.
  void RunOnPartition(int partition, const ServiceBase& service,
                      absl::AnyInvocable<void(Container* container) &&> fn) const;

  const std::string& id() const { return id_; }
  // host:port clients reach the member at; set once the member is listening.
  const std::string& address() const { return address_; }
  const std::string& cluster_name() const { return cluster_name_; }
  int partition_count() const { return partition_count_; }

  // host:port other members reach the member at; set once the member is listening.
  const std::string& peer_address() const { return peer_address_; }
  // Credentials for calling the cluster's members as a client (a service that calls its own
  // cluster, as the seed's polling workers do): TLS when the member uses it.
  const std::shared_ptr<grpc::ChannelCredentials>& client_credentials() const {
    return client_credentials_;
  }

 private:
  friend class internal::MemberCore;
  internal::Partitions* partitions_ = nullptr;  // set by the member that owns this context
  const std::string id_;
  std::string address_;
  std::string peer_address_;
  std::shared_ptr<grpc::ChannelCredentials> client_credentials_;
  const std::string cluster_name_;
  const int partition_count_;
};

// One call as a stateless method sees it. Valid only during the call.
class CallContext {
 public:
  // `grpc_context` is null for a one-way call, which has already been answered when it runs;
  // its meta arguments are then copied into `detached_meta`.
  CallContext(const MemberContext& member, const grpc::CallbackServerContext* grpc_context,
              const MetaArguments* detached_meta, int partition_id)
      : member_(member),
        grpc_context_(grpc_context),
        detached_meta_(detached_meta),
        partition_id_(partition_id) {}

  // The partition the call was routed to.
  int partition_id() const { return partition_id_; }
  const MemberContext& member() const { return member_; }
  // A meta argument the caller sent (`gridrpc-meta-<name>` metadata), or nullopt.
  std::optional<std::string_view> meta_argument(std::string_view name) const;
  // Every meta argument the caller sent, names without the prefix.
  MetaArguments meta_arguments() const;
  // The gRPC call, for anything else (peer, auth context, raw metadata). Null for one-way
  // calls: they have been answered before they run.
  const grpc::CallbackServerContext* grpc_context() const { return grpc_context_; }

 private:
  const MemberContext& member_;
  const grpc::CallbackServerContext* grpc_context_;
  const MetaArguments* detached_meta_;
  const int partition_id_;
};

// One call of a partitioned service: also the partition's container, which the call may use
// without locking.
class PartitionContext : public CallContext {
 public:
  PartitionContext(const MemberContext& member, const grpc::CallbackServerContext* grpc_context,
                   const MetaArguments* detached_meta, int partition_id, Container* container)
      : CallContext(member, grpc_context, detached_meta, partition_id), container_(container) {}

  // The partition's container for this service. Only partitioned services have one.
  Container& container() const { return *container_; }

  // True when this runs on a backup replica, replaying what the primary ran.
  bool is_backup() const { return is_backup_; }
  void set_is_backup(bool is_backup) { is_backup_ = is_backup; }

  // Replicates `payload` to the backups instead of replaying the request there: for methods
  // whose effect the request does not determine (random numbers, clocks). Backups then call
  // ServiceBase::ApplyBackup with it.
  void SetBackupPayload(std::string payload) { backup_payload_ = std::move(payload); }
  const std::optional<std::string>& backup_payload() const { return backup_payload_; }

 private:
  Container* container_;
  bool is_backup_ = false;
  std::optional<std::string> backup_payload_;
};

// Lifecycle of a hosted service (Hazelcast's ManagedService). Called by the member, never
// concurrently with each other.
class ManagedService {
 public:
  virtual ~ManagedService() = default;
  // Once, when the member starts, before the first call; an error fails the member's start.
  virtual absl::Status Init(const MemberContext& member, const Properties& properties) {
    return absl::OkStatus();
  }
  // Once, when the member stops; `terminate` is true when it stops without a graceful handover.
  virtual void Shutdown(bool terminate) {}
  // When the member's state is reset (for example after a split-brain merge).
  virtual void Reset() {}
};

// A service a member hosts. Generated bases implement everything but the user's methods.
class ServiceBase : public ManagedService {
 public:
  virtual const ServiceDescriptor& descriptor() const = 0;

  // Runs method `method.index` on a parsed request and serializes its response into
  // `response`. For a stateless service `context.container()` must not be used.
  virtual absl::Status Invoke(const MethodDescriptor& method, PartitionContext& context,
                              const google::protobuf::Message& request,
                              grpc::ByteBuffer* response) = 0;

  // A fresh, empty container for `partition`. Partitioned services only. Called on any thread
  // (a copy's destination makes the container it fills on a gRPC thread).
  virtual std::unique_ptr<Container> NewContainer(int partition) { return nullptr; }

  // Applies on a backup what a primary's PartitionContext::SetBackupPayload() replicated.
  virtual absl::Status ApplyBackup(const MethodDescriptor& method, PartitionContext& context,
                                   std::string_view payload) {
    return absl::UnimplementedError(std::string(descriptor().full_name) +
                                    " sets backup payloads but does not override ApplyBackup");
  }
};

namespace internal {
// The meta arguments a call carries (its `gridrpc-meta-*` metadata), names without the prefix.
MetaArguments MetaArgumentsOf(const grpc::CallbackServerContext& ctx);

// Serializes a message (a response; a forwarded request) for the wire. Used by generated
// code.
absl::Status SerializeMessage(const google::protobuf::Message& response, grpc::ByteBuffer* out);

template <typename Response>
absl::Status SerializeResult(const absl::StatusOr<Response>& result, grpc::ByteBuffer* out) {
  if (!result.ok()) return result.status();
  return SerializeMessage(*result, out);
}
}  // namespace internal

}  // namespace gridrpc

#endif  // GRIDRPC_SERVICE_H_
