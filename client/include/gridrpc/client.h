// Client: a smart client of one gridrpc cluster.
//
// It loads the partition table from a member, keeps one channel per member, and lets generated
// proxies send each call straight to the member owning the call's partition. When a member
// answers that it does not own the partition (the table moved on), the client reloads the table
// and retries within the invocation timeout.
//
// Thread-safe. Proxies share the client's state and stay usable after the Client object itself
// is destroyed.
//
// Example:
//   auto client = gridrpc::Client::Create({.members = {"127.0.0.1:5701"}}).value();
//   auto counter = gridrpc::ProxyBuilder<examples::Counter>(*client).Build();
//   absl::StatusOr<examples::IncResponse> r = counter->Inc(request);
#ifndef GRIDRPC_CLIENT_H_
#define GRIDRPC_CLIENT_H_

#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gridrpc/partition_table.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace gridrpc {

namespace internal {
class ClientState;
}  // namespace internal

struct ClientOptions {
  // Addresses (host:port) of members to load the partition table from; one answering is enough.
  std::vector<std::string> members;
  // How long a call may take, retries included, when neither the call nor the contract says.
  absl::Duration invocation_timeout = absl::Seconds(120);
  // How long Create() waits for a member to answer.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Pause before retrying a call the cluster could not take (no owner, member unreachable).
  absl::Duration retry_pause = absl::Milliseconds(100);
  // Smart routing sends each call to the member owning its partition. Unisocket mode (false,
  // Hazelcast's smartRouting=false) sends every call to the first member in `members` that is
  // in the cluster, which forwards it to the owner: one connection, one extra hop.
  bool smart_routing = true;
  // Channel credentials for every member; null means insecure (plaintext).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // gRPC client interceptors for every member's channel, in order (e.g.
  // gridrpc::NewClientMetricsInterceptor, gridrpc::NewAccessLogInterceptor from
  // gridrpc/client_interceptors.h, target gridrpc::interceptors). Shared by the channels.
  std::vector<std::shared_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
};

class Client {
 public:
  // Connects to the first answering member of `options.members` and loads the partition table.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The table the client routes by right now.
  std::shared_ptr<const PartitionTable> partition_table() const;
  // Reloads the table from a member; keeps the current one if the member's is not newer.
  absl::Status RefreshPartitionTable();

  // For ProxyBuilder.
  const std::shared_ptr<internal::ClientState>& state() const { return state_; }

 private:
  explicit Client(std::shared_ptr<internal::ClientState> state) : state_(std::move(state)) {}

  std::shared_ptr<internal::ClientState> state_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_CLIENT_H_
