// protoc-gen-gridrpc's code generator: for every `dir/name.proto` it writes
// `dir/name.gridrpc.h` with, per service, the method table (descriptor()), the client Proxy and
// the server base a member hosts; and three sources, so that a program links only the runtime it
// uses: `name.gridrpc.cc` (method tables and routing: gridrpc::core), `name.gridrpc_proxy.cc`
// (gridrpc::client) and `name.gridrpc_service.cc` (gridrpc::server). See tests/codegen/golden/
// for the exact output.
#ifndef GRIDRPC_CODEGEN_GENERATOR_H_
#define GRIDRPC_CODEGEN_GENERATOR_H_

#include <google/protobuf/compiler/code_generator.h>

#include <cstdint>
#include <string>

namespace gridrpc::codegen {

class Generator final : public google::protobuf::compiler::CodeGenerator {
 public:
  // Fails (protoc reports "<file>: <error>") on an unknown parameter or a contract whose
  // annotations gridrpc cannot honour; writes nothing for that file then.
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;

  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace gridrpc::codegen

#endif  // GRIDRPC_CODEGEN_GENERATOR_H_
