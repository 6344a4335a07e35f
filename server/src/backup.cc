// Backups: a primary sends each successful mutating operation of a partitioned service to the
// partition's backups, stamped with the partition's next replica sequence; backups apply them
// strictly in sequence order, buffering any that arrive early, and resync the whole partition
// from the primary when a gap does not fill (an async backup that was lost).
#include <grpcpp/alarm.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdio>
#include <latch>

#include "absl/strings/str_cat.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/strings.h"
#include "member_internal.h"

namespace gridrpc {
namespace {

// How long a backup waits for an operation's answer from a backup before counting a failure
// (Hazelcast's operation.backup.timeout.millis).
constexpr absl::Duration kBackupTimeout = absl::Seconds(5);
// How long a gap in the backup sequence may stay open before the backup resyncs. Operations
// sent in order may arrive out of order (separate streams, separate handler threads).
constexpr absl::Duration kGapGrace = absl::Milliseconds(200);

}  // namespace

bool Member::NeedsBackup(const HostedService& hosted, const MethodDescriptor& method) const {
  return hosted.container_slot >= 0 && !method.read_only;
}

const Member::HostedService* Member::FindInstance(std::string_view lookup_name) const {
  for (const auto& hosted : hosted_) {
    if (hosted->lookup_name == lookup_name) return hosted.get();
  }
  return nullptr;
}

void Member::Publish(int partition) {
  published_replica_index_[partition].store(partitions_[partition].replica_index,
                                            std::memory_order_relaxed);
  published_sequence_[partition].store(partitions_[partition].sequence, std::memory_order_relaxed);
  published_serving_[partition].store(
      partitions_[partition].replica_index == 0 && !partitions_[partition].migrating,
      std::memory_order_relaxed);
}

Member::ReplicaState Member::replica_state(int partition) const {
  return {published_replica_index_[partition].load(std::memory_order_relaxed),
          published_sequence_[partition].load(std::memory_order_relaxed)};
}

void Member::Replicate(int partition, const HostedService& hosted, const MethodDescriptor& method,
                       const google::protobuf::Message& request, std::optional<std::string> payload,
                       absl::AnyInvocable<void(absl::Status) &&> on_synced) {
  PartitionState& state = partitions_[partition];
  std::shared_ptr<const PartitionTable> table = partition_table();
  const auto& replicas = table->proto().partitions(partition).members();
  const int backups = replicas.size() - 1;
  const ServiceDescriptor& service = hosted.service->descriptor();
  const int sync = std::min(service.sync_backups, backups);
  const int async = std::min(service.async_backups, backups - sync);
  if (sync + async == 0) {
    std::move(on_synced)(absl::OkStatus());
    return;
  }
  // Only replicated operations count: the sequence is what primary and backups must agree on.
  ++state.sequence;
  Publish(partition);

  auto backup = std::make_shared<v1::BackupRequest>();
  backup->set_partition(partition);
  backup->set_table_version(state.table_version);
  backup->set_primary_id(id());
  backup->set_sequence(state.sequence);
  backup->set_method(method.path);
  backup->set_lookup_name(hosted.lookup_name);
  request.SerializeToString(backup->mutable_request());
  if (payload.has_value()) {
    backup->set_has_payload(true);
    backup->set_payload(*std::move(payload));
  }

  // The answer waits for the sync backups only; a failed one is counted, not waited for twice.
  struct SyncWait {
    internal::Mutex mu;
    int remaining ABSL_GUARDED_BY(mu);
    absl::Status status ABSL_GUARDED_BY(mu);  // ABORTED once a sync backup fenced us off
    absl::AnyInvocable<void(absl::Status) &&> on_synced ABSL_GUARDED_BY(mu);
  };
  auto wait = std::make_shared<SyncWait>();
  if (sync == 0) {
    std::move(on_synced)(absl::OkStatus());  // async backups only: the caller does not wait
  } else {
    state.unsynced.fetch_add(1);
    internal::MutexLock lock(&wait->mu);
    wait->remaining = sync;
    wait->on_synced = [this, guard = guard_, partition,
                       on_synced = std::move(on_synced)](absl::Status status) mutable {
      std::move(on_synced)(std::move(status));
      internal::LifeGuard::Scope alive = guard->Enter();
      if (!alive) return;  // the member stopped; nothing waits for a freeze any more
      PartitionState& state = partitions_[partition];
      if (state.unsynced.fetch_sub(1) == 1 && state.drain_wanted.load()) {
        executor_.Execute(partition, [this, partition] { WakeFrozenWaiters(partition); });
      }
    };
  }
  for (int i = 1; i <= sync + async; ++i) {
    const bool is_sync = i <= sync;
    struct Call {
      grpc::ClientContext context;
      v1::BackupResponse response;
    };
    auto call = std::make_shared<Call>();
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + kBackupTimeout));
    const std::string& address = table->member(replicas[i]).address();
    peers_->Get(address).control->async()->Backup(
        &call->context, backup.get(), &call->response,
        [this, guard = guard_, call, backup, wait, is_sync, address](grpc::Status status) {
          if (internal::LifeGuard::Scope alive = guard->Enter(); alive && !status.ok()) {
            backup_failures_.fetch_add(1, std::memory_order_relaxed);
            std::fprintf(stderr,
                         "gridrpc: backup of partition %d (sequence %lld) to %s failed: %s\n",
                         backup->partition(), static_cast<long long>(backup->sequence()),
                         address.c_str(), status.error_message().c_str());
          }
          if (!is_sync) return;
          absl::AnyInvocable<void(absl::Status) &&> synced;
          absl::Status result;
          {
            internal::MutexLock lock(&wait->mu);
            if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
              wait->status = absl::AbortedError(absl::StrCat(
                  "the write to partition ", backup->partition(), " ran on member ",
                  backup->primary_id(), " but was not replicated: ", status.error_message()));
            }
            if (--wait->remaining == 0) {
              synced = std::move(wait->on_synced);
              result = wait->status;
            }
          }
          if (synced) std::move(synced)(std::move(result));
        });
  }
}

