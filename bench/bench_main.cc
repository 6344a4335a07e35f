// gridrpc-bench (`./dev bench`): gridrpc against raw gRPC, measured in the same run.
//
// Each scenario runs in rounds interleaved with its baseline (raw, gridrpc, raw, gridrpc, ...)
// so that both see the same machine; the table shows medians and the ratios are medians of
// per-round ratios. Results go to --out as flat JSON numbers whose names stay stable across
// commits:
//   raw_grpc_calls_per_s      unary echo, plain gRPC callback server and generated stub, 64 in
//                             flight, each call with a deadline as gridrpc's calls have (the
//                             client's invocation timeout): the like-for-like baseline
//   routed_calls_per_s        the same through a gridrpc proxy to a partitioned member
//   routed_vs_raw_throughput  routed / raw
//   raw_grpc_no_deadline_calls_per_s, routed_vs_raw_no_deadline_throughput
//                             the baseline without a deadline: gRPC then arms no timers, which
//                             on Debian's build is a visible share of a call's cost
//   raw_grpc_p50_us, routed_p50_us   one call at a time
//   broadcast3_vs_routed_p50  a broadcast to 3 members (stateless echo: one run per member) vs
//                             one routed call on the same cluster, p50 of one at a time
//   broadcast_271_partitions_p50_us   a broadcast over all 271 partitions of a partitioned echo
//                             without backups on the same 3 members (271 executions, results)
//   sync_backup_vs_routed_p50 a write with one sync backup vs the same write without backups,
//                             on the same 3 members, p50 of one at a time
//   raw_fanout3_p50_us        plain gRPC: three unary calls at once to three plain callback
//                             servers in this process, until all answered (what a broadcast to 3
//                             members cannot beat on this machine)
//   raw_chain_p50_us          plain gRPC: a plain server that calls a second plain server before
//                             answering (what a write with a sync backup cannot beat)
//   broadcast3_vs_raw_fanout3_p50, sync_backup_vs_raw_chain_p50
//                             gridrpc's broadcast and sync-backed write against those shapes:
//                             our overhead, not the machine's
//   migration_mb_per_s        container state copied per second while a 4th member joins 3
//                             (embedded cluster, over the peer ports, ~3 MB of counters)
//   migration_64mb_partition_mb_per_s
//                             one partition holding 64 MB copied to a new backup after its
//                             primary crashed (the copy's bytes over its elapsed time)
//   embedded_failover_seconds from crashing a member of an embedded cluster (no failure
//                             detection delay) to every partition taking writes again, backup
//                             count restored
//   failover_seconds          from SIGKILL of one of 3 gridrpc-member processes (etcd
//                             coordinator, --lease_ttl=2s, a real etcd) to every partition
//                             taking writes again: lease expiry + promotion
//   aspects3_overhead         extra time per call, as a fraction of a routed call, with three
//                             empty client aspects and three empty execution aspects
//                             (throughput, 64 in flight)
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "echo.gridrpc.h"
#include "example_services.h"
#include "examples/counter.gridrpc.h"
#include "gridrpc/client.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/migration.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/proxy.h"
#include "raw_echo.grpc.pb.h"
#include "testing/child_process.h"
#include "testing/etcd_server.h"

ABSL_FLAG(std::string, out, "build/bench/results.json", "where to write the JSON results");
ABSL_FLAG(int, rounds, 5, "interleaved rounds per scenario");
ABSL_FLAG(int, in_flight, 64, "calls in flight in throughput runs");
ABSL_FLAG(int, payload_bytes, 100, "request payload size");
ABSL_FLAG(double, seconds, 1.5, "duration of one throughput round");
ABSL_FLAG(std::string, member, "",
          "the gridrpc-member binary for failover_seconds (default: next to gridrpc-bench)");
ABSL_FLAG(std::string, profile_only, "",
          "run only one driver (raw, raw_no_deadline, routed or aspects) for --seconds and print "
          "the call "
          "count: for profilers such as callgrind");

