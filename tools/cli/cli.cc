#include "cli/cli.h"

#include <grpcpp/client_context.h>

#include <ostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/options.h"

namespace gridrpc::cli {

Interrupter::Registration::Registration(Interrupter& interrupter, grpc::ClientContext* context)
    : interrupter_(interrupter) {
  std::lock_guard lock(interrupter_.mu_);
  interrupter_.context_ = context;
}

Interrupter::Registration::~Registration() {
  std::lock_guard lock(interrupter_.mu_);
  interrupter_.context_ = nullptr;
}

bool Interrupter::Interrupt() {
  std::lock_guard lock(mu_);
  if (context_ == nullptr) return false;
  interrupted_ = true;
  context_->TryCancel();
  return true;
}

bool Interrupter::interrupted() {
  std::lock_guard lock(mu_);
  return interrupted_;
}

std::string StatusCodeName(grpc::StatusCode code) {
  // gRPC's codes are absl's, number for number.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

Outcome Outcome::CallFailed(absl::string_view what, const grpc::Status& status) {
  return {kExitCallFailed, absl::StrCat(what, " failed: ", StatusCodeName(status.error_code()),
                                        ": ", status.error_message())};
}

std::string Usage() {
  return R"(usage: gridrpc-cli [GLOBAL FLAGS] COMMAND [ARGS]

Global flags (--name=value; before the command by convention, accepted anywhere):
  --target=HOST:PORT         the member to call (default 127.0.0.1:5701); its peer port for
                             reset-lost-partitions
  --timeout=DURATION         deadline of the command, e.g. 10s, 500ms (default 10s; watch: none)
  --tls_ca_file=FILE         TLS, trusting the PEM CA certificates in FILE
  --tls_cert_file=FILE, --tls_key_file=FILE
                             with TLS, a client certificate and its key (mutual TLS peer port)
  --tls_server_name=NAME     with TLS, the name the member's certificate must carry (default:
                             the --target host)
  --cluster_secret_file=FILE the cluster secret, for reset-lost-partitions on a peer port
  --output=text|json         members, table, health, reset-lost-partitions: text (default) or
                             JSON for scripts

Commands:
  call SERVICE/METHOD JSON   a unary call, e.g. call examples.Counter/Inc '{"name":"a","amount":1}'
                             (also /examples.Counter/Inc; JSON '-': standard input). The types
                             come from the member's server reflection; the request must be valid
                             JSON for its type (no unknown fields) or nothing is sent. Prints the
                             answer as JSON, default values included.
  members                    the cluster's members: id, addresses, zone, labels, the partitions
                             each is primary and backup of
  table                      the partition table: version, and per partition its replicas
                             (primary first) and whether it is lost
  watch migrations [--count=N]
                             migration events, one JSON line each, until N events, --timeout, or
                             SIGINT
  health [SERVICE]           grpc.health.v1.Health/Check: prints SERVING, NOT_SERVING, ...
  reset-lost-partitions P[,P|P-Q...]
                             on a member's PEER port: lost partitions serve again, empty.
                             Authenticates with --cluster_secret_file and/or a client
                             certificate. Prints the new table version.

Exit codes: 0 done; 1 bad usage or input, an unreadable file, an unknown service or method
(nothing was called); 2 a call failed with a status (printed as CODE: message), an unreachable
member included; 3 health answered but not SERVING; 130 interrupted.
)";
}

int Run(const std::vector<std::string>& args, Io& io) {
  auto fail = [&](const Outcome& outcome) {
    if (!outcome.error.empty()) io.err << "gridrpc-cli: " << outcome.error << "\n";
    if (outcome.exit_code == kExitBadInput) {
      io.err << "gridrpc-cli: run gridrpc-cli --help for usage\n";
    }
    io.err << std::flush;
    return outcome.exit_code;
  };
  absl::StatusOr<Args> parsed = Args::Parse(args);
  if (!parsed.ok()) return fail(Outcome::BadInput(parsed.status()));
  if (parsed->Take("help").has_value() ||
      (!parsed->positional().empty() && parsed->positional().front() == "help")) {
    io.out << Usage() << std::flush;
    return kExitOk;
  }
  absl::StatusOr<GlobalOptions> options = TakeGlobalOptions(*parsed);
  if (!options.ok()) return fail(Outcome::BadInput(options.status()));
  std::optional<std::string> command = parsed->TakePositional();
  if (!command.has_value()) return fail(Outcome::BadInput("no command given"));

  using CommandFn = Outcome (*)(const GlobalOptions&, Args&, Io&);
  static constexpr std::pair<absl::string_view, CommandFn> kCommands[] = {
      {"call", CallCommand},     {"members", MembersCommand},
      {"table", TableCommand},   {"watch", WatchCommand},
      {"health", HealthCommand}, {"reset-lost-partitions", ResetLostPartitionsCommand},
  };
  for (const auto& [name, run] : kCommands) {
    if (name == *command) return fail(run(*options, *parsed, io));
  }
  return fail(Outcome::BadInput(
      absl::StrCat("unknown command '", *command,
                   "' (commands: call, members, table, watch, health, reset-lost-partitions)")));
}

}  // namespace gridrpc::cli
