// gridrpc-member: a cluster member hosting the example services; every flag and the config file
// are gridrpc::RunMember's (docs/OPERATIONS.md).
//
//   gridrpc-member --listen=127.0.0.1:5701 --cluster_name=dev --partition_count=271
//   gridrpc-member --coordinator=etcd --etcd_endpoints=http://127.0.0.1:2379 --listen=...
//   gridrpc-member --config=member.json --metrics_listen=0.0.0.0:9090
#include "example_services.h"
#include "gridrpc/run_member.h"

int main(int argc, char** argv) {
  return gridrpc::RunMember(argc, argv, examples::AddExampleServices);
}
