// Compiled (not run) with the code protoc-gen-gridrpc generates for good/*.proto: every server
// base can be derived from with the documented signatures, and the proxies and method tables
// have the expected types. A build failure here is a generator bug.
#include <memory>
#include <type_traits>

#include "good/edge_cases.gridrpc.h"
#include "good/messages_only.gridrpc.h"
#include "good/no_package.gridrpc.h"

namespace {

class LedgerImpl final : public good::edge::Ledger::PartitionedService {
 public:
  static_assert(std::is_same_v<State, good::SharedState>);
  absl::StatusOr<good::edge::Outer_Inner> Deep(gridrpc::PartitionContext&, State&,
                                               const good::edge::DeepRequest&) override {
    return good::edge::Outer_Inner();
  }
  absl::StatusOr<google::protobuf::Empty> ByInt(gridrpc::PartitionContext&, State&,
                                                const good::edge::Keys&) override {
    return google::protobuf::Empty();
  }
#define GRIDRPC_KEYS_METHOD(name)                                                   \
  absl::StatusOr<good::edge::Keys> name(gridrpc::PartitionContext&, State&,         \
                                        const good::edge::Keys& request) override { \
    return request;                                                                 \
  }
  GRIDRPC_KEYS_METHOD(ByUint)
  GRIDRPC_KEYS_METHOD(ByBool)
  GRIDRPC_KEYS_METHOD(ByEnum)
  GRIDRPC_KEYS_METHOD(BySint)
  GRIDRPC_KEYS_METHOD(ByFixed)
  GRIDRPC_KEYS_METHOD(ByBytes)
  GRIDRPC_KEYS_METHOD(ByKeyword)
  GRIDRPC_KEYS_METHOD(ByOneof)
#undef GRIDRPC_KEYS_METHOD
  absl::StatusOr<good::edge::Keys> ByNested(gridrpc::PartitionContext&, State&,
                                            const good::edge::Outer_Inner&) override {
    return good::edge::Keys();
  }
};

class ScratchImpl final : public good::edge::Scratch::PartitionedService {
 public:
  absl::StatusOr<google::protobuf::Empty> Touch(gridrpc::PartitionContext&,
                                                const google::protobuf::Empty&) override {
    return google::protobuf::Empty();
  }
  std::unique_ptr<gridrpc::Container> NewContainer(int) override {
    return std::make_unique<gridrpc::MessageContainer<good::SharedState>>();
  }
};

class EmptyImpl final : public good::edge::Empty::PartitionedService {};
class NothingImpl final : public good::edge::Nothing::Service {};

class GlobalImpl final : public Global::Service {
 public:
  absl::StatusOr<PingResponse> Ping(gridrpc::CallContext&, const PingRequest&) override {
    return PingResponse();
  }
};

static_assert(!std::is_abstract_v<LedgerImpl>);
static_assert(!std::is_abstract_v<ScratchImpl>);
static_assert(!std::is_abstract_v<EmptyImpl>);
static_assert(!std::is_abstract_v<NothingImpl>);
static_assert(!std::is_abstract_v<GlobalImpl>);
static_assert(
    std::is_same_v<decltype(std::declval<good::edge::Ledger::Proxy&>().ByInt(good::edge::Keys())),
                   absl::Status>);
static_assert(std::is_same_v<
              decltype(std::declval<good::edge::Ledger::Proxy&>().ByIntAsync(good::edge::Keys())),
              gridrpc::Future<google::protobuf::Empty>>);
static_assert(std::is_same_v<decltype(std::declval<Global::Proxy&>().Ping(PingRequest())),
                             absl::StatusOr<PingResponse>>);

}  // namespace

// Referenced so the checks above are not optimized into nothing by a curious linker.
int GridrpcCodegenCompileCheck() {
  LedgerImpl ledger;
  ScratchImpl scratch;
  EmptyImpl empty;
  NothingImpl nothing;
  GlobalImpl global;
  return static_cast<int>(ledger.descriptor().methods.size() + scratch.descriptor().methods.size() +
                          empty.descriptor().methods.size() + nothing.descriptor().methods.size() +
                          global.descriptor().methods.size());
}
