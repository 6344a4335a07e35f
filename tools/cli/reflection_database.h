// ReflectionDatabase: protobuf descriptors fetched from a server's reflection service
// (grpc.reflection.v1alpha, the only version gRPC 1.51 serves), for a DescriptorPool that loads
// what it needs (a service's file, then its dependencies by name) on first use.
//
// Thread-compatible: one thread at a time, like the DescriptorPool it backs. Must outlive the
// pool. Its calls share one stream, opened on the first lookup, ended by the destructor.
//
// Example:
//   ReflectionDatabase database(channel, absl::Now() + absl::Seconds(10));
//   google::protobuf::DescriptorPool pool(&database);
//   const auto* service = pool.FindServiceByName("examples.Counter");
//   if (service == nullptr && !database.stream_status().ok()) { ... the server failed ... }
#ifndef GRIDRPC_TOOLS_CLI_REFLECTION_DATABASE_H_
#define GRIDRPC_TOOLS_CLI_REFLECTION_DATABASE_H_

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace gridrpc::cli {

class ReflectionDatabase final : public google::protobuf::DescriptorDatabase {
 public:
  ReflectionDatabase(std::shared_ptr<grpc::Channel> channel, absl::Time deadline);
  ~ReflectionDatabase() override;

  bool FindFileByName(const std::string& filename,
                      google::protobuf::FileDescriptorProto* output) override;
  bool FindFileContainingSymbol(const std::string& symbol_name,
                                google::protobuf::FileDescriptorProto* output) override;
  bool FindFileContainingExtension(const std::string& containing_type, int field_number,
                                   google::protobuf::FileDescriptorProto* output) override;

  // The stream's status once it failed (unreachable server, no reflection service, deadline);
  // OK while it works. A lookup the server answered with "not found" does not fail it.
  const grpc::Status& stream_status() const { return stream_status_; }
  // The server's message for the last lookup it refused (e.g. "Symbol not found: x.Y").
  const std::string& last_refusal() const { return last_refusal_; }

 private:
  using Request = grpc::reflection::v1alpha::ServerReflectionRequest;
  using Response = grpc::reflection::v1alpha::ServerReflectionResponse;

  // Sends `request` and keeps every file of the answer; the first file, or nullptr.
  const google::protobuf::FileDescriptorProto* Ask(const Request& request);

  std::shared_ptr<grpc::Channel> channel_;
  const absl::Time deadline_;
  std::unique_ptr<grpc::reflection::v1alpha::ServerReflection::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> stream_;
  grpc::Status stream_status_;
  std::string last_refusal_;
  // Every file the server sent, by name (answers carry a file's dependencies too).
  std::map<std::string, google::protobuf::FileDescriptorProto> files_;
};

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_REFLECTION_DATABASE_H_
