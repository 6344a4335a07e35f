// health [SERVICE]: grpc.health.v1.Health/Check, as load balancers and probes call it.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/connection.h"
#include "cli/json_writer.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gridrpc::cli {

Outcome HealthCommand(const GlobalOptions& options, Args& args, Io& io) {
  if (absl::Status s = args.CheckAllTaken("health"); !s.ok()) return Outcome::BadInput(s);
  if (args.positional().size() > 1) {
    return Outcome::BadInput("health takes at most one service name, e.g. health examples.Counter");
  }
  using grpc::health::v1::HealthCheckResponse;
  grpc::health::v1::HealthCheckRequest request;
  if (!args.positional().empty()) request.set_service(args.positional()[0]);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  if (!channel.ok()) return Outcome::BadInput(channel.status());
  grpc::ClientContext context;
  SetDeadline(context, options.Deadline());
  HealthCheckResponse response;
  grpc::Status status =
      grpc::health::v1::Health::NewStub(*channel)->Check(&context, request, &response);
  if (!status.ok()) {
    return Outcome::CallFailed(
        absl::StrCat("grpc.health.v1.Health/Check", request.service().empty() ? "" : " of ",
                     request.service(), " on ", options.target),
        status);
  }
  std::string name = HealthCheckResponse::ServingStatus_Name(response.status());
  if (name.empty()) name = absl::StrCat("status ", response.status());  // newer than this build
  if (options.output == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("status").String(name).EndObject();
    io.out << json.str() << "\n";
  } else {
    io.out << name << "\n";
  }
  io.out << std::flush;
  if (response.status() != HealthCheckResponse::SERVING) {
    return {kExitNotServing, absl::StrCat(options.target, " answers ", name)};
  }
  return Outcome::Ok();
}

}  // namespace gridrpc::cli
