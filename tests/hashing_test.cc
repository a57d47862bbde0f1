#include "common/hashing.h"

#include <gtest/gtest.h>

#include <string>

namespace leerlus {
namespace {

// The expected digests are the SHA-256 test vectors of FIPS 180-2
// (appendix B) and the digest of the empty string.
constexpr char kAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kTwoBlocks[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionAs[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
constexpr char kEmpty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kTwoBlocksInput[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(HashingTest, OneShotDigestsMatchTheStandardVectors) {
  EXPECT_EQ(Sha256Hex("abc"), kAbc);
  EXPECT_EQ(Sha256Hex(kTwoBlocksInput), kTwoBlocks);
  EXPECT_EQ(Sha256Hex(std::string(1'000'000, 'a')), kMillionAs);
  EXPECT_EQ(Sha256Hex(""), kEmpty);
}

TEST(HashingTest, AStreamInPiecesEqualsTheDigestOfTheWhole) {
  Sha256Stream abc;
  abc.Add("a");
  abc.Add("");
  abc.Add("bc");
  EXPECT_EQ(abc.HexDigest(), kAbc);

  // Pieces that straddle the 64-byte block boundary.
  const std::string two_blocks = kTwoBlocksInput;
  Sha256Stream straddling;
  straddling.Add(two_blocks.substr(0, 7));
  straddling.Add(two_blocks.substr(7));
  EXPECT_EQ(straddling.HexDigest(), kTwoBlocks);

  Sha256Stream million;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.Add(thousand);
  EXPECT_EQ(million.HexDigest(), kMillionAs);

  Sha256Stream nothing;
  EXPECT_EQ(nothing.HexDigest(), kEmpty);
}

}  // namespace
}  // namespace leerlus
