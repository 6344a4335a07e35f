#include "gridrpc/member.h"

#include <google/protobuf/message.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <cstdio>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/internal/wire.h"

namespace gridrpc {

struct Member::HostedMethod {
  ServiceBase* service;
  const MethodDescriptor* method;
  int container_slot;  // index into PartitionState::containers; -1 for stateless services
};

struct Member::PartitionState {
  int replica_index = -1;  // 0: this member is the primary
  int64_t table_version = 0;
  std::vector<std::unique_ptr<Container>> containers;  // one per partitioned service
};

// The user methods of one service, each registered as a raw unary callback method: no extra
// executor hop per call, unlike a generic service (see ../shared/PLATFORM.md).
class Member::RawService final : public grpc::Service {
 public:
  RawService(Member& member, const std::vector<const HostedMethod*>& methods) {
    for (size_t i = 0; i < methods.size(); ++i) {
      const HostedMethod* hosted = methods[i];
      AddMethod(new grpc::internal::RpcServiceMethod(
          hosted->method->path, grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
      MarkMethodRawCallback(
          static_cast<int>(i),
          new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
              [&member, hosted](grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* req,
                                grpc::ByteBuffer* resp) {
                return member.Handle(*hosted, ctx, req, resp);
              }));
    }
  }
};

class Member::ControlService final : public v1::Cluster::CallbackService {
 public:
  explicit ControlService(Member& member) : member_(member) {}

  grpc::ServerUnaryReactor* GetPartitionTable(grpc::CallbackServerContext* ctx,
                                              const v1::GetPartitionTableRequest*,
                                              v1::PartitionTable* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::shared_ptr<const PartitionTable> table = member_.partition_table();
    if (table == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "member " + member_.id() + " has no partition table yet"));
    } else {
      *response = table->proto();
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  Member& member_;
};

// Catches every method nobody registered and says precisely what is unknown.
class Member::UnknownMethodService final : public grpc::CallbackGenericService {
 public:
  explicit UnknownMethodService(const Member& member) : member_(member) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Refusal final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
      void OnDone() override { delete this; }
    };
    return new Refusal(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, Explain(ctx->method())));
  }

 private:
  std::string Explain(absl::string_view path) const {
    absl::string_view rest = absl::StripPrefix(path, "/");
    const size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) {
      return absl::StrCat("'", path, "' is not a gRPC method path (/package.Service/Method)");
    }
    const absl::string_view service = rest.substr(0, slash);
    for (const auto& s : member_.services_) {
      if (internal::AsAbsl(s->descriptor().full_name) == service) {
        return absl::StrCat("service ", service, " has no method ", rest.substr(slash + 1));
      }
    }
    return absl::StrCat("member ", member_.id(), " hosts no service ", service);
  }

  const Member& member_;
};

