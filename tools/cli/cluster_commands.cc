// The commands over gridrpc's own services: members and table (gridrpc.v1.Cluster on the
// client port), watch migrations (its event stream) and reset-lost-partitions
// (gridrpc.v1.Peer on the peer port, the one operator call there).
#include <google/protobuf/util/json_util.h>

#include <functional>
#include <ostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/connection.h"
#include "cli/json_writer.h"
#include "cli/table_format.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/peer.grpc.pb.h"

namespace gridrpc::cli {
namespace {

// The metadata members read the cluster secret from (server/src/net/peer_security.h).
constexpr char kClusterSecretMetadata[] = "gridrpc-cluster-secret";

Outcome NoArguments(Args& args, absl::string_view command) {
  if (absl::Status s = args.CheckAllTaken(command); !s.ok()) return Outcome::BadInput(s);
  if (!args.positional().empty()) {
    return Outcome::BadInput(
        absl::StrCat(command, " takes no arguments, not '", args.positional().front(), "'"));
  }
  return Outcome::Ok();
}

// Runs `print` on the partition table options.target serves.
Outcome WithTable(const GlobalOptions& options, Io& io,
                  const std::function<std::string(const v1::PartitionTable&)>& print) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  if (!channel.ok()) return Outcome::BadInput(channel.status());
  grpc::ClientContext context;
  SetDeadline(context, options.Deadline());
  v1::PartitionTable table;
  grpc::Status status = v1::Cluster::NewStub(*channel)->GetPartitionTable(&context, {}, &table);
  if (!status.ok()) {
    return Outcome::CallFailed(
        absl::StrCat("gridrpc.v1.Cluster/GetPartitionTable on ", options.target), status);
  }
  io.out << print(table) << std::flush;
  return Outcome::Ok();
}

}  // namespace

Outcome MembersCommand(const GlobalOptions& options, Args& args, Io& io) {
  if (Outcome bad = NoArguments(args, "members"); bad.exit_code != kExitOk) return bad;
  return WithTable(options, io, [&](const v1::PartitionTable& table) {
    return FormatMembers(table, options.output);
  });
}

Outcome TableCommand(const GlobalOptions& options, Args& args, Io& io) {
  if (Outcome bad = NoArguments(args, "table"); bad.exit_code != kExitOk) return bad;
  return WithTable(options, io, [&](const v1::PartitionTable& table) {
    return FormatTable(table, options.output);
  });
}

Outcome WatchCommand(const GlobalOptions& options, Args& args, Io& io) {
  std::optional<std::string> what = args.TakePositional();
  if (what != "migrations") {
    return Outcome::BadInput("watch takes what to watch: watch migrations [--count=N]");
  }
  int64_t count = 0;  // 0: no limit
  if (std::optional<std::string> text = args.Take("count")) {
    if (!absl::SimpleAtoi(*text, &count) || count <= 0) {
      return Outcome::BadInput(absl::StrCat("--count=", *text, " is not a positive number"));
    }
  }
  if (Outcome bad = NoArguments(args, "watch migrations"); bad.exit_code != kExitOk) return bad;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  if (!channel.ok()) return Outcome::BadInput(channel.status());

  // The watch runs until --count events, or --timeout if given (no default: operators watch
  // until they stop it), or an interrupt.
  grpc::ClientContext context;
  if (options.timeout.has_value()) SetDeadline(context, options.Deadline());
  Interrupter::Registration cancel_on_signal(io.interrupter, &context);
  std::unique_ptr<v1::Cluster::Stub> stub = v1::Cluster::NewStub(*channel);
  std::unique_ptr<grpc::ClientReader<v1::MigrationEvent>> reader =
      stub->WatchMigrations(&context, {});
  // The member sends the stream's headers once the watch is registered: from then on no event
  // is missed, which scripts (and tests) wait for before they change the cluster.
  reader->WaitForInitialMetadata();
  if ((*channel)->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY) {
    io.err << "gridrpc-cli: watching migrations on " << options.target << std::endl;
  }

  google::protobuf::util::JsonPrintOptions print_options;
  print_options.always_print_primitive_fields = true;
  int64_t received = 0;
  v1::MigrationEvent event;
  while ((count == 0 || received < count) && reader->Read(&event)) {
    std::string line;
    if (auto s = google::protobuf::util::MessageToJsonString(event, &line, print_options);
        !s.ok()) {
      line = JsonWriter::Quote(event.ShortDebugString());
    }
    io.out << line << "\n" << std::flush;
    ++received;
  }
  if (count != 0 && received == count) {
    context.TryCancel();  // done: the member's stream would go on
    reader->Finish().IgnoreError();
    return Outcome::Ok();
  }
  grpc::Status status = reader->Finish();
  if (io.interrupter.interrupted()) return Outcome::Ok();
  const std::string what_failed = absl::StrCat("gridrpc.v1.Cluster/WatchMigrations on ",
                                               options.target, " after ", received, " events");
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // --timeout ended a watch without --count: the normal end. With --count, too few events.
    if (count == 0) return Outcome::Ok();
    return Outcome::CallFailed(
        what_failed,
        grpc::Status(status.error_code(),
                     absl::StrCat("--timeout passed before --count=", count, " events")));
  }
  if (status.ok()) {  // the member stopped
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the member ended the stream");
  }
  return Outcome::CallFailed(what_failed, status);
}

Outcome ResetLostPartitionsCommand(const GlobalOptions& options, Args& args, Io& io) {
  if (absl::Status s = args.CheckAllTaken("reset-lost-partitions"); !s.ok()) {
    return Outcome::BadInput(s);
  }
  if (args.positional().size() != 1) {
    return Outcome::BadInput(
        "reset-lost-partitions takes the lost partitions, e.g. reset-lost-partitions 3,7,10-12 "
        "(`table` lists them), with --target a member's peer port");
  }
  absl::StatusOr<std::vector<int>> partitions = ParsePartitionList(args.positional()[0]);
  if (!partitions.ok()) return Outcome::BadInput(partitions.status());
  std::string secret;
  if (!options.cluster_secret_file.empty()) {
    absl::StatusOr<std::string> loaded = LoadClusterSecret(options.cluster_secret_file);
    if (!loaded.ok()) return Outcome::BadInput(loaded.status());
    secret = *std::move(loaded);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(options);
  if (!channel.ok()) return Outcome::BadInput(channel.status());

  grpc::ClientContext context;
  SetDeadline(context, options.Deadline());
  if (!secret.empty()) context.AddMetadata(kClusterSecretMetadata, secret);
  v1::ResetLostPartitionsRequest request;
  request.mutable_partitions()->Assign(partitions->begin(), partitions->end());
  v1::ResetLostPartitionsResponse response;
  grpc::Status status =
      v1::Peer::NewStub(*channel)->ResetLostPartitions(&context, request, &response);
  if (!status.ok()) {
    return Outcome::CallFailed(
        absl::StrCat("gridrpc.v1.Peer/ResetLostPartitions on ", options.target), status);
  }
  if (options.output == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("table_version").Int(response.table_version()).Key("partitions");
    json.BeginArray();
    for (int p : *partitions) json.Int(p);
    json.EndArray().EndObject();
    io.out << json.str() << "\n";
  } else {
    io.out << "reset partitions " << FormatRanges(*partitions) << ": they serve again, empty, in "
           << "table version " << response.table_version() << "\n";
  }
  io.out << std::flush;
  return Outcome::Ok();
}

}  // namespace gridrpc::cli
