#include "gridrpc/proxy.h"

#include <google/protobuf/message.h>
#include <grpcpp/alarm.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/client_callback.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "client_state.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/internal/status.h"
#include "gridrpc/internal/wire.h"
#include "gridrpc/partitioning.h"

namespace gridrpc {

// A routing snapshot with the service's methods registered on each member's channel, so calls
// use gRPC's registered-method fast path (what grpc_cpp_plugin's stubs do).
struct ProxyCore::Binding {
  std::shared_ptr<const internal::ClientState::Routing> routing;
  std::vector<grpc::internal::RpcMethod> methods;           // [member * method_count + method]
  std::vector<std::unique_ptr<v1::Cluster::Stub>> control;  // [member], for broadcasts
  int gateway = 0;  // unisocket mode: the member every call goes to
};

namespace {

// Runs a completion and drops it, with everything it captured: a call's completion often owns
// whoever is waiting for the call, and keeping it would keep them alive in a cycle.
void RunOnce(absl::AnyInvocable<void(absl::Status) &&>& done, absl::Status status) {
  absl::AnyInvocable<void(absl::Status)&&> run = std::move(done);
  std::move(run)(std::move(status));
}

// Sets what every attempt of a call carries besides the request.
void PrepareContext(grpc::ClientContext& context, absl::Time deadline,
                    const std::string& lookup_name, const MetaArguments& meta) {
  context.set_deadline(absl::ToChronoTime(deadline));
  if (!lookup_name.empty()) context.AddMetadata(internal::kLookupNameKey, lookup_name);
  for (const auto& [name, value] : meta) {
    context.AddMetadata(std::string(internal::kMetaArgumentPrefix).append(name), value);
  }
}

}  // namespace

// One routed call, from the owner's choice to the answer, across retries. Owned by whatever is
// pending for it (the gRPC call, the pause before a retry); cancellable meanwhile.
class ProxyCore::RemoteCall final : public internal::Cancellable,
                                    public std::enable_shared_from_this<RemoteCall> {
 public:
  RemoteCall(std::shared_ptr<ProxyCore> proxy, std::shared_ptr<const Binding> binding,
             const MethodDescriptor& method, grpc::ByteBuffer request,
             google::protobuf::Message* response, int partition, bool send_partition,
             bool routed_by_handler, MetaArguments meta, absl::Time deadline,
             absl::AnyInvocable<void(absl::Status) &&> done)
      : proxy_(std::move(proxy)),
        binding_(std::move(binding)),
        method_(method),
        request_(std::move(request)),
        response_(response),
        partition_(partition),
        // A member derives the partition from the routing key itself, exactly as the proxy
        // did; only a partition chosen otherwise travels as metadata.
        partition_text_(send_partition ? absl::StrCat(partition) : ""),
        routed_by_handler_(routed_by_handler),
        meta_(std::move(meta)),
        deadline_(deadline),
        done_(std::move(done)) {}

  // Sends the call to the partition's owner in the binding it routes by.
  void Attempt() {
    const Binding& binding = *binding_;
    const PartitionTable* table = binding.routing->table.get();
    const int owner =
        proxy_->client_->options().smart_routing ? table->Owner(partition_) : binding.gateway;
    if (owner < 0) {
      RetryOrFinish(absl::UnavailableError(absl::StrCat(
          "partition ", partition_, " has no owner in table version ", table->version())));
      return;
    }
    grpc::ClientContext* context;
    {
      internal::MutexLock lock(&mu_);
      context_ = std::make_shared<grpc::ClientContext>();
      context = context_.get();
      // Not started yet, so this only marks it: the call then ends at once with CANCELLED.
      if (cancelled_) context->TryCancel();
    }
    PrepareContext(*context, deadline_, proxy_->config_.lookup_name, meta_);
    if (!partition_text_.empty()) context->AddMetadata(internal::kPartitionKey, partition_text_);
    if (routed_by_handler_) context->AddMetadata(internal::kRoutedByHandlerKey, "1");
    if (++attempts_ > 1) context->AddMetadata(internal::kAttemptKey, absl::StrCat(attempts_));
    const grpc::internal::RpcMethod& rpc =
        binding.methods[owner * proxy_->service_.methods.size() + method_.index];
    grpc::internal::CallbackUnaryCall(
        binding.routing->channels[owner].get(), rpc, context, &request_, response_,
        [self = shared_from_this()](grpc::Status status) { self->OnDone(status); });
  }

  void Cancel() override {
    std::shared_ptr<grpc::ClientContext> context;
    std::shared_ptr<grpc::Alarm> alarm;
    {
      internal::MutexLock lock(&mu_);
      cancelled_ = true;
      context = context_;
      alarm = alarm_;
    }
    // Outside the lock: gRPC may run the call's completion (OnDone) inside these.
    if (context != nullptr) context->TryCancel();
    if (alarm != nullptr) alarm->Cancel();
  }

 private:
  void OnDone(const grpc::Status& status) {
    if (status.ok()) {
      // A member forwarded the call: the owner moved. Answered all the same; reload the table
      // in the background so that the next calls go straight there.
      bool forwarded;
      {
        internal::MutexLock lock(&mu_);
        forwarded = context_->GetServerTrailingMetadata().count(internal::kTableVersionKey) > 0;
      }
      if (forwarded && proxy_->client_->options().smart_routing) {
        proxy_->client_->RefreshAsync([] {});
      }
      Finish(absl::OkStatus());
      return;
    }
    // Retry what certainly did not run (the member refused it as not the owner) and what is
    // safe to run twice (read-only methods); other failures are reported as they are.
    bool wrong_owner;
    {
      internal::MutexLock lock(&mu_);
      wrong_owner = context_->GetServerTrailingMetadata().count(internal::kWrongOwnerKey) > 0;
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        (wrong_owner || method_.read_only)) {
      RetryOrFinish(internal::FromGrpcStatus(status));
      return;
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      // Not retried (it may have run), but the member may be gone, or paused and replaced (it
      // accepts connections and answers nothing): reload the table so that the caller's next
      // calls do not go there too.
      proxy_->client_->RefreshAsync([] {});
    }
    Finish(internal::FromGrpcStatus(status));
  }

  // Reloads the table and tries again after a pause, unless the deadline would pass first.
  void RetryOrFinish(absl::Status why) {
    const ClientOptions& options = proxy_->client_->options();
    if (absl::Now() + options.retry_pause >= deadline_) {
      Finish(absl::DeadlineExceededError(absl::StrCat(
          "invocation timed out while retrying ", method_.path, "; last error: ", why.message())));
      return;
    }
    proxy_->client_->RefreshAsync([self = shared_from_this(), pause = options.retry_pause] {
      {
        internal::MutexLock lock(&self->mu_);
        if (!self->cancelled_) {
          self->alarm_ = std::make_shared<grpc::Alarm>();
          // The alarm keeps its callback after firing: move the reference out, or the call and
          // its alarm would keep each other alive.
          self->alarm_->Set(absl::ToChronoTime(absl::Now() + pause), [self](bool) mutable {
            std::shared_ptr<RemoteCall> call = std::move(self);
            call->binding_ = call->proxy_->CurrentBinding();  // the refreshed table, if any
            call->Attempt();  // a cancelled pause ends here, the attempt cancelled at once
          });
          return;
        }
      }
      self->Finish(absl::CancelledError("the call was cancelled"));
    });
  }

  void Finish(absl::Status status) { RunOnce(done_, std::move(status)); }

  const std::shared_ptr<ProxyCore> proxy_;
  std::shared_ptr<const Binding> binding_;
  const MethodDescriptor& method_;
  grpc::ByteBuffer request_;
  google::protobuf::Message* const response_;
  const int partition_;
  const std::string partition_text_;  // empty: not sent
  const bool routed_by_handler_;      // the partition comes from a routing handler's key
  const MetaArguments meta_;
  const absl::Time deadline_;
  int attempts_ = 0;  // one attempt at a time: Attempt() runs only after the last one ended
  absl::AnyInvocable<void(absl::Status) &&> done_;

  internal::Mutex mu_;  // against Cancel() from another thread
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Shared so that Cancel() can use them outside the lock.
  std::shared_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(mu_);  // the current attempt
  std::shared_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);  // the pause before the next one
};

