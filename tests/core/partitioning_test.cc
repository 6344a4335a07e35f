#include "gridrpc/partitioning.h"

#include <gtest/gtest.h>

#include "gridrpc/internal/wire.h"
#include "test_util.h"

namespace gridrpc {
namespace {

using ::gridrpc::testing::StatusIs;
using ::testing::HasSubstr;

// XXH64's published vectors for seed 0: if these fail, the hash is not XXH64.
TEST(KeyHashTest, MatchesPublishedXxh64Vectors) {
  EXPECT_EQ(KeyHash(std::string_view("")), 0xef46db3751d8e999ULL);
  EXPECT_EQ(KeyHash(std::string_view("a")), 0xd24ec4f1a98c6e5bULL);
}

// Pins key -> partition for every kind of key. Changing any of these moves users' data.
TEST(KeyHashTest, PinnedPartitionsForTheDefaultCount) {
  struct Vector {
    uint64_t hash;
    uint64_t expected_hash;
    int expected_partition;
  };
  const Vector vectors[] = {
      {KeyHash(std::string_view("0counter")), 0xbd17173835d5bf84ULL, 230},
      {KeyHash(std::string_view("1counter")), 0x71760247b309c92aULL, 242},
      {KeyHash(std::string_view("2counter")), 0x909e49c21907fe6fULL, 247},
      {KeyHash(std::string_view("3counter")), 0xe72d2e38f1ca70e9ULL, 211},
      {KeyHash(std::string_view("orders")), 0x0f4f95cfb44ca775ULL, 13},
      {KeyHash(int64_t{42}), 0xb556806fb6d14353ULL, 158},
      {KeyHash(int64_t{-1}), 0x85d136adb773c6c9ULL, 49},
      {KeyHash(true), 0x8a4127811b21e730ULL, 207},
  };
  for (const Vector& v : vectors) {
    EXPECT_EQ(v.hash, v.expected_hash);
    EXPECT_EQ(PartitionOf(v.hash, kDefaultPartitionCount), v.expected_partition);
  }
}

TEST(KeyHashTest, IntegersHashByTheirWidenedValue) {
  EXPECT_EQ(KeyHash(int32_t{42}), KeyHash(int64_t{42}));
  EXPECT_EQ(KeyHash(int32_t{-1}), KeyHash(int64_t{-1}));
  EXPECT_EQ(KeyHash(uint32_t{42}), KeyHash(uint64_t{42}));
  EXPECT_EQ(KeyHash(uint64_t{42}), KeyHash(int64_t{42}));  // same 8 bytes
}

TEST(KeyHashTest, SpreadsKeysOverEveryPartition) {
  std::vector<int> hits(kDefaultPartitionCount);
  for (int i = 0; i < 100000; ++i) {
    ++hits[PartitionOf(KeyHash(std::string_view("key-" + std::to_string(i))),
                       kDefaultPartitionCount)];
  }
  // 369 expected per partition; a uniform hash stays well within these bounds.
  for (int p = 0; p < kDefaultPartitionCount; ++p) {
    EXPECT_GT(hits[p], 250) << "partition " << p;
    EXPECT_LT(hits[p], 500) << "partition " << p;
  }
}

TEST(ParsePartitionIdTest, AcceptsDecimalInRange) {
  EXPECT_EQ(internal::ParsePartitionId("0", 271).value(), 0);
  EXPECT_EQ(internal::ParsePartitionId("270", 271).value(), 270);
}

TEST(ParsePartitionIdTest, RejectsWhatIsNotAPartitionId) {
  for (std::string_view text : {"", "abc", "-1", "1.5", " 7", "0x10", "99999999999999999999"}) {
    EXPECT_THAT(internal::ParsePartitionId(text, 271),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a partition id")))
        << text;
  }
  EXPECT_THAT(internal::ParsePartitionId("271", 271),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("partition 271 is out of range [0, 271)")));
}

}  // namespace
}  // namespace gridrpc
