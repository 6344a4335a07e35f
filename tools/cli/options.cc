#include "cli/options.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridrpc::cli {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& args) {
  Args parsed;
  for (const std::string& arg : args) {
    if (!absl::StartsWith(arg, "--") || arg == "--") {
      parsed.positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("'", arg, "' names no flag"));
    for (const auto& [seen, unused] : parsed.flags_) {
      if (seen == name) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " is given twice"));
      }
    }
    parsed.flags_.emplace_back(std::move(name), std::move(value));
  }
  return parsed;
}

std::optional<std::string> Args::Take(absl::string_view name) {
  for (auto it = flags_.begin(); it != flags_.end(); ++it) {
    if (it->first == name) {
      std::string value = std::move(it->second);
      flags_.erase(it);
      return value;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Args::TakePositional() {
  if (positional_.empty()) return std::nullopt;
  std::string first = std::move(positional_.front());
  positional_.erase(positional_.begin());
  return first;
}

absl::Status Args::CheckAllTaken(absl::string_view context) const {
  if (flags_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown flag --", flags_.front().first, " for ", context));
}

absl::Time GlobalOptions::Deadline() const {
  return absl::Now() + timeout.value_or(kDefaultTimeout);
}

absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view flag,
                                                     absl::string_view value) {
  absl::Duration duration;
  if (!absl::ParseDuration(value, &duration) || duration <= absl::ZeroDuration() ||
      duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value,
                                                   " is not a positive duration with a unit "
                                                   "(e.g. 10s, 500ms, 2m)"));
  }
  return duration;
}

absl::StatusOr<GlobalOptions> TakeGlobalOptions(Args& args) {
  GlobalOptions options;
  // Flags whose value is a string that must not be empty when given.
  for (auto [name, field] :
       {std::pair{"target", &options.target}, std::pair{"tls_ca_file", &options.tls_ca_file},
        std::pair{"tls_cert_file", &options.tls_cert_file},
        std::pair{"tls_key_file", &options.tls_key_file},
        std::pair{"tls_server_name", &options.tls_server_name},
        std::pair{"cluster_secret_file", &options.cluster_secret_file}}) {
    if (std::optional<std::string> value = args.Take(name)) {
      if (value->empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value: --", name, "=..."));
      }
      *field = *std::move(value);
    }
  }
  if (std::optional<std::string> timeout = args.Take("timeout")) {
    absl::StatusOr<absl::Duration> duration = ParsePositiveDuration("timeout", *timeout);
    if (!duration.ok()) return duration.status();
    options.timeout = *duration;
  }
  if (std::optional<std::string> output = args.Take("output")) {
    if (*output == "text") {
      options.output = OutputFormat::kText;
    } else if (*output == "json") {
      options.output = OutputFormat::kJson;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--output must be text or json, not '", *output, "'"));
    }
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together (a client certificate and its key)");
  }
  if (options.tls_ca_file.empty() && !options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file needs --tls_ca_file (the CA that signed the member's certificate)");
  }
  if (options.tls_ca_file.empty() && !options.tls_server_name.empty()) {
    return absl::InvalidArgumentError("--tls_server_name needs --tls_ca_file (TLS)");
  }
  return options;
}

}  // namespace gridrpc::cli