// One broadcast: a call per member owning primaries, each running the method on that member's
// partitions; results go one by one through the collector's filter, then its reducer. A
// break, a cancel or the last answer completes it; calls still in flight are then cancelled.
// Partitions a member no longer owns (a migration moved them, or is moving them) are sent again
// to their new owner once the table is reloaded, so each partition's result counts once.
class ProxyCore::BroadcastCall final : public internal::Cancellable,
                                       public std::enable_shared_from_this<BroadcastCall> {
 public:
  BroadcastCall(std::shared_ptr<ProxyCore> proxy, std::shared_ptr<const Binding> binding,
                const MethodDescriptor& method, std::string request,
                google::protobuf::Message* response,
                std::unique_ptr<internal::BroadcastCollector> collector, MetaArguments meta,
                absl::Time deadline, absl::AnyInvocable<void(absl::Status) &&> done)
      : proxy_(std::move(proxy)),
        method_(method),
        request_(std::move(request)),
        response_(response),
        meta_(std::move(meta)),
        deadline_(deadline),
        done_(std::move(done)),
        collector_(std::move(collector)) {
    const PartitionTable& table = *binding->routing->table;
    internal::MutexLock lock(&mu_);
    if (proxy_->service_.partitioned) {
      total_ = table.partition_count();
    } else {
      std::set<int> owners;
      for (int p = 0; p < table.partition_count(); ++p) owners.insert(table.Owner(p));
      owners.erase(-1);
      total_ = static_cast<int>(owners.size());
    }
  }

  void Begin(std::shared_ptr<const Binding> binding) {
    std::vector<int> all(binding->routing->table->partition_count());
    for (int p = 0; p < static_cast<int>(all.size()); ++p) all[p] = p;
    Send(std::move(binding), all);
  }

  void Cancel() override {
    {
      internal::MutexLock lock(&mu_);
      if (finished_) return;
      stopped_ = true;
      final_status_ = absl::CancelledError("the broadcast was cancelled");
    }
    Complete();
  }

 private:
  struct Leg {
    std::shared_ptr<const Binding> binding;  // the routing it was sent by
    int member = -1;
    std::vector<int> partitions;  // empty for stateless services
    grpc::ClientContext context;
    v1::BroadcastRequest request;
    v1::BroadcastResponse response;
  };

  // Sends `partitions` to their owners in `binding` (a stateless service: one leg per owner).
  void Send(std::shared_ptr<const Binding> binding, const std::vector<int>& partitions) {
    const PartitionTable& table = *binding->routing->table;
    const bool partitioned = proxy_->service_.partitioned;
    std::map<int, std::vector<int>> by_owner;
    std::vector<int> orphans;
    for (int p : partitions) {
      const int owner = table.Owner(p);
      if (owner < 0) {
        orphans.push_back(p);
      } else {
        by_owner[owner].push_back(p);
      }
    }
    size_t first;
    {
      internal::MutexLock lock(&mu_);
      first = legs_.size();
      for (auto& [member, owned] : by_owner) {
        Leg& leg = legs_.emplace_back();
        leg.binding = binding;
        leg.member = member;
        if (partitioned) leg.partitions = std::move(owned);
        PrepareContext(leg.context, deadline_, proxy_->config_.lookup_name, meta_);
        leg.request.set_method(method_.path);
        leg.request.set_lookup_name(proxy_->config_.lookup_name);
        leg.request.set_request(request_);
        leg.request.mutable_partitions()->Add(leg.partitions.begin(), leg.partitions.end());
      }
      pending_ += static_cast<int>(legs_.size() - first);
      if (partitioned) moved_.insert(moved_.end(), orphans.begin(), orphans.end());
    }
    // Legs are started outside the lock: their answers may arrive at once. A leg cancelled by
    // an early break meanwhile starts cancelled.
    for (size_t i = first; i < first + by_owner.size(); ++i) {
      Leg& leg = legs_[i];
      leg.binding->control[leg.member]->async()->Broadcast(
          &leg.context, &leg.request, &leg.response,
          [self = shared_from_this(), i](grpc::Status status) { self->OnLeg(i, status); });
    }
    MaybeResendOrComplete();
  }

  void OnLeg(size_t i, const grpc::Status& status) {
    {
      internal::MutexLock lock(&mu_);
      --pending_;
      if (stopped_) return;
      const Leg& leg = legs_[i];
      const std::string& member_id = leg.binding->routing->table->member(leg.member).id();
      if (status.ok()) {
        for (const v1::PartitionResult& r : leg.response.results()) {
          if (stopped_) break;
          if (r.wrong_owner()) {
            moved_.push_back(r.partition());  // sent again once the table is reloaded
          } else if (r.code() == 0) {
            Offer(r.response(), r.partition(), member_id);
          } else {
            Offer(absl::Status(static_cast<absl::StatusCode>(r.code()), r.message()), r.partition(),
                  member_id);
          }
        }
      } else {
        // The member failed as a whole: each of its partitions ends with that error.
        const absl::Status error = internal::FromGrpcStatus(status);
        if (leg.partitions.empty()) Offer(error, -1, member_id);
        for (int p : leg.partitions) {
          if (stopped_) break;
          Offer(error, p, member_id);
        }
      }
    }
    MaybeResendOrComplete();
  }

  // Once every leg has answered: completes, or sends what moved again after reloading the table
  // (with a pause), until the deadline.
  void MaybeResendOrComplete() {
    std::vector<int> moved;
    {
      internal::MutexLock lock(&mu_);
      if (finished_ || (pending_ > 0 && !stopped_)) return;
      if (!stopped_ && !moved_.empty()) {
        const absl::Duration pause = proxy_->client_->options().retry_pause;
        if (absl::Now() + pause < deadline_) {
          moved.swap(moved_);
        } else {
          for (int p : moved_) {
            Offer(absl::DeadlineExceededError(
                      absl::StrCat("partition ", p, " had no reachable owner before the deadline")),
                  p, "");
          }
          moved_.clear();
        }
      }
      if (moved.empty()) stopped_ = true;
    }
    if (moved.empty()) {
      Complete();
      return;
    }
    proxy_->client_->RefreshAsync([self = shared_from_this(), moved = std::move(moved)]() mutable {
      auto alarm = std::make_shared<grpc::Alarm>();
      alarm->Set(absl::ToChronoTime(absl::Now() + self->proxy_->client_->options().retry_pause),
                 [self, alarm, moved = std::move(moved)](bool) mutable {
                   // Move both out: the alarm keeps its callback after firing.
                   std::shared_ptr<BroadcastCall> call = std::move(self);
                   std::shared_ptr<grpc::Alarm> fired = std::move(alarm);
                   call->Send(call->proxy_->CurrentBinding(), moved);
                 });
    });
  }

  // Hands one result to the filter; a break stops the broadcast.
  void Offer(absl::StatusOr<std::string> result, int partition, const std::string& member_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const FilterDecision decision =
        collector_->Add(std::move(result), partition, member_id, total_);
    if (decision == FilterDecision::kBreak || decision == FilterDecision::kSkipAndBreak) {
      stopped_ = true;
    }
  }

  // Reduces (unless cancelled), cancels what is still in flight and answers, once.
  void Complete() {
    absl::Status status;
    {
      internal::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
      status = final_status_.ok() ? collector_->Finish(response_) : final_status_;
    }
    // Legs no longer change once finished_ is set. Cancelled outside the lock: gRPC may run a
    // leg's completion (OnLeg) inside TryCancel.
    for (Leg& leg : legs_) leg.context.TryCancel();
    RunOnce(done_, std::move(status));
  }

  const std::shared_ptr<ProxyCore> proxy_;
  const MethodDescriptor& method_;
  const std::string request_;
  google::protobuf::Message* const response_;
  const MetaArguments meta_;
  const absl::Time deadline_;
  absl::AnyInvocable<void(absl::Status) &&> done_;

  internal::Mutex mu_;
  std::unique_ptr<internal::BroadcastCollector> collector_ ABSL_GUARDED_BY(mu_);
  std::deque<Leg> legs_ ABSL_GUARDED_BY(mu_);  // stable addresses: gRPC holds them
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> moved_ ABSL_GUARDED_BY(mu_);     // partitions to send again
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;       // no more results wanted
  bool finished_ ABSL_GUARDED_BY(mu_) = false;      // done_ has been called
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);  // set by Cancel()
};

