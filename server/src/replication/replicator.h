// Replicator: the primary's half of backups. A successful mutating operation of a partitioned
// service is stamped, inside its partition, with the partition's next replica sequence and sent
// to the partition's backups (Peer/Backup): the first `sync_backups` of them before the caller
// is answered, the next `async_backups` without waiting (counts from the contract, capped by the
// table).
//
// A write is acknowledged only once its sync backups applied it. A sync backup that cannot be
// reached is tried again (pauses from `backup_retry_pause`, doubling) until the call's deadline,
// unless a newer table dropped that backup (then one fewer is required). What cannot end well is
// not acknowledged: a backup that fences the primary off, or refuses the write for good, makes
// the answer ABORTED (the write ran on the primary but was not replicated); the deadline passing
// makes it DEADLINE_EXCEEDED (the outcome is unknown).
//
// Thread-safe; Replicate runs inside the partition. Answers arriving after the member stopped
// leave it alone (LifeGuard).
#ifndef GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_
#define GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "dispatch/service_registry.h"
#include "gridrpc/member.h"
#include "member/metrics.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

class Replicator {
 public:
  Replicator(Partitions& partitions, PartitionExecutor& executor, PeerChannels& peers,
             const MemberTunables& tunables, MemberMetrics& metrics,
             std::shared_ptr<LifeGuard> guard)
      : partitions_(partitions),
        executor_(executor),
        peers_(peers),
        tunables_(tunables),
        metrics_(metrics),
        guard_(std::move(guard)) {}

  // Inside the partition, after `method` ran successfully on the primary: replicates it and runs
  // `on_synced` with the outcome described above. `call` (null for one-way calls) gives the
  // deadline and tells when the caller gave up; it must stay valid until `on_synced` ran.
  void Replicate(int partition, const HostedService& hosted, const MethodDescriptor& method,
                 const google::protobuf::Message& request, std::optional<std::string> payload,
                 const grpc::CallbackServerContext* call,
                 absl::AnyInvocable<void(absl::Status) &&> on_synced);

  // Writes waiting to retry a sync backup that failed (their callers are not answered yet).
  int64_t retrying() const { return retrying_.load(std::memory_order_relaxed); }

 private:
  struct Write;
  enum class Need { kStill, kDropped, kNotPrimary };

  // The deadline sync backups are retried until: the call's, else backup_timeout from now.
  absl::Time DeadlineOf(const grpc::CallbackServerContext* call) const;
  // One attempt, with a deadline of at most backup_timeout.
  void Send(const std::shared_ptr<const v1::BackupRequest>& backup, const std::string& address,
            absl::Time deadline, std::function<void(grpc::Status)> done);
  void SendSync(std::shared_ptr<Write> write, std::string member_id, std::string address,
                int attempt);
  // Whether the installed table still has `backup_id` back up the partition for this member.
  Need StillNeeded(int partition, const std::string& backup_id) const;
  // Records one sync backup's outcome; the last one answers the caller.
  void Resolve(Write& write, absl::Status outcome);
  void CountFailure(const v1::BackupRequest& backup, const std::string& address,
                    const grpc::Status& status, std::string_view then);

  Partitions& partitions_;
  PartitionExecutor& executor_;
  PeerChannels& peers_;
  const MemberTunables& tunables_;
  MemberMetrics& metrics_;
  const std::shared_ptr<LifeGuard> guard_;
  std::atomic<int64_t> retrying_{0};
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_REPLICATION_REPLICATOR_H_
