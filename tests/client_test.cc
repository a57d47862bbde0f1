// CSV reading, row conversion and output rendering of the client.
#include <gtest/gtest.h>

#include <sstream>

#include "client/csv_table.h"
#include "client/import_rows.h"
#include "client/output.h"
#include "tests/test_util.h"

namespace leerlus::client {
namespace {

TEST(CsvTableTest, ReadsQuotedFieldsBomAndSemicolons) {
  absl::StatusOr<CsvTable> table = ParseCsv(
      "\xEF\xBB\xBF"
      "Code;Name;Score\nGM0855;\"Tilburg; stad\";5,8\n\nGM0796;\"'s-Hertogenbosch\";6\n");
  ASSERT_OK(table);
  EXPECT_EQ(table->header, (std::vector<std::string>{"code", "name", "score"}));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(table->Get(table->rows[0], "name"), "Tilburg; stad");
  EXPECT_EQ(table->Get(table->rows[0], "score"), "5,8");
  EXPECT_EQ(table->rows[0].line, 2u);
  EXPECT_EQ(table->rows[1].line, 4u);  // The blank line 3 is skipped.
}

TEST(CsvTableTest, QuotedNewlinesAndEscapedQuotes) {
  absl::StatusOr<CsvTable> table =
      ParseCsv("a,b\n\"line one\nline two\",\"say \"\"hi\"\"\"\nx,y\n");
  ASSERT_OK(table);
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(table->rows[0].fields[0], "line one\nline two");
  EXPECT_EQ(table->rows[0].fields[1], "say \"hi\"");
  EXPECT_EQ(table->rows[1].line, 4u);
}

// Found by fuzz_csv_import: a classic Mac export ends lines with a lone CR.
// Every row must still get its own line number, and the separator is
// detected from the header line alone.
TEST(CsvTableTest, LoneCarriageReturnsEndLines) {
  absl::StatusOr<CsvTable> table = ParseCsv("code;name\rGM0855;Tilburg\r\rGM0796;Oss, stad\r\n");
  ASSERT_OK(table);
  EXPECT_EQ(table->header, (std::vector<std::string>{"code", "name"}));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_EQ(table->rows[0].line, 2u);
  EXPECT_EQ(table->rows[1].line, 4u);
  EXPECT_EQ(table->Get(table->rows[1], "name"), "Oss, stad");
}

TEST(CsvTableTest, DuplicateColumnsAndEmptyFilesAreErrors) {
  EXPECT_FALSE(ParseCsv("a,b,a\n1,2,3\n").ok());
  EXPECT_FALSE(ParseCsv("").ok());
}

TEST(ImportRowsTest, ConvertsEveryShapeAndReportsBadRows) {
  const std::string csv =
      "experiment_id,indicator_id,measured_on,design,treatment_mean,treatment_sd,treatment_n,"
      "control_mean,control_sd,control_n,treatment_events,treatment_total,control_events,"
      "control_total,pre_mean,pre_sd,post_mean,post_sd,n,pre_post_correlation,measure,effect,"
      "variance,standard_error,ci_lower,ci_upper\n"
      "e1,lon,2019-06-01,rct,4.1,1.2,40,4.8,1.3,38,,,,,,,,,,,,,,,,\n"
      "e1,lon,2019-06-01,quasi-experimental,,,,,,,12,50,20,50,,,,,,,,,,,,\n"
      "e1,lon,2019-06-01,pre_post,,,,,,,,,,,5,1,4.5,1.1,30,0.6,,,,,,\n"
      "e1,lon,2019-06-01,POST_ONLY,,,,,,,,,,,,,,,,,SMD,-0.3,,,-0.6,0.0\n"
      "e1,lon,2019-06-01,rct,abc,1.2,40,4.8,1.3,38,,,,,,,,,,,,,,,,\n"
      "e1,lon,,rct,4.1,1.2,40,4.8,1.3,38,,,,,,,,,,,,,,,,\n"
      "e1,lon,2019-06-01,guesswork,4.1,1.2,40,4.8,1.3,38,,,,,,,,,,,,,,,,\n"
      "e1,lon,2019-06-01,rct,4.1,1.2,40,4.8,1.3,38,,,,,,,,,,,,,,,,\n";
  absl::StatusOr<CsvTable> table = ParseCsv(csv);
  ASSERT_OK(table);
  OutcomeImport result = OutcomeRequestsFromCsv(*table, false);
  ASSERT_EQ(result.requests.size(), 4u);
  EXPECT_TRUE(result.requests[0].outcome().has_two_group_continuous());
  EXPECT_EQ(result.requests[0].outcome().two_group_continuous().control_n(), 38);
  EXPECT_EQ(result.requests[1].outcome().two_group_counts().control_events(), 20);
  EXPECT_EQ(result.requests[1].outcome().design(), v1::STUDY_DESIGN_QUASI_EXPERIMENTAL);
  EXPECT_DOUBLE_EQ(result.requests[2].outcome().pre_post().pre_post_correlation(), 0.6);
  EXPECT_DOUBLE_EQ(result.requests[3].outcome().direct_effect().ci95().lower(), -0.6);
  EXPECT_EQ(result.lines, (std::vector<size_t>{2, 3, 4, 5}));
  ASSERT_EQ(result.errors.size(), 4u);
  EXPECT_EQ(result.errors[0].line, 6u);
  EXPECT_EQ(result.errors[0].field, "treatment_mean");
  EXPECT_EQ(result.errors[1].line, 7u);
  EXPECT_EQ(result.errors[1].field, "measured_on");
  EXPECT_EQ(result.errors[2].field, "design");
  EXPECT_EQ(result.errors[3].line, 9u);
  EXPECT_NE(result.errors[3].message.find("duplicate of line 2"), std::string::npos);
}

TEST(ImportRowsTest, RequestIdsDependOnContentOnly) {
  std::vector<std::string> row = {"e1", "lon", "2019-06-01"};
  std::vector<std::string> padded = {" e1", "lon ", "2019-06-01"};
  std::vector<std::string> other = {"e1", "lon", "2019-06-02"};
  EXPECT_EQ(RowRequestId("outcome", row), RowRequestId("outcome", padded));
  EXPECT_NE(RowRequestId("outcome", row), RowRequestId("outcome", other));
  EXPECT_NE(RowRequestId("outcome", row), RowRequestId("area", row));
}

TEST(ImportRowsTest, DecimalCommaAndTypedAreaAttributes) {
  absl::StatusOr<CsvTable> table =
      ParseCsv("code;name;veerkracht;stedelijk;regio\nGM0855;Tilburg;5,8;true;Hart van Brabant\n");
  ASSERT_OK(table);
  AreaImport areas = AreaRequestsFromCsv(*table, true);
  ASSERT_EQ(areas.requests.size(), 1u);
  const auto& attributes = areas.requests[0].area().attributes();
  EXPECT_DOUBLE_EQ(attributes.at("veerkracht").number_value(), 5.8);
  EXPECT_TRUE(attributes.at("stedelijk").bool_value());
  EXPECT_EQ(attributes.at("regio").text_value(), "Hart van Brabant");
}

TEST(OutputTest, JsonKeepsProtoFieldNames) {
  v1::Experiment experiment;
  experiment.set_work_method_id("coach");
  experiment.set_status(v1::EXPERIMENT_STATUS_RUNNING);
  std::string json = ToJson(experiment, false);
  EXPECT_NE(json.find("\"work_method_id\":\"coach\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"status\":\"EXPERIMENT_STATUS_RUNNING\""), std::string::npos) << json;
}

TEST(OutputTest, CsvRowsFlattenNestedFieldsAndQuote) {
  v1::ListExperimentsResponse response;
  v1::Experiment* a = response.add_experiments();
  a->set_id("a");
  a->set_title("Coach, Tilburg");
  (*a->mutable_context())["urbanity"].set_number_value(2);
  v1::Experiment* b = response.add_experiments();
  b->set_id("b");
  b->mutable_area()->set_code("GM0855");
  std::ostringstream out;
  Render(response, OutputFormat::kCsv, out);
  EXPECT_EQ(out.str(),
            "id,title,context.urbanity,area.code\na,\"Coach, Tilburg\",2,\nb,,,GM0855\n");
}

}  // namespace
}  // namespace leerlus::client
