#include "storage/log_keys.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/model/keys.h"
#include "tests/test_util.h"

namespace leerlus::storage {
namespace {

TEST(KeysTest, EventKeysSortInPositionOrder) {
  std::vector<uint64_t> positions = {1, 2, 255, 256, 65535, 65536, 1ull << 40, ~0ull};
  std::vector<std::string> keys;
  for (uint64_t p : positions) keys.push_back(EventKey(p));
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  for (uint64_t p : positions) {
    absl::StatusOr<uint64_t> parsed = ParseEventKey(EventKey(p));
    ASSERT_OK(parsed);
    EXPECT_EQ(*parsed, p);
  }
}

TEST(KeysTest, BigEndianEncodingIsExact) {
  EXPECT_EQ(EventKey(0x0102030405060708ull), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

TEST(KeysTest, ShortInputFailsCleanlyWithoutConsuming) {
  absl::string_view input("\x00\x01\x02", 3);
  absl::StatusOr<uint64_t> parsed = ConsumeFixed64BigEndian(&input);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(input.size(), 3u);
  EXPECT_FALSE(ParseEventKey(EventKey(5) + "x").ok());
}

TEST(KeysTest, StreamEventKeyRoundTripsAndSortsByVersionWithinStream) {
  std::string a1 = StreamEventKey("experiments/a", 1);
  std::string a2 = StreamEventKey("experiments/a", 2);
  std::string a300 = StreamEventKey("experiments/a", 300);
  std::string ab1 = StreamEventKey("experiments/ab", 1);
  EXPECT_LT(a1, a2);
  EXPECT_LT(a2, a300);
  // All of stream "a" comes before any of stream "ab" (the separator is 0).
  EXPECT_LT(a300, ab1);
  EXPECT_EQ(a300.substr(0, StreamEventPrefix("experiments/a").size()),
            StreamEventPrefix("experiments/a"));
  EXPECT_NE(ab1.substr(0, StreamEventPrefix("experiments/a").size()),
            StreamEventPrefix("experiments/a"));
  absl::StatusOr<StreamEventKeyParts> parts = ParseStreamEventKey(a300);
  ASSERT_OK(parts);
  EXPECT_EQ(parts->stream, "experiments/a");
  EXPECT_EQ(parts->version, 300u);
  EXPECT_FALSE(ParseStreamEventKey("no-separator").ok());
  EXPECT_FALSE(ParseStreamEventKey(StreamEventPrefix("s") + "abc").ok());
}

}  // namespace
}  // namespace leerlus::storage

namespace leerlus::model {
namespace {

TEST(KeysTest, AnalysisKeysGroupByIndicatorThenMethod) {
  std::string k1 = AnalysisKey("loneliness", "coach", "e1");
  std::string k2 = AnalysisKey("loneliness", "coach", "e2");
  std::string k3 = AnalysisKey("loneliness", "coach-x", "e1");
  std::string other = AnalysisKey("loneliness-2", "coach", "e1");
  const std::string prefix = AnalysisIndicatorPrefix("loneliness");
  for (const std::string& key : {k1, k2, k3}) EXPECT_EQ(key.rfind(prefix, 0), 0u);
  EXPECT_NE(other.rfind(prefix, 0), 0u);
  EXPECT_LT(k1, k2);
  EXPECT_LT(k2, k3);
}

TEST(KeysTest, CatalogKindsDoNotOverlap) {
  EXPECT_NE(CatalogKey(CatalogKind::kWorkMethod, "x"), CatalogKey(CatalogKind::kIndicator, "x"));
  EXPECT_EQ(CatalogKey(CatalogKind::kArea, "GM0855").rfind(CatalogPrefix(CatalogKind::kArea), 0),
            0u);
}

TEST(KeysTest, AnalysisKeysParseIntoTheirParts) {
  absl::StatusOr<AnalysisKeyParts> parts = ParseAnalysisKey(AnalysisKey("loneliness", "coach", "e1"));
  ASSERT_OK(parts);
  EXPECT_EQ(parts->indicator_id, "loneliness");
  EXPECT_EQ(parts->work_method_id, "coach");
  EXPECT_EQ(parts->experiment_id, "e1");
  EXPECT_FALSE(ParseAnalysisKey("loneliness").ok());
  EXPECT_FALSE(ParseAnalysisKey(AnalysisIndicatorPrefix("loneliness") + "coach").ok());
}

}  // namespace
}  // namespace leerlus::model
