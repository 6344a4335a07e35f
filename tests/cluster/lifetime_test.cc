// A call's state is freed once it completes: whatever it took (retries, aspects, broadcast),
// nothing keeps the finished call alive. A leak here once kept every intercepted call forever.
#include <thread>

#include "cluster/cluster_fixture.h"
#include "test_util.h"

namespace gridrpc::testing {
namespace {

class PassThrough final : public InvocationAspect {
  void Intercept(Interception& call) override {
    call.Proceed([](Interception&, absl::Status s) { return s; });
  }
};

class LifetimeTest : public ClusterTest {
 protected:
  // Runs one Inc through `config`, waits for it, and returns the call's handle.
  std::weak_ptr<internal::Cancellable> RunInc(ProxyConfig config, const std::string& name) {
    auto core = std::make_shared<ProxyCore>(client_->state(), examples::Counter::descriptor(),
                                            std::move(config));
    examples::IncResponse response;
    absl::Notification done;
    absl::Status status;
    std::weak_ptr<internal::Cancellable> handle =
        core->Start(examples::Counter::descriptor().methods[0], Inc(name, 1), &response, {},
                    [&](absl::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_TRUE(status.ok()) << status;
    return handle;
  }

  // gRPC drops its hold on a call just after running its completion: allow it a moment.
  static bool Released(const std::weak_ptr<internal::Cancellable>& handle) {
    for (int i = 0; i < 500 && !handle.expired(); ++i) absl::SleepFor(absl::Milliseconds(10));
    return handle.expired();
  }
};

TEST_F(LifetimeTest, PlainCallIsReleased) { EXPECT_TRUE(Released(RunInc({}, "plain"))); }

TEST_F(LifetimeTest, InterceptedCallIsReleased) {
  ProxyConfig config;
  config.aspects = {std::make_shared<PassThrough>(), std::make_shared<PassThrough>()};
  config.meta_arguments = [](const Invocation&) { return MetaArguments{{"k", "v"}}; };
  EXPECT_TRUE(Released(RunInc(std::move(config), "intercepted")));
}

TEST_F(LifetimeTest, RetriedCallIsReleased) {
  ASSERT_TRUE(counter_->Inc(Inc("retried", 1)).ok());
  // Its owner crashes: a read-only call to it fails to connect, pauses, reloads and retries.
  const std::string owner = OwnerOf("retried").id();
  int index = 0;
  while (cluster_->member(index).id() != owner) ++index;
  ASSERT_TRUE(cluster_->Crash(index).ok());
  auto core =
      std::make_shared<ProxyCore>(client_->state(), examples::Counter::descriptor(), ProxyConfig());
  examples::GetRequest get;
  get.set_name("retried");
  examples::GetResponse response;
  absl::Notification done;
  std::weak_ptr<internal::Cancellable> handle = core->Start(
      examples::Counter::descriptor().methods[1], get, &response, {}, [&](absl::Status s) {
        EXPECT_TRUE(s.ok()) << s;
        done.Notify();
      });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(response.value(), 1);
  EXPECT_GE(client_->partition_table()->version(), 2);  // it did retry
  EXPECT_TRUE(Released(handle));
}

TEST_F(LifetimeTest, BroadcastIsReleased) {
  ProxyConfig config;
  config.broadcast = true;
  auto core = std::make_shared<ProxyCore>(client_->state(), examples::SearchService::descriptor(),
                                          std::move(config));
  examples::SearchResponse response;
  absl::Notification done;
  std::weak_ptr<internal::Cancellable> handle =
      core->Start(examples::SearchService::descriptor().methods[1], examples::SearchRequest(),
                  &response, {}, [&](absl::Status s) {
                    EXPECT_TRUE(s.ok()) << s;
                    done.Notify();
                  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(Released(handle));
}

// A forwarded answer makes the client reload its table in the background; the client (and its
// proxies) may be gone before that reload answers.
TEST_F(LifetimeTest, ClientMayBeDestroyedWhileABackgroundRefreshIsInFlight) {
  constexpr int kClients = 20;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Client::Create({.members = {cluster_->member(0).address()}}).value());
  }
  const auto before = cluster_->partition_table();
  ASSERT_TRUE(cluster_->AddMember().ok());
  const auto after = cluster_->partition_table();
  // A key whose partition changed owner: with the old table, its calls are forwarded.
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    const std::string k = "moved-" + std::to_string(i);
    const int p = PartitionOf(KeyHash(k), before->partition_count());
    if (before->member(before->Owner(p)).id() != after->member(after->Owner(p)).id()) key = k;
  }
  for (auto& client : clients) {
    auto counter = ProxyBuilder<examples::Counter>(*client).Build();
    ASSERT_TRUE(counter->Inc(Inc(key, 1)).ok());
    counter.reset();
    client.reset();  // its background refresh is still in flight
  }
  absl::SleepFor(absl::Milliseconds(500));  // the refreshes answer
}

// A coordinator may terminate a member (its lease expired) from its own thread while the owner
// shuts it down.
TEST_F(LifetimeTest, TerminateFromAnotherThreadWhileShuttingDown) {
  Member& member = cluster_->member(2);
  std::thread terminate([&] { member.Terminate(); });
  member.Shutdown(absl::Milliseconds(100));
  terminate.join();
}

}  // namespace
}  // namespace gridrpc::testing
