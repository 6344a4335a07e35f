// The seed's SearchServiceReducer: folds SearchFor results from every partition into one list,
// and, as a result filter, stops the broadcast once `enough_results` have arrived.
#ifndef GRIDRPC_EXAMPLES_SEARCH_REDUCER_H_
#define GRIDRPC_EXAMPLES_SEARCH_REDUCER_H_

#include "examples/search_service.gridrpc.h"
#include "gridrpc/broadcast.h"

namespace examples {

class SearchServiceReducer final : public gridrpc::ResultReducer<SearchResponse>,
                                   public gridrpc::ResultFilter<SearchResponse> {
 public:
  absl::StatusOr<SearchResponse> Reduce(
      std::vector<gridrpc::BroadcastResult<SearchResponse>> results,
      const gridrpc::Invocation& invocation) override {
    SearchResponse all;
    for (auto& result : results) {
      if (!result.value.ok()) return result.value.status();  // as the seed: an error fails all
      for (SearchResult& hit : *result.value->mutable_results()) {
        *all.add_results() = std::move(hit);
      }
    }
    return all;
  }

  gridrpc::FilterDecision Decide(const gridrpc::FilterInfo<SearchResponse>& info,
                                 const gridrpc::Invocation& invocation) override {
    if (!info.current.value.ok()) return gridrpc::FilterDecision::kBreak;
    const int enough = static_cast<const SearchRequest&>(invocation.request).enough_results();
    int found = info.current.value->results_size();
    for (const auto& earlier : info.collected) found += earlier.value->results_size();
    return enough > 0 && found >= enough ? gridrpc::FilterDecision::kBreak
                                         : gridrpc::FilterDecision::kContinue;
  }
};

}  // namespace examples

#endif  // GRIDRPC_EXAMPLES_SEARCH_REDUCER_H_
