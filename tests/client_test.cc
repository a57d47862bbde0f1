// CSV reading, row conversion and output rendering of the client.
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/match.h"
#include "client/csv_table.h"
#include "client/export.h"
#include "client/import_rows.h"
#include "client/output.h"
#include "client/report/report.h"
#include "client/report/svg_plot.h"
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

// Item 19 of the trust review: a file of empty columns or one endless
// quoted field is refused, naming the line, before it takes the memory.
TEST(CsvTableTest, HugeRowsAreRefusedNamingTheLine) {
  const std::string columns = "a,b\n1,2\n" + std::string(20'000'000, ',') + "\n";
  absl::StatusOr<CsvTable> wide = ParseCsv(columns);
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(wide.status().message(), "line 3: ")) << wide.status();
  std::string endless = "a,b\n\"";
  for (int i = 0; i < 200'000; ++i) endless += "0123456789\n";
  absl::StatusOr<CsvTable> quoted = ParseCsv(endless);
  ASSERT_FALSE(quoted.ok());
  EXPECT_NE(quoted.status().message().find("a row longer than"), std::string::npos)
      << quoted.status();
  std::string many = "a\n";
  for (int i = 0; i < 3000; ++i) many += "x,";
  many += "\n";
  EXPECT_NE(ParseCsv(many).status().message().find("line 2: more than 2000 columns"),
            std::string::npos);
}

