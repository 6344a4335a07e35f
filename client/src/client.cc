#include "gridrpc/client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client_state.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/grpc_workarounds.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/log.h"

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

void ClientState::StartStatistics() {
  if (options_.statistics_period <= absl::ZeroDuration()) return;
  absl::BitGen random;
  client_id_ = absl::StrFormat("%016x", absl::Uniform<uint64_t>(random));
  SendStatistics();
}

void ClientState::ScheduleStatistics() {
  MutexLock lock(&mu_);
  // A new alarm each time; the one that rang last may still be returning from its callback.
  statistics_alarm_ = std::make_unique<grpc::Alarm>();
  statistics_alarm_->Set(absl::ToChronoTime(absl::Now() + options_.statistics_period),
                         [weak = weak_from_this()](bool ok) {
                           std::shared_ptr<ClientState> self = weak.lock();
                           if (ok && self != nullptr) self->SendStatistics();
                         });
}

void ClientState::SendStatistics() {
  struct Call {
    grpc::ClientContext context;
    v1::ClientStatistics request;
    v1::ClientStatisticsResponse response;
    std::unique_ptr<v1::Cluster::Stub> stub;
  };
  auto call = std::make_shared<Call>();
  call->request.set_client_id(client_id_);
  call->request.set_name(options_.name);
  for (const auto& [key, value] : options_.labels) (*call->request.mutable_labels())[key] = value;
  call->request.set_period_ms(absl::ToInt64Milliseconds(options_.statistics_period));
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.statistics_period));
  {
    MutexLock lock(&mu_);
    call->stub = v1::Cluster::NewStub(routing_->channels.empty() ? ChannelTo(options_.members[0])
                                                                 : routing_->channels[0]);
  }
  call->stub->async()->ReportClientStatistics(
      &call->context, &call->request, &call->response,
      [call, weak = weak_from_this()](grpc::Status status) {
        if (!status.ok()) {  // best effort: the next report tries again
          Log(LogLevel::kDebug, "client_statistics_failed", "a statistics report failed",
              {{"code", status.error_code()}, {"error", status.error_message()}});
        }
        if (std::shared_ptr<ClientState> self = weak.lock()) self->ScheduleStatistics();
      });
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

struct ClientState::Refresh {
  std::vector<std::string> addresses;
  size_t next = 0;  // the first not asked; only the wave's last answer moves it on
  std::atomic<size_t> pending{0};
  std::atomic<bool> finished{false};
};

void ClientState::RefreshAsync(absl::AnyInvocable<void() &&> done) {
  {
    MutexLock lock(&mu_);
    refresh_waiters_.push_back(std::move(done));
    if (refreshing_) return;
    refreshing_ = true;
  }
  // The first valid answer ends the refresh. The members are asked a wave at a time, not in
  // turn: a member that is paused accepts the call and answers nothing, so asking in turn could
  // wait a connect timeout on each. Nor all at once: every client's reload would reach every
  // member. Later answers of a wave are still installed if they are newer.
  auto refresh = std::make_shared<Refresh>();
  refresh->addresses = CandidateAddresses();
  std::sort(refresh->addresses.begin(), refresh->addresses.end());
  refresh->addresses.erase(std::unique(refresh->addresses.begin(), refresh->addresses.end()),
                           refresh->addresses.end());
  if (refresh->addresses.empty()) return FinishRefresh();
  absl::BitGen random;  // clients spread their reloads over the members
  std::shuffle(refresh->addresses.begin(), refresh->addresses.end(), random);
  AskWave(std::move(refresh));
}

void ClientState::AskWave(std::shared_ptr<Refresh> refresh) {
  const size_t begin = refresh->next;
  const size_t end = std::min(begin + kRefreshWave, refresh->addresses.size());
  refresh->next = end;
  refresh->pending = end - begin;
  struct Call {
    grpc::ClientContext context;
    v1::GetPartitionTableRequest request;
    v1::PartitionTable response;
    std::unique_ptr<v1::Cluster::Stub> stub;
  };
  for (size_t i = begin; i < end; ++i) {
    auto call = std::make_shared<Call>();
    {
      MutexLock lock(&mu_);
      call->stub = v1::Cluster::NewStub(ChannelTo(refresh->addresses[i]));
    }
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + options_.connect_timeout));
    // The client and its proxies may be gone before the answer: the refresh keeps the state
    // alive.
    call->stub->async()->GetPartitionTable(
        &call->context, &call->request, &call->response,
        [self = shared_from_this(), call, refresh](grpc::Status status) {
          // A table that fails validation counts as no answer.
          const bool installed = status.ok() && self->Install(std::move(call->response)).ok();
          if (installed && !refresh->finished.exchange(true)) self->FinishRefresh();
          if (refresh->pending.fetch_sub(1) != 1 || refresh->finished.load()) return;
          // The wave is over and none of it answered.
          if (refresh->next < refresh->addresses.size()) {
            self->AskWave(refresh);
          } else if (!refresh->finished.exchange(true)) {
            self->FinishRefresh();
          }
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
  if (options.statistics_period != absl::ZeroDuration() &&
      (options.statistics_period < absl::Milliseconds(100) ||
       options.statistics_period > absl::Minutes(10))) {
    return absl::InvalidArgumentError(
        absl::StrCat("ClientOptions.statistics_period must be 0 (off) or 100ms to 10m, not ",
                     absl::FormatDuration(options.statistics_period)));
  }
  auto state = std::make_shared<internal::ClientState>(std::move(options));
  if (absl::Status s = state->LoadTable(); !s.ok()) return s;
  state->StartStatistics();
  return std::unique_ptr<Client>(new Client(std::move(state)));
}

Client::~Client() = default;

std::shared_ptr<const PartitionTable> Client::partition_table() const {
  return state_->routing()->table;
}

absl::Status Client::RefreshPartitionTable() { return state_->LoadTable(); }

}  // namespace gridrpc
