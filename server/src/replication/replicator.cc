#include "replication/replicator.h"

#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/log.h"

namespace gridrpc::internal {

// One write's sync backups: what every send of it shares, and how their outcomes combine.
struct Replicator::Write {
  std::shared_ptr<const v1::BackupRequest> backup;
  absl::Time deadline;                      // of the call: retries stop there
  const grpc::CallbackServerContext* call;  // null for one-way calls; valid until on_synced
  Mutex mu;
  int remaining ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);  // the first failure, ABORTED preferred
  absl::AnyInvocable<void(absl::Status) &&> on_synced ABSL_GUARDED_BY(mu);
};

namespace {

// A backup that answers with one of these will not take the write however often it is sent.
bool Permanent(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

std::chrono::system_clock::time_point Earlier(absl::Time a, absl::Time b) {
  return absl::ToChronoTime(std::min(a, b));
}

}  // namespace

absl::Time Replicator::DeadlineOf(const grpc::CallbackServerContext* call) const {
  const absl::Time fallback = absl::Now() + tunables_.backup_timeout;
  if (call == nullptr || call->deadline() == std::chrono::system_clock::time_point::max()) {
    return fallback;
  }
  return absl::FromChrono(call->deadline());
}

void Replicator::Replicate(int partition, const HostedService& hosted,
                           const MethodDescriptor& method, const google::protobuf::Message& request,
                           std::optional<std::string> payload,
                           const grpc::CallbackServerContext* call,
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

  // Async backups: sent once, counted when they fail; the caller does not wait for them.
  for (int i = sync + 1; i <= sync + async; ++i) {
    const v1::MemberInfo& member = table->member(replicas[i]);
    Send(backup, member.peer_address(), absl::Now() + tunables_.backup_timeout,
         [this, guard = guard_, backup, address = member.peer_address()](grpc::Status status) {
           if (LifeGuard::Scope alive = guard->Enter(); alive && !status.ok()) {
             CountFailure(*backup, address, status, "");
           }
         });
  }
  if (sync == 0) {
    std::move(on_synced)(absl::OkStatus());
    return;
  }

  // Sync backups: the caller is answered once every one applied the write (or a newer table
  // dropped it), and never OK before.
  replica.sync.Add();
  auto write = std::make_shared<Write>();
  write->backup = backup;
  write->deadline = DeadlineOf(call);
  write->call = call;
  {
    MutexLock lock(&write->mu);
    write->remaining = sync;
    write->on_synced = [this, guard = guard_, partition,
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
  for (int i = 1; i <= sync; ++i) {
    const v1::MemberInfo& member = table->member(replicas[i]);
    SendSync(write, member.id(), member.peer_address(), /*attempt=*/0);
  }
}

void Replicator::Send(const std::shared_ptr<const v1::BackupRequest>& backup,
                      const std::string& address, absl::Time deadline,
                      std::function<void(grpc::Status)> done) {
  struct Call {
    grpc::ClientContext context;
    v1::BackupResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(Earlier(deadline, absl::Now() + tunables_.backup_timeout));
  peers_.Authenticate(call->context);
  metrics_.backups_sent.Increment();
  metrics_.backups_in_flight.Increment();
  peers_.Get(address).peer->async()->Backup(
      &call->context, backup.get(), &call->response,
      [this, guard = guard_, call, backup, done = std::move(done)](grpc::Status status) {
        if (LifeGuard::Scope alive = guard->Enter(); alive) {
          metrics_.backups_in_flight.Decrement();
          if (status.ok()) metrics_.backups_acknowledged.Increment();
        }
        done(std::move(status));
      });
}

void Replicator::SendSync(std::shared_ptr<Write> write, std::string member_id, std::string address,
                          int attempt) {
  Send(write->backup, address, write->deadline,
       [this, guard = guard_, write, member_id, address, attempt](grpc::Status status) {
         LifeGuard::Scope alive = guard->Enter();
         if (!alive) return;  // the member stopped: its server ended the call already
         if (status.ok()) return Resolve(*write, absl::OkStatus());
         CountFailure(*write->backup, address, status, attempt == 0 ? "; retrying" : "");
         const v1::BackupRequest& backup = *write->backup;
         const std::string written = absl::StrCat("the write to partition ", backup.partition(),
                                                  " ran on member ", backup.primary_id());
         if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
           // Fenced: a newer table no longer makes this member the primary.
           return Resolve(*write,
                          absl::AbortedError(absl::StrCat(
                              written, " but was not replicated: ", status.error_message())));
         }
         if (Permanent(status.error_code())) {
           return Resolve(
               *write, absl::AbortedError(absl::StrCat(written, " but its backup on ", member_id,
                                                       " refused it: ", status.error_message())));
         }
         switch (StillNeeded(backup.partition(), member_id)) {
           case Need::kNotPrimary:
             return Resolve(*write, absl::AbortedError(
                                        absl::StrCat(written,
                                                     ", which a newer table no longer makes its "
                                                     "primary, and was not replicated")));
           case Need::kDropped:
             return Resolve(*write, absl::OkStatus());  // fewer backups are required now
           case Need::kStill:
             break;
         }
         const absl::Duration pause = std::min(
             tunables_.backup_retry_pause * (1 << std::min(attempt, 4)), absl::Milliseconds(500));
         if ((write->call != nullptr && write->call->IsCancelled()) ||
             absl::Now() + pause >= write->deadline) {
           return Resolve(*write, absl::DeadlineExceededError(absl::StrCat(
                                      written, ", but its sync backup on ", member_id,
                                      " did not confirm it before the call's deadline (",
                                      status.error_message(), "): the outcome is unknown")));
         }
         retrying_.fetch_add(1, std::memory_order_relaxed);
         auto* alarm = new grpc::Alarm();
         alarm->Set(absl::ToChronoTime(absl::Now() + pause),
                    [this, guard, write, member_id, address, attempt, alarm](bool) {
                      delete alarm;  // safe: gRPC holds the alarm's state until this returns
                      LifeGuard::Scope alive = guard->Enter();
                      if (!alive) return;
                      retrying_.fetch_sub(1, std::memory_order_relaxed);
                      SendSync(write, member_id, address, attempt + 1);
                    });
       });
}

Replicator::Need Replicator::StillNeeded(int partition, const std::string& backup_id) const {
  std::shared_ptr<const PartitionTable> table = partitions_.table();
  const auto& replicas = table->proto().partitions(partition).members();
  if (replicas.empty() || table->member(replicas[0]).id() != partitions_.member_id()) {
    return Need::kNotPrimary;
  }
  for (int i = 1; i < replicas.size(); ++i) {
    if (table->member(replicas[i]).id() == backup_id) return Need::kStill;
  }
  return Need::kDropped;
}

void Replicator::Resolve(Write& write, absl::Status outcome) {
  absl::AnyInvocable<void(absl::Status) &&> synced;
  absl::Status result;
  {
    MutexLock lock(&write.mu);
    if (!outcome.ok() && (write.status.ok() || absl::IsAborted(outcome))) {
      write.status = std::move(outcome);
    }
    if (--write.remaining == 0) {
      synced = std::move(write.on_synced);
      result = write.status;
    }
  }
  if (synced) std::move(synced)(std::move(result));
}

void Replicator::CountFailure(const v1::BackupRequest& backup, const std::string& address,
                              const grpc::Status& status, std::string_view then) {
  metrics_.backup_failures.Increment();
  Log(LogLevel::kWarning, "backup_failed", absl::StrCat("a backup failed", AsAbsl(then)),
      {{"partition", backup.partition()},
       {"sequence", backup.sequence()},
       {"to", address},
       {"code", status.error_code()},
       {"error", status.error_message()}});
}

}  // namespace gridrpc::internal
