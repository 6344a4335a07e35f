// Members in separate processes: gridrpc-member --coordinator=etcd against a real etcd started
// by the test, a smart client in the test process, and real signals (SIGKILL, SIGTERM).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cluster/process_cluster.h"
#include "examples/counter.gridrpc.h"
#include "gridrpc/client.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/proxy.h"
#include "testing/certs.h"
#include "testing/child_process.h"
#include "testing/etcd_server.h"

namespace gridrpc::testing {
namespace {

using examples::Counter;
using MultiProcessTest = ProcessClusterTest;

TEST_F(MultiProcessTest, ThreeProcessesFormOneClusterAndServeEveryPartition) {
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(StartMember().empty());
  for (auto& member : members_) {
    EXPECT_EQ(member->LogTail().find("event=peer_port_unauthenticated"), std::string::npos);
  }
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForMembers(*client, 3));
  // Every member holds a share of the primaries and of the backups.
  std::shared_ptr<const PartitionTable> table = client->partition_table();
  std::map<int, int> primaries;
  std::map<int, int> backups;
  for (int p = 0; p < table->partition_count(); ++p) {
    const auto& replicas = table->proto().partitions(p).members();
    ASSERT_EQ(replicas.size(), 2) << "partition " << p;
    ++primaries[replicas[0]];
    ++backups[replicas[1]];
  }
  for (int m = 0; m < 3; ++m) {
    EXPECT_GE(primaries[m], 271 / 3) << "member " << m;
    EXPECT_GE(backups[m], 271 / 3) << "member " << m;
  }
  std::unique_ptr<Counter::Proxy> counter = ProxyBuilder<Counter>(*client).Build();
  for (int i = 0; i < 50; ++i) {
    examples::IncRequest request;
    request.set_name(absl::StrCat("c", i));
    request.set_amount(i);
    absl::StatusOr<examples::IncResponse> response = counter->Inc(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->value(), i);
  }
}

// The scenario: under load, one of three members is killed with SIGKILL. Every
// acknowledged increment survives (1 sync backup), and no counter is ahead of its acknowledged
// count by more than the calls that were in flight when the member died (one per worker).
// Parameter: which member dies. The first one started is the planner (it campaigned first), so
// killing it also makes another member take over planning.
class SigkillTest : public MultiProcessTest, public ::testing::WithParamInterface<int> {};

TEST_P(SigkillTest, UnderLoadLosesNoAcknowledgedIncrement) {
  const int victim_index = GetParam();
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(StartMember().empty());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForMembers(*client, 3));
  std::unique_ptr<Counter::Proxy> counter = ProxyBuilder<Counter>(*client).Build();

