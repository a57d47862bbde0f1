#include "client/import_rows.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/hashing.h"

namespace leerlus::client {
namespace {

std::string NumberText(absl::string_view text, bool decimal_comma) {
  std::string value(text);
  if (decimal_comma) {
    value = absl::StrReplaceAll(value, {{".", ""}});  // Thousands separators.
    value = absl::StrReplaceAll(value, {{",", "."}});
  }
  return value;
}

template <typename Enum>
bool ParseEnumName(absl::string_view text, absl::string_view prefix,
                   bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string name = absl::AsciiStrToUpper(text);
  absl::StrReplaceAll({{"-", "_"}, {" ", "_"}}, &name);
  if (!absl::StartsWith(name, prefix)) name = absl::StrCat(prefix, name);
  return parse(name, out) && !absl::EndsWith(name, "_UNSPECIFIED");
}

class RowReader {
 public:
  RowReader(const CsvTable& table, const CsvRow& row, bool decimal_comma,
            std::vector<RowError>& errors)
      : table_(table), row_(row), decimal_comma_(decimal_comma), errors_(errors) {}

  std::string Text(absl::string_view column) const { return table_.Get(row_, column); }
  bool Has(absl::string_view column) const { return !Text(column).empty(); }

  std::string Required(absl::string_view column) {
    std::string value = Text(column);
    if (value.empty()) Fail(column, "is required");
    return value;
  }

  double Number(absl::string_view column) {
    std::string text = Text(column);
    double value = 0;
    if (text.empty()) {
      Fail(column, "is required");
    } else if (!absl::SimpleAtod(NumberText(text, decimal_comma_), &value) ||
               !std::isfinite(value)) {
      Fail(column, absl::StrCat("'", text, "' is not a number"));
    }
    return value;
  }

  int64_t Integer(absl::string_view column) {
    std::string text = Text(column);
    int64_t value = 0;
    if (text.empty()) {
      Fail(column, "is required");
    } else if (!absl::SimpleAtoi(text, &value)) {
      Fail(column, absl::StrCat("'", text, "' is not a whole number"));
    }
    return value;
  }

  // An enum value by its short name ("RCT", "area-based"); `fallback` for
  // an empty cell that is not required.
  template <typename Enum>
  Enum EnumValue(absl::string_view column, absl::string_view prefix,
                 bool (*parse)(const std::string&, Enum*), absl::string_view allowed,
                 bool required, Enum fallback = Enum()) {
    const std::string text = required ? Required(column) : Text(column);
    if (text.empty()) return fallback;
    Enum value;
    if (ParseEnumName(text, prefix, parse, &value)) return value;
    Fail(column, absl::StrCat("'", text, "' is not ", allowed));
    return fallback;
  }

  void Fail(absl::string_view column, std::string message) {
    errors_.push_back(RowError{row_.line, std::string(column), std::move(message)});
    failed_ = true;
  }
  bool failed() const { return failed_; }

