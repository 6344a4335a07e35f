#include "replication/backup_applier.h"

#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gridrpc/log.h"
#include "migration/replica_stream.h"

namespace gridrpc::internal {

BackupApplier::BackupApplier(const MemberContext& member, const ServiceRegistry& registry,
                             Partitions& partitions, PartitionExecutor& executor,
                             PeerChannels& peers, const MemberTunables& tunables,
                             MemberMetrics& metrics, std::shared_ptr<LifeGuard> guard)
    : member_(member),
      registry_(registry),
      partitions_(partitions),
      executor_(executor),
      peers_(peers),
      tunables_(tunables),
      metrics_(metrics),
      guard_(std::move(guard)),
      orders_(partitions.partition_count()) {}

grpc::ServerUnaryReactor* BackupApplier::HandleBackup(grpc::CallbackServerContext* ctx,
                                                      const v1::BackupRequest& request,
                                                      v1::BackupResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int p = request.partition();
  if (!partitions_.Contains(p)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("backup for partition ", p, " out of range")));
    return reactor;
  }
  const HostedService* hosted = registry_.FindInstance(request.lookup_name());
  const MethodDescriptor* method =
      hosted == nullptr
          ? nullptr
          : hosted->service->descriptor().FindMethod(
                std::string_view(request.method()).substr(request.method().rfind('/') + 1));
  if (method == nullptr || request.method() != method->path) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::NOT_FOUND,
                     absl::StrCat("member ", member_.id(), " hosts no ", request.method(),
                                  " under lookup name '", request.lookup_name(), "'")));
    return reactor;
  }
  if (!ServiceRegistry::NeedsBackup(*hosted, *method)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat(request.method(), " under lookup name '",
                                              request.lookup_name(), "' is not backed up")));
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
        PartitionReplica& replica = partitions_.replica(p);
        if (stopping_.load()) {
          reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                       absl::StrCat("member ", member_.id(), " is stopping")));
          return;
        }
        // Fencing: a primary that has not seen the table this member has may write here only if
        // that table still makes it the primary and this member a backup.
        if (table_version < replica.table_version &&
            !(replica.replica_index > 0 && partitions_.IsPrimaryInTable(p, primary_id))) {
          reactor->Finish(grpc::Status(
              grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("backup from ", primary_id, " stamped with table version ",
                           table_version, ": in this member's version ", replica.table_version,
                           " it is not the primary of partition ", p)));
          return;
        }
        if (table_version == replica.table_version && replica.replica_index <= 0) {
          reactor->Finish(grpc::Status(
              grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("member ", member_.id(), " is not a backup of partition ", p)));
          return;
        }
        if (sequence <= replica.sequence) {  // a duplicate: applied, or covered by a resync
          response->set_sequence(replica.sequence);
          reactor->Finish(grpc::Status::OK);
          return;
        }
        orders_[p].pending.emplace(sequence, Pending{hosted, method, std::move(parsed),
                                                     std::move(payload), reactor, response});
        ApplyPending(p);
      });
  return reactor;
}

void BackupApplier::OnRoleChanged(int partition, PartitionReplica& replica, bool was_backup) {
  if (replica.replica_index > 0) return;
  FailPending(partition, absl::StrCat("member ", member_.id(),
                                      " is no longer a backup of partition ", partition));
}

void BackupApplier::FailPending(int partition, const std::string& why) {
  Order& order = orders_[partition];
  for (auto& [sequence, pending] : order.pending) {
    pending.reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, why));
  }
  order.pending.clear();
  NoteLag(partition);
}

void BackupApplier::NoteLag(int partition) {
  Order& order = orders_[partition];
  const bool lagging = !order.pending.empty();
  if (lagging == order.lagging) return;
  order.lagging = lagging;
  lagging_.fetch_add(lagging ? 1 : -1, std::memory_order_relaxed);
}

void BackupApplier::Stop() {
  stopping_.store(true);
  for (int p = 0; p < partitions_.partition_count(); ++p) {
    executor_.Execute(
        p, [this, p] { FailPending(p, absl::StrCat("member ", member_.id(), " is stopping")); });
  }
}

