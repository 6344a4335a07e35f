// Implementations of the example contracts (proto/examples/), as a user would write them.
// Hosted by gridrpc-member, the demo, the tests and the benchmarks.
#ifndef GRIDRPC_EXAMPLES_EXAMPLE_SERVICES_H_
#define GRIDRPC_EXAMPLES_EXAMPLE_SERVICES_H_

#include <atomic>

#include "examples/counter.gridrpc.h"
#include "examples/data_processor.gridrpc.h"
#include "examples/search_service.gridrpc.h"
#include "examples/simple_service.gridrpc.h"
#include "gridrpc/member.h"

namespace examples {

// The Hazelcast SPI sample. With the property `counter.log_executions=true` it prints where
// each Inc runs, as the seed's CounterService does.
class CounterImpl : public Counter::PartitionedService {
 public:
  absl::Status Init(const gridrpc::MemberContext& member,
                    const gridrpc::Properties& properties) override;
  absl::StatusOr<IncResponse> Inc(gridrpc::PartitionContext& context, State& state,
                                  const IncRequest& request) override;
  absl::StatusOr<GetResponse> Get(gridrpc::PartitionContext& context, State& state,
                                  const GetRequest& request) override;

 private:
  bool log_executions_ = false;
};

// The XAP sample: marks the data processed, on the partition its type routes to.
class DataProcessorImpl : public DataProcessor::Service {
 public:
  absl::StatusOr<Data> ProcessData(gridrpc::CallContext& context, const Data& data) override;
};

class SimpleServiceImpl : public SimpleService::Service {
 public:
  absl::StatusOr<CalcResponse> Calc(gridrpc::CallContext& context,
                                    const CalcRequest& request) override;
  // Prints the message; an empty message fails (which a one-way caller never hears about).
  absl::StatusOr<google::protobuf::Empty> Print(gridrpc::CallContext& context,
                                                const PrintRequest& request) override;

  int64_t prints() const { return prints_.load(); }

 private:
  std::atomic<int64_t> prints_{0};
};

// Documents indexed by id on their partition; SearchFor scans the partition it runs on.
class SearchServiceImpl : public SearchService::PartitionedService {
 public:
  absl::StatusOr<IndexResponse> Index(gridrpc::PartitionContext& context, State& state,
                                      const IndexRequest& request) override;
  absl::StatusOr<SearchResponse> SearchFor(gridrpc::PartitionContext& context, State& state,
                                           const SearchRequest& request) override;
};

// Hosts all of them, CalculatorImpl (calculator_service.h) included, on `member`.
absl::Status AddExampleServices(gridrpc::Member& member);

}  // namespace examples

#endif  // GRIDRPC_EXAMPLES_EXAMPLE_SERVICES_H_
