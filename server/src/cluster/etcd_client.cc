#include "etcd_client.h"

#include <arpa/inet.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "etcd/rpc.grpc.pb.h"
#include "gridrpc/internal/status.h"

namespace gridrpc::internal {
namespace {

constexpr int kDefaultPort = 2379;
// How long a keep-alive waits before opening a new stream after one failed.
constexpr absl::Duration kKeepAliveRetryDelay = absl::Milliseconds(100);

struct Endpoint {
  std::string host;
  int port = kDefaultPort;
  int family = 0;  // AF_INET or AF_INET6 for an IP literal, 0 for a host name
};

std::string HostPort(const Endpoint& e) {
  return e.family == AF_INET6 ? absl::StrCat("[", e.host, "]:", e.port)
                              : absl::StrCat(e.host, ":", e.port);
}

absl::StatusOr<Endpoint> ParseEndpoint(absl::string_view text) {
  const absl::string_view original = text;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad etcd endpoint \"", absl::CHexEscape(original), "\": ", why));
  };
  if (absl::StartsWithIgnoreCase(text, "https://")) return bad("https is not supported");
  if (absl::StartsWithIgnoreCase(text, "http://")) text.remove_prefix(7);
  text = text.substr(0, text.find('/'));  // etcd ignores a path
  Endpoint e;
  absl::string_view port;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) return bad("no closing ]");
    e.host = std::string(text.substr(1, close - 1));
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return bad("expected :port after ]");
      port = rest.substr(1);
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != absl::string_view::npos && text.find(':', colon + 1) != absl::string_view::npos) {
      return bad("write an IPv6 address as [address]:port");
    }
    e.host = std::string(text.substr(0, colon));
    if (colon != absl::string_view::npos) port = text.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  if (!port.empty() && (!absl::SimpleAtoi(port, &e.port) || e.port <= 0 || e.port > 65535)) {
    return bad("bad port");
  }
  unsigned char addr[sizeof(in6_addr)];
  if (inet_pton(AF_INET, e.host.c_str(), addr) == 1) {
    e.family = AF_INET;
  } else if (inet_pton(AF_INET6, e.host.c_str(), addr) == 1) {
    e.family = AF_INET6;
  }
  return e;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, bool round_robin) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a prefix read may be large
  // Notice a dead etcd under an open watch or keep-alive stream. etcd refuses pings more often
  // than every 5 s (--grpc-keepalive-min-time) and, while no stream is open, any ping at all.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnect soon after an etcd restart: leases are seconds long.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2'000);
  if (round_robin) args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

void SetRpcDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kEtcdRpcTimeout));
}

absl::Status EtcdError(absl::string_view operation, absl::string_view endpoints,
                       const grpc::Status& status) {
  const absl::Status s = FromGrpcStatus(status);
  return absl::Status(
      s.code(), absl::StrCat("etcd ", operation, " at ", endpoints, " failed: ", s.message()));
}

std::string Quoted(absl::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\"");
}

// The end of the range of keys starting with `prefix`: "\0" (no end) if every byte is 0xff.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    const auto last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

// etcd has no empty key: the range of every key starts at "\0".
std::string RangeStart(const std::string& prefix) {
  return prefix.empty() ? std::string(1, '\0') : prefix;
}

EtcdKeyValue FromProto(const mvccpb::KeyValue& kv) {
  return {.key = kv.key(),
          .value = kv.value(),
          .create_revision = kv.create_revision(),
          .mod_revision = kv.mod_revision(),
          .lease = kv.lease()};
}

void ToProto(const EtcdOp& op, etcdserverpb::RequestOp& out) {
  switch (op.type) {
    case EtcdOp::Type::kPut: {
      etcdserverpb::PutRequest* put = out.mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case EtcdOp::Type::kDelete:
      out.mutable_request_delete_range()->set_key(op.key);
      break;
  }
}

void ToProto(const EtcdCompare& compare, etcdserverpb::Compare& out) {
  out.set_result(etcdserverpb::Compare::EQUAL);
  out.set_key(compare.key);
  switch (compare.target) {
    case EtcdCompare::Target::kCreateRevision:
      out.set_target(etcdserverpb::Compare::CREATE);
      out.set_create_revision(compare.revision);
      break;
    case EtcdCompare::Target::kModRevision:
      out.set_target(etcdserverpb::Compare::MOD);
      out.set_mod_revision(compare.revision);
      break;
    case EtcdCompare::Target::kValue:
      out.set_target(etcdserverpb::Compare::VALUE);
      out.set_value(compare.value);
      break;
  }
}

// Joins `thread`, or detaches it when called from that very thread (a callback stopping its
// own keep-alive or watch): it holds what it needs and touches nothing after the callback.
void JoinUnlessSelf(std::thread& thread) {
  if (!thread.joinable()) return;
  if (thread.get_id() == std::this_thread::get_id()) {
    thread.detach();
  } else {
    thread.join();
  }
}

}  // namespace

