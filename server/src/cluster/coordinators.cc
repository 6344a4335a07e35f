// The coordinators users make (gridrpc/coordinator.h): the store coordinator over etcd, or
// over an in-memory store of its own for a member alone.
#include "absl/strings/str_cat.h"
#include "cluster/etcd_store.h"
#include "cluster/memory_store.h"
#include "cluster/store_coordinator.h"
#include "gridrpc/coordinator.h"

namespace gridrpc {

std::unique_ptr<Coordinator> NewEmbeddedCoordinator() {
  return std::make_unique<internal::StoreCoordinator>(
      [](const std::string&) -> absl::StatusOr<std::shared_ptr<internal::MembershipStore>> {
        return std::make_shared<internal::InMemoryStore>();
      },
      internal::StoreCoordinatorOptions{.backup_count = 0});
}

absl::StatusOr<std::unique_ptr<Coordinator>> NewEtcdCoordinator(EtcdCoordinatorOptions options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("the etcd coordinator needs at least one etcd endpoint");
  }
  if (options.lease_ttl < absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "etcd lease TTL ", absl::FormatDuration(options.lease_ttl), " is below one second"));
  }
  if (options.backup_count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup_count must not be negative, not ", options.backup_count));
  }
  absl::StatusOr<std::unique_ptr<internal::EtcdClient>> etcd =
      internal::EtcdClient::Connect(options.endpoints);
  if (!etcd.ok()) return etcd.status();
  std::shared_ptr<internal::EtcdClient> client = *std::move(etcd);
  return std::make_unique<internal::StoreCoordinator>(
      [client, prefix = options.key_prefix](const std::string& cluster)
          -> absl::StatusOr<std::shared_ptr<internal::MembershipStore>> {
        return std::make_shared<internal::EtcdStore>(client, absl::StrCat(prefix, cluster, "/"));
      },
      internal::StoreCoordinatorOptions{
          .lease_ttl = options.lease_ttl,
          .backup_count = options.backup_count,
          // Members fenced by an etcd outage come back within a TTL of its return.
          .recovery_grace = options.lease_ttl,
          .reset_lost_partitions = options.reset_lost_partitions,
          .membership_timeout = options.membership_timeout,
          .on_expelled = std::move(options.on_expelled),
      });
}

}  // namespace gridrpc
