// ProcessClusterTest: gridrpc-member processes (--coordinator=etcd) against a real etcd started
// by the test, and smart clients in the test process, for tests with real processes and real
// signals (SIGKILL, SIGTERM, SIGSTOP). Members share a cluster secret.
#ifndef GRIDRPC_TESTS_CLUSTER_PROCESS_CLUSTER_H_
#define GRIDRPC_TESTS_CLUSTER_PROCESS_CLUSTER_H_

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gridrpc/client.h"
#include "gridrpc/partition_table.h"
#include "testing/child_process.h"
#include "testing/etcd_server.h"

namespace gridrpc::testing {

class ProcessClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gridrpc-mp-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    absl::StatusOr<std::unique_ptr<EtcdServer>> etcd = EtcdServer::Start();
    ASSERT_TRUE(etcd.ok()) << etcd.status();
    etcd_ = *std::move(etcd);
    // Members authenticate each other on their peer ports with a secret they share.
    std::ofstream(dir_ + "/secret") << "multi-process test secret\n";
    peer_flags_ = {"--cluster_secret_file=" + dir_ + "/secret"};
  }

  void TearDown() override {
    members_.clear();  // SIGKILL and reap
    etcd_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts one gridrpc-member joining the cluster; its address, or empty (the test failed).
  std::string StartMember(std::string lease_ttl = "2s") {
    const int index = static_cast<int>(members_.size());
    std::vector<std::string> argv = {
        GRIDRPC_MEMBER_PATH,        "--listen=127.0.0.1:0",
        "--coordinator=etcd",       "--etcd_endpoints=" + etcd_->endpoint(),
        "--lease_ttl=" + lease_ttl, "--cluster_name=mp"};
    argv.insert(argv.end(), peer_flags_.begin(), peer_flags_.end());
    absl::StatusOr<std::unique_ptr<ChildProcess>> member =
        ChildProcess::Start(std::move(argv), absl::StrCat(dir_, "/member", index, ".log"));
    EXPECT_TRUE(member.ok()) << member.status();
    if (!member.ok()) return "";
    std::optional<std::string> line = (*member)->WaitForLine("listening on", absl::Seconds(30));
    EXPECT_TRUE(line.has_value()) << "member " << index << " did not join:\n"
                                  << (*member)->LogTail();
    members_.push_back(*std::move(member));
    if (!line.has_value()) return "";
    std::string address = line->substr(line->rfind(' ') + 1);
    addresses_.push_back(address);
    return address;
  }

  // Waits (bounded) until the client's refreshed table lists exactly `count` members, none at
  // address `gone`, and every partition has its primary and its backup (the members run with
  // the default of one).
  bool WaitForMembers(Client& client, int count, const std::string& gone = "") {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (client.RefreshPartitionTable().ok()) {
        std::shared_ptr<const PartitionTable> table = client.partition_table();
        bool all_replicated = true;
        for (int p = 0; p < table->partition_count(); ++p) {
          all_replicated &= table->proto().partitions(p).members_size() == std::min(count, 2);
        }
        bool without_gone = true;
        for (int i = 0; i < table->member_count(); ++i) {
          without_gone &= table->member(i).address() != gone;
        }
        if (table->member_count() == count && all_replicated && without_gone) return true;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  }

  std::unique_ptr<Client> Connect() {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create({.members = addresses_,
                        .invocation_timeout = absl::Seconds(10),
                        .credentials = credentials_});
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string dir_;
  // How members secure their ports, and how the test's clients reach them.
  std::vector<std::string> peer_flags_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::unique_ptr<EtcdServer> etcd_;
  std::vector<std::unique_ptr<ChildProcess>> members_;
  std::vector<std::string> addresses_;
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTS_CLUSTER_PROCESS_CLUSTER_H_
