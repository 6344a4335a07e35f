#include "gridrpc/client.h"

#include <cstdio>
#include <latch>

#include "counter.gridrpc.h"
#include "gridrpc/proxy.h"

int main(int argc, char** argv) {
  auto client = gridrpc::Client::Create({.members = {argc > 1 ? argv[1] : "127.0.0.1:5701"}});
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }
  auto counter = gridrpc::ProxyBuilder<examples::Counter>(**client).Build();

  examples::IncRequest req;
  req.set_name("0counter");
  req.set_amount(1);

  absl::StatusOr<examples::IncResponse> r = counter->Inc(req);  // sync

  gridrpc::Future<examples::IncResponse> f = counter->IncAsync(req);  // future
  absl::StatusOr<int64_t> doubled =
      std::move(f)
          .Then([](absl::StatusOr<examples::IncResponse> r) -> absl::StatusOr<int64_t> {
            if (!r.ok()) return r.status();
            return r->value() * 2;
          })
          .Get();

  std::latch answered(1);
  counter->IncAsync(req, [&](absl::StatusOr<examples::IncResponse> r) {  // callback
    // runs on a gRPC thread: do not block here
    answered.count_down();
  });
  answered.wait();

  gridrpc::CallOptions options;
  options.timeout = absl::Seconds(2);  // per-call deadline
  r = counter->Inc(req, options);

  if (!r.ok() || !doubled.ok()) {
    std::fprintf(stderr, "%s %s\n", r.status().ToString().c_str(),
                 doubled.status().ToString().c_str());
    return 1;
  }
  std::printf("value=%lld doubled=%lld\n", static_cast<long long>(r->value()),
              static_cast<long long>(*doubled));
  return 0;
}
