// TestCertificates: a CA and certificates it signed, made with Debian's openssl at test time
// (nothing secret is checked in). Member certificates name 127.0.0.1 and localhost, the hosts
// tests dial.
//
// Example:
//   auto certs = TestCertificates::Make("/tmp/gridrpc-certs").value();
//   gridrpc::TlsOptions tls = certs->Member();  // cert, key and the CA: mutual TLS
#ifndef GRIDRPC_TESTING_CERTS_H_
#define GRIDRPC_TESTING_CERTS_H_

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gridrpc/member.h"
#include "testing/child_process.h"

namespace gridrpc::testing {

class TestCertificates {
 public:
  // Makes, in `dir`: ca.{key,pem} and member.{key,pem} signed by it, and a second CA,
  // stranger-ca.{key,pem}, with stranger.{key,pem} signed by that one.
  static absl::StatusOr<std::unique_ptr<TestCertificates>> Make(const std::string& dir) {
    std::filesystem::create_directories(dir);
    auto certs = std::unique_ptr<TestCertificates>(new TestCertificates(dir));
    for (const char* ca : {"ca", "stranger-ca"}) {
      if (absl::Status s =
              certs->Run({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                          absl::StrCat("/CN=gridrpc test ", ca), "-keyout", certs->Path(ca, "key"),
                          "-out", certs->Path(ca, "pem")});
          !s.ok()) {
        return s;
      }
    }
    for (auto [name, ca] : {std::pair{"member", "ca"}, std::pair{"stranger", "stranger-ca"}}) {
      const std::string ext = certs->Path(name, "ext");
      std::ofstream(ext) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                         << "extendedKeyUsage=serverAuth,clientAuth\n";
      for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
               {"req", "-newkey", "rsa:2048", "-nodes", "-subj",
                absl::StrCat("/CN=gridrpc test ", name), "-keyout", certs->Path(name, "key"),
                "-out", certs->Path(name, "csr")},
               {"x509", "-req", "-in", certs->Path(name, "csr"), "-CA", certs->Path(ca, "pem"),
                "-CAkey", certs->Path(ca, "key"), "-CAcreateserial", "-days", "2", "-extfile", ext,
                "-out", certs->Path(name, "pem")}}) {
        if (absl::Status s = certs->Run(args); !s.ok()) return s;
      }
    }
    return certs;
  }

  std::string Path(const std::string& name, const std::string& kind) const {
    return absl::StrCat(dir_, "/", name, ".", kind);
  }
  std::string Read(const std::string& name, const std::string& kind) const {
    std::ifstream in(Path(name, kind));
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  // A member of the cluster: its certificate and key, and the cluster's CA.
  TlsOptions Member() const {
    return {.cert_chain = Read("member", "pem"),
            .private_key = Read("member", "key"),
            .ca_certs = Read("ca", "pem")};
  }

 private:
  explicit TestCertificates(std::string dir) : dir_(std::move(dir)) {}

  absl::Status Run(std::vector<std::string> args) const {
    args.insert(args.begin(), "/usr/bin/openssl");
    const std::string log = absl::StrCat(dir_, "/openssl.log");
    absl::StatusOr<std::unique_ptr<ChildProcess>> openssl = ChildProcess::Start(args, log);
    if (!openssl.ok()) return openssl.status();
    std::optional<int> status = (*openssl)->Wait(absl::Seconds(60));
    if (!status.has_value() || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      return absl::InternalError(
          absl::StrCat("openssl ", args[1], " failed:\n", (*openssl)->LogTail()));
    }
    return absl::OkStatus();
  }

  const std::string dir_;
};

}  // namespace gridrpc::testing

#endif  // GRIDRPC_TESTING_CERTS_H_
