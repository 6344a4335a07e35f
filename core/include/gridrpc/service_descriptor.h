// What protoc-gen-gridrpc knows about a contract, as data both proxies and members read.
//
// Generated code builds one ServiceDescriptor per service (`examples::Counter::descriptor()`);
// it lives for the whole program and is immutable, so it is safe to share between threads.
#ifndef GRIDRPC_SERVICE_DESCRIPTOR_H_
#define GRIDRPC_SERVICE_DESCRIPTOR_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace gridrpc {

// Computes the hash of a request's routing key (see partitioning.h). Fails with
// INVALID_ARGUMENT when the routing path runs through a message that is not set.
using RoutingKeyFn = absl::StatusOr<uint64_t> (*)(const google::protobuf::Message& request);

// Built-in broadcast reducers a contract can name (mirrors gridrpc.Reducer in options.proto).
enum class BuiltinReducer { kFirst, kMerge, kSum };

struct MethodDescriptor {
  int index;              // position in ServiceDescriptor::methods
  std::string_view name;  // "Inc"
  const char* path;       // "/examples.Counter/Inc"; static storage, NUL-terminated
  const google::protobuf::Message* request_prototype;   // default instance
  const google::protobuf::Message* response_prototype;  // default instance
  RoutingKeyFn routing_key;       // nullptr: no routing key, a random partition
  std::string_view routing_path;  // "document.id"; empty when routing_key is null
  bool one_way;
  bool read_only;
  absl::Duration timeout;  // absl::ZeroDuration(): the client's invocation timeout
  BuiltinReducer reducer;
};

struct ServiceDescriptor {
  std::string_view full_name;    // "examples.Counter"
  std::string_view lookup_name;  // default: full_name
  bool partitioned;
  int sync_backups;
  int async_backups;
  std::span<const MethodDescriptor> methods;

  // The method with this name, or nullptr.
  const MethodDescriptor* FindMethod(std::string_view method_name) const {
    for (const MethodDescriptor& m : methods) {
      if (m.name == method_name) return &m;
    }
    return nullptr;
  }
};

}  // namespace gridrpc

#endif  // GRIDRPC_SERVICE_DESCRIPTOR_H_
