// Streaming a replica between members (Peer/Sync) in bounded chunks, so a partition of any size
// moves without a message-size cliff: SnapshotWriter is the serving side (a primary: its
// snapshot is taken inside the partition, then written out chunk by chunk), ReadSnapshot the
// reading side (a migration's destination, or a backup that resyncs).
//
// What a copy holds in memory beyond the partition's own state: at the source, the snapshot
// (one serialized copy of the partition, taken inside it so that it matches the partition's
// sequence while the partition serves on); at the destination, the chunk being read and, for a
// MessageContainer, the one field it ends inside, since each container parses its data as it
// arrives (Container::ReceiveMigrationData) into a new container installed when the copy is
// complete.
#ifndef GRIDRPC_SERVER_SRC_MIGRATION_REPLICA_STREAM_H_
#define GRIDRPC_SERVER_SRC_MIGRATION_REPLICA_STREAM_H_

#include <grpcpp/support/server_callback.h>

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"
#include "util/life_guard.h"

namespace gridrpc::internal {

// Serves Peer/Sync for one partition: refuses unless this member is its primary. Deletes itself
// when the stream is done.
grpc::ServerWriteReactor<v1::SyncChunk>* NewSnapshotWriter(Partitions& partitions,
                                                           PartitionExecutor& executor,
                                                           int partition, int chunk_bytes);

// Bytes received so far; called on a gRPC thread after each chunk.
using SnapshotProgress = std::function<void(int64_t received_bytes)>;
using SnapshotDone = std::function<void(absl::Status, ReceivedReplica)>;

// Reads `partition` from the member whose peer port is `address` into new containers made by
// `partitions`, which is used only while `guard` can be entered. The read takes as long as the
// partition needs, but is given up (DEADLINE_EXCEEDED) when no chunk arrives for `idle_timeout`:
// a paused source costs that, not the time a large partition would take. `progress` (may be
// null) hears of each chunk; `done` runs once, on a gRPC thread, with the outcome and what was
// read.
void ReadSnapshot(const Partitions& partitions, std::shared_ptr<LifeGuard> guard,
                  PeerChannels& peers, const std::string& address, int partition,
                  absl::Duration idle_timeout, SnapshotProgress progress, SnapshotDone done);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_MIGRATION_REPLICA_STREAM_H_
