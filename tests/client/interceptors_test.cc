// The client interceptors on a plain gRPC channel and on a gridrpc client: every call counted by
// method and code, timed, and logged once.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <latch>

#include "alone_member.h"
#include "gridrpc/client.h"
#include "gridrpc/client_interceptors.h"
#include "gridrpc/proxy.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace gridrpc {
namespace {

using ::testing::HasSubstr;

class InterceptorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::AloneMember> alone = testing::StartAloneMember();
    ASSERT_TRUE(alone.ok()) << alone.status();
    alone_ = *std::move(alone);
    member_ = alone_.member.get();
    SetLogSink([this](const LogRecord& record) { lines_.push_back(FormatLogLine(record)); });
  }
  void TearDown() override { SetLogSink(nullptr); }

  std::string Exposition() const {
    return prometheus::TextSerializer().Serialize(registry_->Collect());
  }
  int LinesWith(const std::string& text) const {
    int n = 0;
    for (const std::string& line : lines_) n += line.find(text) != std::string::npos;
    return n;
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  testing::AloneMember alone_;
  Member* member_ = nullptr;
  std::vector<std::string> lines_;  // the log sink runs on the calling threads, one at a time
};

TEST_F(InterceptorsTest, APlainChannelCountsTimesAndLogsEveryCall) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> chain;
  chain.push_back(NewClientMetricsInterceptor(registry_));
  chain.push_back(NewAccessLogInterceptor());
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      member_->address(), grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      std::move(chain));

  auto health = grpc::health::v1::Health::NewStub(channel);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
  }
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  std::latch done(1);
  grpc::Status status;
  generic.UnaryCall(&context, "/nowhere.Service/Nothing", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = s;
                      done.count_down();
                    });
  done.wait();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);

  const std::string exposition = Exposition();
  EXPECT_THAT(exposition, HasSubstr("grpc_client_handled_total{grpc_code=\"OK\",grpc_method="
                                    "\"Check\",grpc_service=\"grpc.health.v1.Health\",grpc_type="
                                    "\"unary\"} 3"));
  EXPECT_THAT(exposition,
              HasSubstr("grpc_client_handled_total{grpc_code=\"Unimplemented\",grpc_method="
                        "\"Nothing\",grpc_service=\"nowhere.Service\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(exposition,
              HasSubstr("grpc_client_handling_seconds_count{grpc_method=\"Check\","
                        "grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"} 3"));
  EXPECT_EQ(LinesWith("level=info event=grpc_call method=/grpc.health.v1.Health/Check code=OK "),
            3);
  EXPECT_EQ(LinesWith("level=warning event=grpc_call method=/nowhere.Service/Nothing "
                      "code=Unimplemented "),
            1);
}

TEST_F(InterceptorsTest, AGridrpcClientPutsThemOnEveryMembersChannel) {
  auto client = Client::Create({.members = {member_->address()},
                                .interceptors = {NewClientMetricsInterceptor(registry_)}})
                    .value();
  auto counter = ProxyBuilder<examples::Counter>(*client).Build();
  for (int i = 0; i < 5; ++i) {
    examples::IncRequest inc;
    inc.set_name("intercepted");
    inc.set_amount(1);
    ASSERT_TRUE(counter->Inc(inc).ok());
  }
  EXPECT_THAT(Exposition(),
              HasSubstr("grpc_client_handled_total{grpc_code=\"OK\",grpc_method=\"Inc\","
                        "grpc_service=\"examples.Counter\",grpc_type=\"unary\"} 5"));
}

}  // namespace
}  // namespace gridrpc
