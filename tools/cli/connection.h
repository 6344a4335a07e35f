// The channel to --target, secured as the global flags say, and the files those flags name.
#ifndef GRIDRPC_TOOLS_CLI_CONNECTION_H_
#define GRIDRPC_TOOLS_CLI_CONNECTION_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/options.h"

namespace gridrpc::cli {

// A channel to options.target: plaintext, or TLS trusting --tls_ca_file (with the client
// certificate of --tls_cert_file/--tls_key_file, and --tls_server_name as the name to verify).
// Nothing is dialled yet. An error names the file that cannot be read or holds no PEM.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const GlobalOptions& options);

// The secret of --cluster_secret_file, trailing whitespace removed as members do; an error
// names the file.
absl::StatusOr<std::string> LoadClusterSecret(const std::string& path);

// Sets `context`'s deadline.
void SetDeadline(grpc::ClientContext& context, absl::Time deadline);

}  // namespace gridrpc::cli

#endif  // GRIDRPC_TOOLS_CLI_CONNECTION_H_
