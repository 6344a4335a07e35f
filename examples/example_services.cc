#include "example_services.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "calculator_service.h"

namespace examples {

absl::Status CounterImpl::Init(const gridrpc::MemberContext& member,
                               const gridrpc::Properties& properties) {
  auto it = properties.find("counter.log_executions");
  log_executions_ = it != properties.end() && it->second == "true";
  return absl::OkStatus();
}

absl::StatusOr<IncResponse> CounterImpl::Inc(gridrpc::PartitionContext& context, State& state,
                                             const IncRequest& request) {
  if (log_executions_) {
    std::printf("  %s %s.inc() on member %s (%s), partition %d\n",
                context.is_backup() ? "Backup of" : "Executing", request.name().c_str(),
                context.member().id().c_str(), context.member().address().c_str(),
                context.partition_id());
    std::fflush(stdout);
  }

  int64_t& value = (*state.mutable_values())[request.name()];
  value += request.amount();
  IncResponse response;
  response.set_value(value);
  return response;
}

absl::StatusOr<GetResponse> CounterImpl::Get(gridrpc::PartitionContext& context, State& state,
                                             const GetRequest& request) {
  GetResponse response;
  auto it = state.values().find(request.name());
  if (it != state.values().end()) response.set_value(it->second);
  return response;
}

absl::StatusOr<Data> DataProcessorImpl::ProcessData(gridrpc::CallContext& context,
                                                    const Data& data) {
  Data out = data;
  out.set_processed(true);
  return out;
}

absl::StatusOr<CalcResponse> SimpleServiceImpl::Calc(gridrpc::CallContext& context,
                                                     const CalcRequest& request) {
  CalcResponse response;
  response.set_result(request.value1() + request.value2());
  return response;
}

absl::StatusOr<google::protobuf::Empty> SimpleServiceImpl::Print(gridrpc::CallContext& context,
                                                                 const PrintRequest& request) {
  if (request.msg().empty()) return absl::InvalidArgumentError("nothing to print");
  std::printf("  SimpleService.Print on member %s: %s\n", context.member().id().c_str(),
              request.msg().c_str());
  std::fflush(stdout);
  prints_.fetch_add(1);
  return google::protobuf::Empty();
}

absl::StatusOr<IndexResponse> SearchServiceImpl::Index(gridrpc::PartitionContext& context,
                                                       State& state, const IndexRequest& request) {
  (*state.mutable_documents())[request.document().id()] = request.document();
  return IndexResponse();
}

absl::StatusOr<SearchResponse> SearchServiceImpl::SearchFor(gridrpc::PartitionContext& context,
                                                            State& state,
                                                            const SearchRequest& request) {
  SearchResponse response;
  for (const auto& [id, document] : state.documents()) {
    if (!absl::StrContains(document.text(), request.keyword())) continue;
    SearchResult* result = response.add_results();
    result->set_document_id(id);
    result->set_member(context.member().id());
    result->set_partition(context.partition_id());
    if (request.enough_results() > 0 && response.results_size() >= request.enough_results()) {
      break;
    }
  }
  return response;
}

absl::Status AddExampleServices(gridrpc::Member& member) {
  for (absl::Status s : {member.AddService(std::make_unique<CounterImpl>()),
                         member.AddService(std::make_unique<DataProcessorImpl>()),
                         member.AddService(std::make_unique<SimpleServiceImpl>()),
                         member.AddService(std::make_unique<SearchServiceImpl>()),
                         member.AddService(std::make_unique<CalculatorImpl>())}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace examples