  constexpr int kWorkers = 4;
  constexpr int kCountersPerWorker = 16;
  struct Worker {
    std::map<std::string, int64_t> acknowledged;
    int64_t failed = 0;
    std::atomic<int64_t> successes{0};
    std::thread thread;
  };
  std::vector<Worker> workers(kWorkers);
  std::atomic<bool> stop{false};
  for (int w = 0; w < kWorkers; ++w) {
    workers[w].thread = std::thread([&, w] {
      Worker& me = workers[w];
      // Bounded: stops when told, or after 60 s whatever happens.
      const absl::Time give_up = absl::Now() + absl::Seconds(60);
      for (int i = 0; !stop.load() && absl::Now() < give_up; ++i) {
        examples::IncRequest request;
        request.set_name(absl::StrCat("w", w, "-", i % kCountersPerWorker));
        request.set_amount(1);
        if (counter->Inc(request).ok()) {
          ++me.acknowledged[request.name()];
          me.successes.fetch_add(1);
        } else {
          ++me.failed;  // unknown outcome: may or may not have been applied
          absl::SleepFor(absl::Milliseconds(5));
        }
      }
    });
  }
  auto total_successes = [&] {
    int64_t n = 0;
    for (Worker& w : workers) n += w.successes.load();
    return n;
  };
  // Some load first, then the kill.
  const absl::Time warm_deadline = absl::Now() + absl::Seconds(20);
  while (total_successes() < 2000 && absl::Now() < warm_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const std::string victim = addresses_[victim_index];
  members_[victim_index]->Signal(SIGKILL);
  ASSERT_TRUE(members_[victim_index]->Wait(absl::Seconds(10)).has_value());

  // The cluster notices (lease expiry), promotes, and restores backups; the load goes on.
  std::unique_ptr<Client> observer = Connect();
  ASSERT_NE(observer, nullptr);
  EXPECT_TRUE(WaitForMembers(*observer, 2, victim));
  const int64_t after_failover = total_successes();
  const absl::Time settle_deadline = absl::Now() + absl::Seconds(20);
  while (total_successes() < after_failover + 2000 && absl::Now() < settle_deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop = true;
  for (Worker& w : workers) w.thread.join();
  EXPECT_GE(total_successes(), after_failover + 2000) << "writes did not resume after failover";

  int64_t ahead = 0;
  int64_t failed = 0;
  for (int w = 0; w < kWorkers; ++w) {
    failed += workers[w].failed;
    for (int c = 0; c < kCountersPerWorker; ++c) {
      const std::string name = absl::StrCat("w", w, "-", c);
      examples::GetRequest request;
      request.set_name(name);
      absl::StatusOr<examples::GetResponse> value = counter->Get(request);
      ASSERT_TRUE(value.ok()) << name << ": " << value.status();
      const int64_t acknowledged = workers[w].acknowledged[name];
      EXPECT_GE(value->value(), acknowledged) << name << " lost acknowledged increments";
      ahead += value->value() - acknowledged;
    }
  }
  EXPECT_LE(ahead, kWorkers) << "more unacknowledged increments applied than calls in flight";
  // The survivors hold every partition, primary and backup, at the same replica sequence.
  std::map<int, std::map<int, int64_t>> sequences;  // partition -> replica index -> sequence
  for (int m = 0; m < 3; ++m) {
    if (m == victim_index) continue;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ReplicaSequencesResponse replicas;
    ASSERT_TRUE(
        v1::Cluster::NewStub(grpc::CreateChannel(addresses_[m], grpc::InsecureChannelCredentials()))
            ->GetReplicaSequences(&context, {}, &replicas)
            .ok());
    for (const v1::ReplicaSequence& r : replicas.replicas()) {
      sequences[r.partition()][r.replica_index()] = r.sequence();
    }
  }
  ASSERT_EQ(sequences.size(), 271u);
  for (const auto& [partition, replicas] : sequences) {
    ASSERT_EQ(replicas.size(), 2u) << "partition " << partition;
    EXPECT_EQ(replicas.at(0), replicas.at(1)) << "partition " << partition;
  }
  std::printf("load: %lld acknowledged, %lld failed during failover, %lld applied unacknowledged\n",
              static_cast<long long>(total_successes()), static_cast<long long>(failed),
              static_cast<long long>(ahead));
}

INSTANTIATE_TEST_SUITE_P(Victims, SigkillTest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Planner") : std::string("Other");
                         });

// SIGTERM is a graceful leave: the member hands its replicas over and exits 0; no counter
// changes, and the others serve every partition.
TEST_F(MultiProcessTest, SigtermHandsReplicasOverAndExitsCleanly) {
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(StartMember().empty());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForMembers(*client, 3));
  std::unique_ptr<Counter::Proxy> counter = ProxyBuilder<Counter>(*client).Build();
  constexpr int kCounters = 60;
  for (int i = 0; i < kCounters; ++i) {
    examples::IncRequest request;
    request.set_name(absl::StrCat("c", i));
    request.set_amount(i + 1);
    ASSERT_TRUE(counter->Inc(request).ok());
  }
  // Member 2 watches migrations: the planner (member 0, which is also the one leaving) tells
  // the other members of every migration it runs.
  std::shared_ptr<const PartitionTable> before = client->partition_table();
  std::string leaving_id;
  for (int i = 0; i < before->member_count(); ++i) {
    if (before->member(i).address() == addresses_[0]) leaving_id = before->member(i).id();
  }
  ASSERT_FALSE(leaving_id.empty());
  grpc::ClientContext watch_context;
  watch_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto watch =
      v1::Cluster::NewStub(grpc::CreateChannel(addresses_[2], grpc::InsecureChannelCredentials()))
          ->WatchMigrations(&watch_context, {});
  watch->WaitForInitialMetadata();  // registered