struct EtcdClient::Stubs {
  Stubs(std::string names, const std::shared_ptr<grpc::Channel>& channel)
      : endpoints(std::move(names)),
        kv(etcdserverpb::KV::NewStub(channel)),
        watch(etcdserverpb::Watch::NewStub(channel)),
        lease(etcdserverpb::Lease::NewStub(channel)) {}

  const std::string endpoints;  // for messages
  const std::unique_ptr<etcdserverpb::KV::Stub> kv;
  const std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  const std::unique_ptr<etcdserverpb::Lease::Stub> lease;
};

// One kept-alive lease, shared by the client and the keep-alive thread.
struct EtcdClient::KeepAliveState {
  int64_t lease = 0;
  absl::Duration ttl;
  std::function<void()> on_lost;
  std::function<void(absl::Time)> on_renewed;  // may be empty
  std::thread thread;  // set once before the thread can be stopped; joined by StopKeepAlive

  Mutex mu;
  CondVar cv;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool done ABSL_GUARDED_BY(mu) = false;                       // the thread has given up (on_lost)
  grpc::ClientContext* context ABSL_GUARDED_BY(mu) = nullptr;  // the open stream's, to cancel

  // Waits until `deadline` or a stop; true if stopping.
  bool WaitForStop(absl::Time deadline) {
    MutexLock lock(&mu);
    return cv.WaitUntil(mu, deadline, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping; });
  }
};

struct EtcdWatch::State {
  grpc::ClientContext context;  // of the watch stream; TryCancel is thread-safe

  Mutex mu;
  CondVar cv;
  bool cancelled ABSL_GUARDED_BY(mu) = false;   // by ~EtcdWatch: no on_error
  bool registered ABSL_GUARDED_BY(mu) = false;  // etcd created the watch, or it failed

  void MarkRegistered() {
    MutexLock lock(&mu);
    registered = true;
    cv.NotifyAll();
  }
};

EtcdCompare EtcdCompare::CreateRevision(std::string key, int64_t rev) {
  EtcdCompare c;
  c.key = std::move(key);
  c.target = Target::kCreateRevision;
  c.revision = rev;
  return c;
}

EtcdCompare EtcdCompare::ModRevision(std::string key, int64_t rev) {
  EtcdCompare c;
  c.key = std::move(key);
  c.target = Target::kModRevision;
  c.revision = rev;
  return c;
}

EtcdCompare EtcdCompare::Value(std::string key, std::string value) {
  EtcdCompare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.value = std::move(value);
  return c;
}

EtcdOp EtcdOp::Put(std::string key, std::string value, int64_t lease) {
  EtcdOp op;
  op.type = Type::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

EtcdOp EtcdOp::Delete(std::string key) {
  EtcdOp op;
  op.type = Type::kDelete;
  op.key = std::move(key);
  return op;
}

EtcdWatch::EtcdWatch(std::shared_ptr<State> state, std::thread thread)
    : state_(std::move(state)), thread_(std::move(thread)) {}

EtcdWatch::~EtcdWatch() {
  {
    MutexLock lock(&state_->mu);
    state_->cancelled = true;
  }
  state_->context.TryCancel();
  JoinUnlessSelf(thread_);
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Connect(
    const std::vector<std::string>& endpoints, absl::Duration connect_timeout) {
  std::vector<Endpoint> parsed;
  for (const std::string& list : endpoints) {
    for (absl::string_view text : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      absl::StatusOr<Endpoint> e = ParseEndpoint(absl::StripAsciiWhitespace(text));
      if (!e.ok()) return e.status();
      parsed.push_back(*std::move(e));
    }
  }
  if (parsed.empty()) return absl::InvalidArgumentError("no etcd endpoint given");
  std::string names = absl::StrJoin(
      parsed, ",", [](std::string* out, const Endpoint& e) { absl::StrAppend(out, HostPort(e)); });

  // The channels to try in order, each with round-robin or not.
  std::vector<std::pair<std::string, bool>> targets;
  const int family = parsed[0].family;
  const bool one_family = family != 0 && std::all_of(parsed.begin(), parsed.end(),
                                                     [&](auto& e) { return e.family == family; });
  if (parsed.size() > 1 && one_family) {
    targets.emplace_back(absl::StrCat(family == AF_INET ? "ipv4:" : "ipv6:", names), true);
  } else {
    for (const Endpoint& e : parsed) {
      targets.emplace_back(e.family == AF_INET6 ? absl::StrCat("ipv6:", HostPort(e)) : HostPort(e),
                           false);
    }
  }

  const absl::Time deadline = absl::Now() + connect_timeout;
  grpc::Status last;
  for (size_t i = 0; i < targets.size(); ++i) {
    // Each candidate gets an equal share of the time left, so a black hole first still leaves
    // time for the others.
    const absl::Time attempt_deadline =
        absl::Now() + (deadline - absl::Now()) / static_cast<int64_t>(targets.size() - i);
    std::shared_ptr<grpc::Channel> channel = NewChannel(targets[i].first, targets[i].second);
    // A linearizable read of one key: answers only once a member is up and has a leader.
    etcdserverpb::RangeRequest probe;
    probe.set_key(std::string(1, '\0'));
    probe.set_count_only(true);
    etcdserverpb::RangeResponse response;
    grpc::ClientContext context;
    context.set_wait_for_ready(true);  // wait for the connection instead of failing fast
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    last = etcdserverpb::KV::NewStub(channel)->Range(&context, probe, &response);
    if (last.ok()) {
      // Without round-robin, the client stays on the one endpoint that answered.
      std::string in_use = targets.size() > 1 ? HostPort(parsed[i]) : std::move(names);
      return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(in_use), std::move(channel)));
    }
  }
  if (last.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      last.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("etcd at ", names, " did not answer within ",
                                               absl::FormatDuration(connect_timeout), " (",
                                               last.error_message(), ")"));
  }
  return EtcdError("connect", names, last);
}

