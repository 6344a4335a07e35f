// EventRelay: sends the planner's migration events to the other members (Peer/ReportMigration)
// without holding up the planner: per member, in order, one call in flight. A member that does
// not answer loses the event; one that is far behind loses the oldest.
//
// Thread-safe. Made with std::make_shared: calls in flight keep it alive.
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_EVENT_RELAY_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_EVENT_RELAY_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/peer.grpc.pb.h"
#include "member/metrics.h"

namespace gridrpc::internal {

class EventRelay : public std::enable_shared_from_this<EventRelay> {
 public:
  // `authenticate` prepares each call as a peer's; it must not refer to anything the relay
  // may outlive (calls in flight keep the relay alive after its coordinator is gone). Events
  // lost (not answered, or dropped from a queue that is far behind) are logged and counted in
  // `metrics`.
  EventRelay(absl::Duration call_timeout, std::function<void(grpc::ClientContext&)> authenticate,
             std::shared_ptr<MemberMetrics> metrics)
      : call_timeout_(call_timeout),
        authenticate_(std::move(authenticate)),
        metrics_(std::move(metrics)) {}

  // Queues `event` for the member at `address`, reached over `channel`.
  void Send(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
            const v1::MigrationEvent& event);

  // Waits up to `timeout` until every queued event has been sent (before the process may exit).
  void Flush(absl::Duration timeout);

 private:
  static constexpr size_t kMaxQueued = 100000;
  struct Peer {
    std::string address;
    std::unique_ptr<v1::Peer::Stub> stub;
    std::deque<v1::MigrationEvent> queue;
    bool busy = false;  // a call is in flight
  };
  struct Call {
    Peer* peer;  // peers_ never erases, so it stays valid
    std::string address;
    grpc::ClientContext context;
    v1::MigrationEvent event;
    v1::ReportMigrationResponse response;
  };

  // An event did not reach the member at `address`: logged and counted.
  void Lost(const std::string& address, std::string_view why);
  // The peer's next call, or null when its queue is empty.
  std::shared_ptr<Call> Next(Peer& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Outside mu_: gRPC may run the completion on this thread.
  void Start(std::shared_ptr<Call> call);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration call_timeout_;
  const std::function<void(grpc::ClientContext&)> authenticate_;
  const std::shared_ptr<MemberMetrics> metrics_;
  Mutex mu_;
  CondVar idle_;  // a peer's last call in flight ended
  std::map<std::string, Peer> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_EVENT_RELAY_H_
