// The real gridrpc-cli binary against real gridrpc-member processes: calls through server
// reflection, bad requests refused before anything is sent, the partition table, health,
// migration events from members joining through a real etcd, an operator's reset of partitions
// really lost (a SIGKILLed member with no backups), and TLS with certificates openssl makes at
// test time.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "testing/certs.h"
#include "testing/child_process.h"
#include "testing/etcd_server.h"

namespace gridrpc::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// One gridrpc-cli process with its standard output and error in files of their own.
class CliProcess {
 public:
  // Standard input from `stdin_path`.
  static std::unique_ptr<CliProcess> Start(const std::string& dir, std::vector<std::string> args,
                                           const std::string& stdin_path = "/dev/null") {
    static int runs = 0;
    const std::string stem = absl::StrCat(dir, "/cli", runs++);
    auto cli = std::unique_ptr<CliProcess>(new CliProcess(stem + ".out", stem + ".err"));
    args.insert(args.begin(), GRIDRPC_CLI_PATH);
    cli->command_ = absl::StrJoin(args, " ");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int out = open(cli->out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = open(cli->err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
    cli->pid_ = fork();
    if (cli->pid_ == 0) {  // only async-signal-safe calls until exec
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(in, STDIN_FILENO);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in);
    close(out);
    close(err);
    return cli;
  }

  ~CliProcess() {
    if (!exit_code_.has_value() && pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // The exit code, waiting up to `timeout`; -1 if it is still running (then it is killed) or
  // died of a signal.
  int Wait(absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!exit_code_.has_value()) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        exit_code_ = -1;
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return *exit_code_;
  }

  void Signal(int signal) { kill(pid_, signal); }
  std::string out() const { return ReadAll(out_path_); }
  std::string err() const { return ReadAll(err_path_); }
  // For failure messages: the command line and what it printed.
  std::string Describe() const {
    return absl::StrCat("$ ", command_, "\n[stdout]\n", out(), "[stderr]\n", err());
  }

  // Waits (bounded) for `needle` in standard error.
  bool WaitForErr(const std::string& needle, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (err().find(needle) == std::string::npos) {
      if (absl::Now() >= deadline) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return true;
  }

 private:
  CliProcess(std::string out_path, std::string err_path)
      : out_path_(std::move(out_path)), err_path_(std::move(err_path)) {}

  const std::string out_path_;
  const std::string err_path_;
  std::string command_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
  std::string described;
};

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct json;
  auto status = google::protobuf::util::JsonStringToMessage(text, &json);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  return json;
}

struct MemberProcess {
  std::unique_ptr<ChildProcess> process;
  std::string id;
  std::string address;       // client port
  std::string peer_address;  // peer port
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gridrpc-cli-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream(dir_ + "/secret") << "cli test secret\n";
  }

  void TearDown() override {
    members_.clear();
    etcd_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts a gridrpc-member with `flags`; index into members_, or -1 (the test failed).
  int StartMember(std::vector<std::string> flags) {
    const int index = static_cast<int>(members_.size());
    flags.insert(flags.begin(), {GRIDRPC_MEMBER_PATH, "--listen=127.0.0.1:0"});
    absl::StatusOr<std::unique_ptr<ChildProcess>> process =
        ChildProcess::Start(std::move(flags), absl::StrCat(dir_, "/member", index, ".log"));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return -1;
    std::optional<std::string> line = (*process)->WaitForLine("listening on", absl::Seconds(30));
    EXPECT_TRUE(line.has_value()) << "member " << index << " did not start:\n"
                                  << (*process)->LogTail();
    if (!line.has_value()) return -1;
    // "gridrpc-member ID of cluster 'C' (peer port HOST:PORT, metrics ...): listening on
    // HOST:PORT"
    const std::vector<std::string> words = absl::StrSplit(*line, ' ');
    const size_t peer = line->find("(peer port ") + std::string("(peer port ").size();
    members_.push_back({*std::move(process), words.size() > 1 ? words[1] : "",
                        line->substr(line->rfind(' ') + 1),
                        line->substr(peer, line->find_first_of(",)", peer) - peer)});
    return index;
  }

  // A member joining the test's etcd cluster "cli" (started on first use).
  int StartEtcdMember(std::vector<std::string> flags = {}) {
    if (etcd_ == nullptr) {
      absl::StatusOr<std::unique_ptr<EtcdServer>> etcd = EtcdServer::Start();
      EXPECT_TRUE(etcd.ok()) << etcd.status();
      if (!etcd.ok()) return -1;
      etcd_ = *std::move(etcd);
    }
    flags.insert(flags.begin(),
                 {"--coordinator=etcd", "--etcd_endpoints=" + etcd_->endpoint(), "--lease_ttl=2s",
                  "--cluster_name=cli", "--cluster_secret_file=" + dir_ + "/secret"});
    return StartMember(std::move(flags));
  }

  CliResult Cli(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
    std::unique_ptr<CliProcess> cli = CliProcess::Start(dir_, std::move(args), stdin_path);
    const int exit_code = cli->Wait();
    return {exit_code, cli->out(), cli->err(), cli->Describe()};
  }

  // `gridrpc-cli --target=<member> ARGS...`
  CliResult CliOn(int member, std::vector<std::string> args) {
    args.insert(args.begin(), "--target=" + members_[member].address);
    return Cli(std::move(args));
  }

  // The counter's value through `call Get`, or nullopt (the failure is described).
  std::optional<int64_t> Counter(int member, const std::string& name) {
    CliResult get = CliOn(
        member, {"call", "examples.Counter/Get", absl::StrCat(R"({"name":")", name, R"("})")});
    EXPECT_EQ(get.exit_code, 0) << get.described;
    if (get.exit_code != 0) return std::nullopt;
    google::protobuf::Struct json = ParseJson(get.out);
    int64_t value = 0;
    EXPECT_TRUE(absl::SimpleAtoi(json.fields().at("value").string_value(), &value)) << get.out;
    return value;
  }

  google::protobuf::Struct TableJson(int member) {
    CliResult table = CliOn(member, {"--output=json", "table"});
    EXPECT_EQ(table.exit_code, 0) << table.described;
    return ParseJson(table.out);
  }

  std::string dir_;
  std::unique_ptr<EtcdServer> etcd_;
  std::vector<MemberProcess> members_;
};

TEST_F(CliTest, CallsIncTwiceAndSeesTheValueGrow) {
  const int m = StartMember({});
  ASSERT_GE(m, 0);
  CliResult first = CliOn(m, {"call", "examples.Counter/Inc", R"({"name":"grow","amount":2})"});
  ASSERT_EQ(first.exit_code, 0) << first.described;
  EXPECT_EQ(first.out, "{\"value\":\"2\"}\n");
  CliResult second = CliOn(m, {"call", "/examples.Counter/Inc", R"({"name":"grow","amount":3})"});
  ASSERT_EQ(second.exit_code, 0) << second.described;
  EXPECT_EQ(second.out, "{\"value\":\"5\"}\n");
  EXPECT_EQ(Counter(m, "grow"), 5);
  // "-": the request from standard input.
  std::ofstream(dir_ + "/request.json") << R"({"name": "grow", "amount": 10})"
                                        << "\n";
  CliResult piped = Cli({"--target=" + members_[m].address, "call", "examples.Counter/Inc", "-"},
                        dir_ + "/request.json");
  ASSERT_EQ(piped.exit_code, 0) << piped.described;
  EXPECT_EQ(piped.out, "{\"value\":\"15\"}\n");
  // Fields at their default value are printed.
  CliResult unset = CliOn(m, {"call", "examples.Counter/Get", R"({"name":"never-set"})"});
  ASSERT_EQ(unset.exit_code, 0) << unset.described;
  EXPECT_EQ(unset.out, "{\"value\":\"0\"}\n");
}

TEST_F(CliTest, ARequestThatIsNotValidJsonForItsTypeIsRefusedAndChangesNothing) {
  const int m = StartMember({});
  ASSERT_GE(m, 0);
  ASSERT_EQ(CliOn(m, {"call", "examples.Counter/Inc", R"({"name":"strict","amount":1})"}).exit_code,
            0);
  struct Case {
    std::string json;
    std::string error;  // the start of the error
    std::string named;  // what the error must name
  };
  const std::string not_an_inc_request = "the request is not a valid examples.IncRequest in JSON: ";
  const std::string not_json = "the request is not valid JSON: ";
  for (const Case& c : std::vector<Case>{
           // Were the unknown field ignored, the call would add 1.
           {R"({"name":"strict","amount":1,"amuont":5})", not_an_inc_request, "amuont"},
           // Were the bad field skipped, the call would add 1 to "".
           {R"({"amount":1,"name":7})", not_an_inc_request, "(name)"},
           {R"({"name":"strict","amount":"lots"})", not_an_inc_request, "(amount)"},
           {R"({"name":"strict","amount":1)", not_json, "Unexpected end of string"},
           {R"(name=strict)", not_json, "Unexpected token"},
       }) {
    CliResult bad = CliOn(m, {"call", "examples.Counter/Inc", c.json});
    EXPECT_EQ(bad.exit_code, 1) << bad.described;
    EXPECT_THAT(bad.err, HasSubstr("gridrpc-cli: " + c.error)) << bad.described;
    EXPECT_THAT(bad.err, HasSubstr(c.named)) << bad.described;
    EXPECT_EQ(bad.out, "") << bad.described;
  }
  EXPECT_EQ(Counter(m, "strict"), 1);
  EXPECT_EQ(Counter(m, ""), 0);
  // Text that is not JSON is refused before any call, even to a member that is not there.
  CliResult offline = Cli({"--target=127.0.0.1:1", "call", "examples.Counter/Inc", R"({"name":)"});
  EXPECT_EQ(offline.exit_code, 1) << offline.described;
  EXPECT_THAT(offline.err, HasSubstr(not_json)) << offline.described;
}

TEST_F(CliTest, UnknownServicesAndMethodsAreNamed) {
  const int m = StartMember({});
  ASSERT_GE(m, 0);
  CliResult service = CliOn(m, {"call", "examples.Nope/Inc", "{}"});
  EXPECT_EQ(service.exit_code, 1) << service.described;
  EXPECT_THAT(service.err, HasSubstr("does not know the service 'examples.Nope'"));

  CliResult method = CliOn(m, {"call", "examples.Counter/Dec", R"({"name":"x"})"});
  EXPECT_EQ(method.exit_code, 1) << method.described;
  EXPECT_THAT(method.err, HasSubstr("examples.Counter has no method 'Dec'; its methods: Inc, Get"));

  // Known to reflection (the member links it), refused by the member: a status, exit 2.
  CliResult peer = CliOn(m, {"call", "gridrpc.v1.Peer/ResetLostPartitions", "{}"});
  EXPECT_EQ(peer.exit_code, 2) << peer.described;
  EXPECT_THAT(peer.err, HasSubstr("failed: UNIMPLEMENTED: "));

  CliResult streaming = CliOn(m, {"call", "gridrpc.v1.Cluster/WatchMigrations", "{}"});
  EXPECT_EQ(streaming.exit_code, 1) << streaming.described;
  EXPECT_THAT(streaming.err, HasSubstr("is a streaming method"));
}

TEST_F(CliTest, AMemberThatCannotBeReachedIsACallFailure) {
  absl::StatusOr<std::vector<int>> port = PickFreePorts(1);
  ASSERT_TRUE(port.ok());
  const std::string nobody = absl::StrCat("--target=127.0.0.1:", (*port)[0]);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {nobody, "call", "examples.Counter/Get", "{}"}, {nobody, "table"}, {nobody, "health"}}) {
    CliResult result = Cli(args);
    EXPECT_EQ(result.exit_code, 2) << result.described;
    EXPECT_THAT(result.err, HasSubstr("failed: UNAVAILABLE: ")) << result.described;
  }
}

TEST_F(CliTest, MembersAndTableOfOneMemberInTextAndJson) {
  const int m = StartMember({"--zone=eu-1b", "--labels=team=search,tier=gold"});
  ASSERT_GE(m, 0);
  const MemberProcess& member = members_[m];

  CliResult members = CliOn(m, {"members"});
  ASSERT_EQ(members.exit_code, 0) << members.described;
  EXPECT_THAT(members.out, HasSubstr("of cluster 'dev': 271 partitions, 1 member\n"));
  EXPECT_THAT(members.out, HasSubstr("  address       " + member.address + "\n"));
  EXPECT_THAT(members.out, HasSubstr("member " + member.id + "\n"));
  EXPECT_THAT(members.out, HasSubstr("  peer address  " + member.peer_address +
                                     "\n"
                                     "  zone          eu-1b\n"
                                     "  labels        team=search,tier=gold,zone=eu-1b\n"));
  EXPECT_THAT(members.out, HasSubstr("  primary of    271: 0-270\n  backup of     0\n"));

  CliResult members_json = CliOn(m, {"--output=json", "members"});
  ASSERT_EQ(members_json.exit_code, 0) << members_json.described;
  google::protobuf::Struct json = ParseJson(members_json.out);
  ASSERT_EQ(json.fields().at("members").list_value().values_size(), 1);
  const auto& only = json.fields().at("members").list_value().values(0).struct_value().fields();
  EXPECT_EQ(only.at("address").string_value(), member.address);
  EXPECT_EQ(only.at("id").string_value(), member.id);
  EXPECT_EQ(only.at("peer_address").string_value(), member.peer_address);
  EXPECT_EQ(only.at("zone").string_value(), "eu-1b");
  EXPECT_EQ(only.at("labels").struct_value().fields().at("tier").string_value(), "gold");
  EXPECT_EQ(only.at("primary_of").list_value().values_size(), 271);
  EXPECT_EQ(only.at("backup_of").list_value().values_size(), 0);

  CliResult table = CliOn(m, {"table"});
  ASSERT_EQ(table.exit_code, 0) << table.described;
  EXPECT_THAT(table.out, HasSubstr("271 partitions, 1 member, 0 lost\n"));
  EXPECT_THAT(table.out, HasSubstr("      270  " + only.at("id").string_value() + "\n"));

  google::protobuf::Struct table_json = TableJson(m);
  EXPECT_GE(table_json.fields().at("version").number_value(), 1);
  EXPECT_EQ(table_json.fields().at("partitions").list_value().values_size(), 271);
  EXPECT_EQ(table_json.fields().at("lost_partitions").list_value().values_size(), 0);
}

TEST_F(CliTest, HealthIsZeroOnlyWhenServing) {
  const int m = StartMember({});
  ASSERT_GE(m, 0);
  CliResult serving = CliOn(m, {"health"});
  EXPECT_EQ(serving.exit_code, 0) << serving.described;
  EXPECT_EQ(serving.out, "SERVING\n");
  CliResult json = CliOn(m, {"--output=json", "health"});
  EXPECT_EQ(json.exit_code, 0) << json.described;
  EXPECT_EQ(json.out, "{\"status\":\"SERVING\"}\n");
  CliResult unknown = CliOn(m, {"health", "examples.Nope"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.described;
  EXPECT_THAT(unknown.err, HasSubstr("failed: NOT_FOUND: "));
}

TEST_F(CliTest, AWatchEndsCleanlyOnSigintAndOnItsTimeout) {
  const int m = StartMember({});
  ASSERT_GE(m, 0);
  std::unique_ptr<CliProcess> watch =
      CliProcess::Start(dir_, {"--target=" + members_[m].address, "watch", "migrations"});
  ASSERT_TRUE(watch->WaitForErr("watching migrations on", absl::Seconds(30))) << watch->Describe();
  watch->Signal(SIGINT);
  EXPECT_EQ(watch->Wait(), 0) << watch->Describe();

  CliResult timed = CliOn(m, {"--timeout=300ms", "watch", "migrations"});
  EXPECT_EQ(timed.exit_code, 0) << timed.described;
  // With --count, a timeout that comes first is a failure.
  CliResult short_of_count = CliOn(m, {"--timeout=300ms", "watch", "migrations", "--count=1"});
  EXPECT_EQ(short_of_count.exit_code, 2) << short_of_count.described;
  EXPECT_THAT(short_of_count.err,
              HasSubstr("DEADLINE_EXCEEDED: --timeout passed before --count=1"));
}

TEST_F(CliTest, WatchesTheMigrationsOfASecondMemberJoiningThroughEtcd) {
  const int first = StartEtcdMember();
  ASSERT_GE(first, 0);
  std::unique_ptr<CliProcess> watch = CliProcess::Start(
      dir_,
      {"--target=" + members_[first].address, "--timeout=60s", "watch", "migrations", "--count=3"});
  ASSERT_TRUE(watch->WaitForErr("watching migrations on", absl::Seconds(30))) << watch->Describe();
  // More watchers that leave at different points of the burst of events: a member must survive
  // watchers that go away while it writes to them.
  std::vector<std::unique_ptr<CliProcess>> leaving;
  for (int count : {1, 2, 5, 8, 13, 21}) {
    leaving.push_back(
        CliProcess::Start(dir_, {"--target=" + members_[first].address, "--timeout=60s", "watch",
                                 "migrations", absl::StrCat("--count=", count)}));
  }
  for (auto& other : leaving) {
    ASSERT_TRUE(other->WaitForErr("watching migrations on", absl::Seconds(30)))
        << other->Describe();
  }
  const int second = StartEtcdMember();
  ASSERT_GE(second, 0);
  ASSERT_EQ(watch->Wait(), 0) << watch->Describe();
  for (auto& other : leaving) EXPECT_EQ(other->Wait(), 0) << other->Describe();

  std::vector<std::string> lines = absl::StrSplit(watch->out(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << watch->Describe();
  EXPECT_EQ(ParseJson(lines[0]).fields().at("kind").string_value(), "MIGRATION_STARTED");
  // Then copies from the first member to the one joining (a copy may fail and be retried).
  for (size_t i = 1; i < lines.size(); ++i) {
    const google::protobuf::Struct parsed = ParseJson(lines[i]);
    const auto& event = parsed.fields();
    EXPECT_THAT(event.at("kind").string_value(),
                ::testing::AnyOf("REPLICA_MIGRATION_COMPLETED", "REPLICA_MIGRATION_FAILED"))
        << lines[i];
    // Default values are printed too: every field of the event is there.
    EXPECT_EQ(event.size(), 11u) << lines[i];
    EXPECT_EQ(event.at("source").string_value(), members_[first].id) << lines[i];
    EXPECT_EQ(event.at("destination").string_value(), members_[second].id) << lines[i];
  }

  // Once the cluster settles, each member is primary of some partitions and backup of others,
  // and together they cover every partition once as primary and once as backup.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  google::protobuf::Struct members;
  bool settled = false;
  while (!settled && absl::Now() < deadline) {
    CliResult result = CliOn(second, {"--output=json", "members"});
    ASSERT_EQ(result.exit_code, 0) << result.described;
    members = ParseJson(result.out);
    const auto& list = members.fields().at("members").list_value().values();
    std::multiset<int> primaries;
    std::multiset<int> backups;
    for (const auto& member : list) {
      for (const auto& p : member.struct_value().fields().at("primary_of").list_value().values()) {
        primaries.insert(static_cast<int>(p.number_value()));
      }
      for (const auto& p : member.struct_value().fields().at("backup_of").list_value().values()) {
        backups.insert(static_cast<int>(p.number_value()));
      }
    }
    settled = list.size() == 2 && primaries.size() == 271 && backups.size() == 271 &&
              std::set<int>(primaries.begin(), primaries.end()).size() == 271;
    if (!settled) absl::SleepFor(absl::Milliseconds(200));
  }
  if (!settled) {
    for (int m : {first, second}) {
      std::optional<int> status = members_[m].process->Wait(absl::ZeroDuration());
      ADD_FAILURE() << "member " << m << " " << members_[m].id
                    << (status.has_value() ? absl::StrCat(" exited, wait status ", *status)
                                           : " runs")
                    << "; the end of its log:\n"
                    << members_[m].process->LogTail(8);
    }
  }
  ASSERT_TRUE(settled) << members.ShortDebugString();
  EXPECT_FALSE(members_[first].process->Wait(absl::ZeroDuration()).has_value())
      << "the member the watchers left died:\n"
      << members_[first].process->LogTail();
  CliResult text = CliOn(first, {"members"});
  ASSERT_EQ(text.exit_code, 0) << text.described;
  EXPECT_THAT(text.out, HasSubstr("271 partitions, 2 members\n"));
  for (const MemberProcess& member : members_) {
    EXPECT_THAT(text.out, HasSubstr("  address       " + member.address + "\n"));
  }
  EXPECT_THAT(text.out, Not(HasSubstr("backup of     0\n")));
}

TEST_F(CliTest, ResetLostPartitionsNeedsTheSecretAndServesLostPartitionsAgain) {
  const int survivor = StartEtcdMember({"--backup_count=0"});
  ASSERT_GE(survivor, 0);
  const int victim = StartEtcdMember({"--backup_count=0"});
  ASSERT_GE(victim, 0);
  // Wait until both members hold primaries, then write counters over both.
  const absl::Time joined_deadline = absl::Now() + absl::Seconds(30);
  bool joined = false;
  while (!joined && absl::Now() < joined_deadline) {
    google::protobuf::Struct table = TableJson(survivor);
    std::set<std::string> primaries;
    for (const auto& p : table.fields().at("partitions").list_value().values()) {
      const auto& replicas = p.struct_value().fields().at("replicas").list_value().values();
      if (!replicas.empty()) primaries.insert(replicas[0].string_value());
    }
    joined = primaries.size() == 2;
    if (!joined) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(joined);
  constexpr int kCounters = 16;
  for (int k = 0; k < kCounters; ++k) {
    CliResult inc =
        CliOn(survivor, {"call", "examples.Counter/Inc",
                         absl::StrCat(R"({"name":"k)", k, R"(","amount":)", k + 1, "}")});
    ASSERT_EQ(inc.exit_code, 0) << inc.described;
  }

  members_[victim].process->Signal(SIGKILL);
  // After the lease TTL the planner finds the victim's partitions without a replica.
  std::vector<int> lost;
  const absl::Time lost_deadline = absl::Now() + absl::Seconds(30);
  while (lost.empty() && absl::Now() < lost_deadline) {
    google::protobuf::Struct table = TableJson(survivor);
    for (const auto& p : table.fields().at("lost_partitions").list_value().values()) {
      lost.push_back(static_cast<int>(p.number_value()));
    }
    if (lost.empty()) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_FALSE(lost.empty());
  const std::string lost_list = absl::StrJoin(lost, ",");

  // Counters on lost partitions answer DATA_LOSS; the others kept their values.
  std::vector<int> lost_counters;
  for (int k = 0; k < kCounters; ++k) {
    const std::string name = absl::StrCat("k", k);
    CliResult get = CliOn(
        survivor, {"call", "examples.Counter/Get", absl::StrCat(R"({"name":")", name, R"("})")});
    if (get.exit_code == 0) {
      EXPECT_EQ(get.out, absl::StrCat(R"({"value":")", k + 1, "\"}\n")) << get.described;
    } else {
      EXPECT_EQ(get.exit_code, 2) << get.described;
      EXPECT_THAT(get.err, HasSubstr("failed: DATA_LOSS: ")) << get.described;
      lost_counters.push_back(k);
    }
  }
  ASSERT_FALSE(lost_counters.empty()) << "no counter landed on the victim's partitions";

  const std::string peer_target = "--target=" + members_[survivor].peer_address;
  CliResult refused = Cli({peer_target, "reset-lost-partitions", lost_list});
  EXPECT_EQ(refused.exit_code, 2) << refused.described;
  EXPECT_THAT(refused.err, HasSubstr("failed: UNAUTHENTICATED: ")) << refused.described;
  std::ofstream(dir_ + "/wrong-secret") << "not the cluster's secret\n";
  CliResult wrong = Cli({peer_target, "--cluster_secret_file=" + dir_ + "/wrong-secret",
                         "reset-lost-partitions", lost_list});
  EXPECT_EQ(wrong.exit_code, 2) << wrong.described;
  EXPECT_THAT(wrong.err, HasSubstr("failed: UNAUTHENTICATED: ")) << wrong.described;
  EXPECT_EQ(TableJson(survivor).fields().at("lost_partitions").list_value().values_size(),
            static_cast<int>(lost.size()));

  CliResult reset = Cli({peer_target, "--cluster_secret_file=" + dir_ + "/secret", "--output=json",
                         "reset-lost-partitions", lost_list});
  ASSERT_EQ(reset.exit_code, 0) << reset.described;
  google::protobuf::Struct answer = ParseJson(reset.out);
  const double version = answer.fields().at("table_version").number_value();
  EXPECT_GT(version, 0);
  // The member serves the table the reset committed once it installed it.
  const absl::Time installed_deadline = absl::Now() + absl::Seconds(30);
  google::protobuf::Struct table = TableJson(survivor);
  while (table.fields().at("version").number_value() < version &&
         absl::Now() < installed_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    table = TableJson(survivor);
  }
  EXPECT_GE(table.fields().at("version").number_value(), version);
  EXPECT_EQ(table.fields().at("lost_partitions").list_value().values_size(), 0);

  // They serve again, empty; the others still hold their values.
  for (int k = 0; k < kCounters; ++k) {
    const bool was_lost =
        std::find(lost_counters.begin(), lost_counters.end(), k) != lost_counters.end();
    EXPECT_EQ(Counter(survivor, absl::StrCat("k", k)), was_lost ? 0 : k + 1) << "k" << k;
  }
  CliResult inc =
      CliOn(survivor, {"call", "examples.Counter/Inc",
                       absl::StrCat(R"({"name":"k)", lost_counters[0], R"(","amount":1})")});
  EXPECT_EQ(inc.exit_code, 0) << inc.described;
  EXPECT_EQ(inc.out, "{\"value\":\"1\"}\n");
}

TEST_F(CliTest, TlsWithTheMembersCaAndClientCertificatesOnThePeerPort) {
  absl::StatusOr<std::unique_ptr<TestCertificates>> certs = TestCertificates::Make(dir_ + "/certs");
  ASSERT_TRUE(certs.ok()) << certs.status();
  const TestCertificates& c = **certs;
  const int m = StartMember({"--tls_cert_file=" + c.Path("member", "pem"),
                             "--tls_key_file=" + c.Path("member", "key"),
                             "--tls_ca_file=" + c.Path("ca", "pem")});
  ASSERT_GE(m, 0);
  const std::string ca = "--tls_ca_file=" + c.Path("ca", "pem");
  const std::string inc = R"({"name":"tls","amount":4})";

  CliResult secured = CliOn(m, {ca, "call", "examples.Counter/Inc", inc});
  ASSERT_EQ(secured.exit_code, 0) << secured.described;
  EXPECT_EQ(secured.out, "{\"value\":\"4\"}\n");
  CliResult named = CliOn(m, {ca, "--tls_server_name=localhost", "health"});
  EXPECT_EQ(named.exit_code, 0) << named.described;
  CliResult table = CliOn(m, {ca, "table"});
  EXPECT_EQ(table.exit_code, 0) << table.described;

  // Plaintext to a TLS port, a CA that did not sign the member, a name the certificate does not
  // carry: the call fails.
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"call", "examples.Counter/Inc", inc},
           {"--tls_ca_file=" + c.Path("stranger-ca", "pem"), "call", "examples.Counter/Inc", inc},
           {ca, "--tls_server_name=elsewhere.example", "call", "examples.Counter/Inc", inc}}) {
    CliResult refused = CliOn(m, args);
    EXPECT_EQ(refused.exit_code, 2) << refused.described;
    EXPECT_THAT(refused.err, HasSubstr("failed: UNAVAILABLE: ")) << refused.described;
  }
  CliResult read_back = CliOn(m, {ca, "call", "examples.Counter/Get", R"({"name":"tls"})"});
  EXPECT_EQ(read_back.out, "{\"value\":\"4\"}\n") << read_back.described;

  // Bad files: named, nothing called.
  CliResult missing = CliOn(m, {"--tls_ca_file=" + dir_ + "/nope.pem", "health"});
  EXPECT_EQ(missing.exit_code, 1) << missing.described;
  EXPECT_THAT(missing.err, HasSubstr("cannot read the --tls_ca_file file '" + dir_ + "/nope.pem'"));
  CliResult not_pem = CliOn(m, {"--tls_ca_file=" + dir_ + "/secret", "health"});
  EXPECT_EQ(not_pem.exit_code, 1) << not_pem.described;
  EXPECT_THAT(not_pem.err, HasSubstr("the --tls_ca_file file '" + dir_ + "/secret' holds no PEM"));
  CliResult key_as_cert = CliOn(m, {ca, "--tls_cert_file=" + c.Path("member", "key"),
                                    "--tls_key_file=" + c.Path("member", "key"), "health"});
  EXPECT_EQ(key_as_cert.exit_code, 1) << key_as_cert.described;
  EXPECT_THAT(key_as_cert.err, HasSubstr("--tls_cert_file file '" + c.Path("member", "key")));

  // The peer port asks for a client certificate signed by the cluster's CA (mutual TLS).
  const std::string peer = "--target=" + members_[m].peer_address;
  CliResult anonymous = Cli({peer, ca, "reset-lost-partitions", "0"});
  EXPECT_EQ(anonymous.exit_code, 2) << anonymous.described;
  EXPECT_THAT(anonymous.err, HasSubstr("failed: UNAUTHENTICATED: ")) << anonymous.described;
  CliResult member_cert =
      Cli({peer, ca, "--tls_cert_file=" + c.Path("member", "pem"),
           "--tls_key_file=" + c.Path("member", "key"), "reset-lost-partitions", "0"});
  // Admitted: the member's answer is about the partition, which is not lost.
  EXPECT_EQ(member_cert.exit_code, 2) << member_cert.described;
  EXPECT_THAT(member_cert.err, HasSubstr("failed: FAILED_PRECONDITION: ")) << member_cert.described;
  EXPECT_THAT(member_cert.err, HasSubstr("is not lost")) << member_cert.described;
}

}  // namespace
}  // namespace gridrpc::testing
