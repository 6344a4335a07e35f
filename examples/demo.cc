// gridrpc-demo (`./dev demo`): the seed scenarios on a 2-member embedded cluster.
//
// 1. The Hazelcast SPI counter: four counters 0counter..3counter, two rounds of inc(1); each
//    member prints where it executes an inc, and the client prints the values (1, then 2).
// 2. The XAP DataProcessor, routed by the data's type.
// 3. SimpleService: a call with no routing key (random partition), async, and a one-way call.
#include <cstdio>

#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/partitioning.h"
#include "gridrpc/proxy.h"

namespace {

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

  std::printf("\n== DataProcessor (XAP sample), routed by data_type ==\n");
  auto processor = gridrpc::ProxyBuilder<examples::DataProcessor>(**client).Build();
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
