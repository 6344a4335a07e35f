// A member's migration events: a MigrationListener that fans out to the member's C++ listeners
// and to its gRPC watchers. Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_MIGRATION_WATCH_H_
#define GRIDRPC_SERVER_SRC_MIGRATION_WATCH_H_

#include <grpcpp/support/server_callback.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <vector>

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

 private:
  class Watch;
  void Remove(Watch* watch);
  void Publish(const v1::MigrationEvent& event,
               const std::function<void(MigrationListener&)>& notify);

  Mutex mu_;
  std::vector<std::shared_ptr<MigrationListener>> listeners_ ABSL_GUARDED_BY(mu_);
  std::set<Watch*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MIGRATION_WATCH_H_