namespace {

// ---- the two servers -------------------------------------------------------------------------

class RawEcho final : public rawbench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const rawbench::EchoRequest* req,
                                 rawbench::EchoResponse* resp) override {
    resp->set_payload(req->payload());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

class StatelessGridEcho final : public bench::StatelessEcho::Service {
  absl::StatusOr<bench::EchoResponse> Echo(gridrpc::CallContext&,
                                           const bench::EchoRequest& req) override {
    bench::EchoResponse resp;
    resp.set_payload(req.payload());
    resp.set_count(1);
    return resp;
  }
};

// A plain server that asks a second one before it answers: the shape of a write with a sync
// backup, in plain gRPC.
class RawChainEcho final : public rawbench::Echo::CallbackService {
 public:
  explicit RawChainEcho(rawbench::Echo::Stub& next) : next_(next) {}

  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const rawbench::EchoRequest* req,
                                 rawbench::EchoResponse* resp) override {
    struct Call {
      grpc::ClientContext context;
      rawbench::EchoResponse response;
    };
    auto* call = new Call;
    call->context.set_deadline(ctx->deadline());
    auto* reactor = ctx->DefaultReactor();
    next_.async()->Echo(&call->context, req, &call->response,
                        [call, reactor, resp](grpc::Status s) {
                          resp->set_payload(call->response.payload());
                          delete call;
                          reactor->Finish(s);
                        });
    return reactor;
  }

 private:
  rawbench::Echo::Stub& next_;
};

// A plain callback server on a free loopback port, and a stub to it.
struct RawServer {
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<rawbench::Echo::Stub> stub;
};
RawServer ServeRaw(grpc::Service& service) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  RawServer out;
  out.server = builder.BuildAndStart();
  out.stub = rawbench::Echo::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  return out;
}

// The cheapest aspects there are: they only pass the call on.
class EmptyClientAspect final : public gridrpc::InvocationAspect {
  void Intercept(gridrpc::Interception& call) override { call.Proceed(); }
};
class EmptyExecutionAspect final : public gridrpc::ExecutionAspect {
  absl::Status Intercept(gridrpc::ServerInvocation& call) override { return call.Proceed(); }
};

// What both partitioned echoes do: echo, and count the key in the partition's state.
bench::EchoResponse EchoAndCount(bench::EchoState& state, const bench::EchoRequest& req) {
  bench::EchoResponse resp;
  resp.set_payload(req.payload());
  resp.set_count(++(*state.mutable_counts())[req.key()]);
  return resp;
}

class UnreplicatedGridEcho final : public bench::UnreplicatedEcho::PartitionedService {
  absl::StatusOr<bench::EchoResponse> Echo(gridrpc::PartitionContext&, State& state,
                                           const bench::EchoRequest& req) override {
    return EchoAndCount(state, req);
  }
};

class GridEcho final : public bench::Echo::PartitionedService {
  absl::StatusOr<bench::EchoResponse> Echo(gridrpc::PartitionContext&, State& state,
                                           const bench::EchoRequest& req) override {
    return EchoAndCount(state, req);
  }
};

// ---- drivers ---------------------------------------------------------------------------------

// Starts one call and runs `done` when it completes.
using StartCall = std::function<void(std::function<void(bool ok)> done)>;

// Closed loop: `in_flight` calls outstanding until `duration` passes; returns completed calls/s.
double Throughput(const StartCall& start, int in_flight, absl::Duration duration) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> completed{0}, failed{0};
  absl::Mutex mu;
  int outstanding = in_flight;
  std::function<void(bool)> on_done = [&](bool ok) {
    (ok ? completed : failed).fetch_add(1, std::memory_order_relaxed);
    if (!stop.load(std::memory_order_relaxed)) {
      start(on_done);
      return;
    }
    absl::MutexLock lock(&mu);
    --outstanding;
  };
  const absl::Time begin = absl::Now();
  for (int i = 0; i < in_flight; ++i) start(on_done);
  absl::SleepFor(duration);
  stop = true;
  const int64_t done_at_stop = completed.load();
  const absl::Duration elapsed = absl::Now() - begin;
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](int* n) { return *n == 0; }, &outstanding));
  if (failed.load() > 0)
    std::fprintf(stderr, "warning: %lld calls failed\n", (long long)failed.load());
  return done_at_stop / absl::ToDoubleSeconds(elapsed);
}

// One call at a time; returns the median latency in microseconds.
double P50Micros(const StartCall& start, int calls) {
  std::vector<double> micros;
  for (int i = 0; i < calls; ++i) {
    absl::Notification done;
    const absl::Time t0 = absl::Now();
    start([&](bool) { done.Notify(); });
    done.WaitForNotification();
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }
  std::nth_element(micros.begin(), micros.begin() + micros.size() / 2, micros.end());
  return micros[micros.size() / 2];
}