// Item 9: text a spreadsheet would evaluate is neutralised in every CSV the
// client writes, and restored when read back; numbers stay numbers.
TEST(CsvTableTest, FormulasAreNeutralisedOnExportAndRestoredOnImport) {
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(CsvField("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvField("+31 6"), "'+31 6");
  EXPECT_EQ(CsvField("-cmd"), "'-cmd");
  EXPECT_EQ(CsvField("\tx"), "'\tx");
  EXPECT_EQ(CsvField("-0.5"), "-0.5");
  EXPECT_EQ(CsvField("1e-3"), "1e-3");
  EXPECT_EQ(CsvField("plain"), "plain");
  for (const std::string text :
       {"=1+1", "@x", "'=1+1", "''@x", "'plain", "-0.5", "-", "=", "plain"}) {
    absl::StatusOr<CsvTable> table = ParseCsv("title\n" + CsvField(text) + "\n");
    ASSERT_TRUE(table.ok()) << text;
    ASSERT_EQ(table->rows.size(), 1u) << text;
    EXPECT_EQ(table->Get(table->rows[0], "title"), text);
  }
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

TEST(ImportRowsTest, RiskOfBiasAndFollowUpAreOptionalColumns) {
  absl::StatusOr<CsvTable> table = ParseCsv(
      "experiment_id,indicator_id,measured_on,design,risk_of_bias,follow_up_months,measure,"
      "effect,standard_error\n"
      "e1,lon,2019-06-01,rct,some-concerns,12,SMD,0.3,0.1\n"
      "e1,lon,2019-06-02,rct,,,SMD,0.3,0.1\n"
      "e1,lon,2019-06-03,rct,doubtful,12,SMD,0.3,0.1\n"
      "e1,lon,2019-06-04,rct,low,99999999999,SMD,0.3,0.1\n");
  ASSERT_OK(table);
  OutcomeImport result = OutcomeRequestsFromCsv(*table, false);
  ASSERT_EQ(result.requests.size(), 2u);
  EXPECT_EQ(result.requests[0].outcome().risk_of_bias(), v1::RISK_OF_BIAS_SOME_CONCERNS);
  EXPECT_EQ(result.requests[0].outcome().follow_up_months(), 12);
  EXPECT_EQ(result.requests[1].outcome().risk_of_bias(), v1::RISK_OF_BIAS_UNSPECIFIED);
  EXPECT_EQ(result.requests[1].outcome().follow_up_months(), 0);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].field, "risk_of_bias");
  // A value beyond 32 bits is refused here, not wrapped into range.
  EXPECT_EQ(result.errors[1].field, "follow_up_months");
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

TEST(SvgPlotTest, EscapesMarkupAndFormatsNumbers) {
  EXPECT_EQ(XmlEscape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(FormatFixed(0.1955, 2, ','), "0,20");
  EXPECT_EQ(FormatFixed(-0.0004, 3, '.'), "0.000");  // Never "-0.000".
  EXPECT_EQ(FormatFixed(-1.25, 1, '.'), "-1.2");     // printf's round-half-even on binary.
  // ExactNumber reads back as the same double, in as few digits as it can.
  for (double value : {0.1, 1.0 / 3, -0.10462097888120117, 8.806167155136205, 1e-300}) {
    EXPECT_EQ(std::strtod(ExactNumber(value).c_str(), nullptr), value) << value;
  }
  EXPECT_EQ(ExactNumber(0.1), "0.1");
}

TEST(SvgPlotTest, NiceTicksCoverTheRangeInRoundSteps) {
  // [-0.36, 0.83] in ~6 steps: a step of 0.2 from -0.4 to 1.0.
  std::vector<double> ticks = NiceTicks(-0.36, 0.83, 6);
  ASSERT_EQ(ticks.size(), 8u);
  EXPECT_DOUBLE_EQ(ticks.front(), -0.4);
  EXPECT_NEAR(ticks.back(), 1.0, 1e-12);
  EXPECT_EQ(ticks[2], 0.0);  // Exactly zero, so the zero line is drawn.
  // A single value still gets an axis around it.
  std::vector<double> around_zero = NiceTicks(0, 0, 4);
  EXPECT_LT(around_zero.front(), 0);
  EXPECT_GT(around_zero.back(), 0);
}

ForestPlot TwoStudyPlot() {
  ForestPlot plot;
  plot.title = "Buurtcoach <b>&</b>";
  plot.weight_header = "Weight";
  for (double effect : {0.25, -0.5}) {
    ForestRow row;
    row.label = "Buurtcoach \xE2\x80\x98s-Hertogenbosch en omliggende dorpen van de Meierij";
    row.estimate = effect;
    row.ci_lower = effect - 0.25;
    row.ci_upper = effect + 0.25;
    row.weight_percent = 50;
    row.data = {{"effect", ExactNumber(effect)}};
    plot.rows.push_back(row);
  }
  ForestRow pooled;
  pooled.pooled = true;
  pooled.css_class = "pooled";
  pooled.estimate = -0.125;
  pooled.ci_lower = -0.5;
  pooled.ci_upper = 0.25;
  pooled.has_prediction = true;
  pooled.pi_lower = -1.5;
  pooled.pi_upper = 1.25;
  plot.rows.push_back(pooled);
  return plot;
}

TEST(SvgPlotTest, ForestPlotHasARowPerStudyAndTheAxisCoversThePredictionInterval) {
  const std::string svg = RenderForestPlot(TwoStudyPlot());
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = svg.find(needle); at != std::string::npos; at = svg.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<g class=\"study\""), 2u);
  EXPECT_EQ(count("<g class=\"pooled\""), 1u);
  EXPECT_EQ(count("<polygon class=\"diamond\""), 1u);
  EXPECT_EQ(count("class=\"zero-line\""), 1u);
  EXPECT_NE(svg.find("data-effect=\"-0.5\""), std::string::npos);
  EXPECT_NE(svg.find("Buurtcoach &lt;b&gt;&amp;&lt;/b&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  // The 57-character label is cut to 38 characters without splitting the
  // three-byte quote: 37 characters and an ellipsis.
  EXPECT_NE(svg.find(">Buurtcoach \xE2\x80\x98s-Hertogenbosch en omligg\xE2\x80\xA6<"),
            std::string::npos);
  // The axis runs from the prediction interval's -1.5 to 1.5, in steps of 0.5.
  EXPECT_NE(svg.find(">-1.5</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1.5</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">-2.0</text>"), std::string::npos);
}

ReportData HostileReport(ReportLanguage language) {
  ReportData data;
  data.options.indicator_id = "eenzaamheid";
  data.options.language = language;
  data.indicator.set_id("eenzaamheid");
  data.indicator.set_display_name("Eenzaamheid <script>alert(1)</script>");
  data.indicator.set_better_direction(v1::BETTER_DIRECTION_LOWER);
  data.what_works.set_read_position(42);
  v1::MethodResult* method = data.what_works.add_methods();
  method->set_work_method_id("coach");
  method->set_work_method_name("Coach \"&\" co");
  v1::PooledResult* pooled = method->mutable_pooled();
  pooled->set_estimate(0.25);
  pooled->set_ci_lower(0.05);
  pooled->set_ci_upper(0.45);
  pooled->set_k(2);
  pooled->set_model(v1::POOLING_MODEL_REML);
  pooled->add_grade_reasons("+1 at least 3 experiments <none>");
  for (const char* id : {"parent", "child"}) {
    v1::StudyEffect* study = method->add_studies();
    study->set_experiment_id(id);
    study->set_title(absl::StrCat("<img src=x onerror=alert(1)> ", id));
    study->set_effect(id == std::string("parent") ? 0.1 : 0.4);
    study->set_weight_percent(50);
    v1::Experiment& experiment = data.experiments.emplace_back();
    experiment.set_id(id);
    experiment.set_work_method_id("coach");
    experiment.set_title(study->title());
  }
  data.experiments[0].set_decision(v1::DECISION_ADAPT);
  data.experiments[0].set_decision_rationale("</li><script>x</script>");
  data.experiments[1].set_parent_experiment_id("parent");
  v1::Lesson* lesson = data.experiments[1].add_lessons();
  lesson->set_text("Trust takes <em>time</em> & patience");
  return data;
}

TEST(ReportTest, EveryTextIsEscapedAndTheIterationShowsTheDecisionAndTheMove) {
  const std::string html = RenderReportHtml(HostileReport(ReportLanguage::kEnglish));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<em>"), std::string::npos);
  EXPECT_NE(html.find("Trust takes &lt;em&gt;time&lt;/em&gt; &amp; patience"), std::string::npos);
  EXPECT_NE(html.find("What works for Eenzaamheid &lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("lower is better"), std::string::npos);
  // The axis says which side is better in the indicator's own terms.
  EXPECT_NE(html.find(">better: Eenzaamheid &lt;script&gt;alert(1)&lt;/script&gt; lower \u2192<"),
            std::string::npos);
  EXPECT_NE(html.find(">\u2190 worse: Eenzaamheid &lt;script&gt;alert(1)&lt;/script&gt; higher<"),
            std::string::npos);
  EXPECT_NE(html.find("data-position=\"42\""), std::string::npos);
  EXPECT_NE(html.find("<code>leerlus report --indicator eenzaamheid --as-of 42 --out report.html"),
            std::string::npos);
  // parent -> child: the decision at the first step, and the effect moved
  // from 0.1 to 0.4 (+0.300).
  EXPECT_NE(html.find("<ol class=\"chain\">"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"decision\">adapt</span>: &lt;/li&gt;&lt;script&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("(+0.300 vs. previous)"), std::string::npos);
  // Nothing else: no scripts, no fetched fonts or images.
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
}

TEST(ReportTest, DutchUsesDutchWordsAndDecimalCommas) {
  const std::string html = RenderReportHtml(HostileReport(ReportLanguage::kDutch));
  EXPECT_NE(html.find("<html lang=\"nl\">"), std::string::npos);
  EXPECT_NE(html.find("Wat werkt voor Eenzaamheid"), std::string::npos);
  EXPECT_NE(html.find("lager is beter"), std::string::npos);
  EXPECT_NE(html.find("beter: Eenzaamheid &lt;script&gt;alert(1)&lt;/script&gt; lager"),
            std::string::npos);
  EXPECT_NE(html.find("0,250 [0,050, 0,450]"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"decision\">bijstellen</span>"), std::string::npos);
  EXPECT_NE(html.find("--lang nl"), std::string::npos);
  EXPECT_EQ(html.find("What works"), std::string::npos);
}

TEST(ReportTest, AnIndicatorWithoutOutcomesSaysSo) {
  ReportData data;
  data.indicator.set_id("energy");
  data.what_works.set_read_position(7);
  const std::string html = RenderReportHtml(data);
  EXPECT_NE(html.find("No outcome has been recorded on this indicator yet."), std::string::npos);
  EXPECT_EQ(html.find("<table class=\"summary\">"), std::string::npos);
  EXPECT_TRUE(RenderReportSvgs(data).empty());
}

TEST(ReportTest, SvgFilesPerMethodWithPooledResult) {
  std::map<std::string, std::string> files = RenderReportSvgs(HostileReport(ReportLanguage::kEnglish));
  ASSERT_EQ(files.size(), 1u);  // No condition was compared: only the forest plot.
  EXPECT_EQ(files.begin()->first, "forest-coach.svg");
  EXPECT_EQ(files.begin()->second.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg", 0), 0u);
}

TEST(ExportTest, OutcomesCarryTheEffectUsedAndTheContextAndLeaveRetractedOnesOut) {
  std::vector<v1::Experiment> experiments(1);
  v1::Experiment& e = experiments[0];
  e.set_id("e1");
  e.set_work_method_id("coach");
  (*e.mutable_context())["gebied"].set_text_value("landelijk, \"dorp\"");
  (*e.mutable_context())["inwoners"].set_number_value(25000);
  for (const char* id : {"o1", "o2", "o3"}) {
    v1::Outcome* o = e.add_outcomes();
    o->set_id(id);
    o->set_indicator_id("loneliness");
    o->set_design(v1::STUDY_DESIGN_RCT);
    o->mutable_two_group_counts()->set_treatment_events(3);
  }
  e.mutable_outcomes(1)->set_retracted(true);
  std::vector<v1::WhatWorksResponse> answers(1);
  v1::MethodResult* method = answers[0].add_methods();
  method->mutable_pooled()->set_measure(v1::EFFECT_MEASURE_SMD);
  v1::StudyEffect* study = method->add_studies();
  study->set_experiment_id("e1");
  study->set_outcome_id("o1");
  study->set_effect(0.1);
  study->set_variance(1.0 / 3);
  v1::ExcludedOutcome* left_out = method->add_excluded();
  left_out->set_experiment_id("e1");
  left_out->set_outcome_id("o3");
  left_out->set_reason("zero events");

  FlatTable table = OutcomesTable(experiments, answers, /*include_retracted=*/false);
  ASSERT_EQ(table.rows.size(), 2u);  // o2 is retracted.
  EXPECT_EQ(table.columns.back(), "context.inwoners");
  std::ostringstream csv;
  WriteCsv(table, csv);
  const std::string text = csv.str();
  // yi and vi exactly (1/3 in 16 digits), the context quoted, o3's reason.
  EXPECT_NE(text.find(",SMD,0.1,0.3333333333333333,,\"landelijk, \"\"dorp\"\"\",25000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(",,,,zero events,"), std::string::npos) << text;
  std::ostringstream json;
  WriteJson(table, json);
  EXPECT_NE(json.str().find("\"context.inwoners\": 25000"), std::string::npos) << json.str();
  EXPECT_NE(json.str().find("\"design\": \"RCT\""), std::string::npos) << json.str();
  EXPECT_EQ(json.str().find("\"yi\": \"0.1\""), std::string::npos);  // Numbers stay numbers.
  EXPECT_EQ(OutcomesTable(experiments, answers, true).rows.size(), 3u);
}

TEST(ExportTest, ExportedExperimentsImportAsTheSameRequests) {
  std::vector<v1::Experiment> experiments(1);
  v1::Experiment& e = experiments[0];
  e.set_id("e1");
  e.set_kind(v1::EXPERIMENT_KIND_DEAL);
  e.set_title("Deal; with \"quotes\"");
  e.set_work_method_id("coach");
  e.set_line(v1::LINE_CROSSOVER);
  e.set_societal_task("armoede");
  e.set_team_id("t1");
  e.add_partner_ids("ggd");
  e.add_partner_ids("gemeente");
  e.set_budget_cents(1234567);
  e.set_status(v1::EXPERIMENT_STATUS_CONCLUDED);
  (*e.mutable_context())["dorp"].set_bool_value(true);
  std::ostringstream csv;
  WriteCsv(ExperimentsTable(experiments), csv);
  absl::StatusOr<CsvTable> table = ParseCsv(csv.str());
  ASSERT_OK(table);
  ExperimentImport imported = ExperimentRequestsFromCsv(*table, false);
  ASSERT_TRUE(imported.errors.empty()) << imported.errors[0].field << imported.errors[0].message;
  ASSERT_EQ(imported.requests.size(), 1u);
  v1::Experiment expected = e;
  expected.clear_status();  // Status is history: replayed as a start, not a field.
  EXPECT_EQ(imported.requests[0].experiment().ShortDebugString(), expected.ShortDebugString());
  EXPECT_EQ(imported.starts[0].id(), "e1");  // Concluded: started so outcomes can follow.
}

}  // namespace
}  // namespace leerlus::client
