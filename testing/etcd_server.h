// A real etcd (/usr/bin/etcd, Debian's etcd-server) for tests and benchmarks: a single-member
// cluster on free 127.0.0.1 ports, with a fresh data directory removed afterwards.
//
// Example:
//   absl::StatusOr<std::unique_ptr<EtcdServer>> etcd = EtcdServer::Start();
//   ASSERT_TRUE(etcd.ok()) << etcd.status();
//   auto client = internal::EtcdClient::Connect({(*etcd)->endpoint()});
#ifndef GRIDRPC_TESTING_ETCD_SERVER_H_
#define GRIDRPC_TESTING_ETCD_SERVER_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "testing/child_process.h"

namespace gridrpc::testing {

// `count` distinct TCP ports on 127.0.0.1 that were free a moment ago: each is bound to port 0
// while the others are, so they differ, then released for the caller to bind.
inline absl::StatusOr<std::vector<int>> PickFreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = absl::InternalError(absl::StrCat("binding a free port: ", std::strerror(errno)));
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  if (!status.ok()) return status;
  return ports;
}

// One etcd process. Not thread-safe; owned by one test (or test suite).
class EtcdServer {
 public:
  // Starts etcd and waits (up to 10 s) until it serves clients; retries the whole start up to 3
  // times (a port taken in between). The error carries the end of etcd's log.
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start() {
    absl::Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      absl::StatusOr<std::unique_ptr<EtcdServer>> server = StartOnce();
      if (server.ok()) return server;
      last = server.status();
    }
    return last;
  }

  // Stops etcd (SIGTERM, SIGKILL if it lingers) and removes its data directory.
  ~EtcdServer() {
    process_->Signal(SIGTERM);
    process_->Wait(absl::Seconds(5));
    process_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // Where clients connect: "http://127.0.0.1:PORT".
  const std::string& endpoint() const { return endpoint_; }

  // Kills etcd at once (SIGKILL), as a crash would, and reaps it.
  void Kill() {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(5));
  }

  // Kills etcd and starts it again on the same ports and data: what a crash and a supervisor's
  // restart do. Keys and leases survive (etcd extends leases when it comes back).
  absl::Status Restart() {
    Kill();
    absl::StatusOr<std::unique_ptr<ChildProcess>> process =
        Launch(dir_, endpoint_, peer_url_, ++starts_);
    if (!process.ok()) return process.status();
    process_ = *std::move(process);
    return absl::OkStatus();
  }

  // Pauses etcd (SIGSTOP), as a hung host would, and resumes it (SIGCONT). Leases whose TTL
  // passed meanwhile expire when it resumes.
  void Pause() { process_->Signal(SIGSTOP); }
  void Resume() { process_->Signal(SIGCONT); }

  std::string LogTail() const { return process_->LogTail(); }

 private:
  EtcdServer(std::string dir, std::string endpoint, std::string peer_url,
             std::unique_ptr<ChildProcess> process)
      : dir_(std::move(dir)),
        endpoint_(std::move(endpoint)),
        peer_url_(std::move(peer_url)),
        process_(std::move(process)) {}

  static absl::StatusOr<std::unique_ptr<EtcdServer>> StartOnce() {
    std::string dir = (std::filesystem::temp_directory_path() / "gridrpc-etcd-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("mkdtemp ", dir, ": ", std::strerror(errno)));
    }
    auto fail = [&](absl::Status status) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
      return status;
    };
    absl::StatusOr<std::vector<int>> ports = PickFreePorts(2);
    if (!ports.ok()) return fail(ports.status());
    const std::string client_url = absl::StrCat("http://127.0.0.1:", (*ports)[0]);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", (*ports)[1]);
    absl::StatusOr<std::unique_ptr<ChildProcess>> process = Launch(dir, client_url, peer_url, 0);
    if (!process.ok()) return fail(process.status());
    return std::unique_ptr<EtcdServer>(
        new EtcdServer(std::move(dir), client_url, peer_url, *std::move(process)));
  }

  // Runs etcd and waits (up to 10 s) until it serves clients; each start logs to its own file.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Launch(const std::string& dir,
                                                              const std::string& client_url,
                                                              const std::string& peer_url,
                                                              int start) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(
        {"/usr/bin/etcd", "--name", "n1", "--data-dir", dir + "/data", "--listen-client-urls",
         client_url, "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
         "--initial-advertise-peer-urls", peer_url, "--initial-cluster", "n1=" + peer_url},
        absl::StrCat(dir, "/etcd", start, ".log"));
    if (!process.ok()) return process.status();
    if (!(*process)->WaitForLine("ready to serve client requests", absl::Seconds(10))) {
      return absl::UnavailableError(absl::StrCat("etcd at ", client_url,
                                                 " did not start within 10s; the end of its log:\n",
                                                 (*process)->LogTail()));
    }
    return process;
  }

  const std::string dir_;
  const std::string endpoint_;
  const std::string peer_url_;
  int starts_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTING_ETCD_SERVER_H_
