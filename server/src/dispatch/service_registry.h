// ServiceRegistry: the services a member hosts, under their lookup names, and the methods it
// serves for them.
//
// Filled before the member starts (Add), read-only afterwards: from then on any thread may read
// it without a lock. Owns the service implementations it is given.
#ifndef GRIDRPC_SERVER_SRC_DISPATCH_SERVICE_REGISTRY_H_
#define GRIDRPC_SERVER_SRC_DISPATCH_SERVICE_REGISTRY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "gridrpc/service.h"

namespace gridrpc::internal {

// One service implementation under one lookup name (an instance may have several).
struct HostedService {
  std::string lookup_name;
  ServiceBase* service;
  int container_slot;  // index into PartitionReplica::containers; -1 for stateless services
};

// One contract the member serves: its methods are registered once, whatever the instances.
struct ServiceType {
  const ServiceDescriptor* descriptor;
  const HostedService* default_instance = nullptr;  // under the contract's lookup name
  absl::flat_hash_map<std::string, const HostedService*> by_lookup_name;
};

struct HostedMethod {
  const ServiceType* type;
  const MethodDescriptor* method;
};

class ServiceRegistry {
 public:
  explicit ServiceRegistry(std::string member_id) : member_id_(std::move(member_id)) {}

  // Hosts `service` under `lookup_names` (default: the contract's lookup name).
  absl::Status Add(std::unique_ptr<ServiceBase> service, std::vector<std::string> lookup_names);

  // The instance a call asked for by lookup name (empty: the contract's); NOT_FOUND naming the
  // service and the name when this member hosts none.
  absl::StatusOr<const HostedService*> Resolve(const ServiceType& type,
                                               std::string_view lookup_name) const;
  // The instance under `lookup_name`, of any contract; null when none.
  const HostedService* FindInstance(std::string_view lookup_name) const;
  // The first instance of `service`; null when it is not hosted here.
  const HostedService* FindInstance(const ServiceBase& service) const;
  // The method with this gRPC path (`/package.Service/Method`); null when none.
  const HostedMethod* FindMethod(std::string_view path) const;
  // The contract with this full name; null when none.
  const ServiceType* FindType(std::string_view full_name) const;

  // Whether a successful call of `method` on `hosted` changes partition state that backups
  // must replay.
  static bool NeedsBackup(const HostedService& hosted, const MethodDescriptor& method) {
    return hosted.container_slot >= 0 && !method.read_only;
  }

  int container_slots() const { return container_slots_; }
  const std::vector<std::unique_ptr<ServiceBase>>& services() const { return services_; }
  const std::vector<std::unique_ptr<HostedService>>& instances() const { return hosted_; }
  const std::vector<std::unique_ptr<ServiceType>>& types() const { return types_; }
  const std::vector<std::unique_ptr<HostedMethod>>& methods() const { return methods_; }

 private:
  const std::string member_id_;
  std::vector<std::unique_ptr<ServiceBase>> services_;
  std::vector<std::unique_ptr<HostedService>> hosted_;
  std::vector<std::unique_ptr<ServiceType>> types_;
  std::vector<std::unique_ptr<HostedMethod>> methods_;  // handlers point into these
  int container_slots_ = 0;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_DISPATCH_SERVICE_REGISTRY_H_
