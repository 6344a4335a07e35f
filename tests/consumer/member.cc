#include "counter.gridrpc.h"
#include "gridrpc/run_member.h"

class CounterImpl : public examples::Counter::PartitionedService {
 public:
  absl::StatusOr<examples::IncResponse> Inc(gridrpc::PartitionContext& ctx, State& state,
                                            const examples::IncRequest& req) override {
    int64_t& value = (*state.mutable_values())[req.name()];  // no lock: the partition is ours
    value += req.amount();
    examples::IncResponse resp;
    resp.set_value(value);
    return resp;
  }
  absl::StatusOr<examples::GetResponse> Get(gridrpc::PartitionContext& ctx, State& state,
                                            const examples::GetRequest& req) override {
    examples::GetResponse resp;
    if (auto it = state.values().find(req.name()); it != state.values().end()) {
      resp.set_value(it->second);
    }
    return resp;
  }
};

int main(int argc, char** argv) {
  return gridrpc::RunMember(argc, argv, [](gridrpc::Member& member) {
    return member.AddService(std::make_unique<CounterImpl>());
  });
}
