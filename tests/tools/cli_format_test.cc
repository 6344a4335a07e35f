// gridrpc-cli's commands in-process, without a member: the command line, the partition lists,
// what members and table print (their JSON parsed back), and usage errors. cli_test.cc runs the
// real binary against real members.
#include <gmock/gmock.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/cli.h"
#include "cli/json_writer.h"
#include "cli/options.h"
#include "cli/table_format.h"

namespace gridrpc::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct json;
  auto status = google::protobuf::util::JsonStringToMessage(text, &json);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  return json;
}

// Three members; partition p: primary p % 3, backup (p + 1) % 3; partition 4 lost.
v1::PartitionTable SampleTable() {
  v1::PartitionTable table;
  table.set_version(12);
  table.set_cluster_name("shop \"eu\"");
  table.set_partition_count(6);
  for (int m = 0; m < 3; ++m) {
    v1::MemberInfo* member = table.add_members();
    member->set_id(absl::StrCat("member-", m));
    member->set_address(absl::StrCat("10.0.0.", m, ":5701"));
    member->set_peer_address(absl::StrCat("10.0.0.", m, ":5702"));
  }
  (*table.mutable_members(1)->mutable_labels())["zone"] = "eu-1b";
  (*table.mutable_members(1)->mutable_labels())["team"] = "search";
  for (int p = 0; p < 6; ++p) {
    v1::PartitionReplicas* replicas = table.add_partitions();
    replicas->add_members(p % 3);
    replicas->add_members((p + 1) % 3);
  }
  table.mutable_partitions(4)->set_lost(true);
  table.mutable_partitions(4)->add_last_holders("member-9");
  return table;
}

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

RunResult RunInProcess(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  Interrupter interrupter;
  Io io{in, out, err, interrupter};
  const int exit_code = Run(args, io);
  return {exit_code, out.str(), err.str()};
}

TEST(CliArgsTest, FlagsAnywhereAndPositionalsInOrder) {
  absl::StatusOr<Args> args =
      Args::Parse({"--target=h:1", "watch", "migrations", "--count=3", "-", "--output=json"});
  ASSERT_TRUE(args.ok()) << args.status();
  absl::StatusOr<GlobalOptions> options = TakeGlobalOptions(*args);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->target, "h:1");
  EXPECT_EQ(options->output, OutputFormat::kJson);
  EXPECT_FALSE(options->timeout.has_value());
  EXPECT_THAT(args->positional(), ElementsAre("watch", "migrations", "-"));
  EXPECT_EQ(args->Take("count"), "3");
  EXPECT_TRUE(args->CheckAllTaken("watch").ok());
}

TEST(CliArgsTest, BadGlobalFlagsAreNamed) {
  auto error_of = [](std::vector<std::string> argv) -> std::string {
    absl::StatusOr<Args> args = Args::Parse(argv);
    if (!args.ok()) return std::string(args.status().message());
    absl::StatusOr<GlobalOptions> options = TakeGlobalOptions(*args);
    if (!options.ok()) return std::string(options.status().message());
    absl::Status rest = args->CheckAllTaken("table");
    return rest.ok() ? "" : std::string(rest.message());
  };
  EXPECT_THAT(error_of({"--timeout=10"}), HasSubstr("--timeout=10 is not a positive duration"));
  EXPECT_THAT(error_of({"--timeout=-1s"}), HasSubstr("--timeout=-1s"));
  EXPECT_THAT(error_of({"--output=yaml"}), HasSubstr("--output must be text or json, not 'yaml'"));
  EXPECT_THAT(error_of({"--target="}), HasSubstr("--target needs a value"));
  EXPECT_THAT(error_of({"--target=a", "--target=b"}), HasSubstr("--target is given twice"));
  EXPECT_THAT(error_of({"--tls_ca_file=ca", "--tls_cert_file=c"}),
              HasSubstr("--tls_cert_file and --tls_key_file go together"));
  EXPECT_THAT(error_of({"--tls_cert_file=c", "--tls_key_file=k"}),
              HasSubstr("--tls_cert_file needs --tls_ca_file"));
  EXPECT_THAT(error_of({"--tls_server_name=x"}), HasSubstr("--tls_server_name needs"));
  EXPECT_THAT(error_of({"--tagret=x"}), HasSubstr("unknown flag --tagret"));
  EXPECT_EQ(error_of({"--timeout=1500ms", "--output=text"}), "");
}