 private:
  const CsvTable& table_;
  const CsvRow& row_;
  bool decimal_comma_;
  std::vector<RowError>& errors_;
  bool failed_ = false;
};

}  // namespace

std::string RowRequestId(absl::string_view kind, const std::vector<std::string>& fields) {
  std::vector<std::string> trimmed;
  for (const std::string& field : fields) {
    trimmed.emplace_back(absl::StripAsciiWhitespace(field));
  }
  return absl::StrCat("csv-", kind, "-", Sha256Hex(absl::StrJoin(trimmed, "\x1f")).substr(0, 40));
}

v1::AttributeValue InferAttribute(absl::string_view value, bool decimal_comma) {
  v1::AttributeValue attribute;
  double number;
  std::string lower = absl::AsciiStrToLower(value);
  if (lower == "true" || lower == "false") {
    attribute.set_bool_value(lower == "true");
  } else if (absl::SimpleAtod(NumberText(value, decimal_comma), &number) && std::isfinite(number)) {
    attribute.set_number_value(number);
  } else {
    attribute.set_text_value(std::string(value));
  }
  return attribute;
}

namespace {

// Typed attributes from a row's non-empty cells: `attribute_of(column)` names
// the attribute a column holds, or is empty for columns that hold none.
void ReadAttributes(const CsvTable& table, const CsvRow& row, bool decimal_comma,
                    google::protobuf::Map<std::string, v1::AttributeValue>* attributes,
                    const std::function<std::string(const std::string&)>& attribute_of) {
  for (const std::string& column : table.header) {
    const std::string name = attribute_of(column);
    if (name.empty()) continue;
    const std::string value = table.Get(row, column);
    if (!value.empty()) (*attributes)[name] = InferAttribute(value, decimal_comma);
  }
}

}  // namespace

OutcomeImport OutcomeRequestsFromCsv(const CsvTable& table, bool decimal_comma) {
  OutcomeImport result;
  std::map<std::string, size_t> seen;  // request id -> line
  for (const CsvRow& row : table.rows) {
    RowReader reader(table, row, decimal_comma, result.errors);
    v1::CreateOutcomeRequest request;
    request.set_experiment_id(reader.Required("experiment_id"));
    v1::Outcome* outcome = request.mutable_outcome();
    outcome->set_id(reader.Text("outcome_id"));
    outcome->set_corrects_outcome_id(reader.Text("corrects_outcome_id"));
    outcome->set_indicator_id(reader.Required("indicator_id"));
    outcome->set_measured_on(reader.Required("measured_on"));
    outcome->set_design(reader.EnumValue("design", "STUDY_DESIGN_", &v1::StudyDesign_Parse,
                                         "RCT, QUASI_EXPERIMENTAL, PRE_POST or POST_ONLY",
                                         /*required=*/true, v1::STUDY_DESIGN_UNSPECIFIED));
    outcome->set_risk_of_bias(reader.EnumValue("risk_of_bias", "RISK_OF_BIAS_",
                                               &v1::RiskOfBias_Parse, "LOW, SOME_CONCERNS or HIGH",
                                               /*required=*/false, v1::RISK_OF_BIAS_UNSPECIFIED));
    if (reader.Has("follow_up_months")) {
      const int64_t months = reader.Integer("follow_up_months");
      // The server checks the range; a value beyond 32 bits must not wrap into it.
      if (months < std::numeric_limits<int32_t>::min() ||
          months > std::numeric_limits<int32_t>::max()) {
        reader.Fail("follow_up_months", "is out of range (0 .. 600)");
      } else {
        outcome->set_follow_up_months(static_cast<int32_t>(months));
      }
    }
    if (reader.Has("treatment_mean") || reader.Has("control_mean")) {
      auto* s = outcome->mutable_two_group_continuous();
      s->set_treatment_mean(reader.Number("treatment_mean"));
      s->set_treatment_sd(reader.Number("treatment_sd"));
      s->set_treatment_n(reader.Integer("treatment_n"));
      s->set_control_mean(reader.Number("control_mean"));
      s->set_control_sd(reader.Number("control_sd"));
      s->set_control_n(reader.Integer("control_n"));
    } else if (reader.Has("treatment_events") || reader.Has("control_events")) {
      auto* s = outcome->mutable_two_group_counts();
      s->set_treatment_events(reader.Integer("treatment_events"));
      s->set_treatment_total(reader.Integer("treatment_total"));
      s->set_control_events(reader.Integer("control_events"));
      s->set_control_total(reader.Integer("control_total"));
    } else if (reader.Has("pre_mean") || reader.Has("post_mean")) {
      auto* s = outcome->mutable_pre_post();
      s->set_pre_mean(reader.Number("pre_mean"));
      s->set_pre_sd(reader.Number("pre_sd"));
      s->set_post_mean(reader.Number("post_mean"));
      s->set_post_sd(reader.Number("post_sd"));
      s->set_n(reader.Integer("n"));
      s->set_pre_post_correlation(reader.Number("pre_post_correlation"));
    } else if (reader.Has("effect")) {
      auto* s = outcome->mutable_direct_effect();
      s->set_measure(absl::AsciiStrToUpper(reader.Required("measure")));
      s->set_effect(reader.Number("effect"));
      if (reader.Has("variance")) {
        s->set_variance(reader.Number("variance"));
      } else if (reader.Has("standard_error")) {
        s->set_standard_error(reader.Number("standard_error"));
      } else if (reader.Has("ci_lower") || reader.Has("ci_upper")) {
        s->mutable_ci95()->set_lower(reader.Number("ci_lower"));
        s->mutable_ci95()->set_upper(reader.Number("ci_upper"));
      } else {
        reader.Fail("variance", "give variance, standard_error or ci_lower and ci_upper");
      }
      if (reader.Has("total_n")) s->set_total_n(reader.Integer("total_n"));
    } else {
      reader.Fail("statistics",
                  "no statistics: fill the columns of one shape (means, counts, pre/post or "
                  "effect)");
    }
    if (reader.failed()) continue;
    request.set_request_id(RowRequestId("outcome", row.fields));
    auto [it, inserted] = seen.emplace(request.request_id(), row.line);
    if (!inserted) {
      result.errors.push_back(RowError{
          row.line, "", absl::StrCat("duplicate of line ", it->second, "; not imported twice")});
      continue;
    }
    result.requests.push_back(std::move(request));
    result.lines.push_back(row.line);
  }
  return result;
}

AreaImport AreaRequestsFromCsv(const CsvTable& table, bool decimal_comma) {
  AreaImport result;
  for (const CsvRow& row : table.rows) {
    RowReader reader(table, row, decimal_comma, result.errors);
    v1::PutAreaRequest request;
    v1::Area* area = request.mutable_area();
    area->set_code(absl::AsciiStrToUpper(reader.Required("code")));
    area->set_display_name(reader.Required("name"));
    ReadAttributes(table, row, decimal_comma, area->mutable_attributes(),
                   [](const std::string& column) {
                     return column == "code" || column == "name" ? std::string() : column;
                   });
    if (reader.failed()) continue;
    request.set_request_id(RowRequestId("area", row.fields));
    result.requests.push_back(std::move(request));
    result.lines.push_back(row.line);
  }
  return result;
}

ExperimentImport ExperimentRequestsFromCsv(const CsvTable& table, bool decimal_comma) {
  ExperimentImport result;
  for (const CsvRow& row : table.rows) {
    RowReader reader(table, row, decimal_comma, result.errors);
    v1::CreateExperimentRequest request;
    v1::Experiment* e = request.mutable_experiment();
    e->set_id(reader.Required("id"));
    e->set_kind(reader.EnumValue("kind", "EXPERIMENT_KIND_", &v1::ExperimentKind_Parse,
                                 "PROJECT or DEAL", /*required=*/true,
                                 v1::EXPERIMENT_KIND_UNSPECIFIED));
    e->set_title(reader.Required("title"));
    e->set_description(reader.Text("description"));
    e->set_work_method_id(reader.Required("work_method_id"));
    e->set_line(reader.EnumValue("line", "LINE_", &v1::Line_Parse, "AREA_BASED or CROSSOVER",
                                 /*required=*/true, v1::LINE_UNSPECIFIED));
    e->set_societal_task(reader.Text("societal_task"));
    if (reader.Has("area_code")) {
      e->mutable_area()->set_code(absl::AsciiStrToUpper(reader.Text("area_code")));
    }
    e->set_team_id(reader.Required("team_id"));
    for (absl::string_view partner : absl::StrSplit(reader.Text("partner_ids"), ';')) {
      partner = absl::StripAsciiWhitespace(partner);
      if (!partner.empty()) e->add_partner_ids(std::string(partner));
    }
    if (reader.Has("budget_cents")) e->set_budget_cents(reader.Integer("budget_cents"));
    e->set_planned_start(reader.Text("planned_start"));
    e->set_planned_end(reader.Text("planned_end"));
    e->set_parent_experiment_id(reader.Text("parent_experiment_id"));
    ReadAttributes(table, row, decimal_comma, e->mutable_context(), [](const std::string& column) {
      return absl::StartsWith(column, "context.") ? column.substr(8) : std::string();
    });
    const v1::ExperimentStatus status_value = reader.EnumValue(
        "status", "EXPERIMENT_STATUS_", &v1::ExperimentStatus_Parse,
        "DESIGNED, RUNNING, EVALUATING, CONCLUDED or WITHDRAWN", /*required=*/false,
        v1::EXPERIMENT_STATUS_DESIGNED);
    if (reader.failed()) continue;
    request.set_request_id(RowRequestId("experiment", row.fields));
    v1::StartExperimentRequest& start = result.starts.emplace_back();
    if (status_value != v1::EXPERIMENT_STATUS_DESIGNED) {
      start.set_id(e->id());
      start.set_request_id(RowRequestId("experiment-start", row.fields));
    }
    result.requests.push_back(std::move(request));
    result.lines.push_back(row.line);
  }
  return result;
}

}  // namespace leerlus::client
