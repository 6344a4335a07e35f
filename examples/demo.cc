// gridrpc-demo (`./dev demo`): the seed scenarios on a 2-member embedded cluster.
//
// 1. The Hazelcast SPI counter: four counters 0counter..3counter, two rounds of inc(1); each
//    member prints where it executes an inc, and the client prints the values (1, then 2).
// 2. The XAP DataProcessor, routed by a routing handler on the data's type, through a logging
//    aspect.
// 3. SimpleService: a call with no routing key (random partition), async, and a one-way call.
// 4. The XAP SearchService broadcast: documents indexed by id, searched on every partition,
//    merged by the contract's reducer, then cut short by the seed's reducer and filter.
// 5. Partitions that survive: a member joins and counters move with their values; a member
//    crashes and its backups take over; a migration listener reports as it goes.
#include <cstdio>

#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/client_aspects.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/migration.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/proxy.h"
#include "search_reducer.h"

namespace {

// Prints each migration process and a few of its replica migrations.
class MigrationPrinter final : public gridrpc::MigrationListener {
 public:
  void MigrationStarted(const gridrpc::MigrationState& state) override {
    shown_ = 0;
    std::printf("  [migration listener] started: %d replica migrations planned\n", state.planned);
  }
  void ReplicaMigrationCompleted(const gridrpc::ReplicaMigrationEvent& e) override {
    if (shown_++ < 3) {
      std::printf(
          "  [migration listener] partition %d replica %d: %s -> %s in %lld us "
          "(%d of %d)\n",
          e.partition, e.replica_index, e.source.c_str(), e.destination.c_str(),
          static_cast<long long>(absl::ToInt64Microseconds(e.elapsed)), e.state.completed,
          e.state.planned);
    }
  }
  void ReplicaMigrationFailed(const gridrpc::ReplicaMigrationEvent& e) override {
    std::printf("  [migration listener] partition %d replica %d FAILED\n", e.partition,
                e.replica_index);
  }
  void MigrationFinished(const gridrpc::MigrationState& state) override {
    std::printf("  [migration listener] finished: %d of %d done, %lld us copying in all\n",
                state.completed, state.planned,
                static_cast<long long>(absl::ToInt64Microseconds(state.total_elapsed)));
  }

