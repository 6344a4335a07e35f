#include "member/member_core.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <map>
#include <string_view>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gridrpc/internal/grpc_workarounds.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/log.h"

namespace gridrpc::internal {
namespace {

std::string RandomMemberId() {
  absl::BitGen random;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(random));
}

std::string HostOf(const std::string& host_port) {
  return host_port.substr(0, host_port.rfind(':'));
}

// A control character in a label would garble the logs and tables operators read.
bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

absl::Status CheckLabels(const std::map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels: a label has an empty key (its value is '", absl::CHexEscape(value), "')"));
    }
    if (HasControlCharacter(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels: the key of label '", absl::CHexEscape(key), "' holds a control character"));
    }
    if (HasControlCharacter(value)) {
      return absl::InvalidArgumentError(absl::StrCat("labels: the value of label '", key, "' ('",
                                                     absl::CHexEscape(value),
                                                     "') holds a control character"));
    }
  }
  return absl::OkStatus();
}

// Peer messages wrap what clients send (a backup carries the client's request): room for that.
constexpr int kPeerMessageHeadroom = 1024 * 1024;

}  // namespace

absl::StatusOr<std::unique_ptr<MemberCore>> MemberCore::Create(MemberOptions options) {
  if (options.partition_count <= 0 || options.partition_count > kMaxPartitionCount) {
    return absl::InvalidArgumentError(absl::StrCat(
        "partition_count must be 1 to ", kMaxPartitionCount, ", not ", options.partition_count));
  }
  if (options.cluster_name.empty()) return absl::InvalidArgumentError("cluster_name is empty");
  const MemberTunables& t = options.tunables;
  if (t.executor_workers <= 0 || t.migration_parallelism <= 0 || t.max_message_bytes <= 0 ||
      t.copy_chunk_bytes <= 0) {
    return absl::InvalidArgumentError(
        "tunables: executor_workers, migration_parallelism, max_message_bytes and "
        "copy_chunk_bytes must be positive");
  }
  if (t.backup_timeout <= absl::ZeroDuration() || t.gap_grace <= absl::ZeroDuration() ||
      t.backup_retry_pause <= absl::ZeroDuration() || t.copy_idle_timeout <= absl::ZeroDuration() ||
      t.control_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("tunables: timeouts must be positive");
  }
  if (absl::Status s = CheckLabels(options.labels); !s.ok()) return s;
  absl::StatusOr<PeerSecurity> security = PeerSecurity::Create(options.tls, options.cluster_secret);
  if (!security.ok()) return security.status();
  std::string id = options.member_id.empty() ? RandomMemberId() : options.member_id;
  return std::unique_ptr<MemberCore>(
      new MemberCore(std::move(options), std::move(id), *std::move(security)));
}

MemberCore::MemberCore(MemberOptions options, std::string id, PeerSecurity security)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock()),
      security_(std::move(security)),
      context_(id, options_.cluster_name, options_.partition_count),
      metrics_(std::make_shared<MemberMetrics>(options_.metrics_registry != nullptr
                                                   ? options_.metrics_registry
                                                   : std::make_shared<prometheus::Registry>())),
      registry_(id),
      partitions_(id, options_.partition_count, executor_, registry_, clock_),
      peers_(security_, options_.tunables.max_message_bytes + kPeerMessageHeadroom),
      replicator_(partitions_, executor_, peers_, options_.tunables, *metrics_, guard_),
      backups_(context_, registry_, partitions_, executor_, peers_, options_.tunables, *metrics_,
               guard_),
      migration_(partitions_, executor_, peers_, options_.tunables, guard_),
      invoker_(context_, partitions_, options_.execution_aspects),
      forwarder_(partitions_, peers_),
      broadcasts_(registry_, partitions_, executor_, invoker_, replicator_),
      dispatcher_(registry_, partitions_, executor_, invoker_, replicator_, forwarder_, *metrics_),
      executor_(options_.partition_count, options_.tunables.executor_workers) {
  context_.partitions_ = &partitions_;
  context_.client_credentials_ = security_.ChannelCredentials();
  partitions_.AddObserver(&backups_);
  events_.Add(metrics_->MigrationCounter());
  AddScrapeGauges();
}

