// gridrpc::RunMember as operators meet it, through the gridrpc-member binary: flags and the
// config file, start-up refusals that name what is wrong, /metrics checked by promtool under
// load, and /healthz and /readyz, readiness following the member's fence while etcd is away.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "examples/counter.gridrpc.h"
#include "gridrpc/client.h"
#include "gridrpc/proxy.h"
#include "testing/child_process.h"
#include "testing/etcd_server.h"
#include "testing/http_get.h"

namespace gridrpc {
namespace {

using ::gridrpc::testing::ChildProcess;
using ::gridrpc::testing::HttpGet;
using ::gridrpc::testing::HttpResponse;
using ::testing::HasSubstr;

class RunMemberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            absl::StrCat("gridrpc-run-member-", getpid(), "-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    members_.clear();
    std::filesystem::remove_all(dir_);
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << content;
    return path;
  }

  // A member started with `flags`; empty address when it did not come up.
  struct Started {
    ChildProcess* process = nullptr;
    std::string line;  // its start-up line
    std::string address;
    std::string metrics;
  };
  Started StartMember(std::vector<std::string> flags) {
    std::vector<std::string> argv = {GRIDRPC_MEMBER_PATH};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<ChildProcess>> process = ChildProcess::Start(
        std::move(argv), absl::StrCat(dir_, "/member", members_.size(), ".log"));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    members_.push_back(*std::move(process));
    Started started{.process = members_.back().get()};
    std::optional<std::string> line =
        started.process->WaitForLine("listening on", absl::Seconds(30));
    EXPECT_TRUE(line.has_value()) << started.process->LogTail();
    if (!line.has_value()) return started;
    started.line = *line;
    started.address = line->substr(line->rfind(' ') + 1);
    std::smatch match;
    if (std::regex_search(*line, match, std::regex("metrics ([0-9.]+:[0-9]+)"))) {
      started.metrics = match[1];
    }
    return started;
  }

  // Runs the member with `flags` until it exits (bounded): its exit code and log.
  std::pair<int, std::string> RunToExit(std::vector<std::string> flags) {
    std::vector<std::string> argv = {GRIDRPC_MEMBER_PATH};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const std::string log = absl::StrCat(dir_, "/exit", runs_++, ".log");
    std::unique_ptr<ChildProcess> process = ChildProcess::Start(std::move(argv), log).value();
    std::optional<int> status = process->Wait(absl::Seconds(30));
    if (!status.has_value() || !WIFEXITED(*status)) return {-1, process->LogTail()};
    return {WEXITSTATUS(*status), process->LogTail()};
  }

  std::string dir_;
  std::vector<std::unique_ptr<ChildProcess>> members_;
  int runs_ = 0;
};

// promtool's verdict on a scrape: its exit code (0: valid) and what it said.
std::pair<int, std::string> Promtool(const std::string& exposition, const std::string& dir) {
  const std::string input = dir + "/scrape.txt";
  std::ofstream(input) << exposition;
  FILE* pipe = popen(absl::StrCat("promtool check metrics < ", input, " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The value of the sample `series` (name and labels exactly as exposed), or -1.
double Sample(const std::string& exposition, const std::string& series) {
  const size_t at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(exposition.substr(at + series.size() + 2));
}

TEST_F(RunMemberTest, TheConfigFileSetsFlagsAndTheCommandLineWins) {
  const std::string config = WriteFile("member.json", R"({
    "cluster_name": "from-file",
    "listen": "127.0.0.1:0",
    "metrics_listen": "127.0.0.1:0",
    "labels": {"team": "search"},
    "etcd_endpoints": ["http://127.0.0.1:1", "http://127.0.0.1:2"],
    "executor_workers": 3,
    "log_level": "warning"
  })");
  Started from_file = StartMember({"--config=" + config});
  EXPECT_THAT(from_file.line, HasSubstr("of cluster 'from-file'"));
  EXPECT_FALSE(from_file.metrics.empty()) << from_file.line;

  Started overridden = StartMember({"--config=" + config, "--cluster_name=from-flag"});
  EXPECT_THAT(overridden.line, HasSubstr("of cluster 'from-flag'"));
  EXPECT_FALSE(overridden.metrics.empty()) << overridden.line;
}

TEST_F(RunMemberTest, BadSettingsStopStartUpWithAMessageNamingThem) {
  const int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  socklen_t length = sizeof(address);
  getsockname(busy, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string in_use = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));

  const std::string free_port = "--listen=127.0.0.1:0";
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--config=" + WriteFile("bogus.json", R"({"listen": "127.0.0.1:0", "bogus": 1})")},
       "key 'bogus' is not a setting of this program"},
      {{"--config=" + WriteFile("ttl.json", R"({"lease_ttl": "soon"})")},
       "key 'lease_ttl': Illegal value 'soon'"},
      {{"--config=" + WriteFile("list.json", "[1, 2]")}, "is not a JSON object"},
      {{"--config=" + WriteFile("broken.json", R"({"listen": )")}, "is not a JSON object"},
      {{"--config=" + WriteFile("null.json", R"({"zone": null})")}, "key 'zone' is null"},
      {{"--config=" + WriteFile("nested.json", R"({"labels": {"a": [1]}})")},
       "key 'labels''s 'a' must be a string, a number or a boolean"},
      {{"--config=" + WriteFile("flagfile.json", R"({"flagfile": "/etc/passwd"})")},
       "key 'flagfile' cannot be set in a config file"},
      {{"--config=" + dir_ + "/missing.json"},
       "cannot read the config file '" + dir_ + "/missing.json'"},
      {{free_port, "--coordinator=zookeeper"}, "--coordinator must be embedded or etcd"},
      {{free_port, "--coordinator=etcd", "--lease_ttl=1500ms"},
       "--lease_ttl must be whole seconds"},
      {{free_port, "--on_partition_lost=ignore", "--coordinator=etcd"},
       "--on_partition_lost must be refuse or reset"},
      {{free_port, "--labels=team"}, "--labels: 'team' is not key=value"},
      {{free_port, "--labels=zone=a", "--zone=b"}, "--labels sets the zone and so does --zone"},
      {{free_port, "--log_level=loud"}, "--log_level: log level must be"},
      {{free_port, "--executor_workers=0"}, "--executor_workers must be positive, not 0"},
      {{free_port, "--partition_count=20000"}, "partition_count must be 1 to 16384, not 20000"},
      {{free_port, "--copy_idle_timeout=-1s"}, "--copy_idle_timeout must be positive"},
      {{free_port, "--tls_cert_file=" + dir_ + "/none.pem", "--tls_key_file=" + dir_ + "/k"},
       dir_ + "/none.pem"},
      {{free_port, "--cluster_secret_file=" + dir_ + "/no-secret"}, dir_ + "/no-secret"},
      {{free_port, "--zone_file=" + dir_ + "/no-zone"}, "cannot read the --zone_file file"},
      {{free_port, "--nosuchflag=1"}, "Unknown command line flag 'nosuchflag'"},
      {{free_port, "stray"}, "unexpected argument 'stray'"},
      {{free_port, "--metrics_listen=" + in_use}, "cannot serve metrics on " + in_use},
      {{"--listen=" + in_use}, "cannot listen on " + in_use},
  };
  for (const Case& c : cases) {
    const auto [code, log] = RunToExit(c.flags);
    EXPECT_EQ(code, 1) << c.flags.back() << "\n" << log;
    EXPECT_THAT(log, HasSubstr(c.message)) << c.flags.back();
  }
  close(busy);
}

