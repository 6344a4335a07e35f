// Migration listeners: the progress of partition migrations, as Hazelcast 4's refactored
// MigrationListener reports it. A migration process is a group of replica migrations planned
// together (after a member joins, leaves or crashes); each replica migration moves one replica
// (0 primary, 1.. backups) of one partition to a new member.
//
// Example:
//   class Printer : public gridrpc::MigrationListener {
//     void MigrationStarted(const gridrpc::MigrationState& s) override { ... s.planned ... }
//     void ReplicaMigrationCompleted(const gridrpc::ReplicaMigrationEvent& e) override { ... }
//     ...
//   };
//   cluster->AddMigrationListener(std::make_shared<Printer>());
#ifndef GRIDRPC_MIGRATION_H_
#define GRIDRPC_MIGRATION_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace gridrpc {

// The state of the whole migration process.
struct MigrationState {
  absl::Time start_time;
  int planned = 0;               // replica migrations in the plan
  int completed = 0;             // finished so far, successfully or not
  int remaining = 0;             // planned - completed
  absl::Duration total_elapsed;  // sum of the finished migrations' elapsed times
};

struct ReplicaMigrationEvent {
  int partition = -1;
  int replica_index = -1;   // 0 primary, 1.. backups
  std::string source;       // member id of the old owner; empty when there was none
  std::string destination;  // member id of the new owner
  bool success = false;
  absl::Duration elapsed;
  int64_t bytes = 0;     // container data copied (0 for a promotion, which copies nothing)
  MigrationState state;  // after this migration
};

// A partition lost every replica: more members crashed at once than it had backups (Hazelcast's
// PartitionLostEvent). It answers DATA_LOSS until an operator resets it (it then serves again,
// empty), unless members run with --on_partition_lost=reset, which resets it at once.
struct PartitionLostEvent {
  int partition = -1;
  int lost_replicas = 0;  // how many replicas it had
  std::string reporter;   // member id of the member that found it lost (the planner)
};

// Called from the thread running the migration process, one event at a time, in order: started,
// each replica migration, finished; and partition losses, which the same planner finds. Must not
// block for long.
class MigrationListener {
 public:
  virtual ~MigrationListener() = default;
  virtual void MigrationStarted(const MigrationState& state) {}
  virtual void MigrationFinished(const MigrationState& state) {}
  virtual void ReplicaMigrationCompleted(const ReplicaMigrationEvent& event) {}
  virtual void ReplicaMigrationFailed(const ReplicaMigrationEvent& event) {}
  virtual void PartitionLost(const PartitionLostEvent& event) {}
};

}  // namespace gridrpc

#endif  // GRIDRPC_MIGRATION_H_
