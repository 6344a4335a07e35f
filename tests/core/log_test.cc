#include "gridrpc/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace gridrpc {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(LogTest, ALineIsLogfmtWithQuotingWhereNeeded) {
  const LogField fields[] = {{"partition", 3}, {"to", "10.0.0.7:5702"}, {"why", "a \"b\"\nc"}};
  const LogRecord record{.time = absl::FromUnixSeconds(1764860645),
                         .level = LogLevel::kWarning,
                         .event = "backup_failed",
                         .message = "the backup did not answer",
                         .fields = fields};
  EXPECT_EQ(FormatLogLine(record),
            "ts=2025-12-04T15:04:05.000000Z level=warning event=backup_failed partition=3 "
            "to=10.0.0.7:5702 why=\"a \\\"b\\\"\\nc\" msg=\"the backup did not answer\"");
}

TEST(LogTest, EmptyValuesAndControlCharactersAreQuoted) {
  const LogField fields[] = {{"empty", ""}, {"bell", "\a"}};
  const LogRecord record{.time = absl::UnixEpoch(),
                         .level = LogLevel::kInfo,
                         .event = "e",
                         .message = "m",
                         .fields = fields};
  EXPECT_THAT(FormatLogLine(record), HasSubstr("empty=\"\" bell=\"\\x07\" msg=m"));
}

TEST(LogTest, TheSinkGetsRecordsAtOrAboveTheLevel) {
  std::vector<std::string> lines;
  SetLogSink([&](const LogRecord& record) { lines.push_back(FormatLogLine(record)); });
  SetLogLevel(LogLevel::kWarning);
  Log(LogLevel::kInfo, "dropped", "below the level");
  Log(LogLevel::kError, "kept", "at or above", {{"n", 1}});
  SetLogLevel(LogLevel::kInfo);
  SetLogSink(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], StartsWith("ts="));
  EXPECT_THAT(lines[0], HasSubstr(" level=error event=kept n=1 msg=\"at or above\""));
}

TEST(LogTest, LevelsParseByName) {
  EXPECT_EQ(ParseLogLevel("debug").value(), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("WARN").value(), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("error").value(), LogLevel::kError);
  absl::StatusOr<LogLevel> bad = ParseLogLevel("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("not 'loud'"));
}

}  // namespace
}  // namespace gridrpc