EtcdClient::EtcdClient(std::string endpoints, std::shared_ptr<grpc::Channel> channel)
    : endpoints_(endpoints), stubs_(std::make_shared<Stubs>(endpoints, std::move(channel))) {}

EtcdClient::~EtcdClient() {
  std::map<int64_t, std::shared_ptr<KeepAliveState>> keep_alives;
  {
    MutexLock lock(&mu_);
    keep_alives.swap(keep_alives_);
  }
  for (auto& [lease, state] : keep_alives) StopKeepAlive(*state);
}

absl::StatusOr<int64_t> EtcdClient::GrantLease(absl::Duration ttl) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1)))));
  etcdserverpb::LeaseGrantResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->lease->LeaseGrant(&context, request, &response);
  const std::string operation = absl::StrCat("LeaseGrant of ", request.ttl(), "s");
  if (!status.ok()) return EtcdError(operation, endpoints_, status);
  if (!response.error().empty()) {
    return absl::InternalError(
        absl::StrCat("etcd ", operation, " at ", endpoints_, " failed: ", response.error()));
  }
  return response.id();
}

absl::Status EtcdClient::KeepAlive(int64_t lease, absl::Duration ttl, std::function<void()> on_lost,
                                   std::function<void(absl::Time valid_until)> on_renewed) {
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("etcd keep-alive of lease ", lease,
                                                   ": ttl must be positive, is ",
                                                   absl::FormatDuration(ttl)));
  }
  auto state = std::make_shared<KeepAliveState>();
  state->lease = lease;
  state->ttl = ttl;
  state->on_lost = std::move(on_lost);
  state->on_renewed = std::move(on_renewed);
  std::shared_ptr<KeepAliveState> finished;  // a lost keep-alive of the same lease, replaced
  {
    MutexLock lock(&mu_);
    auto it = keep_alives_.find(lease);
    if (it != keep_alives_.end()) {
      bool done;
      {
        MutexLock state_lock(&it->second->mu);
        done = it->second->done;
      }
      if (!done) {
        return absl::AlreadyExistsError(
            absl::StrCat("etcd lease ", lease, " is already kept alive"));
      }
      finished = std::move(it->second);
      keep_alives_.erase(it);
    }
    // Started under mu_ so that StopKeepAlive never sees the thread before it is set.
    state->thread = std::thread(&EtcdClient::RunKeepAlive, stubs_, state);
    keep_alives_.emplace(lease, state);
  }
  if (finished != nullptr) StopKeepAlive(*finished);
  return absl::OkStatus();
}