MemberCore::~MemberCore() {
  Stop(absl::Seconds(5), /*terminate=*/false);
  metrics_->DropScrapeGauges();
}

void MemberCore::AddScrapeGauges() {
  using Samples = std::vector<MemberMetrics::Sample>;
  metrics_->AddScrapeGauge("gridrpc_partitions",
                           "Partition replicas this member holds, by replica index (0: primary)",
                           [this] {
                             std::map<int, int> by_index;
                             for (int p = 0; p < partitions_.partition_count(); ++p) {
                               const int index = partitions_.replica_state(p).replica_index;
                               if (index >= 0) ++by_index[index];
                             }
                             Samples samples;
                             for (const auto& [index, count] : by_index) {
                               samples.push_back({{{"replica_index", absl::StrCat(index)}}, count});
                             }
                             return samples;
                           });
  metrics_->AddScrapeGauge(
      "gridrpc_lost_partitions",
      "Partitions that lost every replica and were not reset, in the table this member holds",
      [this] {
        std::shared_ptr<const PartitionTable> table = partitions_.table();
        int lost = 0;
        for (int p = 0; table != nullptr && p < table->partition_count(); ++p)
          lost += table->lost(p);
        return Samples{{{}, lost}};
      });
  metrics_->AddScrapeGauge("gridrpc_partition_table_version",
                           "Version of the partition table this member holds (0: none yet)",
                           [this] {
                             std::shared_ptr<const PartitionTable> table = partitions_.table();
                             return Samples{{{}, table == nullptr ? 0.0 : table->version()}};
                           });
  metrics_->AddScrapeGauge("gridrpc_cluster_members",
                           "Members in the partition table this member holds", [this] {
                             std::shared_ptr<const PartitionTable> table = partitions_.table();
                             return Samples{{{}, table == nullptr ? 0.0 : table->member_count()}};
                           });
  metrics_->AddScrapeGauge(
      "gridrpc_partition_queue_depth",
      "Partition operations waiting behind the operation running in their partition", [this] {
        return Samples{{{}, static_cast<double>(executor_.queued())}};
      });
  metrics_->AddScrapeGauge(
      "gridrpc_backup_lagging_partitions",
      "Backup replicas on this member waiting for an operation that has not arrived", [this] {
        return Samples{{{}, static_cast<double>(backups_.lagging())}};
      });
  metrics_->AddScrapeGauge(
      "gridrpc_backup_retrying_writes",
      "Writes waiting to retry a sync backup that failed (not acknowledged yet)", [this] {
        return Samples{{{}, static_cast<double>(replicator_.retrying())}};
      });
  metrics_->AddScrapeGauge("gridrpc_member_fenced",
                           "1 while this member cannot confirm its membership and answers no call",
                           [this] {
                             return Samples{{{}, partitions_.Fenced() ? 1.0 : 0.0}};
                           });
  metrics_->AddScrapeGauge(
      "gridrpc_connected_clients",
      "Clients reporting statistics to this member, by name and labels (ClientOptions::name, "
      "labels and statistics_period)",
      [this] {
        Samples samples;
        for (const auto& [client, count] : clients_.Count(absl::Now())) {
          samples.push_back({{{"client_name", client.first}, {"client_labels", client.second}},
                             static_cast<double>(count)});
        }
        return samples;
      });
  metrics_->AddScrapeGauge("gridrpc_ready", "1 while this member is ready (see /readyz)", [this] {
    return Samples{{{}, readiness().ready ? 1.0 : 0.0}};
  });
}

