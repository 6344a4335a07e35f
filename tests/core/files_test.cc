#include "gridrpc/internal/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace gridrpc::internal {
namespace {

using ::testing::HasSubstr;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/gridrpc-files-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string dir_;
};

TEST_F(FilesTest, ReadsTheWholeFileBytesIncluded) {
  const std::string content("a\0b\nc", 5);
  absl::StatusOr<std::string> read = ReadWholeFile(Write("f", content), "the f file");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, content);
}

TEST_F(FilesTest, AMissingFileIsNotFoundNamingItAndWhatItWasFor) {
  absl::StatusOr<std::string> read = ReadWholeFile(dir_ + "/none", "the --tls_ca_file file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(read.status().message(),
              HasSubstr("cannot read the --tls_ca_file file '" + dir_ + "/none': "));
}

TEST_F(FilesTest, AnUnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  const std::string path = Write("secret", "x");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_EQ(ReadWholeFile(path, "the f file").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(FilesTest, PemFilesMustHoldTheirKind) {
  const std::string cert = Write("cert", "-----BEGIN CERTIFICATE-----\nMII\n");
  const std::string key = Write("key", "-----BEGIN EC PRIVATE KEY-----\nMHc\n");
  EXPECT_TRUE(ReadPemFile(cert, "the c file", PemKind::kCertificate).ok());
  EXPECT_TRUE(ReadPemFile(key, "the k file", PemKind::kPrivateKey).ok());
  absl::StatusOr<std::string> swapped = ReadPemFile(key, "the c file", PemKind::kCertificate);
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(swapped.status().message(), "the c file '" + key + "' holds no PEM certificate");
  EXPECT_THAT(ReadPemFile(cert, "the k file", PemKind::kPrivateKey).status().message(),
              HasSubstr("holds no PEM private key"));
}

TEST_F(FilesTest, ASecretLosesTrailingWhitespaceAndMustNotBeEmpty) {
  absl::StatusOr<std::string> secret = ReadSecretFile(Write("s", " s3cret \n\n"), "the s file");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, " s3cret");
  const std::string blank = Write("blank", " \n");
  absl::StatusOr<std::string> empty = ReadSecretFile(blank, "the s file");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), "the s file '" + blank + "' is empty");
}

}  // namespace
}  // namespace gridrpc::internal