void EtcdClient::RunKeepAlive(std::shared_ptr<Stubs> stubs, std::shared_ptr<KeepAliveState> s) {
  // Assume the lease was just granted or refreshed; the first refresh goes out at once.
  absl::Time expiry = absl::Now() + s->ttl;
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(s->lease);
  bool lost = false;
  while (!lost) {
    // The stream ends when the lease would expire, so a hung etcd cannot block Read past it:
    // that is the latest moment on_lost must be called. A refreshed lease outlives the stream,
    // and the next refresh opens a new one.
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(expiry));
    {
      MutexLock lock(&s->mu);
      if (s->stopping) return;
      s->context = &context;
    }
    std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                             etcdserverpb::LeaseKeepAliveResponse>>
        stream = stubs->lease->LeaseKeepAlive(&context);
    etcdserverpb::LeaseKeepAliveResponse response;
    while (true) {
      const absl::Time sent = absl::Now();
      if (!stream->Write(request) || !stream->Read(&response)) break;
      if (response.ttl() <= 0) {
        lost = true;  // etcd says the lease is gone
        break;
      }
      expiry = sent + absl::Seconds(response.ttl());
      if (s->on_renewed) s->on_renewed(expiry);
      if (s->WaitForStop(sent + std::min(s->ttl, absl::Seconds(response.ttl())) / 3)) break;
    }
    bool stopping;
    {
      MutexLock lock(&s->mu);
      s->context = nullptr;
      stopping = s->stopping;
    }
    context.TryCancel();  // so that Finish does not wait for etcd to end the stream
    stream->Finish();
    if (stopping) return;
    if (absl::Now() >= expiry) lost = true;
    if (!lost && s->WaitForStop(std::min(absl::Now() + kKeepAliveRetryDelay, expiry))) return;
  }
  {
    MutexLock lock(&s->mu);
    s->done = true;
  }
  s->on_lost();
}

absl::StatusOr<absl::Duration> EtcdClient::RefreshLease(int64_t lease) {
  grpc::ClientContext context;
  SetRpcDeadline(context);
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                           etcdserverpb::LeaseKeepAliveResponse>>
      stream = stubs_->lease->LeaseKeepAlive(&context);
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseKeepAliveResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  context.TryCancel();
  const grpc::Status status = stream->Finish();
  if (!answered) {
    return EtcdError(
        absl::StrCat("LeaseKeepAlive of ", lease), endpoints_,
        status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "no answer") : status);
  }
  if (response.ttl() <= 0) {
    return absl::NotFoundError(
        absl::StrCat("etcd lease ", lease, " at ", endpoints_, " has expired or was revoked"));
  }
  return absl::Seconds(response.ttl());
}

void EtcdClient::StopKeepAlive(KeepAliveState& state) {
  {
    MutexLock lock(&state.mu);
    state.stopping = true;
    if (state.context != nullptr) state.context->TryCancel();
    state.cv.NotifyAll();
  }
  JoinUnlessSelf(state.thread);
}

void EtcdClient::AbandonLease(int64_t lease) {
  std::shared_ptr<KeepAliveState> keep_alive;
  {
    MutexLock lock(&mu_);
    auto it = keep_alives_.find(lease);
    if (it != keep_alives_.end()) {
      keep_alive = std::move(it->second);
      keep_alives_.erase(it);
    }
  }
  if (keep_alive != nullptr) StopKeepAlive(*keep_alive);
}

absl::Status EtcdClient::RevokeLease(int64_t lease) {
  AbandonLease(lease);
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseRevokeResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->lease->LeaseRevoke(&context, request, &response);
  if (!status.ok()) return EtcdError(absl::StrCat("LeaseRevoke of ", lease), endpoints_, status);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> EtcdClient::Put(const std::string& key, const std::string& value,
                                        int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->kv->Put(&context, request, &response);
  if (!status.ok()) return EtcdError(absl::StrCat("Put of ", Quoted(key)), endpoints_, status);
  return response.header().revision();
}

absl::StatusOr<std::vector<EtcdKeyValue>> EtcdClient::Range(const std::string& key,
                                                            const std::string& range_end,
                                                            int64_t* revision) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  request.set_range_end(range_end);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->kv->Range(&context, request, &response);
  if (!status.ok()) {
    return EtcdError(range_end.empty()
                         ? absl::StrCat("Get of ", Quoted(key))
                         : absl::StrCat("Range from ", Quoted(key), " to ", Quoted(range_end)),
                     endpoints_, status);
  }
  if (revision != nullptr) *revision = response.header().revision();
  std::vector<EtcdKeyValue> out;
  out.reserve(response.kvs_size());
  for (const mvccpb::KeyValue& kv : response.kvs()) out.push_back(FromProto(kv));
  return out;
}

absl::StatusOr<std::vector<EtcdKeyValue>> EtcdClient::GetPrefix(const std::string& prefix,
                                                                int64_t* revision) {
  return Range(RangeStart(prefix), PrefixEnd(prefix), revision);
}

