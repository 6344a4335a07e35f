#include "gridrpc/run_member.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <map>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config_file.h"
#include "gridrpc/coordinator.h"
#include "gridrpc/internal/files.h"
#include "gridrpc/internal/strings.h"
#include "gridrpc/log.h"
#include "gridrpc/metrics_endpoint.h"
#include "gridrpc/partition_table.h"

// Flags are the member's settings; docs/OPERATIONS.md is their table for operators. Each is a
// key of the config file as well (config_file.h).
ABSL_FLAG(std::string, config, "",
          "JSON file of settings (keys are these flags' names); flags on the command line win");
ABSL_FLAG(std::string, listen, "127.0.0.1:5701", "host:port to serve clients on (port 0: any)");
ABSL_FLAG(std::string, advertise, "",
          "host:port clients and other members dial (default: the listen host and bound port)");
ABSL_FLAG(std::string, peer_listen, "",
          "host:port to serve other members on (default: the listen host, any free port)");
ABSL_FLAG(std::string, peer_advertise, "",
          "host:port other members dial for the peer port (default: the peer listen host and "
          "bound port)");
ABSL_FLAG(std::string, cluster_name, "dev", "name of the cluster this member belongs to");
ABSL_FLAG(int, partition_count, gridrpc::kDefaultPartitionCount,
          "number of partitions; the same in every member of a cluster");
ABSL_FLAG(std::string, coordinator, "embedded",
          "embedded: a member alone owning every partition; etcd: join the cluster's members "
          "through etcd");
ABSL_FLAG(std::string, etcd_endpoints, "http://127.0.0.1:2379",
          "comma-separated etcd client URLs (--coordinator=etcd)");
ABSL_FLAG(absl::Duration, lease_ttl, absl::Seconds(5),
          "a member silent for this long is declared crashed (--coordinator=etcd; whole seconds)");
ABSL_FLAG(int, backup_count, 1, "backups per partition; the same in every member of a cluster");
ABSL_FLAG(std::string, on_partition_lost, "refuse",
          "a partition that lost every replica: refuse (DATA_LOSS until an operator resets it) "
          "or reset (serve it again at once, empty: for caches)");
ABSL_FLAG(absl::Duration, membership_timeout, absl::Seconds(60),
          "how long joining the cluster and leaving it (handing replicas over) may take");
ABSL_FLAG(std::string, zone, "", "the member's zone: backups go to other zones than primaries");
ABSL_FLAG(std::string, zone_file, "",
          "file holding the member's zone (e.g. written by an init container from the node's "
          "topology.kubernetes.io/zone label); --zone wins");
ABSL_FLAG(std::string, labels, "", "comma-separated k=v labels of the member, shown to operators");
ABSL_FLAG(std::string, cluster_secret_file, "",
          "file holding the secret members authenticate each other with on their peer ports");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate (chain) of this member: TLS on both ports");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA certificates: peers must present a certificate signed by one (mutual TLS)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port of the HTTP endpoint serving /metrics, /healthz and /readyz (empty: off)");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "how long calls in flight may take to finish when the member stops");
// MemberTunables.
ABSL_FLAG(absl::Duration, backup_timeout, absl::Seconds(5),
          "one attempt of a backup; sync backups are retried until the call's deadline");
ABSL_FLAG(absl::Duration, backup_retry_pause, absl::Milliseconds(20),
          "first pause before a sync backup is retried (doubles, up to 0.5 s)");
ABSL_FLAG(absl::Duration, gap_grace, absl::Milliseconds(200),
          "how long a backup waits for a missing operation before it resyncs the partition");
ABSL_FLAG(int, executor_workers, 2, "threads running partition operations that queued");
ABSL_FLAG(int, max_message_bytes, 4 * 1024 * 1024,
          "largest request or response a client may send or receive");
ABSL_FLAG(int, migration_parallelism, 16, "replica copies in flight when this member plans");
ABSL_FLAG(absl::Duration, control_timeout, absl::Seconds(5),
          "deadline of the planner's calls to members (freeze, install, event relay)");
ABSL_FLAG(int, copy_chunk_bytes, 1024 * 1024, "a replica copy travels in chunks of this size");
ABSL_FLAG(absl::Duration, copy_idle_timeout, absl::Seconds(10),
          "a replica copy that receives nothing for this long is given up");

