// A member's migration events: a MigrationListener that fans out to the member's C++ listeners
// and to its gRPC watchers. Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_EVENTS_H_
#define GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_EVENTS_H_

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gridrpc/cluster.pb.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/migration.h"

namespace gridrpc::internal {

class MigrationEvents final : public MigrationListener {
 public:
  void Add(std::shared_ptr<MigrationListener> listener);
  // A stream for Cluster/WatchMigrations; it unregisters itself when done.
  grpc::ServerWriteReactor<v1::MigrationEvent>* NewWatch();

  void MigrationStarted(const MigrationState& state) override;
  void MigrationFinished(const MigrationState& state) override;
  void ReplicaMigrationCompleted(const ReplicaMigrationEvent& event) override;
  void ReplicaMigrationFailed(const ReplicaMigrationEvent& event) override;
  void PartitionLost(const PartitionLostEvent& event) override;

 private:
  class Watch;
  void Remove(Watch* watch);
  void Publish(const v1::MigrationEvent& event,
               const std::function<void(MigrationListener&)>& notify);

  Mutex mu_;
  std::vector<std::shared_ptr<MigrationListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::set<Watch*> watches_ ABSL_GUARDED_BY(mu_);
};

// Turns listener calls into the events Cluster/WatchMigrations and Peer/ReportMigration carry.
class MigrationEventEncoder final : public MigrationListener {
 public:
  explicit MigrationEventEncoder(std::function<void(const v1::MigrationEvent&)> on_event)
      : on_event_(std::move(on_event)) {}

  void MigrationStarted(const MigrationState& state) override;
  void MigrationFinished(const MigrationState& state) override;
  void ReplicaMigrationCompleted(const ReplicaMigrationEvent& event) override;
  void ReplicaMigrationFailed(const ReplicaMigrationEvent& event) override;
  void PartitionLost(const PartitionLostEvent& event) override;

 private:
  const std::function<void(const v1::MigrationEvent&)> on_event_;
};

// Calls the listener method `event` stands for; INVALID_ARGUMENT for an event of no known kind.
absl::Status Replay(const v1::MigrationEvent& event, MigrationListener& listener);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MIGRATION_MIGRATION_EVENTS_H_
