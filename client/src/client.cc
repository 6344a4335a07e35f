#include "gridrpc/client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client_state.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/grpc_workarounds.h"
#include "gridrpc/internal/status.h"

namespace gridrpc {
namespace internal {

ClientState::ClientState(ClientOptions options) : options_(std::move(options)) {
  PinGrpcCallbackPool();
  MutexLock lock(&mu_);
  routing_ = std::make_shared<Routing>();
}

std::shared_ptr<const ClientState::Routing> ClientState::routing() const {
  MutexLock lock(&mu_);
  return routing_;
}

namespace {

// gRPC takes a channel's interceptor factories as its own; the client's are shared by all its
// channels.
class SharedFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit SharedFactory(
      std::shared_ptr<grpc::experimental::ClientInterceptorFactoryInterface> factory)
      : factory_(std::move(factory)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return factory_->CreateClientInterceptor(info);
  }

 private:
  const std::shared_ptr<grpc::experimental::ClientInterceptorFactoryInterface> factory_;
};

}  // namespace

std::shared_ptr<grpc::Channel> ClientState::ChannelTo(const std::string& address) {
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel != nullptr) return channel;
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials();
  if (options_.interceptors.empty()) {
    channel = grpc::CreateChannel(address, credentials);
    return channel;
  }
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> chain;
  for (const auto& factory : options_.interceptors) {
    chain.push_back(std::make_unique<SharedFactory>(factory));
  }
  channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      address, credentials, grpc::ChannelArguments(), std::move(chain));
  return channel;
}

absl::Status ClientState::Install(v1::PartitionTable proto) {
  absl::StatusOr<PartitionTable> table = PartitionTable::FromProto(std::move(proto));
  if (!table.ok()) return table.status();
  MutexLock lock(&mu_);
  if (routing_->table != nullptr && routing_->table->version() >= table->version()) {
    return absl::OkStatus();
  }
  auto next = std::make_shared<Routing>();
  next->table = std::make_shared<const PartitionTable>(*std::move(table));
  for (int i = 0; i < next->table->member_count(); ++i) {
    next->channels.push_back(ChannelTo(next->table->member(i).address()));
  }
  routing_ = std::move(next);
  return absl::OkStatus();
}

std::vector<std::string> ClientState::CandidateAddresses() const {
  std::vector<std::string> out;
  {
    MutexLock lock(&mu_);
    if (routing_->table != nullptr) {
      for (int i = 0; i < routing_->table->member_count(); ++i) {
        out.push_back(routing_->table->member(i).address());
      }
    }
  }
  out.insert(out.end(), options_.members.begin(), options_.members.end());
  return out;
}

absl::Status ClientState::LoadTable() {
  // First every member in turn, failing fast on those that are down (a dead member must
  // not cost a connect timeout); only if none answers, again waiting for each to come up (a
  // cluster that is still starting).
  std::vector<std::string> errors;
  for (const bool wait_for_ready : {false, true}) {
    errors.clear();
    for (const std::string& address : CandidateAddresses()) {
      std::shared_ptr<grpc::Channel> channel;
      {
        MutexLock lock(&mu_);
        channel = ChannelTo(address);
      }
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + options_.connect_timeout));
      context.set_wait_for_ready(wait_for_ready);
      v1::PartitionTable table;
      const grpc::Status status =
          v1::Cluster::NewStub(channel)->GetPartitionTable(&context, {}, &table);
      if (!status.ok()) {
        errors.push_back(absl::StrCat(address, ": ", status.error_message()));
        continue;
      }
      if (absl::Status installed = Install(std::move(table)); !installed.ok()) {
        errors.push_back(absl::StrCat(address, ": ", installed.message()));
        continue;
      }
      return absl::OkStatus();
    }
  }
  if (errors.empty()) return absl::InvalidArgumentError("no member addresses to connect to");
  return absl::UnavailableError(
      absl::StrCat("no member answered with a partition table: ", absl::StrJoin(errors, "; ")));
}

void ClientState::RefreshAsync(absl::AnyInvocable<void() &&> done) {
  {
    MutexLock lock(&mu_);
    refresh_waiters_.push_back(std::move(done));
    if (refreshing_) return;
    refreshing_ = true;
  }
  // Every member is asked at once and the first valid answer ends the refresh: a member that is
  // paused accepts the call and answers nothing, so asking in turn could wait a connect timeout
  // on each. Later answers are still installed if they are newer.
  std::vector<std::string> addresses = CandidateAddresses();
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  if (addresses.empty()) return FinishRefresh();
  struct Refresh {
    std::atomic<size_t> pending;
    std::atomic<bool> finished{false};
  };
  auto refresh = std::make_shared<Refresh>();
  refresh->pending = addresses.size();
  struct Call {
    grpc::ClientContext context;
    v1::GetPartitionTableRequest request;
    v1::PartitionTable response;
    std::unique_ptr<v1::Cluster::Stub> stub;
  };
  for (const std::string& address : addresses) {
    auto call = std::make_shared<Call>();
    {
      MutexLock lock(&mu_);
      call->stub = v1::Cluster::NewStub(ChannelTo(address));
    }
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.connect_timeout));
    // The client and its proxies may be gone before the answer: the refresh keeps the state
    // alive.
    call->stub->async()->GetPartitionTable(
        &call->context, &call->request, &call->response,
        [self = shared_from_this(), call, refresh](grpc::Status status) {
          // A table that fails validation counts as no answer.
          const bool installed = status.ok() && self->Install(std::move(call->response)).ok();
          const bool last = refresh->pending.fetch_sub(1) == 1;
          if ((installed || last) && !refresh->finished.exchange(true)) self->FinishRefresh();
        });
  }
}

void ClientState::FinishRefresh() {
  std::vector<absl::AnyInvocable<void() &&>> waiters;
  {
    MutexLock lock(&mu_);
    refreshing_ = false;
    waiters.swap(refresh_waiters_);
  }
  for (auto& waiter : waiters) std::move(waiter)();
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.members.empty()) {
    return absl::InvalidArgumentError("ClientOptions.members names no member to connect to");
  }
  auto state = std::make_shared<internal::ClientState>(std::move(options));
  if (absl::Status s = state->LoadTable(); !s.ok()) return s;
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

Client::~Client() = default;

std::shared_ptr<const PartitionTable> Client::partition_table() const {
  return state_->routing()->table;
}

absl::Status Client::RefreshPartitionTable() { return state_->LoadTable(); }

}  // namespace gridrpc