TEST_F(RunMemberTest, MetricsUnderLoadPassPromtoolAndCountEveryCall) {
  Started member = StartMember({"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"});
  ASSERT_FALSE(member.metrics.empty());
  auto client = Client::Create({.members = {member.address}}).value();
  auto counter = ProxyBuilder<examples::Counter>(*client).Build();

  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::thread load([&] {
    for (int i = 0; i < 20000 && !stop.load(); ++i) {
      examples::IncRequest inc;
      inc.set_name(absl::StrCat("k", i % 50));
      inc.set_amount(1);
      if (counter->Inc(inc).ok()) ++acknowledged;
    }
  });
  for (int scrape = 0; scrape < 5; ++scrape) {
    absl::StatusOr<HttpResponse> metrics = HttpGet(member.metrics, "/metrics");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    EXPECT_EQ(metrics->status, 200);
    const auto [code, said] = Promtool(metrics->body, dir_);
    EXPECT_EQ(code, 0) << said;
    absl::SleepFor(absl::Milliseconds(50));
  }
  stop = true;
  load.join();
  ASSERT_GT(acknowledged.load(), 0);

  const std::string exposition = HttpGet(member.metrics, "/metrics")->body;
  EXPECT_EQ(Sample(exposition,
                   "gridrpc_calls_total{code=\"OK\",method=\"Inc\",service=\"examples.Counter\"}"),
            acknowledged.load());
  EXPECT_EQ(
      Sample(exposition,
             "gridrpc_call_duration_seconds_count{method=\"Inc\",service=\"examples.Counter\"}"),
      acknowledged.load());
  EXPECT_EQ(Sample(exposition, "gridrpc_partitions{replica_index=\"0\"}"), 271);
  EXPECT_EQ(Sample(exposition, "gridrpc_ready"), 1);
  EXPECT_EQ(Sample(exposition, "gridrpc_member_fenced"), 0);
  const auto [code, said] = Promtool(exposition, dir_);
  EXPECT_EQ(code, 0) << said;
}

TEST_F(RunMemberTest, HealthAndReadinessEndpoints) {
  Started member = StartMember({"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"});
  ASSERT_FALSE(member.metrics.empty());
  absl::StatusOr<HttpResponse> health = HttpGet(member.metrics, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  absl::StatusOr<HttpResponse> ready = HttpGet(member.metrics, "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");
  EXPECT_EQ(HttpGet(member.metrics, "/elsewhere")->status, 404);
}

// etcd away for longer than the lease: the member is fenced, and says so on /readyz (and in
// gridrpc_member_fenced), until etcd is back.
TEST_F(RunMemberTest, ReadinessFollowsTheFenceWhileEtcdIsAway) {
  std::unique_ptr<testing::EtcdServer> etcd = testing::EtcdServer::Start().value();
  Started member =
      StartMember({"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--coordinator=etcd",
                   "--etcd_endpoints=" + etcd->endpoint(), "--lease_ttl=2s",
                   "--cluster_secret_file=" + WriteFile("secret", "readiness test")});
  ASSERT_FALSE(member.metrics.empty());
  EXPECT_EQ(HttpGet(member.metrics, "/readyz")->status, 200);

  // Polls /readyz until it answers `status` (bounded); returns its last answer.
  auto wait_for = [&](int status) {
    HttpResponse last;
    for (const absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
      absl::StatusOr<HttpResponse> ready = HttpGet(member.metrics, "/readyz");
      if (ready.ok()) last = *ready;
      if (last.status == status) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return last;
  };
  etcd->Pause();
  const HttpResponse fenced = wait_for(503);
  EXPECT_EQ(fenced.status, 503);
  EXPECT_THAT(fenced.body, HasSubstr("fenced"));
  EXPECT_EQ(Sample(HttpGet(member.metrics, "/metrics")->body, "gridrpc_member_fenced"), 1);
  etcd->Resume();
  EXPECT_EQ(wait_for(200).status, 200);
}

}  // namespace
}  // namespace gridrpc
