// Reading the small files that configure a process (certificates, keys, secrets, a zone, a
// config file), with errors that name the file and say what it was for. Members and the CLI
// read the same kinds of files and must refuse them the same way.
#ifndef GRIDRPC_INTERNAL_FILES_H_
#define GRIDRPC_INTERNAL_FILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gridrpc::internal {

// The whole file at `path`. `what` names it in errors, as in "the TLS CA file" or "the
// --tls_ca_file file": "cannot read the TLS CA file '/x': No such file or directory", with the
// status code of the error (NOT_FOUND, PERMISSION_DENIED, ...).
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what);

enum class PemKind { kCertificate, kPrivateKey };

// Whether `text` holds PEM text of `kind` (a plausibility check; TLS parses it).
bool HoldsPem(absl::string_view text, PemKind kind);
// "certificate" or "private key".
absl::string_view PemKindName(PemKind kind);

// A file that must hold PEM text of `kind`; refused, naming it, when it does not.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what,
                                        PemKind kind);

// A secret: the file's text without trailing whitespace (editors add a newline); refused when
// that leaves nothing, as an empty secret would let anyone in.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what);

}  // namespace gridrpc::internal

#endif  // GRIDRPC_INTERNAL_FILES_H_
