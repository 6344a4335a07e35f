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

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/internal/wire.h"
#include "member_internal.h"
#include "migration_watch.h"

namespace gridrpc {

// The execution aspects around one call, the service method last. Lives on the stack of the
// partition operation.
class Member::AspectChain final : public ServerInvocation {
 public:
  AspectChain(const std::vector<std::shared_ptr<ExecutionAspect>>& aspects,
              const HostedService& hosted, const MethodDescriptor& method,
              PartitionContext& context, const google::protobuf::Message& request,
              grpc::ByteBuffer* out)
      : aspects_(aspects),
        hosted_(hosted),
        method_(method),
        context_(context),
        request_(request),
        out_(out) {}

  std::string_view lookup_name() const override { return hosted_.lookup_name; }
  const MethodDescriptor& method() const override { return method_; }
  const google::protobuf::Message& request() const override { return request_; }
  ServiceBase& service() override { return *hosted_.service; }
  PartitionContext& context() override { return context_; }

  absl::Status Proceed() override {
    if (next_ < aspects_.size()) return aspects_[next_++]->Intercept(*this);
    return hosted_.service->Invoke(method_, context_, request_, out_);
  }
  void SetResponse(const google::protobuf::Message& response) override {
    internal::SerializeMessage(response, out_).IgnoreError();
  }

 private:
  const std::vector<std::shared_ptr<ExecutionAspect>>& aspects_;
  const HostedService& hosted_;
  const MethodDescriptor& method_;
  PartitionContext& context_;
  const google::protobuf::Message& request_;
  grpc::ByteBuffer* const out_;
  size_t next_ = 0;
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

