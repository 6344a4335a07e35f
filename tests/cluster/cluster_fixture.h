// An embedded cluster hosting the example services, with every execution recorded so tests
// can check where each call ran.
#ifndef GRIDRPC_TESTS_CLUSTER_CLUSTER_FIXTURE_H_
#define GRIDRPC_TESTS_CLUSTER_CLUSTER_FIXTURE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/proxy.h"
#include "test_util.h"

namespace gridrpc::testing {

struct Execution {
  std::string method;
  std::string member_id;
  int partition;
  std::string key;
};

// Thread-safe.
class ExecutionLog {
 public:
  void Add(Execution e) {
    absl::MutexLock lock(&mu_);
    executions_.push_back(std::move(e));
  }
  std::vector<Execution> Snapshot() const {
    absl::MutexLock lock(&mu_);
    return executions_;
  }
  std::vector<Execution> Of(std::string_view method) const {
    std::vector<Execution> out;
    for (Execution& e : Snapshot()) {
      if (e.method == method) out.push_back(std::move(e));
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Execution> executions_ ABSL_GUARDED_BY(mu_);
};

class RecordingCounter final : public examples::CounterImpl {
 public:
  explicit RecordingCounter(ExecutionLog& log) : log_(log) {}
  absl::StatusOr<examples::IncResponse> Inc(PartitionContext& context, State& state,
                                            const examples::IncRequest& request) override {
    // Executions on the owner only: backups replay the same method on their replicas.
    if (!context.is_backup()) {
      log_.Add({"Inc", context.member().id(), context.partition_id(), request.name()});
    }
    return CounterImpl::Inc(context, state, request);
  }

 private:
  ExecutionLog& log_;
};

class RecordingSimple final : public examples::SimpleServiceImpl {
 public:
  explicit RecordingSimple(ExecutionLog& log) : log_(log) {}
  absl::StatusOr<examples::CalcResponse> Calc(CallContext& context,
                                              const examples::CalcRequest& request) override {
    log_.Add({"Calc", context.member().id(), context.partition_id(), ""});
    return SimpleServiceImpl::Calc(context, request);
  }
  absl::StatusOr<google::protobuf::Empty> Print(CallContext& context,
                                                const examples::PrintRequest& request) override {
    log_.Add({"Print", context.member().id(), context.partition_id(), request.msg()});
    return SimpleServiceImpl::Print(context, request);
  }

 private:
  ExecutionLog& log_;
};

class RecordingSearch final : public examples::SearchServiceImpl {
 public:
  explicit RecordingSearch(ExecutionLog& log) : log_(log) {}
  absl::StatusOr<examples::IndexResponse> Index(PartitionContext& context, State& state,
                                                const examples::IndexRequest& request) override {
    if (!context.is_backup()) {
      log_.Add({"Index", context.member().id(), context.partition_id(), request.document().id()});
    }
    return SearchServiceImpl::Index(context, state, request);
  }

 private:
  ExecutionLog& log_;
};

class RecordingDataProcessor final : public examples::DataProcessorImpl {
 public:
  explicit RecordingDataProcessor(ExecutionLog& log) : log_(log) {}
  absl::StatusOr<examples::Data> ProcessData(CallContext& context,
                                             const examples::Data& data) override {
    log_.Add({"ProcessData", context.member().id(), context.partition_id(), data.data_type()});
    return DataProcessorImpl::ProcessData(context, data);
  }

 private:
  ExecutionLog& log_;
};

class ClusterTest : public ::testing::Test {
 protected:
  void StartCluster(int members) {
    absl::StatusOr<std::unique_ptr<EmbeddedCluster>> cluster =
        // A short gap grace: a backup that misses an operation resyncs without a long wait.
        EmbeddedCluster::Start(
            {.members = members, .tunables = {.gap_grace = absl::Milliseconds(20)}},
            [this](Member& m) -> absl::Status {
              for (absl::Status s :
                   {m.AddService(std::make_unique<RecordingCounter>(log_)),
                    m.AddService(std::make_unique<RecordingSimple>(log_)),
                    m.AddService(std::make_unique<RecordingSearch>(log_)),
                    m.AddService(std::make_unique<examples::DataProcessorImpl>())}) {
                if (!s.ok()) return s;
              }
              return absl::OkStatus();
            });
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create({.members = {cluster_->member(0).address()}});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    counter_ = ProxyBuilder<examples::Counter>(*client_).Build();
  }

  void SetUp() override { StartCluster(3); }

  // The member owning `key`'s partition in the cluster's table, and another one.
  Member& OwnerOf(std::string_view key) {
    const auto table = cluster_->partition_table();
    const int p = PartitionOf(KeyHash(key), table->partition_count());
    return *cluster_->FindMember(table->member(table->Owner(p)).id());
  }
  Member& NonOwnerOf(std::string_view key) {
    const std::string owner = OwnerOf(key).id();
    for (int i = 0; i < cluster_->size(); ++i) {
      if (cluster_->member(i).id() != owner) return cluster_->member(i);
    }
    ADD_FAILURE() << "single-member cluster has no non-owner";
    return cluster_->member(0);
  }

  int64_t CounterValue(const std::string& name) {
    examples::GetRequest get;
    get.set_name(name);
    absl::StatusOr<examples::GetResponse> r = counter_->Get(get);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->value() : -1;
  }

  static examples::IncRequest Inc(const std::string& name, int64_t amount) {
    examples::IncRequest r;
    r.set_name(name);
    r.set_amount(amount);
    return r;
  }

  ExecutionLog log_;
  std::unique_ptr<EmbeddedCluster> cluster_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<examples::Counter::Proxy> counter_;
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTS_CLUSTER_CLUSTER_FIXTURE_H_
