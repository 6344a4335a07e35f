// The command line of gridrpc-cli: flags (`--name=value`, anywhere on the line) and the
// positional arguments, and the global flags every command shares.
#ifndef GRIDRPC_TOOLS_CLI_OPTIONS_H_
#define GRIDRPC_TOOLS_CLI_OPTIONS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gridrpc::cli {

// Flags and positional arguments as given. Commands take the flags they know; what is left
// over is an error naming it. Not thread-safe.
class Args {
 public:
  // Splits `args`: "--name=value" and "--name" (a value of "") are flags, anything else
  // (including "-", standard input) positional. A flag given twice is an error.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& args);

  // Removes and returns the flag's value, if given.
  std::optional<std::string> Take(absl::string_view name);
  // Removes and returns the first positional argument, if any.
  std::optional<std::string> TakePositional();

  const std::vector<std::string>& positional() const { return positional_; }
  // An error naming the first flag nobody took, else OK. `context` says where it was given.
  absl::Status CheckAllTaken(absl::string_view context) const;

 private:
  std::vector<std::pair<std::string, std::string>> flags_;
  std::vector<std::string> positional_;
};

enum class OutputFormat { kText, kJson };

// The flags every command shares.
struct GlobalOptions {
  std::string target = "127.0.0.1:5701";
  // Unset: kDefaultTimeout for every command but `watch`, which then runs until interrupted.
  std::optional<absl::Duration> timeout;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_server_name;
  std::string cluster_secret_file;
  OutputFormat output = OutputFormat::kText;

  // The deadline of a command that starts now.
  absl::Time Deadline() const;
};

inline constexpr absl::Duration kDefaultTimeout = absl::Seconds(10);

// Takes the global flags out of `args`; an error names the flag and what is wrong with it.
absl::StatusOr<GlobalOptions> TakeGlobalOptions(Args& args);

// A positive duration with a unit ("10s", "500ms", "2m"); the error names `flag`.
absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view flag,
                                                     absl::string_view value);

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_OPTIONS_H_
