#include "config_file.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gridrpc/internal/files.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc::internal {
namespace {

// What a file must not set: the file itself, and absl's flags that act on parsing.
bool Reserved(std::string_view key) {
  return key == "config" || key == "flagfile" || key == "fromenv" || key == "tryfromenv" ||
         key == "undefok" || key.starts_with("help") || key == "version" ||
         key == "only_check_args";
}

absl::StatusOr<std::string> Scalar(const google::protobuf::Value& value, std::string_view where) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kBoolValue:
      return std::string(value.bool_value() ? "true" : "false");
    case google::protobuf::Value::kNumberValue: {
      const double n = value.number_value();
      if (std::trunc(n) == n && std::fabs(n) < 9007199254740992.0) {
        return absl::StrCat(static_cast<int64_t>(n));
      }
      return absl::StrFormat("%.17g", n);
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(where), " must be a string, a number or a boolean"));
  }
}

absl::StatusOr<std::string> FlagText(const google::protobuf::Value& value, std::string_view where) {
  std::vector<std::string> parts;
  switch (value.kind_case()) {
    case google::protobuf::Value::kListValue:
      for (const google::protobuf::Value& item : value.list_value().values()) {
        absl::StatusOr<std::string> text = Scalar(item, absl::StrCat(AsAbsl(where), "'s items"));
        if (!text.ok()) return text.status();
        parts.push_back(*std::move(text));
      }
      return absl::StrJoin(parts, ",");
    case google::protobuf::Value::kStructValue: {
      std::vector<std::string> keys;
      for (const auto& [k, v] : value.struct_value().fields()) keys.push_back(k);
      std::sort(keys.begin(), keys.end());  // protobuf's map has no order
      for (const std::string& k : keys) {
        absl::StatusOr<std::string> text = Scalar(value.struct_value().fields().at(k),
                                                  absl::StrCat(AsAbsl(where), "'s '", k, "'"));
        if (!text.ok()) return text.status();
        parts.push_back(absl::StrCat(k, "=", *text));
      }
      return absl::StrJoin(parts, ",");
    }
    case google::protobuf::Value::kNullValue:
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(where), " is null"));
    default:
      return Scalar(value, where);
  }
}

}  // namespace

absl::StatusOr<std::vector<ConfigSetting>> ParseConfig(std::string_view json,
                                                       std::string_view path) {
  google::protobuf::Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", AsAbsl(path), " is not a JSON object: ", parsed.ToString()));
  }
  std::vector<ConfigSetting> settings;
  for (const auto& [key, value] : root.fields()) {
    absl::StatusOr<std::string> text =
        FlagText(value, absl::StrCat("config file ", AsAbsl(path), ": key '", key, "'"));
    if (!text.ok()) return text.status();
    settings.push_back({key, *std::move(text)});
  }
  std::sort(settings.begin(), settings.end(),
            [](const ConfigSetting& a, const ConfigSetting& b) { return a.key < b.key; });
  return settings;
}

absl::StatusOr<std::vector<ConfigSetting>> ReadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> content = internal::ReadWholeFile(path, "the config file");
  if (!content.ok()) return content.status();
  return ParseConfig(*content, path);
}

absl::Status ApplyConfig(const std::vector<ConfigSetting>& settings, std::string_view path,
                         const std::set<std::string>& on_command_line) {
  // Every key is checked before any flag is set: a bad file changes nothing.
  std::vector<std::pair<absl::CommandLineFlag*, const ConfigSetting*>> flags;
  for (const ConfigSetting& setting : settings) {
    const std::string where =
        absl::StrCat("config file ", AsAbsl(path), ": key '", setting.key, "'");
    if (Reserved(setting.key)) {
      return absl::InvalidArgumentError(absl::StrCat(where, " cannot be set in a config file"));
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(setting.key);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is not a setting of this program"));
    }
    flags.emplace_back(flag, &setting);
  }
  for (const auto& [flag, setting] : flags) {
    if (on_command_line.contains(setting->key)) continue;  // flags win
    std::string error;
    if (!flag->ParseFrom(setting->value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", AsAbsl(path), ": key '", setting->key, "': ", error));
    }
  }
  return absl::OkStatus();
}

std::set<std::string> FlagsOnCommandLine(int argc, char** argv) {
  std::set<std::string> names;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (!arg.starts_with('-')) continue;
    arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
    std::string_view name = arg.substr(0, arg.find('='));
    names.insert(std::string(name));
    if (name.starts_with("no")) names.insert(std::string(name.substr(2)));  // --noflag
  }
  return names;
}

}  // namespace gridrpc::internal
