// gridrpc-member: a standalone member hosting the example services.
//
//   gridrpc-member --listen=127.0.0.1:5701 --cluster_name=dev --partition_count=271
//
// Prints "listening on HOST:PORT" once it serves (useful with port 0), and exits cleanly on
// SIGTERM or SIGINT. Until membership lands, a standalone member owns every partition.
#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "example_services.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/member.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:5701", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(std::string, advertise, "",
          "host:port clients dial to reach this member (default: the listen host and port)");
ABSL_FLAG(std::string, cluster_name, "dev", "name of the cluster this member belongs to");
ABSL_FLAG(int, partition_count, gridrpc::kDefaultPartitionCount, "number of partitions");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Hosts the gridrpc example services as one cluster member.");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken synchronously by sigwait below; block them before gRPC starts threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<gridrpc::Member>> member = gridrpc::Member::Create({
      .listen = absl::GetFlag(FLAGS_listen),
      .advertise_address = absl::GetFlag(FLAGS_advertise),
      .cluster_name = absl::GetFlag(FLAGS_cluster_name),
      .partition_count = absl::GetFlag(FLAGS_partition_count),
  });
  absl::Status status = member.status();
  if (status.ok()) status = examples::AddExampleServices(**member);
  if (status.ok()) status = (*member)->Start();
  if (status.ok()) status = (*member)->InstallPartitionTable(gridrpc::SingleMemberTable(**member));
  if (!status.ok()) {
    std::fprintf(stderr, "gridrpc-member: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("gridrpc-member %s of cluster '%s': listening on %s\n", (*member)->id().c_str(),
              absl::GetFlag(FLAGS_cluster_name).c_str(), (*member)->address().c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  std::printf("gridrpc-member: %s, shutting down\n", received == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  (*member)->Shutdown();
  return 0;
}
