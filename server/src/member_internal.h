// Member's internal types, shared by member.cc and backup.cc.
#ifndef GRIDRPC_SERVER_SRC_MEMBER_INTERNAL_H_
#define GRIDRPC_SERVER_SRC_MEMBER_INTERNAL_H_

#include <google/protobuf/message.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gridrpc/cluster.grpc.pb.h"
#include "gridrpc/member.h"

namespace gridrpc {

// One service implementation under one lookup name (an instance may have several).
struct Member::HostedService {
  std::string lookup_name;
  ServiceBase* service;
  int container_slot;  // index into PartitionState::containers; -1 for stateless services
};

// One contract the member serves: its methods are registered once, whatever the instances.
struct Member::ServiceType {
  const ServiceDescriptor* descriptor;
  const HostedService* default_instance = nullptr;  // under the contract's lookup name
  absl::flat_hash_map<std::string, const HostedService*> by_lookup_name;
};

struct Member::HostedMethod {
  const ServiceType* type;
  const MethodDescriptor* method;
};

// A backup operation that arrived ahead of its predecessor; applied when they have.
struct Member::PendingBackup {
  const HostedService* hosted;
  const MethodDescriptor* method;
  std::unique_ptr<google::protobuf::Message> request;
  std::optional<std::string> payload;
  grpc::ServerUnaryReactor* reactor;  // answered once applied
  v1::BackupResponse* response;
};

// Touched only by operations of its partition (see PartitionExecutor): no lock.
struct Member::PartitionState {
  int replica_index = -1;  // 0: this member is the primary
  int64_t table_version = 0;
  std::vector<std::unique_ptr<Container>> containers;  // one per partitioned instance
  // Mutating operations applied to this replica; primaries stamp backups with it.
  int64_t sequence = 0;
  // Backups received ahead of sequence + 1, by sequence.
  std::map<int64_t, PendingBackup> pending;
  bool resync_scheduled = false;
  // Being copied to a new owner: calls are refused (retryable) until the new table commits.
  bool migrating = false;
  int64_t frozen_until = 0;  // migrating until a table of this version is installed
  // Operations applied here whose sync backups have not all answered yet, and the freezes
  // waiting for them (the coordinator may only move the partition once its backups hold every
  // write the primary may acknowledge). The two atomics are the only fields touched from outside
  // the partition: backup answers decrement `unsynced`, and enter the partition only when a
  // freeze waits (`drain_wanted`), so the call path pays one atomic decrement.
  std::atomic<int> unsynced{0};
  std::atomic<bool> drain_wanted{false};
  std::vector<absl::AnyInvocable<void() &&>> frozen_waiters;
};

// Stubs to other members, one channel per address, made on first use. Thread-safe; stubs live
// as long as the member.
class Member::PeerStubs {
 public:
  struct Peer {
    std::unique_ptr<v1::Cluster::Stub> control;  // backups, resyncs
    std::unique_ptr<grpc::GenericStub> calls;    // forwarded user calls
  };

  Peer& Get(const std::string& address) {
    internal::MutexLock lock(&mu_);
    std::unique_ptr<Peer>& peer = peers_[address];
    if (peer == nullptr) {
      auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      peer = std::make_unique<Peer>(
          Peer{v1::Cluster::NewStub(channel), std::make_unique<grpc::GenericStub>(channel)});
    }
    return *peer;
  }

 private:
  internal::Mutex mu_;
  std::map<std::string, std::unique_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridrpc

#endif  // GRIDRPC_SERVER_SRC_MEMBER_INTERNAL_H_