// Adds up what migrations copy and how long the process took.
class MigrationMeter final : public gridrpc::MigrationListener {
 public:
  void MigrationStarted(const gridrpc::MigrationState&) override { start_ = absl::Now(); }
  void ReplicaMigrationCompleted(const gridrpc::ReplicaMigrationEvent& e) override {
    bytes_ += e.bytes;
  }
  void MigrationFinished(const gridrpc::MigrationState&) override {
    elapsed_ += absl::Now() - start_;
  }
  double mb_per_s() const { return bytes_ / 1e6 / absl::ToDoubleSeconds(elapsed_); }

 private:
  absl::Time start_;
  absl::Duration elapsed_;
  int64_t bytes_ = 0;
};

// Keys, one per partition, to prove each partition writable.
std::vector<std::string> KeyPerPartition(const std::string& prefix) {
  std::vector<std::string> keys(gridrpc::kDefaultPartitionCount);
  for (int i = 0, found = 0; found < gridrpc::kDefaultPartitionCount; ++i) {
    std::string key = prefix + std::to_string(i);
    std::string& slot =
        keys[gridrpc::PartitionOf(gridrpc::KeyHash(key), gridrpc::kDefaultPartitionCount)];
    if (slot.empty()) {
      slot = std::move(key);
      ++found;
    }
  }
  return keys;
}

// One trial: 3 members full of counters, a 4th joins (migration throughput), then one crashes
// (time until every partition takes writes). Returns {MB/s, failover seconds}.
std::pair<double, double> MembershipTrial(const bench::EchoRequest& request) {
  auto cluster = gridrpc::EmbeddedCluster::Start({.members = 3}, [](gridrpc::Member& m) {
                   return m.AddService(std::make_unique<GridEcho>());
                 }).value();
  auto client = gridrpc::Client::Create({.members = cluster->addresses()}).value();
  auto proxy = gridrpc::ProxyBuilder<bench::Echo>(*client).Build();
  // ~40k keys of ~70 bytes: about 3 MB of state per replica set.
  const std::string prefix(60, 'k');
  std::vector<gridrpc::Future<bench::EchoResponse>> pending;
  for (int i = 0; i < 40000; ++i) {
    bench::EchoRequest put = request;
    put.set_key(prefix + std::to_string(i));
    pending.push_back(proxy->EchoAsync(put));
    if (pending.size() == 64) {
      for (auto& f : pending) std::move(f).Get().IgnoreError();
      pending.clear();
    }
  }
  for (auto& f : pending) std::move(f).Get().IgnoreError();
  auto meter = std::make_shared<MigrationMeter>();
  cluster->AddMigrationListener(meter);
  cluster->AddMember().IgnoreError();

  const std::vector<std::string> probes = KeyPerPartition("probe-");
  const absl::Time crash = absl::Now();
  cluster->Crash(0).IgnoreError();
  for (const std::string& key : probes) {
    bench::EchoRequest put = request;
    put.set_key(key);
    gridrpc::CallOptions options;
    options.timeout = absl::Seconds(30);
    proxy->Echo(put, options).IgnoreError();  // retried by the client until writable
  }
  const double failover = absl::ToDoubleSeconds(absl::Now() - crash);
  cluster->Shutdown();
  return {meter->mb_per_s(), failover};
}

