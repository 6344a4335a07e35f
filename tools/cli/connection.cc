#include "cli/connection.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "gridrpc/internal/files.h"

namespace gridrpc::cli {
namespace {

using internal::PemKind;
using internal::ReadPemFile;

// A partition table of a large cluster is bigger than gRPC's default limit of 4 MiB.
constexpr int kMaxReceiveBytes = 256 << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const GlobalOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions tls;
    absl::StatusOr<std::string> ca =
        ReadPemFile(options.tls_ca_file, "the --tls_ca_file file", PemKind::kCertificate);
    if (!ca.ok()) return ca.status();
    tls.pem_root_certs = *std::move(ca);
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert =
          ReadPemFile(options.tls_cert_file, "the --tls_cert_file file", PemKind::kCertificate);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadPemFile(options.tls_key_file, "the --tls_key_file file", PemKind::kPrivateKey);
      if (!key.ok()) return key.status();
      tls.pem_cert_chain = *std::move(cert);
      tls.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(tls);
    if (!options.tls_server_name.empty()) {
      arguments.SetSslTargetNameOverride(options.tls_server_name);
    }
  }
  return grpc::CreateCustomChannel(options.target, credentials, arguments);
}

absl::StatusOr<std::string> LoadClusterSecret(const std::string& path) {
  return internal::ReadSecretFile(path, "the --cluster_secret_file file");
}

void SetDeadline(grpc::ClientContext& context, absl::Time deadline) {
  context.set_deadline(absl::ToChronoTime(deadline));
}

}  // namespace gridrpc::cli
