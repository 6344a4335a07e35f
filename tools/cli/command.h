// The commands of gridrpc-cli, each a function of the global options, its own arguments and
// the streams it writes to; Run() (cli.h) picks one. Each returns how it ended; results go to
// io.out as they come, the error message is printed by Run().
#ifndef GRIDRPC_TOOLS_CLI_COMMAND_H_
#define GRIDRPC_TOOLS_CLI_COMMAND_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/cli.h"
#include "cli/options.h"

namespace gridrpc::cli {

// How a command ended: its exit code and, unless it succeeded, what went wrong.
struct Outcome {
  int exit_code = kExitOk;
  std::string error;

  static Outcome Ok() { return {}; }
  // Nothing was called (kExitBadInput).
  static Outcome BadInput(std::string message) { return {kExitBadInput, std::move(message)}; }
  // An absl::Status from local work (flags, files, parsing) as BadInput.
  static Outcome BadInput(const absl::Status& status) {
    return BadInput(std::string(status.message()));
  }
  // `what` ("examples.Counter/Inc on 127.0.0.1:5701") failed with `status`
  // (kExitCallFailed): "<what> failed: CODE: message".
  static Outcome CallFailed(absl::string_view what, const grpc::Status& status);
};

// The name of a gRPC status code, as in the gRPC docs ("DATA_LOSS").
std::string StatusCodeName(grpc::StatusCode code);

// call SERVICE/METHOD JSON: one unary call, described by the member's server reflection.
Outcome CallCommand(const GlobalOptions& options, Args& args, Io& io);
// members: every member of the table with its addresses, labels and partitions.
Outcome MembersCommand(const GlobalOptions& options, Args& args, Io& io);
// table: the partition table.
Outcome TableCommand(const GlobalOptions& options, Args& args, Io& io);
// watch migrations [--count=N]: migration events as JSON lines.
Outcome WatchCommand(const GlobalOptions& options, Args& args, Io& io);
// health [SERVICE]: grpc.health.v1.Health/Check.
Outcome HealthCommand(const GlobalOptions& options, Args& args, Io& io);
// reset-lost-partitions P[,P..]: gridrpc.v1.Peer/ResetLostPartitions on a peer port.
Outcome ResetLostPartitionsCommand(const GlobalOptions& options, Args& args, Io& io);

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_COMMAND_H_