void BackupApplier::ApplyPending(int p) {
  PartitionReplica& replica = partitions_.replica(p);
  Order& order = orders_[p];
  while (!order.pending.empty() && order.pending.begin()->first <= replica.sequence + 1) {
    auto node = order.pending.extract(order.pending.begin());
    Pending& op = node.mapped();
    if (node.key() == replica.sequence + 1) {
      PartitionContext context(member_, nullptr, nullptr, p,
                               partitions_.ContainerOf(*op.hosted, p));
      context.set_is_backup(true);
      grpc::ByteBuffer ignored;
      const absl::Status status =
          op.payload.has_value()
              ? op.hosted->service->ApplyBackup(*op.method, context, *op.payload)
              : op.hosted->service->Invoke(*op.method, context, *op.request, &ignored);
      if (!status.ok()) {
        // The primary succeeded; a backup that cannot follow would diverge. It resyncs.
        metrics_.backup_replay_failures.Increment();
        Log(LogLevel::kError, "backup_replay_failed",
            "replaying a backup operation failed; the backup resyncs the partition",
            {{"method", op.method->path}, {"partition", p}, {"status", status.ToString()}});
        order.pending.emplace(node.key(), std::move(op));
        NoteLag(p);
        Resync(p);
        return;
      }
      replica.sequence = node.key();
    }
    partitions_.Publish(p);  // before the primary, and through it the caller, can hear of it
    op.response->set_sequence(replica.sequence);
    op.reactor->Finish(grpc::Status::OK);
  }
  partitions_.Publish(p);
  NoteLag(p);
  if (!order.pending.empty() && !order.resync_scheduled) {
    // A gap: its operation may still be on its way. Look again after a grace period.
    order.resync_scheduled = true;
    const int64_t awaited = replica.sequence + 1;
    auto* alarm = new grpc::Alarm();
    alarm->Set(absl::ToChronoTime(absl::Now() + tunables_.gap_grace),
               [this, guard = guard_, p, awaited, alarm](bool) {
                 // Safe inside its own callback: gRPC holds the alarm's state until the callback
                 // returns.
                 delete alarm;
                 LifeGuard::Scope alive = guard->Enter();
                 if (!alive) return;  // the member is gone
                 executor_.Execute(p, [this, p, awaited] {
                   Order& order = orders_[p];
                   order.resync_scheduled = false;
                   if (stopping_.load()) {
                     FailPending(p, absl::StrCat("member ", member_.id(), " is stopping"));
                     return;
                   }
                   if (order.pending.empty()) return;
                   if (partitions_.replica(p).sequence + 1 == awaited) {
                     Resync(p);  // still missing
                   } else {
                     ApplyPending(p);  // progress was made; watch the next gap, if any
                   }
                 });
               });
  }
}

void BackupApplier::Resync(int p) {
  std::shared_ptr<const PartitionTable> table = partitions_.table();
  const int primary = table == nullptr ? -1 : table->Owner(p);
  if (primary < 0 || table->member(primary).id() == member_.id()) return;
  metrics_.resyncs.Increment();
  orders_[p].resync_scheduled = true;  // one at a time
  ReadSnapshot(partitions_, guard_, peers_, table->member(primary).peer_address(), p,
               tunables_.copy_idle_timeout, /*progress=*/nullptr,
               [this, guard = guard_, p](absl::Status status, ReceivedReplica data) {
                 LifeGuard::Scope alive = guard->Enter();
                 if (!alive) return;  // the member is gone
                 executor_.Execute(p, [this, p, status, data = std::move(data)]() mutable {
                   orders_[p].resync_scheduled = false;
                   if (!status.ok()) {
                     metrics_.resync_failures.Increment();
                     Log(LogLevel::kWarning, "resync_failed",
                         "a backup's resync from its primary failed; it tries again",
                         {{"partition", p}, {"status", status.ToString()}});
                     ApplyPending(p);  // what waits is not forgotten: look again after the grace
                     return;
                   }
                   if (data.sequence > partitions_.replica(p).sequence) {
                     partitions_.Restore(p, std::move(data));
                   }
                   ApplyPending(p);  // what is now covered is acknowledged, the rest applied
                 });
               });
}

}  // namespace gridrpc::internal
