// The evaluator's report: one self-contained HTML file (inline SVG and CSS,
// nothing fetched, printable) answering "what works for this indicator":
// a forest plot per work method, conditions compared, the evidence grade
// with its reasons, the hypothesis scorecard, lessons, the iteration
// timeline, and the log position it reflects. Dutch or English.
//
// FetchReportData asks the server (every answer pinned to one log
// position); RenderReportHtml and RenderReportSvgs are pure.
#ifndef LEERLUS_CLIENT_REPORT_REPORT_H_
#define LEERLUS_CLIENT_REPORT_REPORT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"

namespace leerlus::client {

enum class ReportLanguage { kEnglish, kDutch };

struct ReportOptions {
  std::string indicator_id;
  // Empty: every work method with outcomes on the indicator.
  std::vector<std::string> work_method_ids;
  // A condition to compare (`context.gebied`, `line`, ...). Empty: the
  // conditions DiscoverConditions ranks highest per method.
  std::string by;
  // "--as-of": a log position or a date YYYY-MM-DD (empty: now).
  uint64_t as_of_position = 0;
  std::string as_of_date;
  // "--since": also show what changed since this position or date.
  uint64_t since_position = 0;
  std::string since_date;
  ReportLanguage language = ReportLanguage::kEnglish;
};

struct ReportData {
  ReportOptions options;
  v1::Indicator indicator;
  v1::WhatWorksResponse what_works;
  // Per work method: the comparison asked for with `by` ...
  std::map<std::string, v1::CompareConditionsResponse> compared;
  // ... or the conditions discovered (top 3), or why none could be tested.
  std::map<std::string, v1::DiscoverConditionsResponse> discovered;
  std::map<std::string, std::string> conditions_not_tested;
  v1::ScorecardResponse scorecard;
  // The experiments of the reported methods, with lessons and decisions,
  // as of the report's position.
  std::vector<v1::Experiment> experiments;
  std::optional<v1::WhatChangedResponse> changes;
  // When the event at the report's position was appended (RFC 3339); empty
  // if the caller may not read the log.
  std::string position_time;
  // When the report was made (RFC 3339).
  std::string generated_time;
  // A signed checkpoint covering the report's position; unset if the server
  // signs none.
  std::optional<v1::Checkpoint> checkpoint;
};

// Asks the server for everything the report shows. The first answer fixes
// the log position; every later question is asked as of that position, so
// the report is consistent while others write.
grpc::Status FetchReportData(Client& api, const ReportOptions& options, ReportData* data);

// The whole report as one HTML document (also well-formed XML).
std::string RenderReportHtml(const ReportData& data);

// The report's plots as standalone SVG files: file name -> content
// (`forest-<method>.svg`, `conditions-<method>.svg`).
std::map<std::string, std::string> RenderReportSvgs(const ReportData& data);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_REPORT_REPORT_H_
