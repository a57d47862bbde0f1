// Schema evolution: a log written by an earlier version of leerlus (the
// demo programme, stored bytes kept in tests/data/fixture_log_v1.bin by
// tests/tools/dump_events) must stay readable: every event parses, the hash
// chain holds over the stored bytes, and replaying it through today's
// projector gives the state it described.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/hashing.h"
#include "core/model/projector.h"
#include "core/model/read_model.h"
#include "storage/event_store.h"
#include "tests/test_util.h"

namespace leerlus::model {
namespace {

std::vector<std::string> ReadFixture() {
  std::ifstream in(std::string(LEERLUS_SOURCE_DIR) + "/tests/data/fixture_log_v1.bin",
                   std::ios::binary);
  EXPECT_TRUE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  std::vector<std::string> records;
  size_t offset = 0;
  while (offset + 4 <= data.size()) {
    const uint32_t size = (static_cast<uint8_t>(data[offset]) << 24) |
                          (static_cast<uint8_t>(data[offset + 1]) << 16) |
                          (static_cast<uint8_t>(data[offset + 2]) << 8) |
                          static_cast<uint8_t>(data[offset + 3]);
    offset += 4;
    EXPECT_LE(offset + size, data.size());
    records.push_back(data.substr(offset, size));
    offset += size;
  }
  EXPECT_EQ(offset, data.size());
  return records;
}

TEST(FixtureLogTest, AnEarlierLogStaysReadableAndProjectsTheSameState) {
  const std::vector<std::string> records = ReadFixture();
  ASSERT_EQ(records.size(), 194u);
  storage::MemoryProjection projection(records.size(), 0);
  std::string previous_hash;
  for (size_t i = 0; i < records.size(); ++i) {
    v1::Event event;
    ASSERT_TRUE(event.ParseFromString(records[i])) << "event " << i + 1;
    EXPECT_EQ(event.position(), i + 1);
    EXPECT_EQ(event.previous_hash(), previous_hash) << "position " << i + 1;
    EXPECT_NE(event.payload_case(), v1::Event::PAYLOAD_NOT_SET);
    previous_hash = Sha256Hex(records[i]);
    ASSERT_OK(ApplyEvent(event, projection.writer()));
  }
  int experiments = 0;
  ASSERT_OK(ScanExperimentRecords(projection, [&](absl::string_view, absl::string_view) {
    ++experiments;
    return true;
  }));
  EXPECT_EQ(experiments, 41);
  int analysis_rows = 0;
  ASSERT_OK(
      ScanAnalysisRows(projection, "eenzaamheid", [&](const AnalysisKeyParts&, absl::string_view) {
        ++analysis_rows;
        return true;
      }));
  EXPECT_EQ(analysis_rows, 33);
  absl::StatusOr<std::optional<v1::Experiment>> concluded =
      ExperimentRecord(projection, "buurtcoach-gm0824-1");
  ASSERT_OK(concluded);
  ASSERT_TRUE(concluded->has_value());
  EXPECT_EQ((*concluded)->status(), v1::EXPERIMENT_STATUS_CONCLUDED);
  EXPECT_EQ((*concluded)->decision(), v1::DECISION_SCALE_UP);
  EXPECT_EQ((*concluded)->context().at("gebied").text_value(), "landelijk");
  ASSERT_EQ((*concluded)->hypotheses_size(), 1);
  EXPECT_EQ((*concluded)->hypotheses(0).sealed_hash().size(), 64u);
}

}  // namespace
}  // namespace leerlus::model