// The client aspect chain of one call; its last link is the remote call. Keeps itself alive
// until it completes, so aspects may proceed later from any thread.
class ProxyCore::Interceptions final : public Interception,
                                       public internal::Cancellable,
                                       public std::enable_shared_from_this<Interceptions> {
 public:
  Interceptions(std::shared_ptr<ProxyCore> proxy, const MethodDescriptor& method,
                const google::protobuf::Message& request, google::protobuf::Message* response,
                absl::Time deadline, absl::AnyInvocable<void(absl::Status) &&> done)
      : proxy_(std::move(proxy)),
        // Aspects may run after the caller's request is gone: keep a copy.
        request_(request.New()),
        invocation_{proxy_->service_, LookupName(*proxy_), method, *request_, {}},
        response_(response),
        deadline_(deadline),
        done_(std::move(done)) {
    request_->CopyFrom(request);
  }

  void Begin() {
    self_ = shared_from_this();
    if (proxy_->config_.meta_arguments) {
      invocation_.meta_arguments = proxy_->config_.meta_arguments(invocation_);
    }
    Advance();
  }

  Invocation& invocation() override { return invocation_; }
  google::protobuf::Message& response() override { return *response_; }
  void Proceed(OnResult on_result) override {
    on_results_.push_back(std::move(on_result));
    Advance();
  }
  void Return(absl::Status status) override { Complete(std::move(status)); }

  void Cancel() override {
    std::shared_ptr<internal::Cancellable> remote;
    {
      internal::MutexLock lock(&mu_);
      cancelled_ = true;
      remote = remote_.lock();
    }
    if (remote != nullptr) remote->Cancel();
  }

 private:
  static std::string_view LookupName(const ProxyCore& proxy) {
    return proxy.config_.lookup_name.empty() ? proxy.service_.lookup_name
                                             : proxy.config_.lookup_name;
  }

  void Advance() {
    const auto& aspects = proxy_->config_.aspects;
    if (next_ < aspects.size()) {
      aspects[next_++]->Intercept(*this);
      return;
    }
    if (IsCancelled()) {
      Complete(absl::CancelledError("the call was cancelled"));
      return;
    }
    // The remote call may complete (and drop the chain) on a gRPC thread before StartRemote
    // returns; an aspect that proceeded from its own thread holds no reference: keep one here.
    const std::shared_ptr<Interceptions> keep = shared_from_this();
    std::shared_ptr<internal::Cancellable> remote = proxy_->StartRemote(
        invocation_.method, *request_, response_, &invocation_, deadline_,
        [self = shared_from_this()](absl::Status s) { self->Complete(std::move(s)); });
    bool cancel_now;
    {
      internal::MutexLock lock(&mu_);
      remote_ = remote;
      cancel_now = cancelled_;
    }
    if (cancel_now && remote != nullptr) remote->Cancel();
  }

  bool IsCancelled() {
    internal::MutexLock lock(&mu_);
    return cancelled_;
  }

  // Unwinds the aspects that proceeded, innermost first, then answers.
  void Complete(absl::Status status) {
    while (!on_results_.empty()) {
      Interception::OnResult on_result = std::move(on_results_.back());
      on_results_.pop_back();
      if (on_result) status = std::move(on_result)(*this, std::move(status));
    }
    {
      internal::MutexLock lock(&mu_);
      remote_.reset();
    }
    RunOnce(done_, std::move(status));
    self_.reset();  // may destroy this
  }

  const std::shared_ptr<ProxyCore> proxy_;
  const std::unique_ptr<google::protobuf::Message> request_;
  Invocation invocation_;
  google::protobuf::Message* const response_;
  const absl::Time deadline_;
  absl::AnyInvocable<void(absl::Status) &&> done_;
  size_t next_ = 0;                                 // the next aspect to run
  std::vector<Interception::OnResult> on_results_;  // of the aspects that proceeded
  std::shared_ptr<Interceptions> self_;             // alive until Complete

  internal::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Weak: the remote call's completion owns this chain, not the other way round.
  std::weak_ptr<internal::Cancellable> remote_ ABSL_GUARDED_BY(mu_);
};

