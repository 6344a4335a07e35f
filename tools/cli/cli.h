// gridrpc-cli: the command-line client of gridrpc members (grpcurl is not in Debian).
//
//   gridrpc-cli [GLOBAL FLAGS] COMMAND [ARGS]
//
// Commands: call (any unary method, JSON in and out, through server reflection), members and
// table (the partition table), watch migrations, health, reset-lost-partitions (the operator
// call on a member's peer port). Run() is the whole program minus signal handling, so tests run
// it in-process with their own streams; main.cc only wires signals and std::cout.
//
// Example:
//   std::ostringstream out, err;
//   std::istringstream in;
//   gridrpc::cli::Interrupter interrupter;
//   gridrpc::cli::Io io{in, out, err, interrupter};
//   int exit_code = gridrpc::cli::Run({"--target=127.0.0.1:5701", "table"}, io);
#ifndef GRIDRPC_TOOLS_CLI_CLI_H_
#define GRIDRPC_TOOLS_CLI_CLI_H_

#include <iosfwd>
#include <mutex>
#include <string>
#include <vector>

namespace grpc {
class ClientContext;
}

namespace gridrpc::cli {

// Exit codes, the same for every command.
inline constexpr int kExitOk = 0;
// Nothing was called: bad usage or flags, a file that cannot be read, a request that is not
// valid JSON for its method, a service or method the member does not know (server reflection).
inline constexpr int kExitBadInput = 1;
// A call was made and failed with a status (printed as CODE: message), unreachable members
// included.
inline constexpr int kExitCallFailed = 2;
// health only: the member answered, and what it answered is not SERVING.
inline constexpr int kExitNotServing = 3;
// A command interrupted by SIGINT or SIGTERM while no call could be cancelled cleanly.
inline constexpr int kExitInterrupted = 130;

// Lets a signal end a long call cleanly: the call registers its context while it runs, and
// Interrupt() (from main's signal thread) cancels it. Thread-safe.
class Interrupter {
 public:
  // Registers `context` until the registration is destroyed. One at a time.
  class Registration {
   public:
    Registration(Interrupter& interrupter, grpc::ClientContext* context);
    ~Registration();
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    Interrupter& interrupter_;
  };

  // Cancels the registered call; false if none is registered (the caller then exits).
  bool Interrupt();
  // Whether Interrupt() cancelled a call.
  bool interrupted();

 private:
  std::mutex mu_;  // guards the two below
  grpc::ClientContext* context_ = nullptr;
  bool interrupted_ = false;
};

// Where a command reads (`call ... -`), writes its results (out) and its errors (err). Borrowed.
struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  Interrupter& interrupter;
};

// Runs the command line `args` (without the program name); the exit code. Errors go to io.err
// as "gridrpc-cli: ..." lines.
int Run(const std::vector<std::string>& args, Io& io);

// The usage text (`gridrpc-cli --help`).
std::string Usage();

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_CLI_H_
