// EtcdStore: the membership store of members in separate processes, in etcd 3.4.
//
// Keys, under <prefix><cluster>/:
//   members/<id>   MemberInfo, on the member's session (an etcd lease kept alive)
//   leaving/<id>   empty, on the member's session: it is handing its replicas over
//   planner        the planning member's id, on its session; its create revision is the term
//   table          the committed PartitionTable; its mod revision fences the next commit
//
// Thread-safe. Callbacks run on the etcd client's threads (one per session, one per watch).
#ifndef GRIDRPC_SERVER_SRC_CLUSTER_ETCD_STORE_H_
#define GRIDRPC_SERVER_SRC_CLUSTER_ETCD_STORE_H_

#include <memory>
#include <string>

#include "cluster/etcd_client.h"
#include "cluster/membership_store.h"

namespace gridrpc::internal {

class EtcdStore final : public MembershipStore {
 public:
  // `prefix` ends with '/', e.g. "/gridrpc/dev/".
  EtcdStore(std::shared_ptr<EtcdClient> etcd, std::string prefix)
      : etcd_(std::move(etcd)), prefix_(std::move(prefix)) {}

  std::string Describe() const override;
  absl::StatusOr<int64_t> OpenSession(absl::Duration ttl, SessionEvents events) override;
  absl::Status ResumeSession(int64_t session, absl::Duration ttl, SessionEvents events) override;
  absl::Status CloseSession(int64_t session) override;
  void AbandonSession(int64_t session) override;
  absl::Status Register(int64_t session, const v1::MemberInfo& member) override;
  absl::Status MarkLeaving(int64_t session, const std::string& member_id) override;
  absl::StatusOr<int64_t> Campaign(int64_t session, const std::string& member_id) override;
  absl::StatusOr<ClusterView> Read() override;
  absl::StatusOr<std::optional<v1::PartitionTable>> ReadTable() override;
  absl::StatusOr<int64_t> CommitTable(int64_t planner_term, int64_t expected_table_revision,
                                      const v1::PartitionTable& table) override;
  absl::Status DeleteTable(int64_t planner_term) override;
  absl::StatusOr<std::unique_ptr<StoreWatch>> Watch(
      std::function<void(const StoreChange&)> on_change,
      std::function<void(const absl::Status&)> on_broken) override;

 private:
  std::string Key(std::string_view name) const { return prefix_ + std::string(name); }

  const std::shared_ptr<EtcdClient> etcd_;
  const std::string prefix_;
};

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_CLUSTER_ETCD_STORE_H_