ProxyCore::ProxyCore(std::shared_ptr<internal::ClientState> client,
                     const ServiceDescriptor& service, ProxyConfig config)
    : client_(std::move(client)), service_(service), config_(std::move(config)) {}

ProxyCore::~ProxyCore() = default;

std::shared_ptr<const ProxyCore::Binding> ProxyCore::CurrentBinding() {
  std::shared_ptr<const internal::ClientState::Routing> routing = client_->routing();
  internal::MutexLock lock(&mu_);
  if (binding_ != nullptr && binding_->routing == routing) return binding_;
  auto binding = std::make_shared<Binding>();
  binding->routing = std::move(routing);
  binding->methods.reserve(binding->routing->channels.size() * service_.methods.size());
  for (const auto& channel : binding->routing->channels) {
    for (const MethodDescriptor& m : service_.methods) {
      binding->methods.emplace_back(m.path, grpc::internal::RpcMethod::NORMAL_RPC, channel);
    }
    binding->control.push_back(v1::Cluster::NewStub(channel));
  }
  const PartitionTable& table = *binding->routing->table;
  for (const std::string& seed : client_->options().members) {
    const auto& members = table.proto().members();
    auto it = std::find_if(members.begin(), members.end(),
                           [&](const v1::MemberInfo& m) { return m.address() == seed; });
    if (it != members.end()) {
      binding->gateway = static_cast<int>(it - members.begin());
      break;
    }
  }
  binding_ = std::move(binding);
  return binding_;
}