namespace gridrpc {
namespace {

using ::gridrpc::internal::AsAbsl;

std::string ProgramName(const char* argv0) {
  const std::string_view path = argv0 == nullptr ? "gridrpc-member" : argv0;
  return std::string(path.substr(path.rfind('/') + 1));
}

absl::Status Positive(std::string_view flag, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", AsAbsl(flag), " must be positive, not ", value));
}

absl::Status Positive(std::string_view flag, absl::Duration value) {
  if (value > absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", AsAbsl(flag), " must be positive, not ", absl::FormatDuration(value)));
}

absl::StatusOr<MemberTunables> TunablesFromFlags() {
  MemberTunables t{
      .backup_timeout = absl::GetFlag(FLAGS_backup_timeout),
      .backup_retry_pause = absl::GetFlag(FLAGS_backup_retry_pause),
      .gap_grace = absl::GetFlag(FLAGS_gap_grace),
      .executor_workers = absl::GetFlag(FLAGS_executor_workers),
      .max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes),
      .migration_parallelism = absl::GetFlag(FLAGS_migration_parallelism),
      .control_timeout = absl::GetFlag(FLAGS_control_timeout),
      .copy_chunk_bytes = absl::GetFlag(FLAGS_copy_chunk_bytes),
      .copy_idle_timeout = absl::GetFlag(FLAGS_copy_idle_timeout),
  };
  for (absl::Status s : {
           Positive("backup_timeout", t.backup_timeout),
           Positive("backup_retry_pause", t.backup_retry_pause),
           Positive("gap_grace", t.gap_grace),
           Positive("executor_workers", t.executor_workers),
           Positive("max_message_bytes", t.max_message_bytes),
           Positive("migration_parallelism", t.migration_parallelism),
           Positive("control_timeout", t.control_timeout),
           Positive("copy_chunk_bytes", t.copy_chunk_bytes),
           Positive("copy_idle_timeout", t.copy_idle_timeout),
       }) {
    if (!s.ok()) return s;
  }
  return t;
}

// --labels, --zone and --zone_file.
absl::StatusOr<std::map<std::string, std::string>> LabelsFromFlags() {
  std::map<std::string, std::string> labels;
  for (absl::string_view pair :
       absl::StrSplit(absl::GetFlag(FLAGS_labels), ',', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--labels: '", pair, "' is not key=value"));
    }
    labels[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
  }
  std::string zone = absl::GetFlag(FLAGS_zone);
  if (const std::string path = absl::GetFlag(FLAGS_zone_file); zone.empty() && !path.empty()) {
    absl::StatusOr<std::string> from_file = internal::ReadWholeFile(path, "the --zone_file file");
    if (!from_file.ok()) return from_file.status();
    zone = std::string(absl::StripAsciiWhitespace(*from_file));
  }
  if (!zone.empty()) {
    if (labels.contains(std::string(kZoneLabel))) {
      return absl::InvalidArgumentError(
          "--labels sets the zone and so does --zone (or --zone_file): set it once");
    }
    labels[std::string(kZoneLabel)] = zone;
  }
  return labels;
}

absl::StatusOr<MemberOptions> OptionsFromFlags() {
  absl::StatusOr<MemberTunables> tunables = TunablesFromFlags();
  if (!tunables.ok()) return tunables.status();
  absl::StatusOr<std::map<std::string, std::string>> labels = LabelsFromFlags();
  if (!labels.ok()) return labels.status();
  if (absl::Status s = Positive("partition_count", absl::GetFlag(FLAGS_partition_count)); !s.ok()) {
    return s;
  }
  MemberOptions options{
      .listen = absl::GetFlag(FLAGS_listen),
      .advertise_address = absl::GetFlag(FLAGS_advertise),
      .peer_listen = absl::GetFlag(FLAGS_peer_listen),
      .peer_advertise_address = absl::GetFlag(FLAGS_peer_advertise),
      .cluster_name = absl::GetFlag(FLAGS_cluster_name),
      .partition_count = absl::GetFlag(FLAGS_partition_count),
      .labels = *std::move(labels),
      .tunables = *tunables,
  };
  absl::StatusOr<TlsOptions> tls =
      LoadTlsFiles(absl::GetFlag(FLAGS_tls_cert_file), absl::GetFlag(FLAGS_tls_key_file),
                   absl::GetFlag(FLAGS_tls_ca_file));
  if (!tls.ok()) return tls.status();
  options.tls = *std::move(tls);
  if (const std::string path = absl::GetFlag(FLAGS_cluster_secret_file); !path.empty()) {
    absl::StatusOr<std::string> secret = LoadClusterSecretFile(path);
    if (!secret.ok()) return secret.status();
    options.cluster_secret = *std::move(secret);
  } else if (absl::GetFlag(FLAGS_coordinator) == "embedded" && options.tls.ca_certs.empty()) {
    // Alone in its cluster, the member is its own only peer: a secret nobody else knows.
    options.cluster_secret = NewClusterSecret();
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Coordinator>> CoordinatorFromFlags() {
  const std::string kind = absl::GetFlag(FLAGS_coordinator);
  if (kind == "embedded") return NewEmbeddedCoordinator();
  if (kind != "etcd") {
    return absl::InvalidArgumentError("--coordinator must be embedded or etcd, not '" + kind + "'");
  }
  const std::string on_lost = absl::GetFlag(FLAGS_on_partition_lost);
  if (on_lost != "refuse" && on_lost != "reset") {
    return absl::InvalidArgumentError("--on_partition_lost must be refuse or reset, not '" +
                                      on_lost + "'");
  }
  const absl::Duration ttl = absl::GetFlag(FLAGS_lease_ttl);
  if (ttl < absl::Seconds(1) || ttl != absl::Trunc(ttl, absl::Seconds(1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--lease_ttl must be whole seconds, at least 1s, not ", absl::FormatDuration(ttl)));
  }
  if (absl::Status s = Positive("membership_timeout", absl::GetFlag(FLAGS_membership_timeout));
      !s.ok()) {
    return s;
  }
  if (absl::GetFlag(FLAGS_backup_count) < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--backup_count must not be negative, not ",
                                                   absl::GetFlag(FLAGS_backup_count)));
  }
  return NewEtcdCoordinator({
      .endpoints = absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints), ',', absl::SkipEmpty()),
      .lease_ttl = ttl,
      .backup_count = absl::GetFlag(FLAGS_backup_count),
      .reset_lost_partitions = on_lost == "reset",
      .membership_timeout = absl::GetFlag(FLAGS_membership_timeout),
      .on_expelled = [] { kill(getpid(), SIGUSR1); },  // RunMember's sigwait stops the member
  });
}

// Everything a member needs before it can be started, from the command line and the config file.
absl::Status Configure(int argc, char** argv) {
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    absl::StatusOr<std::vector<internal::ConfigSetting>> settings = internal::ReadConfigFile(path);
    if (!settings.ok()) return settings.status();
    if (absl::Status s =
            internal::ApplyConfig(*settings, path, internal::FlagsOnCommandLine(argc, argv));
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<LogLevel> level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok())
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", level.status().message()));
  SetLogLevel(*level);
  return Positive("shutdown_grace", absl::GetFlag(FLAGS_shutdown_grace));
}

}  // namespace

int RunMember(int argc, char** argv, const ServiceInstaller& install) {
  const std::string program = ProgramName(argc > 0 ? argv[0] : nullptr);
  absl::SetProgramUsageMessage(absl::StrCat(
      "A gridrpc cluster member. Flags, or keys of --config: see docs/OPERATIONS.md.\n", "  ",
      program, " --listen=0.0.0.0:5701 --coordinator=etcd --etcd_endpoints=URL"));
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  auto fail = [](const absl::Status& status) {
    Log(LogLevel::kError, "member_failed", std::string(status.message()),
        {{"code", absl::StatusCodeToString(status.code())}});
    return 1;
  };
  if (positional.size() > 1) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", positional[1], "' (settings are --flags)")));
  }

