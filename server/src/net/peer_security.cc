#include "net/peer_security.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/client_interceptor.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gridrpc/internal/files.h"

namespace gridrpc {

absl::StatusOr<TlsOptions> LoadTlsFiles(const std::string& cert_file, const std::string& key_file,
                                        const std::string& ca_file) {
  using internal::PemKind;
  TlsOptions tls;
  for (auto [path, what, kind, out] :
       {std::tuple{&cert_file, "the TLS certificate file", PemKind::kCertificate, &tls.cert_chain},
        std::tuple{&key_file, "the TLS private key file", PemKind::kPrivateKey, &tls.private_key},
        std::tuple{&ca_file, "the TLS CA file", PemKind::kCertificate, &tls.ca_certs}}) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> content = internal::ReadPemFile(*path, what, kind);
    if (!content.ok()) return content.status();
    *out = *std::move(content);
  }
  return tls;
}

absl::StatusOr<std::string> LoadClusterSecretFile(const std::string& path) {
  return internal::ReadSecretFile(path, "the cluster secret file");
}

std::string NewClusterSecret() {
  absl::BitGen random;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(random),
                         absl::Uniform<uint64_t>(random));
}

namespace internal {
namespace {

// Adds the cluster secret to every call on a peer channel.
class SecretInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit SecretInterceptor(const std::string& secret) : secret_(secret) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kClusterSecretKey, secret_);
    }
    methods->Proceed();
  }

 private:
  const std::string& secret_;  // the factory's, which the channel keeps
};

class SecretInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit SecretInterceptorFactory(std::string secret) : secret_(std::move(secret)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new SecretInterceptor(secret_);
  }

 private:
  const std::string secret_;
};

grpc::SslServerCredentialsOptions ServerOptions(const TlsOptions& tls,
                                                grpc_ssl_client_certificate_request_type request) {
  grpc::SslServerCredentialsOptions options(request);
  options.pem_key_cert_pairs.push_back({tls.private_key, tls.cert_chain});
  return options;
}

}  // namespace

absl::StatusOr<PeerSecurity> PeerSecurity::Create(const TlsOptions& tls,
                                                  std::string cluster_secret) {
  if (tls.cert_chain.empty() != tls.private_key.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both the member's certificate and its private key");
  }
  if (!tls.ca_certs.empty() && !tls.enabled()) {
    return absl::InvalidArgumentError(
        "a TLS CA (mutual TLS between peers) needs the member's certificate and private key");
  }
  if (tls.enabled()) {
    using internal::HoldsPem;
    using internal::PemKind;
    if (!HoldsPem(tls.cert_chain, PemKind::kCertificate)) {
      return absl::InvalidArgumentError("the TLS certificate is not a PEM certificate");
    }
    if (!HoldsPem(tls.private_key, PemKind::kPrivateKey)) {
      return absl::InvalidArgumentError("the TLS private key is not a PEM private key");
    }
    if (!tls.ca_certs.empty() && !HoldsPem(tls.ca_certs, PemKind::kCertificate)) {
      return absl::InvalidArgumentError("the TLS CA is not a PEM certificate");
    }
  }
  return PeerSecurity(tls, std::move(cluster_secret));
}

std::shared_ptr<grpc::ServerCredentials> PeerSecurity::ClientPortCredentials() const {
  if (!tls()) return grpc::InsecureServerCredentials();
  return grpc::SslServerCredentials(ServerOptions(tls_, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));
}

std::shared_ptr<grpc::ServerCredentials> PeerSecurity::PeerPortCredentials() const {
  if (!tls()) return grpc::InsecureServerCredentials();
  if (!mutual_tls()) {
    return grpc::SslServerCredentials(
        ServerOptions(tls_, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE));
  }
  // Verified if presented, not required by the handshake: Admit answers a peer without one
  // with UNAUTHENTICATED rather than a failed connection.
  grpc::SslServerCredentialsOptions options =
      ServerOptions(tls_, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls_.ca_certs;
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> PeerSecurity::ChannelCredentials() const {
  if (!tls()) return grpc::InsecureChannelCredentials();
  return grpc::SslCredentials({.pem_root_certs = tls_.ca_certs,
                               .pem_private_key = tls_.private_key,
                               .pem_cert_chain = tls_.cert_chain});
}

std::shared_ptr<grpc::Channel> PeerSecurity::Dial(const std::string& address,
                                                  const grpc::ChannelArguments& args) const {
  return grpc::CreateCustomChannel(address, ChannelCredentials(), args);
}

std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
PeerSecurity::PeerInterceptors() const {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> out;
  if (!secret_.empty()) out.push_back(std::make_unique<SecretInterceptorFactory>(secret_));
  return out;
}

grpc::Status PeerSecurity::Admit(const grpc::CallbackServerContext& ctx) const {
  if (mutual_tls()) {
    std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the peer port admits members only: the caller presented no "
                          "certificate signed by the cluster's CA");
    }
  }
  if (!secret_.empty()) {
    const auto& metadata = ctx.client_metadata();
    auto it = metadata.find(kClusterSecretKey);
    if (it == metadata.end()) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the peer port admits members only: no ", kClusterSecretKey, " metadata"));
    }
    if (!ConstantTimeEquals(std::string_view(it->second.data(), it->second.size()), secret_)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the peer port admits members only: wrong cluster secret");
    }
  }
  return grpc::Status::OK;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer one is looked at, whatever matches: no early exit.
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace internal
}  // namespace gridrpc