TEST(CliPartitionListTest, ParsesListsAndRangesAndNamesWhatIsWrong) {
  EXPECT_THAT(ParsePartitionList("7").value(), ElementsAre(7));
  EXPECT_THAT(ParsePartitionList("9,0-2, 5").value(), ElementsAre(0, 1, 2, 5, 9));
  for (const char* bad : {"", "a", "3,", "-1", "5-3", "1-", "2.5", "0-99999999"}) {
    EXPECT_FALSE(ParsePartitionList(bad).ok()) << bad;
  }
  EXPECT_THAT(std::string(ParsePartitionList("1,0-3").status().message()),
              HasSubstr("'0-3' in the partition list '1,0-3' lists 1 again"));
  EXPECT_THAT(std::string(ParsePartitionList("4,x").status().message()), HasSubstr("'x'"));
}

TEST(CliFormatTest, RangesCompressRuns) {
  EXPECT_EQ(FormatRanges({}), "");
  EXPECT_EQ(FormatRanges({4}), "4");
  EXPECT_EQ(FormatRanges({0, 1, 2, 3, 7, 9, 10}), "0-3,7,9-10");
}

TEST(CliFormatTest, JsonWriterEscapesAndSeparates) {
  JsonWriter json;
  json.BeginObject().Key("a\"b").String("x\n\\y\x01").Key("list").BeginArray().Int(-3).Bool(true);
  json.BeginObject().EndObject().EndArray().EndObject();
  EXPECT_EQ(json.str(), R"({"a\"b":"x\n\\y\u0001","list":[-3,true,{}]})");
}

TEST(CliFormatTest, MembersListTheirPartitions) {
  const std::string text = FormatMembers(SampleTable(), OutputFormat::kText);
  EXPECT_THAT(text,
              HasSubstr("table version 12 of cluster 'shop \"eu\"': 6 partitions, 3 members"));
  EXPECT_THAT(text, HasSubstr("member member-1\n"
                              "  address       10.0.0.1:5701\n"
                              "  peer address  10.0.0.1:5702\n"
                              "  zone          eu-1b\n"
                              "  labels        team=search,zone=eu-1b\n"));
  EXPECT_THAT(text, HasSubstr("member member-0\n"
                              "  address       10.0.0.0:5701\n"
                              "  peer address  10.0.0.0:5702\n"
                              "  zone          -\n"
                              "  labels        -\n"));
  // member-0: primary of 0 and 3, backup of 2 and 5.
  EXPECT_THAT(text, HasSubstr("primary of    2: 0,3\n  backup of     2: 2,5\n"));

  google::protobuf::Struct json = ParseJson(FormatMembers(SampleTable(), OutputFormat::kJson));
  EXPECT_EQ(json.fields().at("table_version").number_value(), 12);
  EXPECT_EQ(json.fields().at("cluster_name").string_value(), "shop \"eu\"");
  const auto& members = json.fields().at("members").list_value().values();
  ASSERT_EQ(members.size(), 3);
  const auto& m2 = members[2].struct_value().fields();
  EXPECT_EQ(m2.at("id").string_value(), "member-2");
  EXPECT_EQ(m2.at("peer_address").string_value(), "10.0.0.2:5702");
  ASSERT_EQ(m2.at("primary_of").list_value().values_size(), 2);
  EXPECT_EQ(m2.at("primary_of").list_value().values(1).number_value(), 5);
  EXPECT_EQ(m2.at("backup_of").list_value().values(0).number_value(), 1);
  EXPECT_EQ(m2.at("zone").string_value(), "");
  EXPECT_EQ(m2.at("labels").struct_value().fields_size(), 0);
  const auto& m1 = members[1].struct_value().fields();
  EXPECT_EQ(m1.at("zone").string_value(), "eu-1b");
  EXPECT_EQ(m1.at("labels").struct_value().fields().at("team").string_value(), "search");
}