grpc::ServerUnaryReactor* Member::HandleBackup(grpc::CallbackServerContext* ctx,
                                               const v1::BackupRequest& request,
                                               v1::BackupResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int p = request.partition();
  if (p < 0 || p >= options_.partition_count) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("backup for partition ", p, " out of range")));
    return reactor;
  }
  const HostedService* hosted = FindInstance(request.lookup_name());
  const MethodDescriptor* method =
      hosted == nullptr
          ? nullptr
          : hosted->service->descriptor().FindMethod(
                std::string_view(request.method()).substr(request.method().rfind('/') + 1));
  if (method == nullptr || request.method() != method->path) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("member ", id(), " hosts no ", request.method(),
                                              " under lookup name '", request.lookup_name(), "'")));
    return reactor;
  }
  std::unique_ptr<google::protobuf::Message> parsed(method->request_prototype->New());
  if (!parsed->ParseFromString(request.request())) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     absl::StrCat("backup request does not parse as ", parsed->GetTypeName())));
    return reactor;
  }
  executor_.Execute(
      p, [this, p, hosted, method, reactor, response, sequence = request.sequence(),
          table_version = request.table_version(), primary_id = request.primary_id(),
          payload =
              request.has_payload() ? std::optional<std::string>(request.payload()) : std::nullopt,
          parsed = std::move(parsed)]() mutable {
        PartitionState& state = partitions_[p];
        // Fencing: a primary that has not seen the table this member has may write here only if
        // that table still makes it the primary and this member a backup.
        if (table_version < state.table_version &&
            !(state.replica_index > 0 && IsPrimaryInOwnTable(p, primary_id))) {
          reactor->Finish(grpc::Status(
              grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("backup from ", primary_id, " stamped with table version ",
                           table_version, ": in this member's version ", state.table_version,
                           " it is not the primary of partition ", p)));
          return;
        }
        if (table_version == state.table_version && state.replica_index <= 0) {
          reactor->Finish(
              grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                           absl::StrCat("member ", id(), " is not a backup of partition ", p)));
          return;
        }
        if (sequence <= state.sequence) {  // a duplicate: already applied, or covered by a resync
          response->set_sequence(state.sequence);
          reactor->Finish(grpc::Status::OK);
          return;
        }
        state.pending.emplace(sequence, PendingBackup{hosted, method, std::move(parsed),
                                                      std::move(payload), reactor, response});
        ApplyPendingBackups(p);
      });
  return reactor;
}

