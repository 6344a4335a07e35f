// What protoc-gen-gridrpc prints, computed and validated from a .proto file before any output.
//
// BuildFileModel() reads the contract annotations (proto/gridrpc/options.proto), checks them and
// resolves every name the generated code needs (C++ types, accessors, routing expressions).
// The printer (generator.cc) then only formats these structs; it never looks at descriptors.
#ifndef GRIDRPC_CODEGEN_MODEL_H_
#define GRIDRPC_CODEGEN_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace google::protobuf {
class FileDescriptor;
}  // namespace google::protobuf

namespace gridrpc::codegen {

// One message the routing path runs through: the generated routing function checks it is set.
struct PresenceCheck {
  std::string condition;    // "request.has_document()"
  std::string path_prefix;  // "document"
};

struct MethodModel {
  int index = 0;
  std::string name;           // "Inc"
  std::string path;           // "/examples.Counter/Inc"
  std::string request_type;   // "::examples::IncRequest"
  std::string response_type;  // "::examples::IncResponse"
  bool one_way = false;
  bool read_only = false;
  uint32_t timeout_ms = 0;
  std::string reducer;  // "kFirst", "kMerge" or "kSum"

  // Routing; routing_path is empty when the method has no routing key.
  std::string routing_path;                    // "document.id"
  std::vector<PresenceCheck> presence_checks;  // one per message the path runs through
  std::string key_hash;  // "::gridrpc::KeyHash(std::string_view(request.document().id()))"
};

struct ServiceModel {
  std::string name;         // "Counter"
  std::string full_name;    // "examples.Counter"
  std::string lookup_name;  // option lookup_name, else full_name
  bool partitioned = false;
  int sync_backups = 0;
  int async_backups = 0;
  std::string state_type;  // "::examples::CounterState"; empty: no `state` option
  std::vector<MethodModel> methods;
};

struct FileModel {
  std::string proto_name;     // "examples/counter.proto"
  std::string stem;           // "examples/counter"
  std::string include_guard;  // "GRIDRPC_GENERATED_EXAMPLES_COUNTER_PROTO_H_"
  std::string cpp_namespace;  // "examples" or "a::b"; empty without a package
  std::vector<ServiceModel> services;
};

// Validates the annotations of `file` and builds what the printer needs. On a contract error
// returns nullopt with `*error` set to "<Service>[.<Method>]: <reason>" (protoc prefixes the
// file name).
std::optional<FileModel> BuildFileModel(const google::protobuf::FileDescriptor& file,
                                        std::string* error);

}  // namespace gridrpc::codegen

#endif  // GRIDRPC_CODEGEN_MODEL_H_