namespace {

std::string RandomMemberId() {
  absl::BitGen random;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(random));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Member>> Member::Create(MemberOptions options) {
  if (options.partition_count <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition_count must be positive, not ", options.partition_count));
  }
  if (options.cluster_name.empty()) return absl::InvalidArgumentError("cluster_name is empty");
  std::string id = options.member_id.empty() ? RandomMemberId() : options.member_id;
  return std::unique_ptr<Member>(new Member(std::move(options), std::move(id)));
}

Member::Member(MemberOptions options, std::string id)
    : options_(std::move(options)),
      context_(std::move(id), options_.cluster_name, options_.partition_count),
      executor_(options_.partition_count),
      partitions_(options_.partition_count) {}

Member::~Member() { Shutdown(); }

absl::Status Member::AddService(std::unique_ptr<ServiceBase> service) {
  if (started_) return absl::FailedPreconditionError("AddService after Start");
  if (service == nullptr) return absl::InvalidArgumentError("AddService(nullptr)");
  const ServiceDescriptor& d = service->descriptor();
  for (const auto& s : services_) {
    if (s->descriptor().full_name == d.full_name) {
      return absl::AlreadyExistsError(
          absl::StrCat("service ", internal::AsAbsl(d.full_name), " is already hosted"));
    }
  }
  services_.push_back(std::move(service));
  return absl::OkStatus();
}

absl::Status Member::Start() {
  if (started_) return absl::FailedPreconditionError("member already started");
  started_ = true;

  int containers = 0;
  std::vector<std::vector<const HostedMethod*>> per_service;
  for (const auto& service : services_) {
    const ServiceDescriptor& d = service->descriptor();
    const int slot = d.partitioned ? containers++ : -1;
    std::vector<const HostedMethod*>& hosted = per_service.emplace_back();
    for (const MethodDescriptor& m : d.methods) {
      methods_.push_back(std::make_unique<HostedMethod>(HostedMethod{service.get(), &m, slot}));
      hosted.push_back(methods_.back().get());
    }
  }
  for (PartitionState& p : partitions_) p.containers.resize(containers);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
  for (const auto& hosted : per_service) {
    raw_services_.push_back(std::make_unique<RawService>(*this, hosted));
    builder.RegisterService(raw_services_.back().get());
  }
  control_service_ = std::make_unique<ControlService>(*this);
  builder.RegisterService(control_service_.get());
  unknown_method_service_ = std::make_unique<UnknownMethodService>(*this);
  builder.RegisterCallbackGenericService(unknown_method_service_.get());

  // The address is known only once bound, and services may want it in Init: bind first, but
  // answer nothing but "no table yet" until Init has run and a table is installed.
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  if (!options_.advertise_address.empty()) {
    context_.set_address(options_.advertise_address);
  } else {
    const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    context_.set_address(absl::StrCat(host, ":", port));
  }

  for (const auto& service : services_) {
    if (absl::Status s = service->Init(context_, options_.properties); !s.ok()) {
      server_->Shutdown();
      return absl::Status(s.code(), absl::StrCat(internal::AsAbsl(service->descriptor().full_name),
                                                 ".Init failed: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Member::InstallPartitionTable(std::shared_ptr<const PartitionTable> table) {
  if (table == nullptr) return absl::InvalidArgumentError("null partition table");
  if (table->partition_count() != options_.partition_count) {
    return absl::InvalidArgumentError(absl::StrCat("partition table has ", table->partition_count(),
                                                   " partitions; member ", id(), " has ",
                                                   options_.partition_count));
  }
  const int self = table->MemberIndex(id());
  if (self < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition table version ", table->version(), " does not list member ", id()));
  }
  auto owned = std::make_shared<std::vector<int>>();
  for (int p = 0; p < table->partition_count(); ++p) {
    if (table->Owner(p) == self) owned->push_back(p);
  }
  {
    internal::MutexLock lock(&table_mu_);
    if (table_ != nullptr && table_->version() >= table->version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "partition table version ", table->version(), " is not newer than ", table_->version()));
    }
    table_ = table;
    owned_ = std::move(owned);
  }
  // Ownership is applied inside each partition, in order with its calls: a call either runs
  // before the change under the old owner or after it under the new one.
  for (int p = 0; p < table->partition_count(); ++p) {
    executor_.Execute(p, [this, p, self, table] {
      PartitionState& state = partitions_[p];
      state.replica_index = table->ReplicaIndex(p, self);
      state.table_version = table->version();
    });
  }
  return absl::OkStatus();
}

void Member::Reset() {
  for (int p = 0; p < options_.partition_count; ++p) {
    executor_.Execute(p, [this, p] {
      for (std::unique_ptr<Container>& container : partitions_[p].containers) {
        if (container != nullptr) container->Clear();
      }
    });
  }
  for (const auto& service : services_) service->Reset();
}

std::shared_ptr<const PartitionTable> Member::partition_table() const {
  internal::MutexLock lock(&table_mu_);
  return table_;
}

std::shared_ptr<grpc::Channel> Member::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void Member::Shutdown(absl::Duration grace) {
  if (!started_ || shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  for (const auto& service : services_) service->Shutdown(/*terminate=*/false);
}

absl::StatusOr<int> Member::RoutePartition(const HostedMethod& hosted,
                                           const grpc::CallbackServerContext& ctx,
                                           const google::protobuf::Message& request) {
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find(internal::kPartitionKey); it != metadata.end()) {
    return internal::ParsePartitionId(std::string_view(it->second.data(), it->second.size()),
                                      options_.partition_count);
  }
  // A plain gRPC client: route by the contract's key, as a smart client would have.
  if (hosted.method->routing_key != nullptr) {
    absl::StatusOr<uint64_t> key = hosted.method->routing_key(request);
    if (!key.ok()) return key.status();
    return PartitionOf(*key, options_.partition_count);
  }
  // No key: any partition this member owns, round robin.
  std::shared_ptr<const std::vector<int>> owned;
  {
    internal::MutexLock lock(&table_mu_);
    owned = owned_;
  }
  if (owned == nullptr || owned->empty()) {
    return absl::UnavailableError(absl::StrCat("member ", id(), " owns no partition"));
  }
  return (*owned)[next_owned_.fetch_add(1, std::memory_order_relaxed) % owned->size()];
}

grpc::ServerUnaryReactor* Member::Handle(const HostedMethod& hosted,
                                         grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request_bytes,
                                         grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::unique_ptr<google::protobuf::Message> request(hosted.method->request_prototype->New());
  {
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(request_bytes));
    if (!request->ParseFromZeroCopyStream(&reader)) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   absl::StrCat("request to ", hosted.method->path,
                                                " does not parse as ", request->GetTypeName())));
      return reactor;
    }
  }
  absl::StatusOr<int> partition = RoutePartition(hosted, *ctx, *request);
  if (!partition.ok()) {
    reactor->Finish(internal::ToGrpcStatus(partition.status()));
    return reactor;
  }
  executor_.Execute(*partition, [this, &hosted, ctx, reactor, p = *partition, response,
                                 request = std::move(request)] {
    RunOperation(hosted, ctx, reactor, *request, p, response);
  });
  return reactor;
}

