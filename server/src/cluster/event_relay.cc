#include "cluster/event_relay.h"

#include "absl/time/clock.h"
#include "gridrpc/log.h"

namespace gridrpc::internal {

void EventRelay::Send(const std::string& address, const std::shared_ptr<grpc::Channel>& channel,
                      const v1::MigrationEvent& event) {
  std::shared_ptr<Call> call;
  {
    MutexLock lock(&mu_);
    Peer& peer = peers_[address];
    if (peer.stub == nullptr) {
      peer.address = address;
      peer.stub = v1::Peer::NewStub(channel);
    }
    if (peer.queue.size() >= kMaxQueued) {
      peer.queue.pop_front();
      Lost(address, "its queue of events to send is full: the oldest is dropped");
    }
    peer.queue.push_back(event);
    if (!peer.busy) call = Next(peer);
  }
  if (call != nullptr) Start(std::move(call));
}

bool EventRelay::Idle() const {
  for (const auto& [address, peer] : peers_) {
    if (peer.busy) return false;
  }
  return true;
}

void EventRelay::Flush(absl::Duration timeout) {
  MutexLock lock(&mu_);
  idle_.WaitUntil(mu_, absl::Now() + timeout,
                  [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Idle(); });
}

void EventRelay::Lost(const std::string& address, std::string_view why) {
  metrics_->event_relay_failures.Increment();
  Log(LogLevel::kWarning, "migration_event_lost",
      "a migration event did not reach a member (its listeners miss it)",
      {{"to", address}, {"why", why}});
}

std::shared_ptr<EventRelay::Call> EventRelay::Next(Peer& peer) {
  peer.busy = !peer.queue.empty();
  if (!peer.busy) {
    idle_.NotifyAll();
    return nullptr;
  }
  auto call = std::make_shared<Call>();
  call->peer = &peer;
  call->address = peer.address;
  call->event = std::move(peer.queue.front());
  peer.queue.pop_front();
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + call_timeout_));
  authenticate_(call->context);
  return call;
}

void EventRelay::Start(std::shared_ptr<Call> call) {
  Call* raw = call.get();
  v1::Peer::Stub* stub;
  {
    MutexLock lock(&mu_);
    stub = raw->peer->stub.get();
  }
  stub->async()->ReportMigration(
      &raw->context, &raw->event, &raw->response,
      [self = shared_from_this(), call = std::move(call)](grpc::Status status) {
        if (!status.ok()) {
          self->Lost(call->address, status.error_message());
        }
        std::shared_ptr<Call> next;
        {
          MutexLock lock(&self->mu_);
          next = self->Next(*call->peer);
        }
        if (next != nullptr) self->Start(std::move(next));
      });
}

}  // namespace gridrpc::internal