TEST(CliFormatTest, TableShowsReplicasAndLostPartitions) {
  const std::string text = FormatTable(SampleTable(), OutputFormat::kText);
  EXPECT_THAT(text, HasSubstr("6 partitions, 3 members, 1 lost (4)\n"));
  EXPECT_THAT(text, HasSubstr("        0  member-0 member-1\n"));
  EXPECT_THAT(text, HasSubstr("        4  member-1 member-2  LOST (last held by member-9)\n"));
  EXPECT_THAT(text, Not(HasSubstr("        3  member-0 member-1  LOST")));

  google::protobuf::Struct json = ParseJson(FormatTable(SampleTable(), OutputFormat::kJson));
  EXPECT_EQ(json.fields().at("version").number_value(), 12);
  const auto& partitions = json.fields().at("partitions").list_value().values();
  ASSERT_EQ(partitions.size(), 6);
  const auto& p4 = partitions[4].struct_value().fields();
  EXPECT_TRUE(p4.at("lost").bool_value());
  EXPECT_EQ(p4.at("replicas").list_value().values(0).string_value(), "member-1");
  EXPECT_EQ(p4.at("last_holders").list_value().values(0).string_value(), "member-9");
  EXPECT_FALSE(partitions[3].struct_value().fields().at("lost").bool_value());
  const auto& lost = json.fields().at("lost_partitions").list_value().values();
  ASSERT_EQ(lost.size(), 1);
  EXPECT_EQ(lost[0].number_value(), 4);
}

TEST(CliFormatTest, ABrokenTableIsShownNotTrusted) {
  v1::PartitionTable table = SampleTable();
  table.mutable_partitions(0)->set_members(1, 7);  // no member 7
  EXPECT_THAT(FormatTable(table, OutputFormat::kText), HasSubstr("        0  member-0 ?7\n"));
  EXPECT_THAT(FormatMembers(table, OutputFormat::kText), HasSubstr("member member-2"));
}

TEST(CliRunTest, UsageErrorsExitOneAndNameTheProblem) {
  RunResult none = RunInProcess({});
  EXPECT_EQ(none.exit_code, kExitBadInput);
  EXPECT_THAT(none.err, HasSubstr("no command given"));

  RunResult unknown = RunInProcess({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, kExitBadInput);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frobnicate'"));

  RunResult bad_method = RunInProcess({"call", "examples.Counter.Inc", "{}"});
  EXPECT_EQ(bad_method.exit_code, kExitBadInput);
  EXPECT_THAT(bad_method.err, HasSubstr("'examples.Counter.Inc' is not SERVICE/METHOD"));

  RunResult no_json = RunInProcess({"call", "examples.Counter/Inc"});
  EXPECT_EQ(no_json.exit_code, kExitBadInput);

  RunResult bad_count = RunInProcess({"watch", "migrations", "--count=0"});
  EXPECT_EQ(bad_count.exit_code, kExitBadInput);
  EXPECT_THAT(bad_count.err, HasSubstr("--count=0 is not a positive number"));

  RunResult stray = RunInProcess({"members", "extra"});
  EXPECT_EQ(stray.exit_code, kExitBadInput);
  EXPECT_THAT(stray.err, HasSubstr("members takes no arguments, not 'extra'"));

  RunResult count_elsewhere = RunInProcess({"table", "--count=3"});
  EXPECT_EQ(count_elsewhere.exit_code, kExitBadInput);
  EXPECT_THAT(count_elsewhere.err, HasSubstr("unknown flag --count for table"));

  RunResult bad_list = RunInProcess({"reset-lost-partitions", "3,x"});
  EXPECT_EQ(bad_list.exit_code, kExitBadInput);
  EXPECT_THAT(bad_list.err, HasSubstr("'x' in the partition list"));

  RunResult missing_ca = RunInProcess({"--tls_ca_file=/nonexistent/ca.pem", "health"});
  EXPECT_EQ(missing_ca.exit_code, kExitBadInput);
  EXPECT_THAT(missing_ca.err,
              HasSubstr("cannot read the --tls_ca_file file '/nonexistent/ca.pem'"));

  RunResult missing_secret =
      RunInProcess({"--cluster_secret_file=/nonexistent/secret", "reset-lost-partitions", "1"});
  EXPECT_EQ(missing_secret.exit_code, kExitBadInput);
  EXPECT_THAT(missing_secret.err, HasSubstr("'/nonexistent/secret'"));

  RunResult help = RunInProcess({"--help"});
  EXPECT_EQ(help.exit_code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("reset-lost-partitions"));
}

}  // namespace
}  // namespace gridrpc::cli
