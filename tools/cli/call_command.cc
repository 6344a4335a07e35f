// call SERVICE/METHOD JSON: the method's types come from the member's server reflection, the
// request is parsed from JSON strictly (an unknown field, a wrong type or bad JSON is refused
// before anything is sent) and the call goes out as raw bytes through a GenericStub.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <istream>
#include <ostream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "cli/command.h"
#include "cli/connection.h"
#include "cli/reflection_database.h"

namespace gridrpc::cli {
namespace {

namespace protobuf = google::protobuf;

// Collects what the pool finds wrong with a file the server sent (instead of logging it).
class ErrorCollector final : public protobuf::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const protobuf::Message*, ErrorLocation, const std::string& message) override {
    if (errors_.empty()) errors_ = absl::StrCat(filename, ": ", element_name, ": ", message);
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string errors_;
};

struct MethodName {
  std::string service;
  std::string method;
};

absl::StatusOr<MethodName> ParseMethodName(absl::string_view name) {
  absl::string_view rest = absl::StripPrefix(name, "/");
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == rest.size() ||
      rest.find('/', slash + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name,
                     "' is not SERVICE/METHOD with a package-qualified service, e.g. "
                     "examples.Counter/Inc"));
  }
  return MethodName{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

absl::StatusOr<std::string> ReadRequestText(const std::string& argument, std::istream& in) {
  if (argument != "-") return argument;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError("cannot read the request from standard input");
  return text.str();
}

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

}  // namespace

Outcome CallCommand(const GlobalOptions& options, Args& args, Io& io) {
  if (absl::Status s = args.CheckAllTaken("call"); !s.ok()) return Outcome::BadInput(s);
  if (args.positional().size() != 2) {
    return Outcome::BadInput(
        "call takes SERVICE/METHOD and a JSON request ('-': standard input), e.g. call "
        "examples.Counter/Inc '{\"name\":\"a\",\"amount\":1}'");
  }
  absl::StatusOr<MethodName> name = ParseMethodName(args.positional()[0]);
  if (!name.ok()) return Outcome::BadInput(name.status());
  absl::StatusOr<std::string> json = ReadRequestText(args.positional()[1], io.in);
  if (!json.ok()) return Outcome::BadInput(json.status());
  // Text that is not JSON at all is refused before the member is asked for the method's types.
  // (google.protobuf.Value takes any JSON value: some request types, such as wrappers, are not
  // objects.)
  protobuf::Value any_json;
  if (auto syntax = protobuf::util::JsonStringToMessage(*json, &any_json); !syntax.ok()) {
    return Outcome::BadInput(
        absl::StrCat("the request is not valid JSON: ", syntax.message().as_string()));
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  if (!channel.ok()) return Outcome::BadInput(channel.status());
  const absl::Time deadline = options.Deadline();

  // Declared in this order so that messages go before their factory, the factory before the
  // pool, and the pool before the database it reads from.
  ReflectionDatabase database(*channel, deadline);
  ErrorCollector pool_errors;
  protobuf::DescriptorPool pool(&database, &pool_errors);
  protobuf::DynamicMessageFactory factory(&pool);

  const protobuf::ServiceDescriptor* service = pool.FindServiceByName(name->service);
  if (service == nullptr) {
    if (!database.stream_status().ok()) {
      return Outcome::CallFailed(
          absl::StrCat("server reflection (grpc.reflection.v1alpha) on ", options.target),
          database.stream_status());
    }
    if (!pool_errors.errors().empty()) {
      return Outcome::BadInput(absl::StrCat("the descriptors ", options.target, " sent for ",
                                            name->service,
                                            " do not build: ", pool_errors.errors()));
    }
    return Outcome::BadInput(
        absl::StrCat(options.target, " does not know the service '", name->service, "'",
                     database.last_refusal().empty()
                         ? ""
                         : absl::StrCat(" (server reflection: ", database.last_refusal(), ")")));
  }
  const protobuf::MethodDescriptor* method = service->FindMethodByName(name->method);
  if (method == nullptr) {
    std::vector<std::string> methods;
    for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i)->name());
    return Outcome::BadInput(absl::StrCat("the service ", service->full_name(), " has no method '",
                                          name->method,
                                          "'; its methods: ", absl::StrJoin(methods, ", ")));
  }
  if (method->client_streaming() || method->server_streaming()) {
    return Outcome::BadInput(absl::StrCat(service->full_name(), "/", method->name(),
                                          " is a streaming method; call makes unary calls"));
  }
  const protobuf::Message* request_prototype = factory.GetPrototype(method->input_type());
  const protobuf::Message* response_prototype = factory.GetPrototype(method->output_type());
  if (request_prototype == nullptr || response_prototype == nullptr) {
    return Outcome::BadInput(absl::StrCat("cannot build the messages of ", method->full_name()));
  }
  std::unique_ptr<protobuf::Message> request(request_prototype->New());
  protobuf::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  if (auto parsed = protobuf::util::JsonStringToMessage(*json, request.get(), parse_options);
      !parsed.ok()) {
    return Outcome::BadInput(absl::StrCat("the request is not a valid ",
                                          method->input_type()->full_name(),
                                          " in JSON: ", parsed.message().as_string()));
  }

  const std::string path = absl::StrCat("/", service->full_name(), "/", method->name());
  grpc::ClientContext context;
  SetDeadline(context, deadline);
  std::string request_bytes;
  request->SerializeToString(&request_bytes);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  absl::Notification done;
  grpc::GenericStub stub(*channel);
  stub.UnaryCall(&context, path, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    return Outcome::CallFailed(absl::StrCat(path.substr(1), " on ", options.target), status);
  }
  std::unique_ptr<protobuf::Message> response(response_prototype->New());
  if (!response->ParseFromString(ByteBufferToString(response_buffer))) {
    return Outcome::BadInput(absl::StrCat("the answer of ", path.substr(1), " is not a valid ",
                                          method->output_type()->full_name()));
  }
  protobuf::util::JsonPrintOptions print_options;
  // Fields at their default value are printed too: {"value":"0"}, not {}.
  print_options.always_print_primitive_fields = true;
  std::string out;
  if (auto printed = protobuf::util::MessageToJsonString(*response, &out, print_options);
      !printed.ok()) {
    return Outcome::BadInput(absl::StrCat("cannot print the answer of ", path.substr(1),
                                          " as JSON: ", printed.message().as_string()));
  }
  io.out << out << "\n" << std::flush;
  return Outcome::Ok();
}

}  // namespace gridrpc::cli