  const std::string leaving = addresses_[0];
  members_[0]->Signal(SIGTERM);
  std::optional<int> exit_status = members_[0]->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_status.has_value()) << members_[0]->LogTail();
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0) << members_[0]->LogTail();
  ASSERT_TRUE(WaitForMembers(*client, 2, leaving));

  std::vector<v1::MigrationEvent> events;
  for (v1::MigrationEvent event; watch->Read(&event);) {
    events.push_back(event);
    if (event.kind() == v1::MigrationEvent::MIGRATION_FINISHED) break;
  }
  watch_context.TryCancel();
  ASSERT_GE(events.size(), 2u) << "member 2 heard of no migration";
  EXPECT_EQ(events.front().kind(), v1::MigrationEvent::MIGRATION_STARTED);
  EXPECT_EQ(events.back().kind(), v1::MigrationEvent::MIGRATION_FINISHED);
  const int planned = events.front().state().planned();
  EXPECT_GT(planned, 0);
  EXPECT_EQ(static_cast<int>(events.size()), planned + 2);
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].kind(), v1::MigrationEvent::REPLICA_MIGRATION_COMPLETED) << i;
    EXPECT_EQ(events[i].state().completed(), static_cast<int>(i));
    EXPECT_NE(events[i].destination(), leaving_id);
  }
  EXPECT_EQ(events.back().state().remaining(), 0);

  for (int i = 0; i < kCounters; ++i) {
    examples::GetRequest request;
    request.set_name(absl::StrCat("c", i));
    absl::StatusOr<examples::GetResponse> value = counter->Get(request);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value(), i + 1) << request.name();
  }
}

// The last member's graceful leave ends the cluster: the next member to start plans a first
// table (version 1) instead of inheriting one that lists only the departed.
TEST_F(MultiProcessTest, LastMemberLeavingEndsTheCluster) {
  ASSERT_FALSE(StartMember().empty());
  members_[0]->Signal(SIGTERM);
  std::optional<int> exit_status = members_[0]->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_status.has_value() && WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0)
      << members_[0]->LogTail();
  addresses_.clear();
  ASSERT_FALSE(StartMember().empty());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->partition_table()->version(), 1);
  EXPECT_EQ(client->partition_table()->member_count(), 1);
}

// etcd crashing and coming back within the lease TTL is not a membership change: the members
// keep serving, keep their partitions, and go on coordinating (a newcomer still joins).
TEST_F(MultiProcessTest, MembersRideOutAnEtcdRestart) {
  for (int i = 0; i < 2; ++i) ASSERT_FALSE(StartMember(/*lease_ttl=*/"10s").empty());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForMembers(*client, 2));
  std::unique_ptr<Counter::Proxy> counter = ProxyBuilder<Counter>(*client).Build();
  examples::IncRequest inc;
  inc.set_name("survivor");
  inc.set_amount(5);
  ASSERT_TRUE(counter->Inc(inc).ok());
  const int64_t version = client->partition_table()->version();

  ASSERT_TRUE(etcd_->Restart().ok()) << etcd_->LogTail();
  ASSERT_TRUE(counter->Inc(inc).ok());  // served throughout: the data path does not need etcd
  ASSERT_FALSE(StartMember(/*lease_ttl=*/"10s").empty());
  ASSERT_TRUE(WaitForMembers(*client, 3));
  EXPECT_GT(client->partition_table()->version(), version);
  for (const auto& member : members_) {
    EXPECT_FALSE(member->Wait(absl::ZeroDuration()).has_value()) << member->LogTail();
  }
  examples::GetRequest get;
  get.set_name("survivor");
  absl::StatusOr<examples::GetResponse> value = counter->Get(get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value(), 10);
}

