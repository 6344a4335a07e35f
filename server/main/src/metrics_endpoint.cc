#include "gridrpc/metrics_endpoint.h"

#include <CivetServer.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gridrpc {
namespace {

void Reply(mg_connection* connection, int status, const char* reason, const char* content_type,
           const std::string& body) {
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
            "close\r\n\r\n",
            status, reason, content_type, body.size());
  mg_write(connection, body.data(), body.size());
}

class MetricsHandler final : public CivetHandler {
 public:
  explicit MetricsHandler(std::shared_ptr<prometheus::Collectable> metrics)
      : metrics_(std::move(metrics)) {}
  bool handleGet(CivetServer*, mg_connection* connection) override {
    Reply(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
          prometheus::TextSerializer().Serialize(metrics_->Collect()));
    return true;
  }

 private:
  const std::shared_ptr<prometheus::Collectable> metrics_;
};

class HealthHandler final : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* connection) override {
    Reply(connection, 200, "OK", "text/plain; charset=utf-8", "ok\n");
    return true;
  }
};

class ReadyHandler final : public CivetHandler {
 public:
  explicit ReadyHandler(const Member& member) : member_(member) {}
  bool handleGet(CivetServer*, mg_connection* connection) override {
    const Readiness readiness = member_.readiness();
    if (readiness.ready) {
      Reply(connection, 200, "OK", "text/plain; charset=utf-8", "ready\n");
    } else {
      Reply(connection, 503, "Service Unavailable", "text/plain; charset=utf-8",
            absl::StrCat(absl::StrJoin(readiness.reasons, "\n"), "\n"));
    }
    return true;
  }

 private:
  const Member& member_;
};

}  // namespace

class MetricsEndpoint::Server {
 public:
  Server(const std::vector<std::string>& options, const Member& member)
      : metrics_(member.metrics()), ready_(member), civet_(options) {
    civet_.addHandler("/metrics", metrics_);
    civet_.addHandler("/healthz", health_);
    civet_.addHandler("/readyz", ready_);
  }
  std::vector<int> ports() { return civet_.getListeningPorts(); }

 private:
  MetricsHandler metrics_;
  HealthHandler health_;
  ReadyHandler ready_;
  CivetServer civet_;  // last: it stops (joins its threads) before the handlers go
};

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(const std::string& address,
                                                                        const Member& member) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' is not host:port"));
  }
  const std::vector<std::string> options = {
      "listening_ports", address,
      // Scrapes and probes are small and rare: two threads, and no request may hold one long.
      "num_threads", "2", "request_timeout_ms", "10000", "enable_keep_alive", "no"};
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>(options, member);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  const std::vector<int> ports = server->ports();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address));
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(
      std::move(server), absl::StrCat(address.substr(0, colon), ":", ports.front())));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<Server> server, std::string address)
    : server_(std::move(server)), address_(std::move(address)) {}

MetricsEndpoint::~MetricsEndpoint() = default;

}  // namespace gridrpc
