// gRPC client interceptors for any channel: Prometheus metrics and access logs of the calls a
// program makes. They work on plain gRPC channels and on gridrpc clients alike.
//
// Metrics follow the names gRPC's ecosystem dashboards know (go-grpc-prometheus):
//   grpc_client_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}   counter
//   grpc_client_handling_seconds{grpc_type,grpc_service,grpc_method}          histogram
// The access log is one logfmt line per call (gridrpc/log.h): event=grpc_call, the method, the
// status code, the duration and the peer.
//
// Thread-safe. The factories keep what they are given alive.
//
// Example, a plain channel:
//   std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> chain;
//   chain.push_back(gridrpc::NewClientMetricsInterceptor(registry));
//   chain.push_back(gridrpc::NewAccessLogInterceptor());
//   auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
//       "10.0.0.5:5701", grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
//       std::move(chain));
// and a gridrpc client (each member's channel gets them):
//   auto client = gridrpc::Client::Create(
//       {.members = {"10.0.0.5:5701"},
//        .interceptors = {gridrpc::NewClientMetricsInterceptor(registry)}}).value();
#ifndef GRIDRPC_CLIENT_INTERCEPTORS_H_
#define GRIDRPC_CLIENT_INTERCEPTORS_H_

#include <grpcpp/support/client_interceptor.h>

#include <memory>

#include "gridrpc/log.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace gridrpc {

// Counts calls by method and status code and measures their latency, in `registry`.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> NewClientMetricsInterceptor(
    std::shared_ptr<prometheus::Registry> registry);

// Logs one line per finished call at `level` (failed calls at warning, if `level` is lower).
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> NewAccessLogInterceptor(
    LogLevel level = LogLevel::kInfo);

}  // namespace gridrpc

#endif  // GRIDRPC_CLIENT_INTERCEPTORS_H_