absl::StatusOr<std::optional<EtcdKeyValue>> EtcdClient::Get(const std::string& key,
                                                            int64_t* revision) {
  absl::StatusOr<std::vector<EtcdKeyValue>> kvs = Range(key, "", revision);
  if (!kvs.ok()) return kvs.status();
  if (kvs->empty()) return std::nullopt;
  return std::move(kvs->front());
}

absl::Status EtcdClient::Delete(const std::string& key) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  etcdserverpb::DeleteRangeResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->kv->DeleteRange(&context, request, &response);
  if (!status.ok()) return EtcdError(absl::StrCat("Delete of ", Quoted(key)), endpoints_, status);
  return absl::OkStatus();
}

absl::StatusOr<bool> EtcdClient::Txn(const std::vector<EtcdCompare>& compares,
                                     const std::vector<EtcdOp>& then_ops,
                                     const std::vector<EtcdOp>& else_ops, int64_t* revision) {
  etcdserverpb::TxnRequest request;
  for (const EtcdCompare& c : compares) ToProto(c, *request.add_compare());
  for (const EtcdOp& op : then_ops) ToProto(op, *request.add_success());
  for (const EtcdOp& op : else_ops) ToProto(op, *request.add_failure());
  etcdserverpb::TxnResponse response;
  grpc::ClientContext context;
  SetRpcDeadline(context);
  const grpc::Status status = stubs_->kv->Txn(&context, request, &response);
  if (!status.ok()) {
    const std::string first =
        compares.empty() ? (then_ops.empty() ? "" : then_ops[0].key) : compares[0].key;
    return EtcdError(absl::StrCat("Txn on ", Quoted(first)), endpoints_, status);
  }
  if (revision != nullptr) *revision = response.header().revision();
  return response.succeeded();
}

std::unique_ptr<EtcdWatch> EtcdClient::WatchPrefix(
    const std::string& prefix, int64_t start_revision,
    std::function<void(const std::vector<EtcdEvent>&, int64_t revision)> on_events,
    std::function<void(const absl::Status&)> on_error) {
  auto state = std::make_shared<EtcdWatch::State>();
  const std::string what = absl::StrCat("Watch of prefix ", Quoted(prefix));
  std::thread thread([stubs = stubs_, state, what, start = RangeStart(prefix),
                      end = PrefixEnd(prefix), start_revision, on_events = std::move(on_events),
                      on_error = std::move(on_error)] {
    std::unique_ptr<
        grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
        stream = stubs->watch->Watch(&state->context);
    etcdserverpb::WatchRequest request;
    etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(start);
    create->set_range_end(end);
    create->set_start_revision(start_revision);
    absl::Status error;  // a cancellation by etcd
    if (stream->Write(request)) {
      etcdserverpb::WatchResponse response;
      std::vector<EtcdEvent> events;
      while (stream->Read(&response)) {
        if (response.created()) state->MarkRegistered();
        if (response.canceled()) {
          error = response.compact_revision() != 0
                      ? absl::OutOfRangeError(absl::StrCat(
                            "etcd ", what, " at ", stubs->endpoints, ": revision ", start_revision,
                            " is compacted, the oldest left is ", response.compact_revision()))
                      : absl::UnavailableError(
                            absl::StrCat("etcd ", what, " at ", stubs->endpoints,
                                         " was cancelled: ", response.cancel_reason()));
          break;
        }
        if (response.events_size() == 0) continue;  // the creation, or a progress report
        events.clear();
        for (const mvccpb::Event& e : response.events()) {
          events.push_back({.type = e.type() == mvccpb::Event::DELETE ? EtcdEvent::Type::kDelete
                                                                      : EtcdEvent::Type::kPut,
                            .kv = FromProto(e.kv())});
        }
        on_events(events, response.header().revision());
      }
    }
    if (!error.ok()) state->context.TryCancel();  // etcd keeps the stream open
    const grpc::Status status = stream->Finish();
    state->MarkRegistered();
    {
      MutexLock lock(&state->mu);
      if (state->cancelled) return;
    }
    if (error.ok()) {
      error = status.ok() ? absl::UnavailableError(
                                absl::StrCat("etcd ", what, " at ", stubs->endpoints, " ended"))
                          : EtcdError(what, stubs->endpoints, status);
    }
    on_error(error);
  });
  {
    MutexLock lock(&state->mu);
    state->cv.WaitUntil(state->mu, absl::Now() + kEtcdRpcTimeout,
                        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return state->registered; });
  }
  return std::unique_ptr<EtcdWatch>(new EtcdWatch(std::move(state), std::move(thread)));
}

}  // namespace gridrpc::internal