  grpc::ServerUnaryReactor* Broadcast(grpc::CallbackServerContext* ctx,
                                      const v1::BroadcastRequest* request,
                                      v1::BroadcastResponse* response) override {
    return member_.HandleBroadcast(ctx, *request, response);
  }

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* ctx,
                                   const v1::BackupRequest* request,
                                   v1::BackupResponse* response) override {
    return member_.HandleBackup(ctx, *request, response);
  }

  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* ctx, const v1::SyncRequest* request,
                                 v1::SyncResponse* response) override {
    return member_.HandleSync(ctx, *request, response);
  }

  grpc::ServerWriteReactor<v1::MigrationEvent>* WatchMigrations(
      grpc::CallbackServerContext*, const v1::WatchMigrationsRequest*) override {
    return member_.migration_events_->NewWatch();
  }

  grpc::ServerUnaryReactor* GetReplicaSequences(grpc::CallbackServerContext* ctx,
                                                const v1::ReplicaSequencesRequest*,
                                                v1::ReplicaSequencesResponse* response) override {
    return member_.HandleReplicaSequences(ctx, response);
  }

  grpc::ServerUnaryReactor* BeginMigration(grpc::CallbackServerContext* ctx,
                                           const v1::BeginMigrationRequest* request,
                                           v1::BeginMigrationResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    for (int p : request->partitions()) {
      if (p < 0 || p >= member_.options_.partition_count) {
        reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                     absl::StrCat("partition ", p, " out of range")));
        return reactor;
      }
    }
    // Answered once every partition is frozen and its acknowledged writes are on its backups,
    // so neither a copy nor a promoted backup misses one.
    auto remaining = std::make_shared<std::atomic<int>>(request->partitions_size() + 1);
    auto frozen = [reactor, remaining] {
      if (remaining->fetch_sub(1) == 1) reactor->Finish(grpc::Status::OK);
    };
    for (int p : request->partitions()) member_.Freeze(p, request->until_version(), frozen);
    frozen();
    return reactor;
  }

  grpc::ServerUnaryReactor* CopyReplica(grpc::CallbackServerContext* ctx,
                                        const v1::CopyReplicaRequest* request,
                                        v1::CopyReplicaResponse* response) override {
    return member_.HandleCopyReplica(ctx, *request, response);
  }

  grpc::ServerUnaryReactor* ReportMigration(grpc::CallbackServerContext* ctx,
                                            const v1::MigrationEvent* event,
                                            v1::ReportMigrationResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(internal::ToGrpcStatus(internal::Replay(*event, *member_.migration_events_)));
    return reactor;
  }

  grpc::ServerUnaryReactor* InstallPartitionTable(grpc::CallbackServerContext* ctx,
                                                  const v1::PartitionTable* request,
                                                  v1::InstallPartitionTableResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::StatusOr<PartitionTable> table = PartitionTable::FromProto(*request);
    absl::Status status = table.status();
    if (status.ok()) {
      status =
          member_.InstallPartitionTable(std::make_shared<const PartitionTable>(*std::move(table)));
    }
    reactor->Finish(internal::ToGrpcStatus(status));
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
    for (const auto& type : member_.types_) {
      if (internal::AsAbsl(type->descriptor->full_name) == service) {
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
      partitions_(options_.partition_count),
      published_replica_index_(new std::atomic<int>[options_.partition_count]),
      published_sequence_(new std::atomic<int64_t>[options_.partition_count]),
      published_serving_(new std::atomic<bool>[options_.partition_count]),
      peers_(std::make_unique<PeerStubs>()),
      migration_events_(std::make_unique<internal::MigrationEvents>()),
      executor_(options_.partition_count) {
  context_.member_ = this;
  for (int p = 0; p < options_.partition_count; ++p) {
    published_replica_index_[p] = -1;
    published_sequence_[p] = 0;
    published_serving_[p] = false;
  }
}

Member::~Member() { Shutdown(); }

absl::Status Member::AddService(std::unique_ptr<ServiceBase> service,
                                std::vector<std::string> lookup_names) {
  if (started_) return absl::FailedPreconditionError("AddService after Start");
  if (service == nullptr) return absl::InvalidArgumentError("AddService(nullptr)");
  const ServiceDescriptor& d = service->descriptor();
  if (lookup_names.empty()) lookup_names.emplace_back(d.lookup_name);
  ServiceType* type = nullptr;
  for (const auto& t : types_) {
    for (const std::string& name : lookup_names) {
      if (t->by_lookup_name.contains(name)) {
        return absl::AlreadyExistsError(absl::StrCat("lookup name '", name, "' is already hosted"));
      }
    }
    if (t->descriptor == &d) type = t.get();
  }
  if (type == nullptr) {
    types_.push_back(std::make_unique<ServiceType>(ServiceType{.descriptor = &d}));
    type = types_.back().get();
    for (const MethodDescriptor& m : d.methods) {
      methods_.push_back(std::make_unique<HostedMethod>(HostedMethod{type, &m}));
    }
  }
  const int slot = d.partitioned ? container_slots_++ : -1;
  for (std::string& name : lookup_names) {
    hosted_.push_back(
        std::make_unique<HostedService>(HostedService{std::move(name), service.get(), slot}));
    const HostedService* hosted = hosted_.back().get();
    type->by_lookup_name.emplace(hosted->lookup_name, hosted);
    if (hosted->lookup_name == d.lookup_name) type->default_instance = hosted;
  }
  services_.push_back(std::move(service));
  return absl::OkStatus();
}

absl::Status Member::Start() {
  if (started_) return absl::FailedPreconditionError("member already started");
  started_ = true;
  for (PartitionState& p : partitions_) p.containers.resize(container_slots_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
  for (const auto& type : types_) {
    std::vector<const HostedMethod*> methods;
    for (const auto& m : methods_) {
      if (m->type == type.get()) methods.push_back(m.get());
    }
    raw_services_.push_back(std::make_unique<RawService>(*this, methods));
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
      state.migrating = state.migrating && table->version() < state.frozen_until;
      if (state.replica_index < 0) {
        // The table committed without this member: drop the replica (a migration source).
        for (auto& container : state.containers) {
          if (container != nullptr) container->Clear();
        }
        state.sequence = 0;
      }
      if (state.replica_index <= 0) {
        // No longer a backup: what waited for a missing predecessor will never be applied
        // here. Those operations were not acknowledged to anyone.
        for (auto& [sequence, pending] : state.pending) {
          pending.reactor->Finish(grpc::Status(
              grpc::StatusCode::UNAVAILABLE,
              absl::StrCat("member ", id(), " is no longer a backup of partition ", p)));
        }
        state.pending.clear();
      }
      Publish(p);
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

void Member::AddMigrationListener(std::shared_ptr<MigrationListener> listener) {
  migration_events_->Add(std::move(listener));
}

MigrationListener& Member::migration_events() { return *migration_events_; }

std::shared_ptr<const PartitionTable> Member::partition_table() const {
  internal::MutexLock lock(&table_mu_);
  return table_;
}

std::shared_ptr<grpc::Channel> Member::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void Member::Shutdown(absl::Duration grace) { Stop(grace, /*terminate=*/false); }

void Member::Terminate() { Stop(absl::ZeroDuration(), /*terminate=*/true); }

void Member::Stop(absl::Duration grace, bool terminate) {
  if (!started_ || shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  }
  guard_->Close();  // from here on, late callbacks leave the member alone
  for (const auto& service : services_) service->Shutdown(terminate);
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
  const std::shared_ptr<const std::vector<int>> owned = context_.PrimaryPartitions();
  if (owned->empty()) {
    return absl::UnavailableError(absl::StrCat("member ", id(), " owns no partition"));
  }
  return (*owned)[next_owned_.fetch_add(1, std::memory_order_relaxed) % owned->size()];
}

absl::StatusOr<const Member::HostedService*> Member::Resolve(const ServiceType& type,
                                                             std::string_view lookup_name) const {
  if (lookup_name.empty() && type.default_instance != nullptr) return type.default_instance;
  if (lookup_name.empty()) lookup_name = type.descriptor->lookup_name;
  auto it = type.by_lookup_name.find(internal::AsAbsl(lookup_name));
  if (it == type.by_lookup_name.end()) {
    return absl::NotFoundError(
        absl::StrCat("member ", id(), " hosts no ", internal::AsAbsl(type.descriptor->full_name),
                     " under lookup name '", internal::AsAbsl(lookup_name), "'"));
  }
  return it->second;
}

absl::Status Member::CheckOwner(int partition) const {
  const PartitionState& state = partitions_[partition];
  if (state.migrating) {
    return absl::UnavailableError(
        absl::StrCat("partition ", partition, " is migrating away from member ", id()));
  }
  if (state.replica_index == 0) return absl::OkStatus();
  if (state.table_version == 0) {
    return absl::UnavailableError(absl::StrCat("member ", id(), " has no partition table yet"));
  }
  return absl::UnavailableError(absl::StrCat("partition ", partition, " is not owned by member ",
                                             id(), " (table version ", state.table_version, ")"));
}

std::shared_ptr<const std::vector<int>> MemberContext::PrimaryPartitions() const {
  static const auto* const kNone =
      new std::shared_ptr<const std::vector<int>>(std::make_shared<const std::vector<int>>());
  internal::MutexLock lock(&member_->table_mu_);
  return member_->owned_ != nullptr ? member_->owned_ : *kNone;
}

void MemberContext::RunOnPartition(int partition, const ServiceBase& service,
                                   absl::AnyInvocable<void(Container* container) &&> fn) const {
  member_->RunOnPartition(partition, service, std::move(fn));
}

void Member::RunOnPartition(int partition, const ServiceBase& service,
                            absl::AnyInvocable<void(Container* container) &&> fn) {
  const HostedService* hosted = nullptr;
  for (const auto& h : hosted_) {
    if (h->service == &service) {
      hosted = h.get();
      break;
    }
  }
  if (partition < 0 || partition >= options_.partition_count || hosted == nullptr) {
    std::move(fn)(nullptr);
    return;
  }
  executor_.Execute(partition, [this, partition, hosted, fn = std::move(fn)]() mutable {
    const PartitionState& state = partitions_[partition];
    const bool primary = state.replica_index == 0 && !state.migrating;
    std::move(fn)(primary ? ContainerOf(*hosted, partition) : nullptr);
  });
}

Container* Member::ContainerOf(const HostedService& hosted, int partition) {
  if (hosted.container_slot < 0) return nullptr;
  std::unique_ptr<Container>& slot = partitions_[partition].containers[hosted.container_slot];
  if (slot == nullptr) slot = hosted.service->NewContainer(partition);  // on first use
  return slot.get();
}

absl::Status Member::RunMethod(const HostedService& hosted, const MethodDescriptor& method,
                               const grpc::CallbackServerContext* ctx,
                               const MetaArguments* detached,
                               const google::protobuf::Message& request, int partition,
                               grpc::ByteBuffer* out, std::optional<std::string>* backup_payload) {
  PartitionContext context(context_, ctx, detached, partition, ContainerOf(hosted, partition));
  const absl::Status status =
      options_.execution_aspects.empty()
          ? hosted.service->Invoke(method, context, request, out)
          : AspectChain(options_.execution_aspects, hosted, method, context, request, out)
                .Proceed();
  if (backup_payload != nullptr) *backup_payload = context.backup_payload();
  return status;
}

namespace {

// The lookup name a call asked for in metadata; empty when it did not.
std::string_view RequestedLookupName(const grpc::CallbackServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(internal::kLookupNameKey);
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

// Why a call that waited for its partition should not run any more: cancelled, or past its
// deadline (gRPC may not have noticed yet: its callback threads can all be busy).
absl::Status GivenUp(const grpc::CallbackServerContext& ctx) {
  if (ctx.IsCancelled()) return absl::CancelledError("the call was cancelled before it ran");
  const auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max() &&
      std::chrono::system_clock::now() >= deadline) {
    return absl::DeadlineExceededError("the call passed its deadline before it ran");
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* Member::Handle(const HostedMethod& hosted,
                                         grpc::CallbackServerContext* ctx,
                                         const grpc::ByteBuffer* request_bytes,
                                         grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const MethodDescriptor& method = *hosted.method;
  absl::StatusOr<const HostedService*> instance = Resolve(*hosted.type, RequestedLookupName(*ctx));
  if (!instance.ok()) {
    reactor->Finish(internal::ToGrpcStatus(instance.status()));
    return reactor;
  }
  std::unique_ptr<google::protobuf::Message> request(method.request_prototype->New());
  {
    grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(request_bytes));
    if (!request->ParseFromZeroCopyStream(&reader)) {
      reactor->Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("request to ", method.path, " does not parse as ", request->GetTypeName())));
      return reactor;
    }
  }
  absl::StatusOr<int> partition = RoutePartition(hosted, *ctx, *request);
  if (!partition.ok()) {
    reactor->Finish(internal::ToGrpcStatus(partition.status()));
    return reactor;
  }
  const int p = *partition;
  if (method.one_way && published_serving_[p].load(std::memory_order_relaxed)) {
    // One-way, on the owner: answered now. gRPC sends a handler's answer only once the handler
    // returns, so the method runs later, on a worker, in its partition's order. Its outcome
    // stays here; it can no longer use the gRPC call, so its meta arguments are copied.
    internal::SerializeMessage(*method.response_prototype, response).IgnoreError();
    reactor->Finish(grpc::Status::OK);
    executor_.ExecuteLater(
        p, [this, &method, hosted = *instance, p, meta = internal::MetaArgumentsOf(*ctx),
            request = std::move(request)] {
          const bool backed_up = NeedsBackup(*hosted, method);
          std::optional<std::string> payload;
          grpc::ByteBuffer ignored;
          absl::Status status = CheckOwner(p);  // the table may have moved on meanwhile
          if (status.ok()) {
            status = RunMethod(*hosted, method, nullptr, &meta, *request, p, &ignored,
                               backed_up ? &payload : nullptr);
          }
          if (!status.ok()) {
            one_way_failures_.fetch_add(1, std::memory_order_relaxed);
            std::fprintf(stderr, "gridrpc: one-way %s on partition %d failed: %s\n", method.path, p,
                         status.ToString().c_str());
          } else if (backed_up) {
            Replicate(p, *hosted, method, *request, std::move(payload), [](absl::Status) {});
          }
        });
    return reactor;
  }
  executor_.Execute(p, [this, &method, hosted = *instance, ctx, reactor, p, response,
                        request = std::move(request)] {
    // A call that waited behind others may have been given up on meanwhile: do not run it.
    if (absl::Status given_up = GivenUp(*ctx); !given_up.ok()) {
      reactor->Finish(internal::ToGrpcStatus(given_up));
      return;
    }
    if (absl::Status owner = CheckOwner(p); !owner.ok()) {
      // Includes one-way calls that reached a member not owning their partition.
      if (Forward(method, ctx, reactor, *request, p, response)) return;
      ctx->AddTrailingMetadata(internal::kWrongOwnerKey,
                               absl::StrCat(partitions_[p].table_version));
      reactor->Finish(internal::ToGrpcStatus(owner));
      return;
    }
    const bool backed_up = NeedsBackup(*hosted, method);
    std::optional<std::string> payload;
    const absl::Status status = RunMethod(*hosted, method, ctx, nullptr, *request, p, response,
                                          backed_up ? &payload : nullptr);
    if (status.ok() && backed_up) {
      // Answered once the sync backups have it: an acknowledged write survives the primary.
      Replicate(p, *hosted, method, *request, std::move(payload),
                [reactor](absl::Status replicated) {
                  reactor->Finish(internal::ToGrpcStatus(replicated));
                });
      return;
    }
    reactor->Finish(internal::ToGrpcStatus(status));
  });
  return reactor;
}

bool Member::Forward(const MethodDescriptor& method, grpc::CallbackServerContext* ctx,
                     grpc::ServerUnaryReactor* reactor, const google::protobuf::Message& request,
                     int partition, grpc::ByteBuffer* response) {
  const auto& metadata = ctx->client_metadata();
  if (metadata.find(internal::kForwardedKey) != metadata.end()) return false;
  std::shared_ptr<const PartitionTable> table = partition_table();
  const int owner = table == nullptr ? -1 : table->Owner(partition);
  if (owner < 0 || table->member(owner).id() == id()) return false;

  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(ctx->deadline());
  call->context.AddMetadata(internal::kForwardedKey, "1");
  call->context.AddMetadata(internal::kPartitionKey, absl::StrCat(partition));
  for (const auto& [key, value] : metadata) {
    const std::string_view k(key.data(), key.size());
    if (k.starts_with(internal::kMetaArgumentPrefix) || k == internal::kLookupNameKey) {
      call->context.AddMetadata(std::string(k), std::string(value.data(), value.size()));
    }
  }
  if (!internal::SerializeMessage(request, &call->request).ok()) return false;
  peers_->Get(table->member(owner).address())
      .calls->UnaryCall(
          &call->context, method.path, grpc::StubOptions(), &call->request, response,
          [call, ctx, reactor, version = absl::StrCat(table->version())](grpc::Status status) {
            // The caller routed by an older table, or would not be here: tell it.
            ctx->AddTrailingMetadata(internal::kTableVersionKey, version);
            const auto& trailers = call->context.GetServerTrailingMetadata();
            if (auto it = trailers.find(internal::kWrongOwnerKey); it != trailers.end()) {
              ctx->AddTrailingMetadata(internal::kWrongOwnerKey,
                                       std::string(it->second.data(), it->second.size()));
            }
            reactor->Finish(status);
          });
  return true;
}

grpc::ServerUnaryReactor* Member::HandleBroadcast(grpc::CallbackServerContext* ctx,
                                                  const v1::BroadcastRequest& request,
                                                  v1::BroadcastResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto refuse = [reactor](const absl::Status& status) {
    reactor->Finish(internal::ToGrpcStatus(status));
    return reactor;
  };
  const HostedMethod* hosted = nullptr;
  for (const auto& m : methods_) {
    if (request.method() == m->method->path) hosted = m.get();
  }
  if (hosted == nullptr) {
    return refuse(absl::UnimplementedError(
        absl::StrCat("member ", id(), " hosts no method ", request.method())));
  }
  const MethodDescriptor& method = *hosted->method;
  absl::StatusOr<const HostedService*> instance = Resolve(*hosted->type, request.lookup_name());
  if (!instance.ok()) return refuse(instance.status());
  std::shared_ptr<google::protobuf::Message> parsed(method.request_prototype->New());
  if (!parsed->ParseFromString(request.request())) {
    return refuse(absl::InvalidArgumentError(absl::StrCat(
        "broadcast request to ", method.path, " does not parse as ", parsed->GetTypeName())));
  }
  std::vector<int> partitions(request.partitions().begin(), request.partitions().end());
  for (int p : partitions) {
    if (p < 0 || p >= options_.partition_count) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(
          "broadcast partition ", p, " is out of range [0, ", options_.partition_count, ")")));
    }
  }
  if (!hosted->type->descriptor->partitioned) {
    // A stateless service runs once per member, in the first partition it owns.
    const std::shared_ptr<const std::vector<int>> owned = context_.PrimaryPartitions();
    if (owned->empty()) {
      return refuse(absl::UnavailableError(absl::StrCat("member ", id(), " owns no partition")));
    }
    partitions.assign(1, owned->front());
  }
  if (partitions.empty()) return refuse(absl::InvalidArgumentError("broadcast to no partition"));

  response->set_member_id(id());
  // Each partition's result lands here; the last one answers the call.
  struct Gather {
    internal::Mutex mu;
    int remaining ABSL_GUARDED_BY(mu);
  };
  auto gather = std::make_shared<Gather>();
  {
    internal::MutexLock lock(&gather->mu);
    gather->remaining = static_cast<int>(partitions.size());
  }
  for (int p : partitions) {
    executor_.Execute(
        p, [this, &method, hosted = *instance, ctx, reactor, response, p, parsed, gather] {
          auto result = std::make_shared<v1::PartitionResult>();
          result->set_partition(p);
          absl::Status status;
          std::optional<std::string> payload;
          const bool backed_up = NeedsBackup(*hosted, method);
          if (status = GivenUp(*ctx); !status.ok()) {
            // A filter broke off the broadcast, or its deadline passed.
          } else if (status = CheckOwner(p); !status.ok()) {
            result->set_wrong_owner(true);
          } else {
            grpc::ByteBuffer out;
            status = RunMethod(*hosted, method, ctx, nullptr, *parsed, p, &out,
                               backed_up ? &payload : nullptr);
            std::vector<grpc::Slice> slices;
            if (status.ok() && out.Dump(&slices).ok()) {
              std::string* bytes = result->mutable_response();
              for (const grpc::Slice& slice : slices) {
                bytes->append(reinterpret_cast<const char*>(slice.begin()), slice.size());
              }
            }
          }
          result->set_code(static_cast<int>(status.code()));
          result->set_message(std::string(status.message()));
          auto deliver = [gather, response, reactor, result](absl::Status replicated) {
            if (!replicated.ok()) {
              result->clear_response();
              result->set_code(static_cast<int>(replicated.code()));
              result->set_message(std::string(replicated.message()));
            }
            bool last;
            {
              internal::MutexLock lock(&gather->mu);
              *response->add_results() = std::move(*result);
              last = --gather->remaining == 0;
            }
            if (last) reactor->Finish(grpc::Status::OK);
          };
          if (status.ok() && backed_up) {
            Replicate(p, *hosted, method, *parsed, std::move(payload), std::move(deliver));
          } else {
            deliver(absl::OkStatus());
          }
        });
  }
  return reactor;
}

}  // namespace gridrpc
