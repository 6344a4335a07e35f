// A program that only calls the Carts service: it links gridrpc::client and nothing of a member.
#include <cstdio>

#include "gridrpc/client.h"
#include "gridrpc/proxy.h"
#include "shop.gridrpc.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: shop_client HOST:PORT\n");
    return 2;
  }
  absl::StatusOr<std::unique_ptr<gridrpc::Client>> client =
      gridrpc::Client::Create({.members = {argv[1]}});
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }
  auto carts = gridrpc::ProxyBuilder<shop::Carts>(**client).Build();
  for (const char* item : {"apple", "pear"}) {
    shop::AddRequest add;
    add.set_cart("alice");
    add.set_item(item);
    if (absl::StatusOr<shop::CartReply> r = carts->Add(add); !r.ok()) {
      std::fprintf(stderr, "Add: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  shop::GetRequest get;
  get.set_cart("alice");
  absl::StatusOr<shop::CartReply> cart = carts->Get(get);
  if (!cart.ok()) {
    std::fprintf(stderr, "Get: %s\n", cart.status().ToString().c_str());
    return 1;
  }
  std::printf("items=%d\n", cart->items_size());
  return 0;
}
