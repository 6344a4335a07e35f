#include "gridrpc/client_interceptors.h"

#include <grpcpp/client_context.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gridrpc {
namespace {

using grpc::experimental::ClientRpcInfo;
using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;

std::string_view TypeName(ClientRpcInfo::Type type) {
  switch (type) {
    case ClientRpcInfo::Type::UNARY:
      return "unary";
    case ClientRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ClientRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ClientRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
    default:
      return "unknown";
  }
}

std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "Unknown";
}

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}.
std::pair<std::string, std::string> SplitMethod(std::string_view p) {
  if (p.starts_with('/')) p.remove_prefix(1);
  const size_t slash = p.find('/');
  if (slash == std::string_view::npos) return {std::string(p), ""};
  return {std::string(p.substr(0, slash)), std::string(p.substr(slash + 1))};
}

// One call's interceptor: it sees the call start and its status arrive.
class CallInterceptor : public grpc::experimental::Interceptor {
 public:
  // The method's name is copied now: a generic stub's may not outlive the call's start.
  explicit CallInterceptor(ClientRpcInfo* info)
      : info_(info), method_(info->method() == nullptr ? "" : info->method()) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      start_ = std::chrono::steady_clock::now();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      const grpc::Status* status = methods->GetRecvStatus();
      Finished(*info_, method_,
               status == nullptr ? grpc::StatusCode::UNKNOWN : status->error_code(),
               std::chrono::steady_clock::now() - start_);
    }
    methods->Proceed();
  }

 protected:
  virtual void Finished(ClientRpcInfo& info, const std::string& method, grpc::StatusCode code,
                        std::chrono::steady_clock::duration elapsed) = 0;

 private:
  ClientRpcInfo* const info_;
  const std::string method_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

class MetricsFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit MetricsFactory(std::shared_ptr<prometheus::Registry> registry)
      : registry_(std::move(registry)),
        handled_(prometheus::BuildCounter()
                     .Name("grpc_client_handled_total")
                     .Help("Calls completed by this client, by method and status code")
                     .Register(*registry_)),
        handling_(prometheus::BuildHistogram()
                      .Name("grpc_client_handling_seconds")
                      .Help("Time from a call's start to its status, by method")
                      .Register(*registry_)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(ClientRpcInfo* info) override {
    class Call final : public CallInterceptor {
     public:
      Call(ClientRpcInfo* info, MetricsFactory& factory)
          : CallInterceptor(info), factory_(factory) {}

     private:
      void Finished(ClientRpcInfo& info, const std::string& path, grpc::StatusCode code,
                    std::chrono::steady_clock::duration elapsed) override {
        auto [service, method] = SplitMethod(path);
        const std::string type(TypeName(info.type()));
        // Family::Add finds the series with these labels, or makes it: one lock per call, off
        // the call's critical path (the status has arrived).
        factory_.handled_
            .Add({{"grpc_type", type},
                  {"grpc_service", service},
                  {"grpc_method", method},
                  {"grpc_code", std::string(CodeName(code))}})
            .Increment();
        factory_.handling_
            .Add({{"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}},
                 prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                         0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
            .Observe(std::chrono::duration<double>(elapsed).count());
      }
      MetricsFactory& factory_;
    };
    return new Call(info, *this);
  }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_;
};

class AccessLogFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit AccessLogFactory(LogLevel level) : level_(level) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(ClientRpcInfo* info) override {
    class Call final : public CallInterceptor {
     public:
      Call(ClientRpcInfo* info, LogLevel level) : CallInterceptor(info), level_(level) {}

     private:
      void Finished(ClientRpcInfo& info, const std::string& method, grpc::StatusCode code,
                    std::chrono::steady_clock::duration elapsed) override {
        const LogLevel level =
            code == grpc::StatusCode::OK ? level_ : std::max(level_, LogLevel::kWarning);
        if (!LogEnabled(level)) return;
        Log(level, "grpc_call", "a gRPC call finished",
            {{"method", method},
             {"code", CodeName(code)},
             {"duration_ms",
              absl::StrFormat("%.3f", std::chrono::duration<double, std::milli>(elapsed).count())},
             {"peer", info.client_context()->peer()}});
      }
      const LogLevel level_;
    };
    return new Call(info, level_);
  }

 private:
  const LogLevel level_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> NewClientMetricsInterceptor(
    std::shared_ptr<prometheus::Registry> registry) {
  return std::make_unique<MetricsFactory>(std::move(registry));
}

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> NewAccessLogInterceptor(
    LogLevel level) {
  return std::make_unique<AccessLogFactory>(level);
}

}  // namespace gridrpc