absl::Time ProxyCore::DeadlineFor(const MethodDescriptor& method,
                                  const CallOptions& options) const {
  for (absl::Duration timeout : {options.timeout, method.timeout, config_.timeout}) {
    if (timeout > absl::ZeroDuration()) return absl::Now() + timeout;
  }
  return absl::Now() + client_->options().invocation_timeout;
}

std::weak_ptr<internal::Cancellable> ProxyCore::Start(
    const MethodDescriptor& method, const google::protobuf::Message& request,
    google::protobuf::Message* response, const CallOptions& options,
    absl::AnyInvocable<void(absl::Status) &&> done) {
  const absl::Time deadline = DeadlineFor(method, options);
  if (config_.aspects.empty() && !config_.meta_arguments && !config_.routing_handler &&
      !config_.broadcast) {
    // Nothing to intercept: straight to the remote call.
    return StartRemote(method, request, response, nullptr, deadline, std::move(done));
  }
  auto chain = std::make_shared<Interceptions>(shared_from_this(), method, request, response,
                                               deadline, std::move(done));
  chain->Begin();
  return chain;
}

std::shared_ptr<internal::Cancellable> ProxyCore::StartRemote(
    const MethodDescriptor& method, const google::protobuf::Message& request,
    google::protobuf::Message* response, const Invocation* invocation, absl::Time deadline,
    absl::AnyInvocable<void(absl::Status) &&> done) {
  std::shared_ptr<const Binding> binding = CurrentBinding();
  MetaArguments meta = invocation != nullptr ? invocation->meta_arguments : MetaArguments();

  if (config_.broadcast) {
    auto factory = config_.collectors.find(method.index);
    auto call = std::make_shared<BroadcastCall>(
        shared_from_this(), binding, method, request.SerializeAsString(), response,
        factory != config_.collectors.end() ? factory->second(*invocation)
                                            : internal::NewBuiltinCollector(method),
        std::move(meta), deadline, std::move(done));
    call->Begin(std::move(binding));
    return call;
  }

  // Routing: the routing handler, else the contract's routing key, else a random partition.
  const int partition_count = binding->routing->table->partition_count();
  std::optional<RoutingKey> key;
  if (config_.routing_handler && invocation != nullptr) key = config_.routing_handler(*invocation);
  int partition;
  bool send_partition = true;
  if (key.has_value()) {
    partition = PartitionOf(key->hash(), partition_count);
  } else if (method.routing_key != nullptr) {
    absl::StatusOr<uint64_t> hash = method.routing_key(request);
    if (!hash.ok()) {
      std::move(done)(hash.status());
      return nullptr;
    }
    partition = PartitionOf(*hash, partition_count);
    send_partition = false;
  } else {
    thread_local absl::InsecureBitGen random;
    partition = absl::Uniform(random, 0, partition_count);
  }

  grpc::ByteBuffer bytes;
  bool own_buffer;
  if (grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(
          request, &bytes, &own_buffer);
      !s.ok()) {
    std::move(done)(internal::FromGrpcStatus(s));
    return nullptr;
  }
  auto call = std::make_shared<RemoteCall>(shared_from_this(), std::move(binding), method,
                                           std::move(bytes), response, partition, send_partition,
                                           /*routed_by_handler=*/key.has_value(), std::move(meta),
                                           deadline, std::move(done));
  call->Attempt();
  return call;
}

}  // namespace gridrpc
