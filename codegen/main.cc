// protoc-gen-gridrpc: run by protoc, e.g.
//   protoc -I proto --plugin=protoc-gen-gridrpc=<path> --gridrpc_out=<dir> examples/counter.proto
#include <google/protobuf/compiler/plugin.h>

#include "generator.h"

int main(int argc, char* argv[]) {
  gridrpc::codegen::Generator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