// One trial: 3 members, one partition filled with 64 MB; its primary crashes and the backup count
// is restored by copying that partition. Returns the copy's MB/s.
double LargePartitionTrial() {
  auto cluster =
      gridrpc::EmbeddedCluster::Start({.members = 3}, examples::AddExampleServices).value();
  auto client = gridrpc::Client::Create({.members = cluster->addresses()}).value();
  auto search = gridrpc::ProxyBuilder<examples::SearchService>(*client).Build();
  const int target = gridrpc::PartitionOf(gridrpc::KeyHash(std::string_view("big-0")),
                                          gridrpc::kDefaultPartitionCount);
  int indexed = 0;
  for (int i = 0; indexed < 16; ++i) {
    const std::string id = "big-" + std::to_string(i);
    if (gridrpc::PartitionOf(gridrpc::KeyHash(std::string_view(id)),
                             gridrpc::kDefaultPartitionCount) != target) {
      continue;
    }
    examples::IndexRequest index;
    index.mutable_document()->set_id(id);
    index.mutable_document()->set_text(std::string(4 * 1024 * 1024 - 1024, 'x'));
    search->Index(index).IgnoreError();
    ++indexed;
  }
  class CopyMeter final : public gridrpc::MigrationListener {
   public:
    explicit CopyMeter(int partition) : partition_(partition) {}
    void ReplicaMigrationCompleted(const gridrpc::ReplicaMigrationEvent& e) override {
      if (e.partition != partition_) return;
      bytes_ += e.bytes;
      elapsed_ += e.elapsed;
    }
    double mb_per_s() const { return bytes_ / 1e6 / absl::ToDoubleSeconds(elapsed_); }

   private:
    const int partition_;
    int64_t bytes_ = 0;
    absl::Duration elapsed_;
  };
  auto meter = std::make_shared<CopyMeter>(target);
  cluster->AddMigrationListener(meter);
  const auto table = cluster->partition_table();
  const std::string primary = table->member(table->Owner(target)).id();
  for (int m = 0; m < cluster->size(); ++m) {
    if (cluster->member(m).id() == primary) cluster->Crash(m).IgnoreError();
  }
  cluster->Shutdown();
  return meter->mb_per_s();
}

