// RunMember: the main() of a member binary, for members hosting your own services.
//
// It gives your binary everything gridrpc-member has: the flags and config file of
// docs/OPERATIONS.md (--listen, --coordinator=etcd, --config=PATH, ...), the embedded or etcd
// coordinator, TLS and the cluster secret on the peer port, structured logs (--log_level),
// Prometheus metrics with /healthz and /readyz (--metrics_listen), a graceful leave on SIGTERM or
// SIGINT (the member hands its replicas over, then exits 0), and exit 3 when the cluster expels
// the member. A bad flag, config key, value, certificate or address stops start-up with a message
// naming it, and exit 1.
//
// Call it from main() before starting threads of your own: it blocks SIGTERM, SIGINT and SIGUSR1
// to wait for them. Your program may define flags of its own (absl flags); the config file may
// set them too.
//
// Example (CMake: target_link_libraries(my_member PRIVATE my_contract gridrpc::member_main)):
//   int main(int argc, char** argv) {
//     return gridrpc::RunMember(argc, argv, [](gridrpc::Member& member) {
//       return member.AddService(std::make_unique<CounterImpl>());
//     });
//   }
#ifndef GRIDRPC_RUN_MEMBER_H_
#define GRIDRPC_RUN_MEMBER_H_

#include <functional>

#include "absl/status/status.h"
#include "gridrpc/member.h"

namespace gridrpc {

// Hosts your services on the member (Member::AddService), before it starts. An error stops
// start-up (exit 1) with its message.
using ServiceInstaller = std::function<absl::Status(Member& member)>;

// Parses the command line and the config file, runs the member until it is told to stop, and
// returns the process's exit code: 0 after a graceful leave, 1 when it could not start, 3 when
// the cluster expelled it.
int RunMember(int argc, char** argv, const ServiceInstaller& install);

}  // namespace gridrpc

#endif  // GRIDRPC_RUN_MEMBER_H_