void Member::RunOperation(const HostedMethod& hosted, grpc::CallbackServerContext* ctx,
                          grpc::ServerUnaryReactor* reactor,
                          const google::protobuf::Message& request, int partition,
                          grpc::ByteBuffer* response) {
  PartitionState& state = partitions_[partition];
  if (state.replica_index != 0) {
    std::string message;
    if (state.table_version == 0) {
      message = absl::StrCat("member ", id(), " has no partition table yet");
    } else {
      message = absl::StrCat("partition ", partition, " is not owned by member ", id(),
                             " (table version ", state.table_version, ")");
    }
    ctx->AddTrailingMetadata(internal::kWrongOwnerKey, absl::StrCat(state.table_version));
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, message));
    return;
  }
  Container* container = nullptr;
  if (hosted.container_slot >= 0) {
    std::unique_ptr<Container>& slot = state.containers[hosted.container_slot];
    if (slot == nullptr) slot = hosted.service->NewContainer(partition);
    container = slot.get();
  }
  PartitionContext context(context_, *ctx, partition, container);
  const absl::Status status = hosted.service->Invoke(*hosted.method, context, request, response);
  if (hosted.method->one_way) {
    // The caller asked not to hear about the outcome; the member still does.
    if (!status.ok()) {
      one_way_failures_.fetch_add(1, std::memory_order_relaxed);
      std::fprintf(stderr, "gridrpc: one-way %s on partition %d failed: %s\n", hosted.method->path,
                   partition, status.ToString().c_str());
    }
    if (!status.ok()) {
      // The method left no response; the caller still gets a well-formed empty one.
      internal::SerializeResponse(*hosted.method->response_prototype, response).IgnoreError();
    }
    reactor->Finish(grpc::Status::OK);
    return;
  }
  reactor->Finish(internal::ToGrpcStatus(status));
}

}  // namespace gridrpc
