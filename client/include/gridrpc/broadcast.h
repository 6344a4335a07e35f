// Broadcast: one call run on every partition (partitioned services) or every member (stateless
// services), its results passed one by one through a result filter and folded by a reducer
// (XAP's ExecutorBroadcastRemotingProxyBuilder, IRemoteResultFilter, IRemoteResultReducer).
//
// Each member owning primaries receives one call and runs the method on each of its primary
// partitions; the results come back per partition. A broadcast proxy is the service's ordinary
// generated Proxy whose calls broadcast.
//
// Defaults, per method: the reducer the contract names (`reducer: REDUCER_MERGE`), else the
// first result, with a filter that stops at the first result; a reducer set on the builder
// without a filter sees every result.
//
// Example (the seed's SearchService):
//   class EnoughResults : public gridrpc::ResultReducer<examples::SearchResponse>,
//                         public gridrpc::ResultFilter<examples::SearchResponse> { ... };
//   auto reducer = std::make_shared<EnoughResults>();
//   auto search = gridrpc::BroadcastProxyBuilder<examples::SearchService>(*client)
//                     .Reducer(examples::SearchService::Methods::SearchFor, reducer)
//                     .Filter(examples::SearchService::Methods::SearchFor, reducer)
//                     .Build();
//   absl::StatusOr<examples::SearchResponse> hits = search->SearchFor(request);
#ifndef GRIDRPC_BROADCAST_H_
#define GRIDRPC_BROADCAST_H_

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gridrpc/invocation.h"
#include "gridrpc/service_descriptor.h"

namespace gridrpc {

// XAP's SpaceTaskFilterDecision.
enum class FilterDecision {
  kContinue,      // collect this result and go on
  kSkip,          // drop this result and go on
  kBreak,         // collect this result and stop: calls still in flight are cancelled
  kSkipAndBreak,  // drop this result and stop
};

// One partition's (or, for stateless services, one member's) outcome.
template <typename Response>
struct BroadcastResult {
  absl::StatusOr<Response> value;
  int partition = -1;     // where it ran
  std::string member_id;  // who ran it
};

template <typename Response>
struct FilterInfo {
  const BroadcastResult<Response>& current;
  // Results collected so far (continue / break decisions), in arrival order; not `current`.
  std::span<const BroadcastResult<Response>> collected;
  int received = 0;        // results received so far, `current` and skipped ones included
  int total_expected = 0;  // results a full broadcast yields
};

// Decides, result by result, what a broadcast keeps and when it stops. Called for one call's
// results one at a time (never concurrently for one call), possibly for several calls at once.
template <typename Response>
class ResultFilter {
 public:
  virtual ~ResultFilter() = default;
  virtual FilterDecision Decide(const FilterInfo<Response>& info, const Invocation& invocation) = 0;
};

// Folds what a broadcast collected into the call's one result; decides what errors mean.
template <typename Response>
class ResultReducer {
 public:
  virtual ~ResultReducer() = default;
  virtual absl::StatusOr<Response> Reduce(std::vector<BroadcastResult<Response>> results,
                                          const Invocation& invocation) = 0;
};

namespace internal {

// Collects one broadcast call's results; the type-erased face of the typed filter and reducer.
// Called under the call's lock.
class BroadcastCollector {
 public:
  virtual ~BroadcastCollector() = default;
  // Offers one result: response bytes, or the error the partition ended with.
  virtual FilterDecision Add(absl::StatusOr<std::string> bytes, int partition,
                             std::string member_id, int total_expected) = 0;
  // Reduces what was collected into `*response`.
  virtual absl::Status Finish(google::protobuf::Message* response) = 0;
};

using CollectorFactory =
    std::function<std::unique_ptr<BroadcastCollector>(const Invocation& invocation)>;

// The contract's built-in reducer over protobuf messages (first, merge, sum). Errors: `first`
// returns the first result as it is; `merge` and `sum` fail with the first error.
absl::Status ReduceBuiltin(
    BuiltinReducer reducer,
    std::span<const absl::StatusOr<const google::protobuf::Message*>> results,
    google::protobuf::Message* out);

// Collector for a method with no typed reducer or filter on the builder: the contract's reducer,
// stopping at the first result when that reducer is `first`.
std::unique_ptr<BroadcastCollector> NewBuiltinCollector(const MethodDescriptor& method);

template <typename Response>
struct TypedBroadcastConfig {
  std::shared_ptr<ResultReducer<Response>> reducer;  // null: the contract's reducer
  std::shared_ptr<ResultFilter<Response>> filter;    // null: collect everything
};

template <typename Response>
class TypedCollector final : public BroadcastCollector {
 public:
  TypedCollector(std::shared_ptr<const TypedBroadcastConfig<Response>> config,
                 const Invocation& invocation)
      : config_(std::move(config)), invocation_(invocation) {}

  FilterDecision Add(absl::StatusOr<std::string> bytes, int partition, std::string member_id,
                     int total_expected) override {
    BroadcastResult<Response> result;
    result.partition = partition;
    result.member_id = std::move(member_id);
    if (!bytes.ok()) {
      result.value = bytes.status();
    } else if (Response r; r.ParseFromString(*bytes)) {
      result.value = std::move(r);
    } else {
      result.value = absl::InternalError("broadcast result does not parse as " + r.GetTypeName());
    }
    ++received_;
    FilterDecision decision = FilterDecision::kContinue;
    if (config_->filter != nullptr) {
      decision = config_->filter->Decide(
          FilterInfo<Response>{result, collected_, received_, total_expected}, invocation_);
    }
    if (decision == FilterDecision::kContinue || decision == FilterDecision::kBreak) {
      collected_.push_back(std::move(result));
    }
    return decision;
  }

  absl::Status Finish(google::protobuf::Message* response) override {
    if (config_->reducer != nullptr) {
      absl::StatusOr<Response> reduced =
          config_->reducer->Reduce(std::move(collected_), invocation_);
      if (!reduced.ok()) return reduced.status();
      static_cast<Response&>(*response) = *std::move(reduced);
      return absl::OkStatus();
    }
    std::vector<absl::StatusOr<const google::protobuf::Message*>> values;
    for (const auto& r : collected_) {
      if (r.value.ok()) {
        values.emplace_back(&*r.value);
      } else {
        values.emplace_back(r.value.status());
      }
    }
    return ReduceBuiltin(invocation_.method.reducer, values, response);
  }

 private:
  const std::shared_ptr<const TypedBroadcastConfig<Response>> config_;
  const Invocation& invocation_;  // outlives the collector
  std::vector<BroadcastResult<Response>> collected_;
  int received_ = 0;
};

}  // namespace internal
}  // namespace gridrpc

#endif  // GRIDRPC_BROADCAST_H_