void Member::ApplyPendingBackups(int p) {
  PartitionState& state = partitions_[p];
  while (!state.pending.empty() && state.pending.begin()->first <= state.sequence + 1) {
    auto node = state.pending.extract(state.pending.begin());
    PendingBackup& op = node.mapped();
    if (node.key() == state.sequence + 1) {
      PartitionContext context(context_, nullptr, nullptr, p, ContainerOf(*op.hosted, p));
      context.set_is_backup(true);
      grpc::ByteBuffer ignored;
      const absl::Status status =
          op.payload.has_value()
              ? op.hosted->service->ApplyBackup(*op.method, context, *op.payload)
              : op.hosted->service->Invoke(*op.method, context, *op.request, &ignored);
      if (!status.ok()) {
        // The primary succeeded; a backup that cannot follow would diverge. It resyncs.
        std::fprintf(stderr, "gridrpc: backup replay of %s on partition %d failed: %s\n",
                     op.method->path, p, status.ToString().c_str());
        state.pending.emplace(node.key(), std::move(op));
        Resync(p);
        return;
      }
      state.sequence = node.key();
    }
    Publish(p);  // before the primary, and through it the caller, can hear of it
    op.response->set_sequence(state.sequence);
    op.reactor->Finish(grpc::Status::OK);
  }
  Publish(p);
  if (!state.pending.empty() && !state.resync_scheduled) {
    // A gap: its operation may still be on its way. Look again after a grace period.
    state.resync_scheduled = true;
    const int64_t awaited = state.sequence + 1;
    auto* alarm = new grpc::Alarm();
    alarm->Set(absl::ToChronoTime(absl::Now() + kGapGrace),
               [this, guard = guard_, p, awaited, alarm](bool) {
                 // Safe inside its own callback: gRPC holds the alarm's state until the callback
                 // returns.
                 delete alarm;
                 internal::LifeGuard::Scope alive = guard->Enter();
                 if (!alive) return;  // the member is gone
                 executor_.Execute(p, [this, p, awaited] {
                   PartitionState& state = partitions_[p];
                   state.resync_scheduled = false;
                   if (state.pending.empty()) return;
                   if (state.sequence + 1 == awaited) {
                     Resync(p);  // still missing
                   } else {
                     ApplyPendingBackups(p);  // progress was made; watch the next gap, if any
                   }
                 });
               });
  }
}

void Member::Resync(int p) {
  PartitionState& state = partitions_[p];
  std::shared_ptr<const PartitionTable> table = partition_table();
  const int primary = table == nullptr ? -1 : table->Owner(p);
  if (primary < 0 || table->member(primary).id() == id()) return;
  resyncs_.fetch_add(1, std::memory_order_relaxed);
  state.resync_scheduled = true;  // one at a time
  struct Call {
    grpc::ClientContext context;
    v1::SyncRequest request;
    v1::SyncResponse response;
  };
  auto call = std::make_shared<Call>();
  call->request.set_partition(p);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + kBackupTimeout));
  peers_->Get(table->member(primary).address())
      .control->async()
      ->Sync(&call->context, &call->request, &call->response,
             [this, guard = guard_, p, call](grpc::Status status) {
               internal::LifeGuard::Scope alive = guard->Enter();
               if (!alive) return;  // the member is gone
               executor_.Execute(p, [this, p, call, status] {
                 PartitionState& state = partitions_[p];
                 state.resync_scheduled = false;
                 if (!status.ok()) {
                   std::fprintf(stderr, "gridrpc: resync of partition %d failed: %s\n", p,
                                status.error_message().c_str());
                   return;
                 }
                 if (call->response.sequence() > state.sequence) {
                   if (absl::Status s = ApplyPartitionData(p, call->response); !s.ok()) {
                     std::fprintf(stderr, "gridrpc: resync of partition %d: %s\n", p,
                                  s.ToString().c_str());
                     return;
                   }
                 }
                 ApplyPendingBackups(p);  // what is now covered is acknowledged, the rest applied
               });
             });
}

