// PeerSecurity: how a member's two ports are secured and how peers authenticate.
//
// - Credentials: TLS on both ports when configured; the peer port asks peers for a certificate
//   and verifies it against the CA (mutual TLS); peer channels present the member's own.
// - Admission (the peer port, before a call is parsed): a peer is authenticated when it passed
//   every configured check: a verified client certificate (mutual TLS), and the cluster secret
//   in `gridrpc-cluster-secret` metadata (compared in constant time). Otherwise the call is
//   refused with UNAUTHENTICATED and changes nothing. With no check configured every call is
//   admitted (the development default, which the member warns about).
// - Outgoing peer calls carry the secret (Authenticate, called for every call on a peer channel;
//   PeerChannels::Authenticate).
//
// Immutable and thread-safe once made.
#ifndef GRIDRPC_SERVER_SRC_NET_PEER_SECURITY_H_
#define GRIDRPC_SERVER_SRC_NET_PEER_SECURITY_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/server_callback.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gridrpc/member.h"

namespace gridrpc::internal {

// The metadata key peers send the cluster secret in.
inline constexpr char kClusterSecretKey[] = "gridrpc-cluster-secret";

class PeerSecurity {
 public:
  // Checks the options: a certificate needs its key and the other way round, a CA needs both,
  // and each must be PEM text.
  static absl::StatusOr<PeerSecurity> Create(const TlsOptions& tls, std::string cluster_secret);

  std::shared_ptr<grpc::ServerCredentials> ClientPortCredentials() const;
  std::shared_ptr<grpc::ServerCredentials> PeerPortCredentials() const;
  // How this member dials other members (and, as a client, its cluster's client ports).
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  // A channel to another member's port (peer port, or client port for forwarded calls).
  std::shared_ptr<grpc::Channel> Dial(const std::string& address,
                                      const grpc::ChannelArguments& args) const;
  // Adds the cluster secret, if any, to an outgoing peer call.
  void Authenticate(grpc::ClientContext& context) const {
    if (!secret_.empty()) context.AddMetadata(kClusterSecretKey, secret_);
  }
  // Adds the cluster secret to every call on a channel (the in-process channel of this member's
  // peer server, for tests).
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
  PeerInterceptors() const;

  // OK when the call comes from an authenticated peer, else UNAUTHENTICATED saying what is
  // missing.
  grpc::Status Admit(const grpc::CallbackServerContext& ctx) const;

  // Whether the peer port checks anything at all.
  bool authenticates() const { return mutual_tls() || !secret_.empty(); }
  bool mutual_tls() const { return tls_.enabled() && !tls_.ca_certs.empty(); }
  bool tls() const { return tls_.enabled(); }

 private:
  PeerSecurity(TlsOptions tls, std::string secret)
      : tls_(std::move(tls)), secret_(std::move(secret)) {}

  TlsOptions tls_;
  std::string secret_;
};

// Whether `a` and `b` are equal, in time that depends on their lengths only.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_SERVER_SRC_NET_PEER_SECURITY_H_
