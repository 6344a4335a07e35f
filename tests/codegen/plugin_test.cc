// Runs protoc with protoc-gen-gridrpc the way a build does and checks what comes out: the golden
// files for examples/counter.proto, the other examples and the edge cases in good/, and the
// protoc-time errors for every contract in bad/.
//
// Paths come from compile definitions (see CMakeLists.txt): GRIDRPC_PROTOC, GRIDRPC_PLUGIN,
// GRIDRPC_PROTO_DIR (proto/), GRIDRPC_PROTOBUF_INCLUDE_DIR (google/protobuf/*.proto),
// GRIDRPC_GOLDEN_DIR and GRIDRPC_BAD_DIR (whose parent is also the import root of good/).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#ifndef GRIDRPC_PROTOBUF_INCLUDE_DIR
#define GRIDRPC_PROTOBUF_INCLUDE_DIR "/usr/include"
#endif

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

struct ProtocResult {
  int exit_code = -1;  // -1: protoc did not exit normally
  std::string errors;  // what protoc wrote to stderr
};

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "gridrpc_codegen_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
    temp_dir_ = pattern;
    out_dir_ = temp_dir_ / "out";
    fs::create_directories(out_dir_);
  }
  void TearDown() override { fs::remove_all(temp_dir_); }

  // Runs protoc with the plugin on `protos` (paths relative to `root`), writing into out_dir_.
  ProtocResult RunProtoc(const std::string& root, const std::vector<std::string>& protos,
                         const std::string& parameter = "") {
    std::vector<std::string> args = {
        GRIDRPC_PROTOC,
        "-I" + root,
        std::string("-I") + GRIDRPC_PROTO_DIR,
        std::string("-I") + GRIDRPC_PROTOBUF_INCLUDE_DIR,
        std::string("--plugin=protoc-gen-gridrpc=") + GRIDRPC_PLUGIN,
        "--gridrpc_out=" + (parameter.empty() ? "" : parameter + ":") + out_dir_.string(),
    };
    args.insert(args.end(), protos.begin(), protos.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    const fs::path errors_path = temp_dir_ / "protoc.stderr";
    ProtocResult result;
    const pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      return result;
    }
    if (pid == 0) {
      const int fd = open(errors_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
      execv(argv[0], argv.data());
      _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      ADD_FAILURE() << "waitpid failed";
      return result;
    }
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.errors = ReadFile(errors_path);
    EXPECT_NE(result.exit_code, 127) << "cannot run " << GRIDRPC_PROTOC;
    return result;
  }

  // A generated file, or "" when it was not written.
  std::string Output(const std::string& name) const {
    const fs::path path = out_dir_ / name;
    return fs::exists(path) ? ReadFile(path) : "";
  }

  // The three sources of `stem` (descriptors, proxies, service bases) in one string, for checks
  // that look for code wherever it lands.
  std::string Sources(const std::string& stem) const {
    return Output(stem + ".gridrpc.cc") + Output(stem + ".gridrpc_proxy.cc") +
           Output(stem + ".gridrpc_service.cc");
  }

  fs::path temp_dir_;
  fs::path out_dir_;
};

// The import root of bad/ and good/: their protos are named "bad/x.proto", "good/x.proto".
std::string TestProtoRoot() { return fs::path(GRIDRPC_BAD_DIR).parent_path().string(); }

// ---------------------------------------------------------------------------------------------
// Golden output and the examples.

TEST_F(PluginTest, CounterMatchesGoldenFiles) {
  const ProtocResult result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/counter.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  EXPECT_EQ(Output("examples/counter.gridrpc.h"),
            ReadFile(fs::path(GRIDRPC_GOLDEN_DIR) / "counter.gridrpc.h"));
  for (const char* source : {"counter.gridrpc.cc", "counter.gridrpc_proxy.cc",
                             "counter.gridrpc_service.cc"}) {
    EXPECT_EQ(Output(std::string("examples/") + source),
              ReadFile(fs::path(GRIDRPC_GOLDEN_DIR) / source))
        << source;
  }
}

