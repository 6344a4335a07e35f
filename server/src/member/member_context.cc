// MemberContext's view of the member's partitions (gridrpc/service.h).
#include "gridrpc/service.h"
#include "partition/partitions.h"

namespace gridrpc {

std::shared_ptr<const std::vector<int>> MemberContext::PrimaryPartitions() const {
  return partitions_->PrimaryPartitions();
}

void MemberContext::RunOnPartition(int partition, const ServiceBase& service,
                                   absl::AnyInvocable<void(Container* container) &&> fn) const {
  partitions_->RunOnPartition(partition, service, std::move(fn));
}

}  // namespace gridrpc
