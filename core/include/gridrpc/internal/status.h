// absl::Status <-> grpc::Status at the RPC edge. The codes share their numbering.
#ifndef GRIDRPC_INTERNAL_STATUS_H_
#define GRIDRPC_INTERNAL_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gridrpc::internal {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_STATUS_H_
