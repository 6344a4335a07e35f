// MetricsEndpoint: a member's HTTP endpoint for Prometheus and Kubernetes: `/metrics` (the
// Prometheus text format), `/healthz` (200 while the process serves: liveness) and `/readyz`
// (200 when the member is ready, else 503 with one reason a line: readiness).
//
// It serves on a port of its own, apart from the gRPC ports, over civetweb (which prometheus-cpp
// uses too), with a bounded number of threads and a request timeout, so a slow or hostile
// scraper cannot hold it up for long. Thread-safe; stops when destroyed.
//
// Example:
//   auto endpoint = gridrpc::MetricsEndpoint::Start("0.0.0.0:9090", *member).value();
//   // curl http://host:9090/readyz
#ifndef GRIDRPC_METRICS_ENDPOINT_H_
#define GRIDRPC_METRICS_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gridrpc/member.h"

namespace gridrpc {

class MetricsEndpoint {
 public:
  // Listens on `address` (host:port; port 0 picks a free one) for `member`, which must outlive
  // the endpoint. An address that cannot be bound is an error naming it.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(const std::string& address,
                                                                const Member& member);
  ~MetricsEndpoint();

  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // host:port it listens on, with the bound port.
  const std::string& address() const { return address_; }

 private:
  class Server;
  MetricsEndpoint(std::unique_ptr<Server> server, std::string address);

  std::unique_ptr<Server> server_;
  std::string address_;
};

}  // namespace gridrpc

#endif  // GRIDRPC_METRICS_ENDPOINT_H_
