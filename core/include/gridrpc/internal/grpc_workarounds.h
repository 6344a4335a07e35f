// Workarounds for defects of the gRPC release gridrpc builds against (Debian 12's 1.51).
#ifndef GRIDRPC_INTERNAL_GRPC_WORKAROUNDS_H_
#define GRIDRPC_INTERNAL_GRPC_WORKAROUNDS_H_

namespace gridrpc::internal {

// gRPC 1.51 runs callback-API completions on a pool of threads around one completion queue
// (CallbackAlternativeCQ) that the first channel or server using callbacks creates and the last
// one to go destroys. When the last one goes on a pool thread (a completion dropping the last
// reference to a channel: a call outliving its client, a background refresh, an event relayed
// after its coordinator stopped), the pool joins itself (EDEADLK, ignored) and deletes its queue
// under its own feet: a double free in grpc_cq_internal_unref, a crash in
// grpc_completion_queue_next, or the `ref_counted.h: prior > 0` assertion (grpc/grpc#32584).
// This keeps one channel that has used the pool alive for the whole process, so the pool is
// never destroyed. Idempotent and thread-safe; clients and members call it before their first
// callback call.
void PinGrpcCallbackPool();

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_GRPC_WORKAROUNDS_H_