// Members in separate processes with TLS on both ports and mutual TLS between peers: the
// cluster forms, serves a TLS client, and a graceful leave hands every replica over.
TEST_F(MultiProcessTest, MutualTlsMembersFormAClusterAndHandOverOnSigterm) {
  absl::StatusOr<std::unique_ptr<TestCertificates>> certs = TestCertificates::Make(dir_ + "/certs");
  ASSERT_TRUE(certs.ok()) << certs.status();
  peer_flags_ = {"--tls_cert_file=" + (*certs)->Path("member", "pem"),
                 "--tls_key_file=" + (*certs)->Path("member", "key"),
                 "--tls_ca_file=" + (*certs)->Path("ca", "pem")};
  credentials_ = grpc::SslCredentials({.pem_root_certs = (*certs)->Read("ca", "pem")});
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(StartMember().empty());
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitForMembers(*client, 3));
  std::unique_ptr<Counter::Proxy> counter = ProxyBuilder<Counter>(*client).Build();
  for (int i = 0; i < 40; ++i) {
    examples::IncRequest request;
    request.set_name(absl::StrCat("tls", i));
    request.set_amount(i + 1);
    ASSERT_TRUE(counter->Inc(request).ok());
  }
  members_[0]->Signal(SIGTERM);
  std::optional<int> exit_status = members_[0]->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_status.has_value()) << members_[0]->LogTail();
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0) << members_[0]->LogTail();
  ASSERT_TRUE(WaitForMembers(*client, 2, addresses_[0]));
  for (int i = 0; i < 40; ++i) {
    examples::GetRequest get;
    get.set_name(absl::StrCat("tls", i));
    absl::StatusOr<examples::GetResponse> value = counter->Get(get);
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(value->value(), i + 1);
  }
}

// The development default: a member with neither a secret nor mutual TLS says, once, that
// anyone who reaches its peer port can change the cluster.
TEST_F(MultiProcessTest, AMemberWithoutPeerCredentialsWarnsOnce) {
  peer_flags_.clear();
  ASSERT_FALSE(StartMember().empty());
  const std::string log = members_[0]->LogTail();
  const size_t first = log.find("event=peer_port_unauthenticated");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("event=peer_port_unauthenticated", first + 1), std::string::npos) << log;
}

// Bad membership input stops a member at start, with a message naming what is wrong.
TEST_F(MultiProcessTest, AMemberWithAnotherPartitionCountIsRefusedAtJoin) {
  ASSERT_FALSE(StartMember().empty());
  absl::StatusOr<std::unique_ptr<ChildProcess>> odd = ChildProcess::Start(
      {GRIDRPC_MEMBER_PATH, "--listen=127.0.0.1:0", "--coordinator=etcd",
       "--etcd_endpoints=" + etcd_->endpoint(), "--lease_ttl=2s", "--cluster_name=mp",
       "--partition_count=7", "--cluster_secret_file=" + dir_ + "/secret"},
      dir_ + "/odd.log");
  ASSERT_TRUE(odd.ok()) << odd.status();
  std::optional<int> status = (*odd)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << (*odd)->LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << (*odd)->LogTail();
  EXPECT_THAT((*odd)->LogTail(), ::testing::HasSubstr("has 7 partitions, but"));
  // The cluster goes on as it was.
  std::unique_ptr<Client> client = Connect();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(WaitForMembers(*client, 1));
}

TEST_F(MultiProcessTest, ASecondMemberOnABusyAddressFailsToStart) {
  const std::string address = StartMember();
  ASSERT_FALSE(address.empty());
  absl::StatusOr<std::unique_ptr<ChildProcess>> second =
      ChildProcess::Start({GRIDRPC_MEMBER_PATH, "--listen=" + address, "--coordinator=etcd",
                           "--etcd_endpoints=" + etcd_->endpoint(), "--cluster_name=mp",
                           "--cluster_secret_file=" + dir_ + "/secret"},
                          dir_ + "/second.log");
  ASSERT_TRUE(second.ok()) << second.status();
  std::optional<int> status = (*second)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << (*second)->LogTail();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << (*second)->LogTail();
  EXPECT_THAT((*second)->LogTail(), ::testing::HasSubstr("cannot listen on " + address));
}

}  // namespace
}  // namespace gridrpc::testing