grpc::ServerUnaryReactor* Member::HandleSync(grpc::CallbackServerContext* ctx,
                                             const v1::SyncRequest& request,
                                             v1::SyncResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int p = request.partition();
  if (p < 0 || p >= options_.partition_count) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("sync of partition ", p, " out of range")));
    return reactor;
  }
  executor_.Execute(p, [this, p, reactor, response] {
    PartitionState& state = partitions_[p];
    if (state.replica_index != 0) {
      reactor->Finish(internal::ToGrpcStatus(CheckOwner(p)));
      return;
    }
    response->set_sequence(state.sequence);
    response->set_table_version(state.table_version);
    for (const auto& hosted : hosted_) {
      Container* container = ContainerOf(*hosted, p);
      if (container == nullptr) continue;
      absl::StatusOr<std::string> data = container->ToMigrationData();
      if (!data.ok()) {
        reactor->Finish(internal::ToGrpcStatus(data.status()));
        return;
      }
      v1::ContainerData* out = response->add_containers();
      out->set_lookup_name(hosted->lookup_name);
      out->set_data(*std::move(data));
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* Member::HandleReplicaSequences(grpc::CallbackServerContext* ctx,
                                                         v1::ReplicaSequencesResponse* response) {
  response->set_member_id(id());
  for (int p = 0; p < options_.partition_count; ++p) {
    const ReplicaState replica = replica_state(p);
    if (replica.replica_index < 0) continue;
    v1::ReplicaSequence* out = response->add_replicas();
    out->set_partition(p);
    out->set_replica_index(replica.replica_index);
    out->set_sequence(replica.sequence);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

bool Member::IsPrimaryInOwnTable(int partition, std::string_view member_id) const {
  std::shared_ptr<const PartitionTable> table = partition_table();
  const int owner = table == nullptr ? -1 : table->Owner(partition);
  return owner >= 0 && table->member(owner).id() == member_id;
}

void Member::Freeze(int partition, int64_t until_version, absl::AnyInvocable<void() &&> frozen) {
  executor_.Execute(
      partition, [this, partition, until_version, frozen = std::move(frozen)]() mutable {
        PartitionState& state = partitions_[partition];
        state.migrating = true;
        state.frozen_until = until_version;
        Publish(partition);  // one-way calls now take the path that refuses them as retryable
        state.frozen_waiters.push_back(std::move(frozen));
        // Set before looking at the count: a backup answer that brings it to zero afterwards
        // sees the flag and comes back here.
        state.drain_wanted.store(true);
        WakeFrozenWaiters(partition);
      });
}

void Member::WakeFrozenWaiters(int partition) {
  PartitionState& state = partitions_[partition];
  if (state.unsynced.load() != 0) return;  // the last backup answer will call again
  state.drain_wanted.store(false);
  std::vector<absl::AnyInvocable<void() &&>> waiters;
  waiters.swap(state.frozen_waiters);
  for (auto& waiter : waiters) std::move(waiter)();
}

absl::Status Member::ApplyPartitionData(int partition, const v1::SyncResponse& data) {
  PartitionState& state = partitions_[partition];
  absl::Status result;
  for (const v1::ContainerData& container_data : data.containers()) {
    const HostedService* hosted = FindInstance(container_data.lookup_name());
    Container* container = hosted == nullptr ? nullptr : ContainerOf(*hosted, partition);
    if (container == nullptr) {
      result = absl::NotFoundError(absl::StrCat("member ", id(), " hosts no partitioned '",
                                                container_data.lookup_name(), "'"));
      break;
    }
    result = container->ApplyMigrationData(container_data.data());
    if (!result.ok()) break;
  }
  if (result.ok()) {
    state.sequence = data.sequence();
  } else {  // roll back: a half-applied replica must not serve
    for (auto& container : state.containers) {
      if (container != nullptr) container->Clear();
    }
    state.sequence = 0;
  }
  Publish(partition);
  return result;
}

grpc::ServerUnaryReactor* Member::HandleCopyReplica(grpc::CallbackServerContext* ctx,
                                                    const v1::CopyReplicaRequest& request,
                                                    v1::CopyReplicaResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int p = request.partition();
  if (p < 0 || p >= options_.partition_count) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("copy of partition ", p, " out of range")));
    return reactor;
  }
  if (request.source_address().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("copy of partition ", p, " names no source")));
    return reactor;
  }
  struct Call {
    grpc::ClientContext context;
    v1::SyncRequest request;
    v1::SyncResponse data;
  };
  auto call = std::make_shared<Call>();
  call->request.set_partition(p);
  call->context.set_deadline(ctx->deadline());
  peers_->Get(request.source_address())
      .control->async()
      ->Sync(&call->context, &call->request, &call->data,
             [this, guard = guard_, p, call, reactor, response](grpc::Status status) {
               internal::LifeGuard::Scope alive = guard->Enter();
               if (!alive) {
                 reactor->Finish(
                     grpc::Status(grpc::StatusCode::UNAVAILABLE, "the destination member stopped"));
                 return;
               }
               if (!status.ok()) {
                 reactor->Finish(status);
                 return;
               }
               executor_.Execute(p, [this, p, call, reactor, response] {
                 absl::Status applied = ApplyPartitionData(p, call->data);
                 response->set_bytes(static_cast<int64_t>(call->data.ByteSizeLong()));
                 reactor->Finish(internal::ToGrpcStatus(applied));
               });
             });
  return reactor;
}

}  // namespace gridrpc
