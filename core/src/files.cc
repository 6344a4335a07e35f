#include "gridrpc/internal/files.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridrpc::internal {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", what, " '", path, "'"));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", what, " '", path, "'"));
  }
  return std::move(content).str();
}

bool HoldsPem(absl::string_view text, PemKind kind) {
  // A certificate's header is exact; a key's names its algorithm ("BEGIN EC PRIVATE KEY").
  return absl::StrContains(
      text, kind == PemKind::kCertificate ? "-----BEGIN CERTIFICATE-----" : "PRIVATE KEY-----");
}

absl::string_view PemKindName(PemKind kind) {
  return kind == PemKind::kCertificate ? "certificate" : "private key";
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what,
                                        PemKind kind) {
  absl::StatusOr<std::string> content = ReadWholeFile(path, what);
  if (content.ok() && !HoldsPem(*content, kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", path, "' holds no PEM ", PemKindName(kind)));
  }
  return content;
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> content = ReadWholeFile(path, what);
  if (!content.ok()) return content;
  content->resize(absl::StripTrailingAsciiWhitespace(*content).size());
  if (content->empty())
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is empty"));
  return content;
}

}  // namespace gridrpc::internal
