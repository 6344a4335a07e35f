// gridrpc-member: a standalone member hosting the example services.
//
//   gridrpc-member --listen=127.0.0.1:5701 --cluster_name=dev --partition_count=271
//   gridrpc-member --coordinator=etcd --etcd_endpoints=http://127.0.0.1:2379 --listen=...
//
// With the embedded coordinator (the default) the member is alone and owns every partition;
// with etcd it joins the members of its cluster that use the same etcd, and they rebalance.
// Members talk to each other on a second port (--peer_listen, default: the listen host, any
// free port), which they authenticate with a cluster secret (--cluster_secret_file) or mutual
// TLS (--tls_cert_file, --tls_key_file and --tls_ca_file; the certificate and key alone give
// both ports TLS). Prints "listening on HOST:PORT" once it serves and holds a partition table
// (useful with port 0). SIGTERM or SIGINT hand its replicas over and stop it cleanly (exit 0). A
// member that cannot renew its etcd lease is fenced (answers nothing) and comes back when etcd
// does; one the cluster refuses to take back (other settings) stops at once and exits 3.
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "example_services.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/embedded_cluster.h"
#include "gridrpc/member.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:5701", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(std::string, advertise, "",
          "host:port clients dial to reach this member (default: the listen host and port)");
ABSL_FLAG(std::string, peer_listen, "",
          "host:port to serve other members on (default: the --listen host, any free port)");
ABSL_FLAG(std::string, peer_advertise, "",
          "host:port other members dial to reach this member's peer port (default: the peer "
          "listen host and port)");
ABSL_FLAG(std::string, cluster_secret_file, "",
          "file holding the secret members authenticate each other with on their peer ports");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate (chain) of this member: TLS on both ports");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates: peers must present a certificate signed by one (mutual TLS)");
ABSL_FLAG(std::string, cluster_name, "dev", "name of the cluster this member belongs to");
ABSL_FLAG(int, partition_count, gridrpc::kDefaultPartitionCount, "number of partitions");
ABSL_FLAG(std::string, coordinator, "embedded",
          "embedded: a standalone member owning every partition; etcd: join the cluster's members "
          "through etcd");
ABSL_FLAG(std::string, etcd_endpoints, "http://127.0.0.1:2379",
          "comma-separated etcd client URLs (--coordinator=etcd)");
ABSL_FLAG(absl::Duration, lease_ttl, absl::Seconds(5),
          "a member silent for this long is declared crashed (--coordinator=etcd; whole seconds)");
ABSL_FLAG(int, backup_count, 1, "backups per partition (--coordinator=etcd)");
ABSL_FLAG(std::string, on_partition_lost, "refuse",
          "a partition that lost every replica: refuse (answer DATA_LOSS until an operator "
          "resets it) or reset (serve it again at once, empty: for caches)");

// The coordinator --coordinator names.
absl::StatusOr<std::unique_ptr<gridrpc::Coordinator>> NewCoordinator() {
  const std::string kind = absl::GetFlag(FLAGS_coordinator);
  if (kind == "embedded") return gridrpc::NewEmbeddedCoordinator();
  if (kind != "etcd") {
    return absl::InvalidArgumentError("--coordinator must be embedded or etcd, not '" + kind + "'");
  }
  const std::string on_lost = absl::GetFlag(FLAGS_on_partition_lost);
  if (on_lost != "refuse" && on_lost != "reset") {
    return absl::InvalidArgumentError("--on_partition_lost must be refuse or reset, not '" +
                                      on_lost + "'");
  }
  return gridrpc::NewEtcdCoordinator({
      .endpoints = absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints), ',', absl::SkipEmpty()),
      .lease_ttl = absl::GetFlag(FLAGS_lease_ttl),
      .backup_count = absl::GetFlag(FLAGS_backup_count),
      .reset_lost_partitions = on_lost == "reset",
      .on_expelled = [] { kill(getpid(), SIGUSR1); },  // main's sigwait stops the member
  });
}

// The member's options from the flags; errors name the flag's file.
absl::StatusOr<gridrpc::MemberOptions> OptionsFromFlags() {
  gridrpc::MemberOptions options{
      .listen = absl::GetFlag(FLAGS_listen),
      .advertise_address = absl::GetFlag(FLAGS_advertise),
      .peer_listen = absl::GetFlag(FLAGS_peer_listen),
      .peer_advertise_address = absl::GetFlag(FLAGS_peer_advertise),
      .cluster_name = absl::GetFlag(FLAGS_cluster_name),
      .partition_count = absl::GetFlag(FLAGS_partition_count),
  };
  absl::StatusOr<gridrpc::TlsOptions> tls =
      gridrpc::LoadTlsFiles(absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                            absl::GetFlag(FLAGS_tls_ca_file));
  if (!tls.ok()) return tls.status();
  options.tls = *std::move(tls);
  if (const std::string path = absl::GetFlag(FLAGS_cluster_secret_file); !path.empty()) {
    absl::StatusOr<std::string> secret = gridrpc::LoadClusterSecretFile(path);
    if (!secret.ok()) return secret.status();
    options.cluster_secret = *std::move(secret);
  } else if (absl::GetFlag(FLAGS_coordinator) == "embedded" && options.tls.ca_certs.empty()) {
    // Alone in its cluster, the member is its own only peer: a secret nobody else knows.
    options.cluster_secret = gridrpc::NewClusterSecret();
  }
  return options;
}

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Hosts the gridrpc example services as one cluster member.");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken synchronously by sigwait below; block them before gRPC starts threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);  // expelled by the coordinator
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<gridrpc::MemberOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "gridrpc-member: %s\n", options.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<gridrpc::Member>> member =
      gridrpc::Member::Create(*std::move(options));
  absl::Status status = member.status();
  if (status.ok()) status = examples::AddExampleServices(**member);
  if (status.ok()) status = (*member)->Start();
  absl::StatusOr<std::unique_ptr<gridrpc::Coordinator>> coordinator = NewCoordinator();
  if (status.ok()) status = coordinator.status();
  if (status.ok()) status = (*coordinator)->Join(**member);
  if (!status.ok()) {
    std::fprintf(stderr, "gridrpc-member: %s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("gridrpc-member %s of cluster '%s' (peer port %s): listening on %s\n",
              (*member)->id().c_str(), absl::GetFlag(FLAGS_cluster_name).c_str(),
              (*member)->peer_address().c_str(), (*member)->address().c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  if (received == SIGUSR1) {
    std::printf("gridrpc-member: expelled from the cluster, stopping\n");
    std::fflush(stdout);
    (*member)->Terminate();
    return 3;
  }
  std::printf("gridrpc-member: %s, shutting down\n", received == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  if (absl::Status s = (*coordinator)->Leave(); !s.ok()) {
    std::fprintf(stderr, "gridrpc-member: leaving: %s\n", s.ToString().c_str());
  }
  (*member)->Shutdown();
  return 0;
}
