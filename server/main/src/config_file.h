// The member's config file: one JSON object whose keys are flag names, applied to the program's
// absl flags, except those given on the command line (flags win). docs/OPERATIONS.md documents
// the format for operators.
#ifndef GRIDRPC_SERVER_MAIN_SRC_CONFIG_FILE_H_
#define GRIDRPC_SERVER_MAIN_SRC_CONFIG_FILE_H_

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gridrpc::internal {

// One setting: the flag it sets and its value as the flag's text ("5s", "a,b", "k=v,k2=v2").
struct ConfigSetting {
  std::string key;
  std::string value;
};

// Parses `json` (the content of the config file `path`, which errors name). Strings, numbers and
// booleans are values; a list becomes the comma-separated list of its values and an object the
// comma-separated `k=v` pairs of its members; null, and lists or objects inside those, are
// errors naming the key.
absl::StatusOr<std::vector<ConfigSetting>> ParseConfig(std::string_view json,
                                                       std::string_view path);
absl::StatusOr<std::vector<ConfigSetting>> ReadConfigFile(const std::string& path);

// Sets each setting's flag unless its key is in `on_command_line`. An unknown key, a key that
// cannot be set from a file (config, flagfile, help...) or a bad value is an error naming the
// file and the key; keys are all checked before any flag is set, values as they are set.
absl::Status ApplyConfig(const std::vector<ConfigSetting>& settings, std::string_view path,
                         const std::set<std::string>& on_command_line);

// The names of the flags given in `argv` (`--name=value`, `--name value`, `--noname`, one or two
// dashes), up to a lone `--`.
std::set<std::string> FlagsOnCommandLine(int argc, char** argv);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_MAIN_SRC_CONFIG_FILE_H_