// One trial: etcd and 3 gridrpc-member processes; one is SIGKILLed; the time until every
// partition took a write again. Negative if something failed (printed).
double ProcessFailoverTrial(const std::string& member_path) {
  auto fail = [](std::string_view what) {
    std::fprintf(stderr, "failover trial: %.*s\n", static_cast<int>(what.size()), what.data());
    return -1.0;
  };
  absl::StatusOr<std::unique_ptr<gridrpc::testing::EtcdServer>> etcd =
      gridrpc::testing::EtcdServer::Start();
  if (!etcd.ok()) return fail(etcd.status().ToString());
  const std::string dir = std::filesystem::temp_directory_path() / "gridrpc-bench-failover";
  std::filesystem::create_directories(dir);
  std::vector<std::unique_ptr<gridrpc::testing::ChildProcess>> members;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    auto member = gridrpc::testing::ChildProcess::Start(
        {member_path, "--listen=127.0.0.1:0", "--coordinator=etcd",
         "--etcd_endpoints=" + (*etcd)->endpoint(), "--lease_ttl=2s"},
        absl::StrCat(dir, "/member", i, ".log"));
    if (!member.ok()) return fail(member.status().ToString());
    std::optional<std::string> line = (*member)->WaitForLine("listening on", absl::Seconds(30));
    if (!line.has_value()) return fail("a member did not join:\n" + (*member)->LogTail());
    addresses.push_back(line->substr(line->rfind(' ') + 1));
    members.push_back(*std::move(member));
  }
  auto client = gridrpc::Client::Create({.members = addresses});
  if (!client.ok()) return fail(client.status().ToString());
  // Until the third member's share has moved to it.
  const absl::Time settle = absl::Now() + absl::Seconds(30);
  while ((*client)->partition_table()->member_count() < 3 && absl::Now() < settle) {
    absl::SleepFor(absl::Milliseconds(50));
    (*client)->RefreshPartitionTable().IgnoreError();
  }
  auto counter = gridrpc::ProxyBuilder<examples::Counter>(**client).Build();
  const std::vector<std::string> keys = KeyPerPartition("probe-");
  for (const std::string& key : keys) {
    examples::IncRequest inc;
    inc.set_name(key);
    inc.set_amount(1);
    if (!counter->Inc(inc).ok()) return fail("a write failed before the kill");
  }
  const absl::Time kill_time = absl::Now();
  members[1]->Signal(SIGKILL);
  // A write to a dead primary fails at once (UNAVAILABLE, maybe applied, so not retried by the
  // client): try each partition again until it takes one, for at most 60 s.
  const absl::Time give_up = kill_time + absl::Seconds(60);
  for (const std::string& key : keys) {
    examples::IncRequest inc;
    inc.set_name(key);
    inc.set_amount(1);
    while (!counter->Inc(inc).ok()) {
      if (absl::Now() > give_up) return fail("partitions not writable 60 s after the kill");
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - kill_time);
  members.clear();
  std::filesystem::remove_all(dir);
  return seconds;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const int in_flight = absl::GetFlag(FLAGS_in_flight);
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));

  bench::EchoRequest request;
  request.set_key("bench-key");
  request.set_payload(std::string(absl::GetFlag(FLAGS_payload_bytes), 'x'));
  rawbench::EchoRequest raw_request;  // the same bytes on the wire, minus nothing
  raw_request.set_key(request.key());
  raw_request.set_payload(request.payload());

  // Raw gRPC: a typed callback server and its generated stub.
  RawEcho raw_service;
  RawServer raw = ServeRaw(raw_service);
  std::unique_ptr<rawbench::Echo::Stub>& raw_stub = raw.stub;
  const absl::Duration deadline = gridrpc::ClientOptions().invocation_timeout;

  // Raw gRPC anchors for the broadcast and the sync backup: three servers called at once, and a
  // server that calls a second one.
  RawEcho fanout_services[3];
  std::vector<RawServer> fanout;
  for (RawEcho& service : fanout_services) fanout.push_back(ServeRaw(service));
  RawEcho chain_tail_service;
  RawServer chain_tail = ServeRaw(chain_tail_service);
  RawChainEcho chain_head_service(*chain_tail.stub);
  RawServer chain_head = ServeRaw(chain_head_service);
  auto raw_echo = [&](rawbench::Echo::Stub& stub, std::function<void(bool)> done,
                      bool with_deadline = true) {
    struct Call {
      grpc::ClientContext context;
      rawbench::EchoResponse response;
    };
    auto* call = new Call;
    if (with_deadline) call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    stub.async()->Echo(&call->context, &raw_request, &call->response,
                       [call, done = std::move(done)](grpc::Status s) {
                         delete call;
                         done(s.ok());
                       });
  };
  const StartCall raw_fanout3_call = [&](std::function<void(bool)> done) {
    auto remaining = std::make_shared<std::atomic<int>>(3);
    auto all_ok = std::make_shared<std::atomic<bool>>(true);
    for (RawServer& server : fanout) {
      raw_echo(*server.stub, [remaining, all_ok, done](bool ok) {
        if (!ok) all_ok->store(false);
        if (remaining->fetch_sub(1) == 1) done(all_ok->load());
      });
    }
  };
  const StartCall raw_chain_call = [&](std::function<void(bool)> done) {
    raw_echo(*chain_head.stub, std::move(done));
  };
  const StartCall raw_call = [&](std::function<void(bool)> done) {
    raw_echo(*raw_stub, std::move(done));
  };
  const StartCall raw_no_deadline_call = [&](std::function<void(bool)> done) {
    raw_echo(*raw_stub, std::move(done), /*with_deadline=*/false);
  };

  // gridrpc: one member hosting the partitioned echo, a smart client and its proxy.
  auto cluster = gridrpc::EmbeddedCluster::Start({.members = 1}, [](gridrpc::Member& m) {
                   return m.AddService(std::make_unique<GridEcho>());
                 }).value();
  auto client = gridrpc::Client::Create({.members = cluster->addresses()}).value();
  auto proxy = gridrpc::ProxyBuilder<bench::Echo>(*client).Build();
  const StartCall routed_call = [&](std::function<void(bool)> done) {
    proxy->EchoAsync(
        request, [done = std::move(done)](absl::StatusOr<bench::EchoResponse> r) { done(r.ok()); });
  };

  // The same member and proxy with three empty aspects on each side.
  auto aspect_cluster =
      gridrpc::EmbeddedCluster::Start(
          {.members = 1,
           .execution_aspects = {std::make_shared<EmptyExecutionAspect>(),
                                 std::make_shared<EmptyExecutionAspect>(),
                                 std::make_shared<EmptyExecutionAspect>()}},
          [](gridrpc::Member& m) { return m.AddService(std::make_unique<GridEcho>()); })
          .value();
  auto aspect_client = gridrpc::Client::Create({.members = aspect_cluster->addresses()}).value();
  auto aspect_proxy =
      gridrpc::ProxyBuilder<bench::Echo>(*aspect_client)
          .Aspects({std::make_shared<EmptyClientAspect>(), std::make_shared<EmptyClientAspect>(),
                    std::make_shared<EmptyClientAspect>()})
          .Build();
  const StartCall aspects_call = [&](std::function<void(bool)> done) {
    aspect_proxy->EchoAsync(
        request, [done = std::move(done)](absl::StatusOr<bench::EchoResponse> r) { done(r.ok()); });
  };

  // Three members: broadcasts against a routed call on the same cluster.
  auto trio = gridrpc::EmbeddedCluster::Start({.members = 3}, [](gridrpc::Member& m) {
                for (absl::Status s : {m.AddService(std::make_unique<StatelessGridEcho>()),
                                       m.AddService(std::make_unique<GridEcho>()),
                                       m.AddService(std::make_unique<UnreplicatedGridEcho>())}) {
                  if (!s.ok()) return s;
                }
                return absl::OkStatus();
              }).value();
  auto trio_client = gridrpc::Client::Create({.members = trio->addresses()}).value();
  auto trio_routed = gridrpc::ProxyBuilder<bench::StatelessEcho>(*trio_client).Build();
  auto trio_broadcast = gridrpc::BroadcastProxyBuilder<bench::StatelessEcho>(*trio_client).Build();
  // Unreplicated: this prices the broadcast itself, not 271 backups.
  auto trio_partitions =
      gridrpc::BroadcastProxyBuilder<bench::UnreplicatedEcho>(*trio_client).Build();
  auto async_driver = [&](auto& proxy) -> StartCall {
    return [&](std::function<void(bool)> done) {
      proxy->EchoAsync(request, [done = std::move(done)](absl::StatusOr<bench::EchoResponse> r) {
        done(r.ok());
      });
    };
  };
  const StartCall trio_routed_call = async_driver(trio_routed);
  const StartCall trio_broadcast_call = async_driver(trio_broadcast);
  const StartCall trio_partitions_call = async_driver(trio_partitions);
  auto trio_replicated = gridrpc::ProxyBuilder<bench::Echo>(*trio_client).Build();
  auto trio_unreplicated = gridrpc::ProxyBuilder<bench::UnreplicatedEcho>(*trio_client).Build();
  const StartCall trio_replicated_call = async_driver(trio_replicated);
  const StartCall trio_unreplicated_call = async_driver(trio_unreplicated);

  // Warm every path (connections, registered methods, containers).
  for (const StartCall* call : {&raw_call, &routed_call, &aspects_call}) {
    Throughput(*call, in_flight, absl::Milliseconds(300));
  }
  for (const StartCall* call :
       {&trio_routed_call, &trio_broadcast_call, &trio_partitions_call, &trio_replicated_call,
        &trio_unreplicated_call, &raw_fanout3_call, &raw_chain_call}) {
    P50Micros(*call, 50);
  }

  if (const std::string only = absl::GetFlag(FLAGS_profile_only); !only.empty()) {
    const std::map<std::string, const StartCall*> drivers = {
        {"raw", &raw_call},
        {"raw_no_deadline", &raw_no_deadline_call},
        {"routed", &routed_call},
        {"aspects", &aspects_call}};
    const StartCall& driver = *drivers.at(only);
    std::printf("calls %.0f\n",
                Throughput(driver, in_flight, duration) * absl::ToDoubleSeconds(duration));
    return 0;
  }

  std::vector<double> raw_tput, raw_nd_tput, routed_tput, tput_ratio, nd_ratio, raw_p50, routed_p50;
  std::vector<double> aspects_overhead, broadcast_ratio, partitions_p50, backup_ratio;
  std::vector<double> raw_fanout3_p50, raw_chain_p50, broadcast_vs_fanout, backup_vs_chain;
  for (int r = 0; r < rounds; ++r) {
    const double plain = Throughput(routed_call, in_flight, duration);
    const double with_aspects = Throughput(aspects_call, in_flight, duration);
    aspects_overhead.push_back(plain / with_aspects - 1);
    const double routed3 = P50Micros(trio_routed_call, 300);
    const double broadcast3 = P50Micros(trio_broadcast_call, 300);
    raw_fanout3_p50.push_back(P50Micros(raw_fanout3_call, 300));
    broadcast_ratio.push_back(broadcast3 / routed3);
    broadcast_vs_fanout.push_back(broadcast3 / raw_fanout3_p50.back());
    partitions_p50.push_back(P50Micros(trio_partitions_call, 100));
    const double unreplicated = P50Micros(trio_unreplicated_call, 300);
    const double replicated = P50Micros(trio_replicated_call, 300);
    raw_chain_p50.push_back(P50Micros(raw_chain_call, 300));
    backup_ratio.push_back(replicated / unreplicated);
    backup_vs_chain.push_back(replicated / raw_chain_p50.back());

    raw_tput.push_back(Throughput(raw_call, in_flight, duration));
    routed_tput.push_back(Throughput(routed_call, in_flight, duration));
    raw_nd_tput.push_back(Throughput(raw_no_deadline_call, in_flight, duration));
    tput_ratio.push_back(routed_tput.back() / raw_tput.back());
    nd_ratio.push_back(routed_tput.back() / raw_nd_tput.back());
    raw_p50.push_back(P50Micros(raw_call, 500));
    routed_p50.push_back(P50Micros(routed_call, 500));
  }

  // Last: these build and tear down clusters of their own, which must not disturb the above.
  std::vector<double> migration_mb_per_s, failover_seconds;
  for (int trial = 0; trial < 3; ++trial) {
    const auto [mb_per_s, failover] = MembershipTrial(request);
    migration_mb_per_s.push_back(mb_per_s);
    failover_seconds.push_back(failover);
  }

  std::vector<double> large_partition_mb_per_s;
  for (int trial = 0; trial < 3; ++trial) large_partition_mb_per_s.push_back(LargePartitionTrial());

  std::string member_path = absl::GetFlag(FLAGS_member);
  if (member_path.empty()) {
    member_path = (std::filesystem::path(argv[0]).parent_path() / "gridrpc-member").string();
  }
  std::vector<double> process_failover_seconds;
  for (int trial = 0; trial < 3; ++trial) {
    process_failover_seconds.push_back(ProcessFailoverTrial(member_path));
  }

  const std::map<std::string, double> results = {
      {"raw_grpc_calls_per_s", Median(raw_tput)},
      {"routed_calls_per_s", Median(routed_tput)},
      {"routed_vs_raw_throughput", Median(tput_ratio)},
      {"raw_grpc_no_deadline_calls_per_s", Median(raw_nd_tput)},
      {"routed_vs_raw_no_deadline_throughput", Median(nd_ratio)},
      {"raw_grpc_p50_us", Median(raw_p50)},
      {"routed_p50_us", Median(routed_p50)},
      {"aspects3_overhead", Median(aspects_overhead)},
      {"broadcast3_vs_routed_p50", Median(broadcast_ratio)},
      {"broadcast_271_partitions_p50_us", Median(partitions_p50)},
      {"sync_backup_vs_routed_p50", Median(backup_ratio)},
      {"raw_fanout3_p50_us", Median(raw_fanout3_p50)},
      {"raw_chain_p50_us", Median(raw_chain_p50)},
      {"broadcast3_vs_raw_fanout3_p50", Median(broadcast_vs_fanout)},
      {"sync_backup_vs_raw_chain_p50", Median(backup_vs_chain)},
      {"migration_mb_per_s", Median(migration_mb_per_s)},
      {"migration_64mb_partition_mb_per_s", Median(large_partition_mb_per_s)},
      {"embedded_failover_seconds", Median(failover_seconds)},
      {"failover_seconds", Median(process_failover_seconds)},
  };
  std::printf("gridrpc-bench: %d rounds, %d in flight, %d-byte payload, loopback\n", rounds,
              in_flight, absl::GetFlag(FLAGS_payload_bytes));
  std::printf("%-38s %14s\n", "metric", "median");
  for (const auto& [name, value] : results) std::printf("%-38s %14.3f\n", name.c_str(), value);

  std::ofstream out(absl::GetFlag(FLAGS_out));
  out << "{\n";
  for (auto it = results.begin(); it != results.end(); ++it) {
    out << "  \"" << it->first << "\": " << it->second
        << (std::next(it) == results.end() ? "\n" : ",\n");
  }
  out << "}\n";

  trio->Shutdown();
  aspect_cluster->Shutdown();
  cluster->Shutdown();
  for (RawServer* server : {&raw, &fanout[0], &fanout[1], &fanout[2], &chain_head, &chain_tail}) {
    server->server->Shutdown();
  }
  return out.good() ? 0 : 1;
}