  // Signals are taken synchronously by sigwait below; block them before gRPC starts threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);  // expelled by the coordinator
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (absl::Status s = Configure(argc, argv); !s.ok()) return fail(s);
  absl::StatusOr<MemberOptions> options = OptionsFromFlags();
  if (!options.ok()) return fail(options.status());
  absl::StatusOr<std::unique_ptr<Member>> created = Member::Create(*std::move(options));
  if (!created.ok()) return fail(created.status());
  Member& member = **created;
  // After the member: a coordinator must not outlive its member.
  absl::StatusOr<std::unique_ptr<Coordinator>> coordinator = CoordinatorFromFlags();
  if (!coordinator.ok()) return fail(coordinator.status());
  if (absl::Status s = install(member); !s.ok()) return fail(s);
  // The health endpoint serves first: a member that takes long to join is alive, not ready.
  std::unique_ptr<MetricsEndpoint> endpoint;
  if (const std::string address = absl::GetFlag(FLAGS_metrics_listen); !address.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started =
        MetricsEndpoint::Start(address, member);
    if (!started.ok()) return fail(started.status());
    endpoint = *std::move(started);
  }
  if (absl::Status s = member.Start(); !s.ok()) return fail(s);
  if (absl::Status s = (*coordinator)->Join(member); !s.ok()) return fail(s);

  const std::string metrics = endpoint == nullptr ? "off" : endpoint->address();
  Log(LogLevel::kInfo, "member_started", "the member serves",
      {{"member", member.id()},
       {"cluster", member.context().cluster_name()},
       {"address", member.address()},
       {"peer_address", member.peer_address()},
       {"metrics_address", metrics}});
  // For people and scripts reading stdout (the address is the last word, useful with port 0).
  std::printf("%s %s of cluster '%s' (peer port %s, metrics %s): listening on %s\n",
              program.c_str(), member.id().c_str(), member.context().cluster_name().c_str(),
              member.peer_address().c_str(), metrics.c_str(), member.address().c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  if (received == SIGUSR1) {
    Log(LogLevel::kError, "member_stopping", "expelled from the cluster: the member stops",
        {{"member", member.id()}});
    member.Terminate();
    return 3;
  }
  Log(LogLevel::kInfo, "member_stopping", "the member hands its replicas over and stops",
      {{"member", member.id()}, {"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  if (absl::Status s = (*coordinator)->Leave(); !s.ok()) {
    Log(LogLevel::kError, "leave_failed", "leaving the cluster failed",
        {{"member", member.id()}, {"status", s.ToString()}});
  }
  member.Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  return 0;
}

}  // namespace gridrpc