Readiness MemberCore::readiness() const {
  Readiness out;
  {
    MutexLock lock(&lifecycle_mu_);
    if (state_ != State::kRunning) out.reasons.push_back("the member is not running");
  }
  std::shared_ptr<const PartitionTable> table = partitions_.table();
  std::shared_ptr<const PartitionTable> known = partitions_.known_table();
  if (table == nullptr) {
    out.reasons.push_back("no partition table lists this member yet");
  } else if (known != nullptr && known->version() > table->version() &&
             known->MemberIndex(id()) < 0) {
    out.reasons.push_back(absl::StrCat("the newest partition table (version ", known->version(),
                                       ") does not list this member"));
  }
  if (partitions_.Fenced()) {
    out.reasons.push_back(
        "fenced: the member cannot confirm its membership (the membership store is away)");
  }
  if (const int64_t lagging = backups_.lagging(); lagging > 0) {
    out.reasons.push_back(
        absl::StrCat(lagging, " backup replicas wait for an operation that has not arrived"));
  }
  if (const int64_t retrying = replicator_.retrying(); retrying > 0) {
    out.reasons.push_back(absl::StrCat(retrying, " writes wait to retry a sync backup"));
  }
  out.ready = out.reasons.empty();
  return out;
}

absl::Status MemberCore::AddService(std::unique_ptr<ServiceBase> service,
                                    std::vector<std::string> lookup_names) {
  MutexLock lock(&lifecycle_mu_);
  if (state_ != State::kCreated) return absl::FailedPreconditionError("AddService after Start");
  return registry_.Add(std::move(service), std::move(lookup_names));
}

absl::Status MemberCore::Start() {
  {
    MutexLock lock(&lifecycle_mu_);
    if (state_ != State::kCreated) return absl::FailedPreconditionError("member already started");
    state_ = State::kStarting;
  }
  partitions_.AllocateContainers();
  absl::Status status = Serve();
  for (const auto& service : registry_.services()) {
    if (!status.ok()) break;
    if (absl::Status s = service->Init(context_, options_.properties); !s.ok()) {
      status = absl::Status(s.code(), absl::StrCat(AsAbsl(service->descriptor().full_name),
                                                   ".Init failed: ", s.message()));
    }
  }
  if (!status.ok()) StopServers(absl::ZeroDuration());
  if (status.ok() && !security_.authenticates()) {
    Log(LogLevel::kWarning, "peer_port_unauthenticated",
        "anyone who can reach the peer port can change the cluster: give members a cluster "
        "secret, or TLS with a CA (mutual TLS)",
        {{"member", id()}, {"peer_address", context_.peer_address()}});
  }
  MutexLock lock(&lifecycle_mu_);
  state_ = status.ok() ? State::kRunning : State::kStopped;
  lifecycle_changed_.NotifyAll();
  return status;
}

absl::Status MemberCore::Serve() {
  PinGrpcCallbackPool();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  // The client port.
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, security_.ClientPortCredentials(), &port);
  // gRPC binds with SO_REUSEPORT by default: a second member on a busy address would start
  // without error and share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options_.tunables.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.tunables.max_message_bytes);
  for (grpc::Service* service : dispatcher_.Services()) builder.RegisterService(service);
  cluster_service_ = std::make_unique<ClusterService>(partitions_, broadcasts_, events_, clients_);
  builder.RegisterService(cluster_service_.get());
  unknown_methods_ = std::make_unique<UnknownMethodService>(registry_, id());
  builder.RegisterCallbackGenericService(unknown_methods_.get());
  // The address is known only once bound, and services may want it in Init: bind first, but
  // answer nothing but "no table yet" until Init has run and a table is installed.
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  context_.address_ = !options_.advertise_address.empty()
                          ? options_.advertise_address
                          : absl::StrCat(HostOf(options_.listen), ":", port);

  // The peer port.
  const std::string peer_listen = !options_.peer_listen.empty()
                                      ? options_.peer_listen
                                      : absl::StrCat(HostOf(options_.listen), ":0");
  grpc::ServerBuilder peer_builder;
  int peer_port = 0;
  peer_builder.AddListeningPort(peer_listen, security_.PeerPortCredentials(), &peer_port);
  peer_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  peer_builder.SetMaxReceiveMessageSize(options_.tunables.max_message_bytes + kPeerMessageHeadroom);
  peer_builder.SetMaxSendMessageSize(options_.tunables.max_message_bytes + kPeerMessageHeadroom);
  peer_service_ = std::make_unique<PeerService>(
      [this](const grpc::CallbackServerContext& ctx) {
        grpc::Status admitted = security_.Admit(ctx);
        if (!admitted.ok()) metrics_->peer_calls_refused.Increment();
        return admitted;
      },
      backups_, migration_, events_,
      [this](std::shared_ptr<const PartitionTable> table) {
        return InstallPartitionTable(std::move(table));
      },
      [this](std::set<int> partitions, std::function<void(absl::StatusOr<int64_t>)> done) {
        ResetLost(std::move(partitions), std::move(done));
      },
      options_.partition_count);
  peer_builder.RegisterService(peer_service_.get());
  peer_server_ = peer_builder.BuildAndStart();
  if (peer_server_ == nullptr || peer_port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", peer_listen, " (peer port)"));
  }
  context_.peer_address_ = !options_.peer_advertise_address.empty()
                               ? options_.peer_advertise_address
                               : absl::StrCat(HostOf(peer_listen), ":", peer_port);
  return absl::OkStatus();
}