TEST_F(PluginTest, GeneratesEveryExample) {
  const ProtocResult result = RunProtoc(
      GRIDRPC_PROTO_DIR, {"examples/counter.proto", "examples/data_processor.proto",
                          "examples/simple_service.proto", "examples/search_service.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  EXPECT_EQ(result.errors, "");
  for (const char* stem : {"counter", "data_processor", "simple_service", "search_service"}) {
    EXPECT_NE(Output(std::string("examples/") + stem + ".gridrpc.h"), "") << stem;
    EXPECT_NE(Sources(std::string("examples/") + stem), "") << stem;
  }
}

TEST_F(PluginTest, SimpleServiceIsStatelessWithOneWayPrint) {
  const ProtocResult result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/simple_service.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  const std::string header = Output("examples/simple_service.gridrpc.h");
  const std::string source = Sources("examples/simple_service");
  for (const char* expected : {
           "// examples.SimpleService: stateless, lookup name \"examples.SimpleService\".\n",
           "absl::Status Print(const ::examples::PrintRequest& request, "
           "const ::gridrpc::CallOptions& options = {});",
           "::gridrpc::Future<::google::protobuf::Empty> PrintAsync(",
           "absl::StatusOr<::examples::CalcResponse> Calc(",
           "class Service : public ::gridrpc::ServiceBase {",
           "virtual absl::StatusOr<::google::protobuf::Empty> Print(::gridrpc::CallContext& "
           "context, const ::examples::PrintRequest& request) = 0;",
       }) {
    EXPECT_NE(header.find(expected), std::string::npos) << expected << "\nin:\n" << header;
  }
  EXPECT_EQ(header.find("NewContainer"), std::string::npos) << header;
  for (const char* expected : {
           "return core_->Call<::google::protobuf::Empty>(descriptor().methods[1], request, "
           "options).status();",
           ".routing_key = nullptr,\n       .routing_path = \"\",",
           ".one_way = true,",
           ".partitioned = false,\n      .sync_backups = 0,\n      .async_backups = 0,",
           "SerializeResult(Print(context, static_cast<const ::examples::PrintRequest&>(request))",
       }) {
    EXPECT_NE(source.find(expected), std::string::npos) << expected << "\nin:\n" << source;
  }
  EXPECT_EQ(source.find("RoutingKey"), std::string::npos) << source;
}

TEST_F(PluginTest, SearchServiceRoutesThroughNestedDocument) {
  const ProtocResult result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/search_service.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  const std::string header = Output("examples/search_service.gridrpc.h");
  const std::string source = Sources("examples/search_service");
  for (const char* expected : {
           "// examples.SearchService: partitioned, lookup name \"examples.SearchService\", 1 "
           "sync and 0 async backups.",
           "using State = ::examples::SearchIndex;",
           "class PartitionedService : public ::gridrpc::ServiceBase {",
       }) {
    EXPECT_NE(header.find(expected), std::string::npos) << expected << "\nin:\n" << header;
  }
  for (const char* expected : {
           "  if (!request.has_document()) {\n"
           "    return absl::InvalidArgumentError(\"examples.SearchService.Index: routing path "
           "'document.id' runs through 'document', which is not set\");\n"
           "  }\n"
           "  return ::gridrpc::KeyHash(std::string_view(request.document().id()));\n",
           ".routing_path = \"document.id\",",
           ".read_only = true,",
           ".reducer = ::gridrpc::BuiltinReducer::kMerge}",
           ".sync_backups = 1,",
       }) {
    EXPECT_NE(source.find(expected), std::string::npos) << expected << "\nin:\n" << source;
  }
}

TEST_F(PluginTest, DataProcessorRoutesByMethodOption) {
  const ProtocResult result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/data_processor.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  const std::string header = Output("examples/data_processor.gridrpc.h");
  const std::string source = Sources("examples/data_processor");
  EXPECT_NE(header.find("virtual absl::StatusOr<::examples::Data> ProcessData(::gridrpc::"
                        "CallContext& context, const ::examples::Data& request) = 0;"),
            std::string::npos)
      << header;
  EXPECT_NE(source.find("return ::gridrpc::KeyHash(std::string_view(request.data_type()));"),
            std::string::npos)
      << source;
  EXPECT_NE(source.find(".routing_key = &DataProcessor_ProcessData_RoutingKey,\n"
                        "       .routing_path = \"data_type\","),
            std::string::npos)
      << source;
}

// ---------------------------------------------------------------------------------------------
// Edge cases (good/): these must generate; CMake also compiles them.

TEST_F(PluginTest, EdgeCasesGenerate) {
  const ProtocResult result =
      RunProtoc(TestProtoRoot(),
                {"good/edge_cases.proto", "good/messages_only.proto", "good/no_package.proto"});
  ASSERT_EQ(result.exit_code, 0) << result.errors;
  EXPECT_EQ(result.errors, "");
  const std::string header = Output("good/edge_cases.gridrpc.h");
  const std::string source = Sources("good/edge_cases");
  for (const char* expected : {
           "#ifndef GRIDRPC_GENERATED_GOOD_EDGE_CASES_PROTO_H_",
           "namespace good::edge {",
           "// good.edge.Ledger: partitioned, lookup name \"ledger \\\"v2\\\"\", 2 sync and 1 "
           "async backups.",
           "absl::StatusOr<::good::edge::Outer_Inner> Deep(",
           "absl::Status ByInt(const ::good::edge::Keys& request",
           // State found through the parent package, and fully qualified with a leading '.'.
           "using State = ::good::SharedState;",
           "using State = ::good::edge::Outer;",
           // Partitioned without state: the user supplies the container.
           "Touch(::gridrpc::PartitionContext& context, const ::google::protobuf::Empty& "
           "request) = 0;",
           "std::unique_ptr<::gridrpc::Container> NewContainer(int partition) override = 0;",
           "// good.edge.Nothing: stateless, lookup name \"good.edge.Nothing\".",
       }) {
    EXPECT_NE(header.find(expected), std::string::npos) << expected << "\nin:\n" << header;
  }
  for (const char* expected : {
           "  if (!request.has_a()) {\n",
           "  if (!request.a().has_b()) {\n"
           "    return absl::InvalidArgumentError(\"good.edge.Ledger.Deep: routing path 'a.b.c' "
           "runs through 'a.b', which is not set\");\n",
           "return ::gridrpc::KeyHash(static_cast<int64_t>(request.a().b().c()));",
           "return ::gridrpc::KeyHash(static_cast<int64_t>(request.i32()));",
           "return ::gridrpc::KeyHash(static_cast<uint64_t>(request.u64()));",
           "return ::gridrpc::KeyHash(static_cast<bool>(request.flag()));",
           "return ::gridrpc::KeyHash(static_cast<int64_t>(request.color()));",
           "return ::gridrpc::KeyHash(static_cast<int64_t>(request.s64()));",
           "return ::gridrpc::KeyHash(static_cast<uint64_t>(request.f32()));",
           "return ::gridrpc::KeyHash(std::string_view(request.raw()));",
           "return ::gridrpc::KeyHash(std::string_view(request.class_()));",
           "if (!request.has_choice()) {",
           "return ::gridrpc::KeyHash(std::string_view(request.id()));",
           ".lookup_name = \"ledger \\\"v2\\\"\",",
           ".timeout = absl::Milliseconds(2500),",
           ".reducer = ::gridrpc::BuiltinReducer::kSum}",
           ".sync_backups = 0,",  // Scratch sets 0 explicitly
           ".methods = {},",
       }) {
    EXPECT_NE(source.find(expected), std::string::npos) << expected << "\nin:\n" << source;
  }
  EXPECT_EQ(source.find("Scratch::PartitionedService::NewContainer"), std::string::npos);

  // No services: both files, the header with nothing but includes.
  const std::string messages_header = Output("good/messages_only.gridrpc.h");
  EXPECT_NE(messages_header.find("#include \"good/messages_only.pb.h\""), std::string::npos);
  EXPECT_EQ(messages_header.find("namespace"), std::string::npos) << messages_header;
  for (const char* suffix : {".gridrpc.cc", ".gridrpc_proxy.cc", ".gridrpc_service.cc"}) {
    EXPECT_EQ(Output(std::string("good/messages_only") + suffix),
              "// Generated by protoc-gen-gridrpc. DO NOT EDIT!\n"
              "// source: good/messages_only.proto\n"
              "#include \"good/messages_only.gridrpc.h\"\n")
        << suffix;
  }

  // No package: no namespace.
  const std::string global_header = Output("good/no_package.gridrpc.h");
  EXPECT_NE(global_header.find("class Global final {"), std::string::npos) << global_header;
  EXPECT_EQ(global_header.find("namespace"), std::string::npos) << global_header;
  EXPECT_NE(global_header.find("absl::StatusOr<::PingResponse> Ping(const ::PingRequest& "),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Plugin parameters.

TEST_F(PluginTest, RejectsUnknownParameter) {
  ProtocResult result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/counter.proto"}, "x");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.errors.find("examples/counter.proto: unknown parameter 'x'"), std::string::npos)
      << result.errors;

  result = RunProtoc(GRIDRPC_PROTO_DIR, {"examples/counter.proto"}, "lite=true,foo");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.errors.find("unknown parameter 'lite'"), std::string::npos) << result.errors;
  EXPECT_EQ(Output("examples/counter.gridrpc.h"), "");
}

// ---------------------------------------------------------------------------------------------
// Contract errors (bad/): protoc fails, naming the file, the service or method, and the reason.

struct BadCase {
  std::string proto;                   // under bad/, without ".proto"
  std::string where;                   // "Bad.Do" or "Bad"
  std::vector<std::string> reasons;    // fragments the error must contain
  std::vector<std::string> also = {};  // further protos to pass to protoc
};

void PrintTo(const BadCase& bad, std::ostream* os) { *os << bad.proto; }

const std::vector<BadCase>& BadCases() {
  static const auto* const kCases = new std::vector<BadCase>{
      {"routing_no_field", "Bad.Do", {"routing path 'nope' names no field of bad.Req"}},
      {"routing_nested_no_field",
       "Bad.Do",
       {"routing path 'inner.nope'", "'nope' names no field of bad.Inner"}},
      {"routing_repeated",
       "Bad.Do",
       {"routing path 'tags' ends at repeated field 'tags'",
        "a routing key must be a singular string, bytes, integer, bool or enum field"}},
      {"routing_map", "Bad.Do", {"'labels'", "map field", "a routing key must be"}},
      {"routing_double", "Bad.Do", {"'ratio'", "is a double", "a routing key must be"}},
      {"routing_message", "Bad.Do", {"'inner'", "is a message (bad.Inner)"}},
      {"routing_through_scalar",
       "Bad.Do",
       {"routing path 'name.length' runs through 'name', which is a string",
        "every element but the last must be a singular message field"}},
      {"routing_through_repeated", "Bad.Do", {"runs through repeated field 'items'"}},
      {"routing_key_float", "Bad.Do", {"'score'", "is a float", "a routing key must be"}},
      {"routing_key_twice",
       "Bad.Do",
       {"bad.Req", "2 fields with (gridrpc.routing_key)", "'first', 'second'"}},
      {"transactional",
       "Bad.Do",
       {"transactions are not supported; remove (gridrpc.method).transactional"}},
      {"client_streaming", "Bad.Do", {"streaming methods are not supported by gridrpc yet"}},
      {"server_streaming", "Bad.Do", {"streaming methods are not supported by gridrpc yet"}},
      {"negative_backups", "Bad", {"async_backups is -1", "cannot be negative"}},
      {"backups_on_stateless", "Bad", {"sync_backups", "only to partitioned services"}},
      {"state_on_stateless", "Bad", {"state", "only to partitioned services"}},
      {"state_unknown", "Bad", {"state 'NoSuchState' names no message"}},
      {"state_not_imported",
       "Bad",
       {"bad.OtherState", "bad/other_state.proto", "does not import"},
       {"bad/other_state.proto"}},
      {"reserved_method_name", "Bad.Invoke", {"cannot be named 'Invoke'"}},
      {"reserved_service_name", "Proxy", {"a service cannot be named 'Proxy'"}},
      {"async_name_clash", "Bad.GetAsync", {"cannot be named 'GetAsync'", "'Get'"}},
      {"method_tag_clash", "Bad.GetMethod", {"cannot be named 'GetMethod'", "method tag", "'Get'"}},
  };
  return *kCases;
}

class BadContractTest : public PluginTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(BadContractTest, FailsWithReason) {
  const BadCase& bad = GetParam();
  const std::string proto = "bad/" + bad.proto + ".proto";
  std::vector<std::string> protos = bad.also;
  protos.push_back(proto);
  const ProtocResult result = RunProtoc(TestProtoRoot(), protos);
  EXPECT_NE(result.exit_code, 0) << result.errors;
  EXPECT_NE(result.errors.find(proto + ": " + bad.where + ": "), std::string::npos)
      << result.errors;
  for (const std::string& reason : bad.reasons) {
    EXPECT_NE(result.errors.find(reason), std::string::npos)
        << "missing '" << reason << "' in: " << result.errors;
  }
  EXPECT_EQ(Output("bad/" + bad.proto + ".gridrpc.h"), "");
}

INSTANTIATE_TEST_SUITE_P(BadProtos, BadContractTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.proto;
                         });

// Every proto in bad/ is a case above (or a helper a case passes along).
TEST(BadProtosTest, EveryBadProtoHasACase) {
  std::set<std::string> covered;
  for (const BadCase& bad : BadCases()) {
    covered.insert(bad.proto + ".proto");
    for (const std::string& also : bad.also) covered.insert(fs::path(also).filename().string());
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(GRIDRPC_BAD_DIR)) {
    if (entry.path().extension() != ".proto") continue;
    EXPECT_TRUE(covered.contains(entry.path().filename().string())) << entry.path();
  }
}

}  // namespace
