// A member hosting the user's Carts service, with everything gridrpc-member has.
#include "gridrpc/run_member.h"
#include "shop.gridrpc.h"

class CartsImpl : public shop::Carts::PartitionedService {
 public:
  absl::StatusOr<shop::CartReply> Add(gridrpc::PartitionContext& context, State& state,
                                      const shop::AddRequest& request) override {
    shop::Cart& cart = (*state.mutable_carts())[request.cart()];
    cart.add_items(request.item());
    shop::CartReply reply;
    *reply.mutable_items() = cart.items();
    return reply;
  }
  absl::StatusOr<shop::CartReply> Get(gridrpc::PartitionContext& context, State& state,
                                      const shop::GetRequest& request) override {
    shop::CartReply reply;
    if (auto it = state.carts().find(request.cart()); it != state.carts().end()) {
      *reply.mutable_items() = it->second.items();
    }
    return reply;
  }
};

int main(int argc, char** argv) {
  return gridrpc::RunMember(argc, argv, [](gridrpc::Member& member) {
    return member.AddService(std::make_unique<CartsImpl>());
  });
}
