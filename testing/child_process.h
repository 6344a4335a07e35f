// ChildProcess: a program run by a test or benchmark (etcd, gridrpc-member), with its output in a
// log file and bounded waits for what it prints. Killed (SIGKILL) and reaped when destroyed.
//
// Example:
//   auto member = ChildProcess::Start({"build/bin/gridrpc-member", "--listen=127.0.0.1:0"},
//                                     "/tmp/member.log").value();
//   std::optional<std::string> line = member->WaitForLine("listening on", absl::Seconds(10));
#ifndef GRIDRPC_TESTING_CHILD_PROCESS_H_
#define GRIDRPC_TESTING_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gridrpc::testing {

class ChildProcess {
 public:
  // Runs argv[0] (a path) with `argv`, stdout and stderr appended to `log_path`. Blocked
  // signals are unblocked in the child.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(std::vector<std::string> argv,
                                                             std::string log_path) {
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
      return absl::InternalError(absl::StrCat("cannot open ", log_path, ": ", strerror(errno)));
    }
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      close(log);
      return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
    }
    if (pid == 0) {  // the child: only async-signal-safe calls until exec
      // No stray process if the test dies (the signal follows the forking thread: start
      // children from the test's main thread).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(log);
    return std::unique_ptr<ChildProcess>(new ChildProcess(pid, std::move(log_path)));
  }

  ~ChildProcess() {
    Signal(SIGKILL);
    Wait(absl::Seconds(10));
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return !exit_status_.has_value(); }

  void Signal(int signal) {
    if (running()) kill(pid_, signal);
  }

  // Waits up to `timeout` for the process to end; its wait status (see waitpid), or nullopt.
  std::optional<int> Wait(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (running()) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno == ECHILD)) {
        exit_status_ = status;
        break;
      }
      if (absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return exit_status_;
  }

  // The first line of the log containing `needle`, waiting up to `timeout` for it; nullopt if it
  // did not appear in time or the process ended without printing it.
  std::optional<std::string> WaitForLine(std::string_view needle, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      std::ifstream in(log_path_);
      for (std::string line; std::getline(in, line);) {
        if (line.find(needle) != std::string::npos) return line;
      }
      if (absl::Now() >= deadline || Wait(absl::ZeroDuration()).has_value()) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  // The log's last `lines` lines, for failure messages.
  std::string LogTail(int lines = 30) const {
    std::ifstream in(log_path_);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(std::move(line));
    std::ostringstream out;
    for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
         i < all.size(); ++i) {
      out << all[i] << "\n";
    }
    return out.str();
  }

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  const pid_t pid_;
  const std::string log_path_;
  std::optional<int> exit_status_;
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTING_CHILD_PROCESS_H_
