// The C++ snippets of README.md and docs/OPERATIONS.md that are not whole programs, compiled here
// so that they stay true (tests/docs/snippets_test.py checks that every snippet of the docs is in
// this file or in tests/consumer/, the README's tutorial project). Their behaviour is tested
// elsewhere; this file only has to compile.
#include <grpcpp/security/credentials.h>
#include <prometheus/registry.h>

#include "example_services.h"
#include "gridrpc/client.h"
#include "gridrpc/client_aspects.h"
#include "gridrpc/client_interceptors.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/execution_aspect.h"
#include "gridrpc/proxy.h"
#include "gridrpc/run_member.h"

namespace readme {

using examples::CounterImpl;

class MyListener : public gridrpc::MigrationListener {};

// README section 4: hosting members without RunMember.
void HostMembers() {
  // Several members in one process (tests, demos):
  auto cluster = gridrpc::EmbeddedCluster::Start({.members = 3}, [](gridrpc::Member& m) {
                   return m.AddService(std::make_unique<CounterImpl>());
                 }).value();

  // Or one member per process, here alone in its cluster (section 9 joins members through etcd;
  // section 10 secures the port members talk to each other on):
  auto member = gridrpc::Member::Create(
                    {.listen = "0.0.0.0:5701", .cluster_secret = gridrpc::NewClusterSecret()})
                    .value();
  member->AddService(std::make_unique<CounterImpl>()).IgnoreError();
  member->Start().IgnoreError();
  auto coordinator = gridrpc::NewEmbeddedCoordinator();  // gridrpc/coordinator.h
  coordinator->Join(*member).IgnoreError();              // it owns every partition

  // README section 8: membership changes of the embedded cluster.
  cluster->AddMigrationListener(std::make_shared<MyListener>());
  cluster->AddMember();      // a new member takes its share
  cluster->RemoveMember(1);  // graceful: hands its replicas over first
  cluster->Crash(0);         // backups are promoted, then the backup count is restored
}

// README section 6: the proxy builder.
void BuildProxies(gridrpc::Client* client) {
  auto processor =
      gridrpc::ProxyBuilder<examples::DataProcessor>(*client)
          // Route by something the contract does not say; nullopt falls back to the contract's key.
          .RoutingHandler(
              [](const gridrpc::Invocation& call) -> std::optional<gridrpc::RoutingKey> {
                return static_cast<const examples::Data&>(call.request).data_type();
              })
          .LookupName("processors-eu")  // an instance hosted under another name
          .MetaArguments(gridrpc::Credentials("alice", "s3cret"))  // extra arguments for every call
          .Aspects({std::make_shared<gridrpc::LoggingAspect>(),    // client aspects, in order
                    std::make_shared<gridrpc::CachingAspect>()})
          .Timeout(absl::Seconds(5))  // the proxy's default deadline
          .Build();
}

// README section 6: an execution aspect.
class RequireToken : public gridrpc::ExecutionAspect {
  absl::Status Intercept(gridrpc::ServerInvocation& call) override {
    if (call.context().meta_argument("token") != "s3cret") {
      return absl::PermissionDeniedError("bad token");
    }
    return call.Proceed();
  }
};

// README section 7: a broadcast with a reducer and a filter.
class EnoughResults : public gridrpc::ResultReducer<examples::SearchResponse>,
                      public gridrpc::ResultFilter<examples::SearchResponse> {
  absl::StatusOr<examples::SearchResponse> Reduce(
      std::vector<gridrpc::BroadcastResult<examples::SearchResponse>> results,
      const gridrpc::Invocation& invocation) override {
    return examples::SearchResponse();
  }
  gridrpc::FilterDecision Decide(const gridrpc::FilterInfo<examples::SearchResponse>& info,
                                 const gridrpc::Invocation& invocation) override {
    return gridrpc::FilterDecision::kContinue;
  }
};

void Broadcast(gridrpc::Client* client, const examples::SearchRequest& query) {
  auto reducer = std::make_shared<EnoughResults>();
  auto search = gridrpc::BroadcastProxyBuilder<examples::SearchService>(*client)
                    .Reducer(examples::SearchService::Methods::SearchFor, reducer)
                    .Filter(examples::SearchService::Methods::SearchFor, reducer)
                    .Build();
  absl::StatusOr<examples::SearchResponse> hits = search->SearchFor(query);
}

// README section 10: a client of members that serve TLS.
void TlsClient(const std::string& ca_pem) {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ca_pem;  // the CA that signed the members' certificates
  auto client = gridrpc::Client::Create(
                    {.members = {"10.0.0.5:5701"}, .credentials = grpc::SslCredentials(tls)})
                    .value();
}

// docs/OPERATIONS.md: client metrics and access logs.
void InterceptedClient() {
  auto registry = std::make_shared<prometheus::Registry>();
  auto client =
      gridrpc::Client::Create({.members = {"10.0.0.5:5701"},
                               .interceptors = {gridrpc::NewClientMetricsInterceptor(registry),
                                                gridrpc::NewAccessLogInterceptor()}})
          .value();
}

}  // namespace readme
