// Forwarder: sends a call this member does not own to the owner in its own table and relays
// the answer (plain gRPC clients, unisocket clients, smart clients with a stale table), adding
// its table version as a trailer so smart clients reload. A forwarded call is never forwarded
// again: a member that does not own it answers wrong-owner.
//
// Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_FORWARDER_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_FORWARDER_H_

#include <grpcpp/support/server_callback.h>

#include "dispatch/call_outcome.h"
#include "gridrpc/service_descriptor.h"
#include "net/peer_channels.h"
#include "partition/partitions.h"

namespace gridrpc::internal {

class Forwarder {
 public:
  Forwarder(const Partitions& partitions, PeerChannels& peers)
      : partitions_(partitions), peers_(peers) {}

  // Inside the partition, for a call this member does not own. False when it cannot forward:
  // the call was forwarded once already, or no other member owns the partition; the caller
  // then refuses it.
  bool Forward(const MethodDescriptor& method, grpc::CallbackServerContext* ctx,
               const CallOutcome& outcome, const google::protobuf::Message& request, int partition,
               grpc::ByteBuffer* response);

 private:
  const Partitions& partitions_;
  PeerChannels& peers_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_FORWARDER_H_