 private:
  int shown_ = 0;
};

std::string OwnerOf(const gridrpc::PartitionTable& table, const std::string& key) {
  const int p = gridrpc::PartitionOf(gridrpc::KeyHash(key), table.partition_count());
  return table.member(table.Owner(p)).address();
}

absl::Status Run() {
  std::printf("Starting an embedded cluster of 2 members...\n");
  absl::StatusOr<std::unique_ptr<gridrpc::EmbeddedCluster>> cluster =
      gridrpc::EmbeddedCluster::Start(
          {.members = 2, .properties = {{"counter.log_executions", "true"}}},
          examples::AddExampleServices);
  if (!cluster.ok()) return cluster.status();
  for (int i = 0; i < (*cluster)->size(); ++i) {
    std::printf("  member %s at %s\n", (*cluster)->member(i).id().c_str(),
                (*cluster)->member(i).address().c_str());
  }

  absl::StatusOr<std::unique_ptr<gridrpc::Client>> client =
      gridrpc::Client::Create({.members = {(*cluster)->member(0).address()}});
  if (!client.ok()) return client.status();
  const auto table = (*client)->partition_table();
  std::printf("Client loaded partition table version %lld: %d partitions on %d members\n\n",
              static_cast<long long>(table->version()), table->partition_count(),
              table->member_count());

  std::printf("== Counter (Hazelcast SPI sample): two rounds of inc(1) ==\n");
  auto counter = gridrpc::ProxyBuilder<examples::Counter>(**client).Build();
  for (int round = 1; round <= 2; ++round) {
    std::printf("Round %d\n", round);
    for (int k = 0; k < 4; ++k) {
      examples::IncRequest request;
      request.set_name(std::to_string(k) + "counter");
      request.set_amount(1);
      absl::StatusOr<examples::IncResponse> response = counter->Inc(request);
      if (!response.ok()) return response.status();
      const int partition =
          gridrpc::PartitionOf(gridrpc::KeyHash(request.name()), table->partition_count());
      std::printf("%s = %lld   (partition %d, owner %s)\n", request.name().c_str(),
                  static_cast<long long>(response->value()), partition,
                  table->member(table->Owner(partition)).address().c_str());
    }
  }

  std::printf("\n== DataProcessor (XAP sample): routing handler and a logging aspect ==\n");
  auto processor =
      gridrpc::ProxyBuilder<examples::DataProcessor>(**client)
          .RoutingHandler(
              [](const gridrpc::Invocation& call) -> std::optional<gridrpc::RoutingKey> {
                // The seed's DataRemoteRoutingHandler: route ProcessData by the data's type.
                if (call.method.name != "ProcessData") return std::nullopt;
                return static_cast<const examples::Data&>(call.request).data_type();
              })
          .Aspects({std::make_shared<gridrpc::LoggingAspect>([](std::string_view line) {
            std::printf("  [logging aspect] %.*s\n", static_cast<int>(line.size()), line.data());
          })})
          .Build();
  examples::Data data;
  data.set_data_type("orders");
  data.set_payload("order #42");
  absl::StatusOr<examples::Data> processed = processor->ProcessData(data);
  if (!processed.ok()) return processed.status();
  std::printf("ProcessData(type=%s, payload=%s) -> processed=%s\n", processed->data_type().c_str(),
              processed->payload().c_str(), processed->processed() ? "true" : "false");

  std::printf("\n== SimpleService: no routing key, async and one-way ==\n");
  auto simple = gridrpc::ProxyBuilder<examples::SimpleService>(**client).Build();
  examples::CalcRequest calc;
  calc.set_value1(40);
  calc.set_value2(2);
  absl::StatusOr<examples::CalcResponse> sum = simple->CalcAsync(calc).Get();
  if (!sum.ok()) return sum.status();
  std::printf("CalcAsync(40, 2) -> %lld\n", static_cast<long long>(sum->result()));
  examples::PrintRequest print;
  print.set_msg("hello from a one-way call");
  if (absl::Status s = simple->Print(print); !s.ok()) return s;
  std::printf("Print returned once the member took the call\n");

  std::printf("\n== SearchService (XAP sample): broadcast with reducer and filter ==\n");
  auto search = gridrpc::ProxyBuilder<examples::SearchService>(**client).Build();
  for (int i = 0; i < 12; ++i) {
    examples::IndexRequest index;
    index.mutable_document()->set_id("doc-" + std::to_string(i));
    index.mutable_document()->set_text(i % 3 == 0 ? "in-memory data grid" : "plain text");
    if (absl::StatusOr<examples::IndexResponse> r = search->Index(index); !r.ok()) {
      return r.status();
    }
  }
  std::printf("Indexed 12 documents, 4 of them about grids, each on the partition of its id\n");
  examples::SearchRequest query;
  query.set_keyword("grid");
  auto everywhere = gridrpc::BroadcastProxyBuilder<examples::SearchService>(**client).Build();
  absl::StatusOr<examples::SearchResponse> all = everywhere->SearchFor(query);
  if (!all.ok()) return all.status();
  std::printf("SearchFor(grid) on all 271 partitions, merged by the contract's reducer: %d hits\n",
              all->results_size());
  for (const examples::SearchResult& hit : all->results()) {
    std::printf("  %s  (member %s, partition %d)\n", hit.document_id().c_str(),
                hit.member().c_str(), hit.partition());
  }
  auto reducer = std::make_shared<examples::SearchServiceReducer>();
  auto enough = gridrpc::BroadcastProxyBuilder<examples::SearchService>(**client)
                    .Reducer(examples::SearchService::Methods::SearchFor, reducer)
                    .Filter(examples::SearchService::Methods::SearchFor, reducer)
                    .Build();
  query.set_enough_results(2);
  absl::StatusOr<examples::SearchResponse> some = enough->SearchFor(query);
  if (!some.ok()) return some.status();
  std::printf(
      "SearchFor(grid, enough_results=2) with the seed's reducer and filter: %d hits, "
      "the broadcast stopped there\n",
      some->results_size());

  std::printf("\n== Partitions that survive: join, crash, migration listener ==\n");
  auto quiet = gridrpc::EmbeddedCluster::Start({.members = 2}, examples::AddExampleServices);
  if (!quiet.ok()) return quiet.status();  // a cluster without the execution log, for clarity
  (*quiet)->AddMigrationListener(std::make_shared<MigrationPrinter>());
  absl::StatusOr<std::unique_ptr<gridrpc::Client>> watcher =
      gridrpc::Client::Create({.members = {(*quiet)->member(0).address()}});
  if (!watcher.ok()) return watcher.status();
  auto counters = gridrpc::ProxyBuilder<examples::Counter>(**watcher).Build();
  auto show = [&](const char* when) -> absl::Status {
    std::printf("%s\n", when);
    const auto table = (*quiet)->partition_table();
    for (int k = 0; k < 4; ++k) {
      examples::GetRequest get;
      get.set_name(std::to_string(k) + "counter");
      absl::StatusOr<examples::GetResponse> value = counters->Get(get);
      if (!value.ok()) return value.status();
      std::printf("  %s = %lld on %s\n", get.name().c_str(), static_cast<long long>(value->value()),
                  OwnerOf(*table, get.name()).c_str());
    }
    return absl::OkStatus();
  };
  for (int k = 0; k < 4; ++k) {
    examples::IncRequest inc;
    inc.set_name(std::to_string(k) + "counter");
    inc.set_amount(10 * (k + 1));
    if (absl::StatusOr<examples::IncResponse> r = counters->Inc(inc); !r.ok()) return r.status();
  }
  if (absl::Status s = show("Four counters on 2 members (each with 1 sync backup):"); !s.ok()) {
    return s;
  }
  std::printf("A third member joins:\n");
  absl::StatusOr<int> joined = (*quiet)->AddMember();
  if (!joined.ok()) return joined.status();
  if (absl::Status s = show("After the join, the same values, wherever their partitions went:");
      !s.ok()) {
    return s;
  }
  std::printf("Member %s crashes (no handover):\n", (*quiet)->member(0).address().c_str());
  if (absl::Status s = (*quiet)->Crash(0); !s.ok()) return s;
  if (absl::Status s = show("After the crash, every acknowledged increment is still there:");
      !s.ok()) {
    return s;
  }
  (*quiet)->Shutdown();

  std::printf("\nShutting the cluster down.\n");
  (*cluster)->Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main() {
  absl::Status status = Run();
  if (!status.ok()) {
    std::fprintf(stderr, "demo failed: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
