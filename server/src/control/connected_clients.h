// ConnectedClients: the clients that report statistics to this member (Cluster/
// ReportClientStatistics), by name and labels, for operators (gridrpc_connected_clients).
//
// A client counts while its reports keep coming: it is forgotten three periods after its last.
// What a stranger can send is bounded: sizes are checked, and the member tracks at most
// kMaxClients clients (more are refused with RESOURCE_EXHAUSTED until some are forgotten).
//
// Thread-safe.
#ifndef GRIDRPC_SERVER_SRC_CONTROL_CONNECTED_CLIENTS_H_
#define GRIDRPC_SERVER_SRC_CONTROL_CONNECTED_CLIENTS_H_

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gridrpc/cluster.pb.h"
#include "gridrpc/internal/mutex.h"

namespace gridrpc::internal {

class ConnectedClients {
 public:
  static constexpr size_t kMaxClients = 10000;

  absl::Status Report(const v1::ClientStatistics& statistics, absl::Time now);

  // Clients seen and not forgotten at `now`, counted by {name, labels as "k=v,k2=v2"}.
  std::map<std::pair<std::string, std::string>, int> Count(absl::Time now);

 private:
  struct Client {
    std::string name;
    std::string labels;
    absl::Time expires;
  };
  void ForgetLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  absl::flat_hash_map<std::string, Client> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CONTROL_CONNECTED_CLIENTS_H_
