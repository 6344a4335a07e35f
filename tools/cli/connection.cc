#include "cli/connection.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridrpc::cli {
namespace {

// A partition table of a large cluster is bigger than gRPC's default limit of 4 MiB.
constexpr int kMaxReceiveBytes = 256 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --", flag, " file '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag,
                                    absl::string_view marker, absl::string_view what) {
  absl::StatusOr<std::string> content = ReadFile(path, flag);
  if (content.ok() && !absl::StrContains(*content, marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the --", flag, " file '", path, "' holds no PEM ", what));
  }
  return content;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const GlobalOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions tls;
    absl::StatusOr<std::string> ca =
        ReadPem(options.tls_ca_file, "tls_ca_file", "-----BEGIN CERTIFICATE-----", "certificate");
    if (!ca.ok()) return ca.status();
    tls.pem_root_certs = *std::move(ca);
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadPem(options.tls_cert_file, "tls_cert_file",
                                                 "-----BEGIN CERTIFICATE-----", "certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadPem(options.tls_key_file, "tls_key_file", "PRIVATE KEY-----", "private key");
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
  absl::StatusOr<std::string> secret = ReadFile(path, "cluster_secret_file");
  if (!secret.ok()) return secret.status();
  std::string trimmed(absl::StripTrailingAsciiWhitespace(*secret));
  if (trimmed.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the --cluster_secret_file file '", path, "' is empty"));
  }
  return trimmed;
}

void SetDeadline(grpc::ClientContext& context, absl::Time deadline) {
  context.set_deadline(absl::ToChronoTime(deadline));
}

}  // namespace gridrpc::cli
