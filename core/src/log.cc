#include "gridrpc/log.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gridrpc/internal/mutex.h"
#include "gridrpc/internal/strings.h"

namespace gridrpc {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

struct SinkHolder {
  internal::Mutex mu;
  LogSink sink ABSL_GUARDED_BY(mu);
};

SinkHolder& Sink() {
  static auto* const holder = new SinkHolder();
  return *holder;
}

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (const char c : value) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
        c == 0x7f) {
      return true;
    }
  }
  return false;
}

void AppendValue(std::string& out, std::string_view value) {
  if (!NeedsQuotes(value)) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (const char c : value) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(internal::AsAbsl(name));
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrCat(
      "log level must be debug, info, warning or error, not '", internal::AsAbsl(name), "'"));
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

void SetLogSink(LogSink sink) {
  SinkHolder& holder = Sink();
  internal::MutexLock lock(&holder.mu);
  holder.sink = std::move(sink);
}

void SetLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

std::string FormatLogLine(const LogRecord& record) {
  std::string out = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", record.time, absl::UTCTimeZone()),
      " level=", internal::AsAbsl(LogLevelName(record.level)), " event=");
  AppendValue(out, record.event);
  for (const LogField& field : record.fields) {
    absl::StrAppend(&out, " ", internal::AsAbsl(field.key), "=");
    AppendValue(out, field.value);
  }
  out.append(" msg=");
  AppendValue(out, record.message);
  return out;
}

void Log(LogLevel level, std::string_view event, std::string_view message,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  const LogRecord record{.time = absl::Now(),
                         .level = level,
                         .event = event,
                         .message = message,
                         .fields = absl::MakeConstSpan(fields.begin(), fields.size())};
  SinkHolder& holder = Sink();
  internal::MutexLock lock(&holder.mu);  // one line at a time, whoever the sink is
  if (holder.sink) {
    holder.sink(record);
    return;
  }
  const std::string line = FormatLogLine(record) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace gridrpc
