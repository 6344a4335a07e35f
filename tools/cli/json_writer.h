// JsonWriter: compact JSON built in order, for the machine-readable output of members and table
// (keys in the order written, which protobuf's Struct printing would not keep).
//
// Not thread-safe. The caller balances Begin/End and writes a Key before each value inside an
// object; the writer adds commas and escapes strings.
//
// Example:
//   JsonWriter json;
//   json.BeginObject().Key("version").Int(7).Key("lost").BeginArray().Int(3).EndArray();
//   json.EndObject();
//   json.str();  // {"version":7,"lost":[3]}
#ifndef GRIDRPC_TOOLS_CLI_JSON_WRITER_H_
#define GRIDRPC_TOOLS_CLI_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gridrpc::cli {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);

  const std::string& str() const { return out_; }

  // `value` as a JSON string literal, quotes included.
  static std::string Quote(absl::string_view value);

 private:
  // Before a value: a comma unless it is the first of its array, or follows its key.
  void BeforeValue();

  std::string out_;
  std::vector<bool> first_;  // per open object or array: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_JSON_WRITER_H_
