// Structured logs: one line per event, as logfmt (`key=value` pairs that log shippers parse
// without configuration): the time, the level, the event's name, its fields, and a message for
// people. gridrpc's clients and members log every degraded mode this way (and count it in a
// metric); a program picks the level and where lines go.
//
// Thread-safe. The sink is called from whatever thread logs, one line at a time.
//
// Example:
//   gridrpc::Log(gridrpc::LogLevel::kWarning, "backup_failed", "the backup did not answer",
//                {{"partition", 3}, {"to", "10.0.0.7:5702"}});
// writes to stderr
//   ts=2026-12-04T15:04:05.123456Z level=warning event=backup_failed partition=3
//   to=10.0.0.7:5702 msg="the backup did not answer"
// (one line).
#ifndef GRIDRPC_LOG_H_
#define GRIDRPC_LOG_H_

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace gridrpc {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning" (or "warn"), "error".
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

// One field of an event: a key (snake_case, no spaces) and any value absl::StrCat takes.
struct LogField {
  LogField(std::string_view key, const absl::AlphaNum& value)
      : key(key), value(value.data(), value.size()) {}
  // std::string_view, which absl::AlphaNum does not take (Debian's Abseil has its own).
  template <typename View, std::enable_if_t<std::is_same_v<View, std::string_view>, int> = 0>
  LogField(std::string_view key, View value) : key(key), value(value) {}
  std::string_view key;
  std::string value;
};

struct LogRecord {
  absl::Time time;
  LogLevel level;
  std::string_view event;
  std::string_view message;
  absl::Span<const LogField> fields;
};

// Where records go; null restores the default (logfmt lines on stderr). Records reach the sink
// one at a time; it must not log itself.
using LogSink = std::function<void(const LogRecord& record)>;
void SetLogSink(LogSink sink);

// Records below `level` are dropped (default: kInfo).
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

void Log(LogLevel level, std::string_view event, std::string_view message,
         std::initializer_list<LogField> fields = {});

// The record as one logfmt line, without a newline. Values that need it are quoted, with `"`
// and `\` escaped and control characters written as \n, \t or \xNN.
std::string FormatLogLine(const LogRecord& record);

}  // namespace gridrpc

#endif  // GRIDRPC_LOG_H_
