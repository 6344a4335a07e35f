#include "replication/replicator.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gridrpc::internal {

void Replicator::Replicate(int partition, const HostedService& hosted,
                           const MethodDescriptor& method, const google::protobuf::Message& request,
                           std::optional<std::string> payload,
                           absl::AnyInvocable<void(absl::Status) &&> on_synced) {
  PartitionReplica& replica = partitions_.replica(partition);
  std::shared_ptr<const PartitionTable> table = partitions_.table();
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
  ++replica.sequence;
  partitions_.Publish(partition);

  auto backup = std::make_shared<v1::BackupRequest>();
  backup->set_partition(partition);
  backup->set_table_version(replica.table_version);
  backup->set_primary_id(partitions_.member_id());
  backup->set_sequence(replica.sequence);
  backup->set_method(method.path);
  backup->set_lookup_name(hosted.lookup_name);
  request.SerializeToString(backup->mutable_request());
  if (payload.has_value()) {
    backup->set_has_payload(true);
    backup->set_payload(*std::move(payload));
  }

  // The answer waits for the sync backups only; a failed one is counted, not waited for twice.
  struct SyncWait {
    Mutex mu;
    int remaining ABSL_GUARDED_BY(mu);
    absl::Status status ABSL_GUARDED_BY(mu);  // ABORTED once a sync backup fenced us off
    absl::AnyInvocable<void(absl::Status) &&> on_synced ABSL_GUARDED_BY(mu);
  };
  auto wait = std::make_shared<SyncWait>();
  if (sync == 0) {
    std::move(on_synced)(absl::OkStatus());  // async backups only: the caller does not wait
  } else {
    replica.sync.Add();
    MutexLock lock(&wait->mu);
    wait->remaining = sync;
    wait->on_synced = [this, guard = guard_, partition,
                       on_synced = std::move(on_synced)](absl::Status status) mutable {
      std::move(on_synced)(std::move(status));
      LifeGuard::Scope alive = guard->Enter();
      if (!alive) return;  // the member stopped; nothing waits for a freeze any more
      if (partitions_.replica(partition).sync.Done()) {
        executor_.Execute(partition,
                          [this, partition] { partitions_.replica(partition).sync.Wake(); });
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
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + tunables_.backup_timeout));
    peers_.Authenticate(call->context);
    const std::string& address = table->member(replicas[i]).peer_address();
    peers_.Get(address).peer->async()->Backup(
        &call->context, backup.get(), &call->response,
        [this, guard = guard_, call, backup, wait, is_sync, address](grpc::Status status) {
          if (LifeGuard::Scope alive = guard->Enter(); alive && !status.ok()) {
            MemberCounters::Increment(counters_.backup_failures);
            std::fprintf(stderr,
                         "gridrpc: backup of partition %d (sequence %lld) to %s failed: %s\n",
                         backup->partition(), static_cast<long long>(backup->sequence()),
                         address.c_str(), status.error_message().c_str());
          }
          if (!is_sync) return;
          absl::AnyInvocable<void(absl::Status) &&> synced;
          absl::Status result;
          {
            MutexLock lock(&wait->mu);
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

}  // namespace gridrpc::internal