v1::MemberInfo MemberCore::Info() const {
  v1::MemberInfo info;
  info.set_id(id());
  info.set_address(context_.address());
  info.set_peer_address(context_.peer_address());
  info.set_partition_count(options_.partition_count);
  info.mutable_labels()->insert(options_.labels.begin(), options_.labels.end());
  return info;
}

absl::Status MemberCore::InstallPartitionTable(std::shared_ptr<const PartitionTable> table) {
  if (table != nullptr && table->cluster_name() != options_.cluster_name) {
    return absl::InvalidArgumentError(absl::StrCat("partition table of cluster '",
                                                   table->cluster_name(), "'; member ", id(),
                                                   " is in cluster '", options_.cluster_name, "'"));
  }
  return partitions_.Install(std::move(table));
}

void MemberCore::Reset() {
  partitions_.ClearAll();
  for (const auto& service : registry_.services()) service->Reset();
}

void MemberCore::SetResetLostHandler(ResetLostHandler handler) {
  MutexLock lock(&reset_mu_);
  reset_lost_ = std::move(handler);
}

void MemberCore::ResetLost(std::set<int> partitions,
                           std::function<void(absl::StatusOr<int64_t>)> done) {
  ResetLostHandler handler;
  {
    MutexLock lock(&reset_mu_);
    handler = reset_lost_;
  }
  if (handler == nullptr) {
    done(absl::UnimplementedError(
        absl::StrCat("member ", id(), " has no coordinator to reset partitions with")));
    return;
  }
  handler(std::move(partitions), std::move(done));
}

std::shared_ptr<grpc::Channel> MemberCore::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

std::shared_ptr<grpc::Channel> MemberCore::PeerInProcessChannel() {
  return peer_server_->experimental().InProcessChannelWithInterceptors(
      grpc::ChannelArguments(), security_.PeerInterceptors());
}

void MemberCore::Stop(absl::Duration grace, bool terminate) {
  {
    MutexLock lock(&lifecycle_mu_);
    lifecycle_changed_.Wait(lifecycle_mu_, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lifecycle_mu_) {
      return state_ != State::kStarting && state_ != State::kStopping;
    });
    if (state_ == State::kCreated) state_ = State::kStopped;
    if (state_ == State::kStopped) return;
    state_ = State::kStopping;
  }
  backups_.Stop();  // a backup waiting for a predecessor would hold the peer server up
  StopServers(grace);
  guard_->Close();  // from here on, late callbacks leave the member alone
  for (const auto& service : registry_.services()) service->Shutdown(terminate);
  MutexLock lock(&lifecycle_mu_);
  state_ = State::kStopped;
  lifecycle_changed_.NotifyAll();
}

void MemberCore::StopServers(absl::Duration grace) {
  const auto deadline = absl::ToChronoTime(absl::Now() + grace);
  // Clients first: calls in flight finish (their backups go out to other members), then the
  // peer port, where other members' backups and migration steps to this one may be running.
  if (server_ != nullptr) {
    if (auto* health = server_->GetHealthCheckService()) health->Shutdown();
    server_->Shutdown(deadline);
    server_->Wait();
  }
  if (peer_server_ != nullptr) {
    peer_server_->Shutdown(deadline);
    peer_server_->Wait();
  }
}

}  // namespace gridrpc::internal
