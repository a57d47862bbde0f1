#include "client/export.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/output.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace leerlus::client {
namespace {

Cell Text(const std::string& text) {
  if (text.empty()) return std::monostate{};
  return text;
}

Cell Integer(int64_t value) { return value; }

Cell AttributeCell(const v1::AttributeValue& value) {
  switch (value.kind_case()) {
    case v1::AttributeValue::kTextValue: return Text(value.text_value());
    case v1::AttributeValue::kNumberValue: return value.number_value();
    case v1::AttributeValue::kBoolValue: return value.bool_value();
    default: return std::monostate{};
  }
}

// "RUNNING" for EXPERIMENT_STATUS_RUNNING: the short names the CLI, the
// filters and the importers use.
template <typename Enum>
Cell EnumCell(Enum value, absl::string_view prefix) {
  if (static_cast<int>(value) == 0) return std::monostate{};
  const auto* descriptor =
      google::protobuf::GetEnumDescriptor<Enum>()->FindValueByNumber(static_cast<int>(value));
  if (descriptor == nullptr) return absl::StrCat(static_cast<int>(value));
  const std::string& full = descriptor->name();
  return full.substr(std::min(full.size(), prefix.size()));
}

// The experiment's context as columns (it holds the area's attributes as
// they were at registration).
void AddContext(const v1::Experiment& experiment, std::map<std::string, Cell>& row) {
  for (const auto& [name, value] : experiment.context()) row["context." + name] = AttributeCell(value);
}

// The columns of `columns`, then every other column met, in name order.
void CompleteColumns(FlatTable& table) {
  std::set<std::string> fixed(table.columns.begin(), table.columns.end());
  std::set<std::string> extra;
  for (const auto& row : table.rows) {
    for (const auto& [name, cell] : row) {
      if (!fixed.count(name)) extra.insert(name);
    }
  }
  table.columns.insert(table.columns.end(), extra.begin(), extra.end());
}

// (experiment id, outcome id) -> the study what-works pooled, or why not.
struct EffectIndex {
  std::map<std::pair<std::string, std::string>, const v1::StudyEffect*> studies;
  std::map<std::pair<std::string, std::string>, const v1::MethodResult*> methods;
  std::map<std::pair<std::string, std::string>, std::string> excluded;
  std::map<std::pair<std::string, std::string>, v1::EffectMeasure> measure;

  explicit EffectIndex(const std::vector<v1::WhatWorksResponse>& answers) {
    for (const v1::WhatWorksResponse& answer : answers) {
      for (const v1::MethodResult& method : answer.methods()) {
        for (const v1::StudyEffect& study : method.studies()) {
          studies[{study.experiment_id(), study.outcome_id()}] = &study;
          methods[{study.experiment_id(), study.outcome_id()}] = &method;
        }
        for (const v1::ExcludedOutcome& left_out : method.excluded()) {
          excluded[{left_out.experiment_id(), left_out.outcome_id()}] = left_out.reason();
        }
      }
    }
  }
};

// The outcome's statistics in the columns `outcome import` reads for its
// shape.
void AddStatistics(const v1::Outcome& o, std::map<std::string, Cell>& row) {
  switch (o.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous: {
      const auto& s = o.two_group_continuous();
      row["treatment_mean"] = s.treatment_mean();
      row["treatment_sd"] = s.treatment_sd();
      row["treatment_n"] = Integer(s.treatment_n());
      row["control_mean"] = s.control_mean();
      row["control_sd"] = s.control_sd();
      row["control_n"] = Integer(s.control_n());
      break;
    }
    case v1::Outcome::kTwoGroupCounts: {
      const auto& s = o.two_group_counts();
      row["treatment_events"] = Integer(s.treatment_events());
      row["treatment_total"] = Integer(s.treatment_total());
      row["control_events"] = Integer(s.control_events());
      row["control_total"] = Integer(s.control_total());
      break;
    }
    case v1::Outcome::kPrePost: {
      const auto& s = o.pre_post();
      row["pre_mean"] = s.pre_mean();
      row["pre_sd"] = s.pre_sd();
      row["post_mean"] = s.post_mean();
      row["post_sd"] = s.post_sd();
      row["n"] = Integer(s.n());
      row["pre_post_correlation"] = s.pre_post_correlation();
      break;
    }
    case v1::Outcome::kDirectEffect: {
      const auto& s = o.direct_effect();
      row["measure"] = Text(s.measure());
      row["effect"] = s.effect();
      if (s.has_variance()) row["variance"] = s.variance();
      if (s.has_standard_error()) row["standard_error"] = s.standard_error();
      if (s.has_ci95()) {
        row["ci_lower"] = s.ci95().lower();
        row["ci_upper"] = s.ci95().upper();
      }
      if (s.total_n() != 0) row["total_n"] = Integer(s.total_n());
      break;
    }
    default: break;
  }
}

Cell MeasureUsed(const v1::MethodResult& method) {
  return EnumCell(method.pooled().measure(), "EFFECT_MEASURE_");
}

std::string CsvCell(const Cell& cell) {
  return std::visit(
      [](const auto& value) -> std::string {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return CsvField(value);
        } else if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          return ExactNumber(value);
        } else {
          return absl::StrCat(value);
        }
      },
      cell);
}

}  // namespace

grpc::Status FetchExperiments(Client& api, const std::string& filter,
                              std::vector<v1::Experiment>* experiments) {
  grpc::Status status = ForEachListedExperiment(api, filter, [&](const v1::Experiment& listed) {
    v1::GetExperimentRequest get;
    get.set_id(listed.id());
    v1::GetExperimentResponse got;
    grpc::Status got_status = GetWholeExperiment(api, get, &got);
    if (got_status.ok()) experiments->push_back(std::move(*got.mutable_experiment()));
    return got_status;
  });
  if (!status.ok()) return status;
  std::sort(experiments->begin(), experiments->end(),
            [](const v1::Experiment& a, const v1::Experiment& b) {
              return a.create_position() < b.create_position();
            });
  return grpc::Status::OK;
}

grpc::Status FetchEffects(Client& api, const std::string& indicator_id, const std::string& filter,
                          std::vector<v1::WhatWorksResponse>* answers) {
  std::vector<std::string> indicators;
  if (!indicator_id.empty()) {
    indicators.push_back(indicator_id);
  } else {
    v1::ListIndicatorsRequest list;
    list.set_page_size(1000);
    do {
      v1::ListIndicatorsResponse page;
      grpc::Status status =
          api.Call(&v1::CatalogService::Stub::ListIndicators, api.catalog(), list, &page);
      if (!status.ok()) return status;
      for (const v1::Indicator& indicator : page.indicators()) indicators.push_back(indicator.id());
      list.set_page_token(page.next_page_token());
    } while (!list.page_token().empty());
  }
  for (const std::string& indicator : indicators) {
    v1::WhatWorksRequest request;
    request.set_indicator_id(indicator);
    request.set_filter(filter);
    grpc::Status status = api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), request,
                                   &answers->emplace_back());
    if (!status.ok()) return status;
  }
  return grpc::Status::OK;
}

FlatTable ExperimentsTable(const std::vector<v1::Experiment>& experiments) {
  FlatTable table;
  table.columns = {"id",           "kind",           "title",         "description",
                   "work_method_id", "line",         "societal_task", "area_code",
                   "area_level",   "team_id",        "partner_ids",   "budget_cents",
                   "planned_start", "planned_end",   "parent_experiment_id",
                   "status",       "decision",       "decision_rationale",
                   "hypotheses",   "outcomes",       "lessons",       "version",
                   "create_time",  "update_time",    "create_position"};
  for (const v1::Experiment& e : experiments) {
    auto& row = table.rows.emplace_back();
    row["id"] = Text(e.id());
    row["kind"] = EnumCell(e.kind(), "EXPERIMENT_KIND_");
    row["title"] = Text(e.title());
    row["description"] = Text(e.description());
    row["work_method_id"] = Text(e.work_method_id());
    row["line"] = EnumCell(e.line(), "LINE_");
    row["societal_task"] = Text(e.societal_task());
    row["area_code"] = Text(e.area().code());
    row["area_level"] = EnumCell(e.area().level(), "AREA_LEVEL_");
    row["team_id"] = Text(e.team_id());
    row["partner_ids"] = Text(absl::StrJoin(e.partner_ids(), ";"));
    if (e.budget_cents() != 0) row["budget_cents"] = Integer(e.budget_cents());
    row["planned_start"] = Text(e.planned_start());
    row["planned_end"] = Text(e.planned_end());
    row["parent_experiment_id"] = Text(e.parent_experiment_id());
    row["status"] = EnumCell(e.status(), "EXPERIMENT_STATUS_");
    row["decision"] = EnumCell(e.decision(), "DECISION_");
    row["decision_rationale"] = Text(e.decision_rationale());
    row["hypotheses"] = Integer(e.hypotheses_size());
    row["outcomes"] = Integer(e.outcomes_size());
    row["lessons"] = Integer(e.lessons_size());
    row["version"] = Integer(static_cast<int64_t>(e.version()));
    if (e.has_create_time()) {
      row["create_time"] = google::protobuf::util::TimeUtil::ToString(e.create_time());
    }
    if (e.has_update_time()) {
      row["update_time"] = google::protobuf::util::TimeUtil::ToString(e.update_time());
    }
    row["create_position"] = Integer(static_cast<int64_t>(e.create_position()));
    AddContext(e, row);
  }
  CompleteColumns(table);
  return table;
}

FlatTable OutcomesTable(const std::vector<v1::Experiment>& experiments,
                        const std::vector<v1::WhatWorksResponse>& answers, bool include_retracted) {
  const EffectIndex effects(answers);
  FlatTable table;
  table.columns = {"experiment_id",
                   "outcome_id",
                   "indicator_id",
                   "measured_on",
                   "design",
                   "risk_of_bias",
                   "follow_up_months",
                   "treatment_mean",
                   "treatment_sd",
                   "treatment_n",
                   "control_mean",
                   "control_sd",
                   "control_n",
                   "treatment_events",
                   "treatment_total",
                   "control_events",
                   "control_total",
                   "pre_mean",
                   "pre_sd",
                   "post_mean",
                   "post_sd",
                   "n",
                   "pre_post_correlation",
                   "measure",
                   "effect",
                   "variance",
                   "standard_error",
                   "ci_lower",
                   "ci_upper",
                   "total_n",
                   "work_method_id",
                   "measure_used",
                   "yi",
                   "vi",
                   "excluded_reason"};
  if (include_retracted) {
    for (const char* column : {"corrects_outcome_id", "retracted", "retraction_reason"}) {
      table.columns.push_back(column);
    }
  }
  for (const v1::Experiment& e : experiments) {
    for (const v1::Outcome& o : e.outcomes()) {
      if (o.retracted() && !include_retracted) continue;
      auto& row = table.rows.emplace_back();
      row["experiment_id"] = Text(e.id());
      row["outcome_id"] = Text(o.id());
      row["indicator_id"] = Text(o.indicator_id());
      row["measured_on"] = Text(o.measured_on());
      row["design"] = EnumCell(o.design(), "STUDY_DESIGN_");
      row["risk_of_bias"] = EnumCell(o.risk_of_bias(), "RISK_OF_BIAS_");
      if (o.follow_up_months() > 0) row["follow_up_months"] = o.follow_up_months();
      AddStatistics(o, row);
      row["work_method_id"] = Text(e.work_method_id());
      const std::pair<std::string, std::string> key{e.id(), o.id()};
      if (auto study = effects.studies.find(key); study != effects.studies.end()) {
        row["measure_used"] = MeasureUsed(*effects.methods.at(key));
        row["yi"] = study->second->effect();
        row["vi"] = study->second->variance();
      } else if (auto left_out = effects.excluded.find(key); left_out != effects.excluded.end()) {
        row["excluded_reason"] = Text(left_out->second);
      }
      if (include_retracted) {
        row["corrects_outcome_id"] = Text(o.corrects_outcome_id());
        row["retracted"] = o.retracted();
        row["retraction_reason"] = Text(o.retraction_reason());
      }
      AddContext(e, row);
    }
  }
  CompleteColumns(table);
  return table;
}

FlatTable EffectsTable(const std::vector<v1::Experiment>& experiments,
                       const std::vector<v1::WhatWorksResponse>& answers) {
  std::map<std::string, const v1::Experiment*> by_id;
  for (const v1::Experiment& e : experiments) by_id[e.id()] = &e;
  FlatTable table;
  table.columns = {"indicator_id", "work_method_id", "experiment_id", "outcome_id", "title",
                   "area_code", "design", "measure_used", "yi", "vi", "ci_lower", "ci_upper",
                   "weight_percent", "participants"};
  for (const v1::WhatWorksResponse& answer : answers) {
    for (const v1::MethodResult& method : answer.methods()) {
      for (const v1::StudyEffect& study : method.studies()) {
        auto& row = table.rows.emplace_back();
        row["indicator_id"] = Text(answer.indicator_id());
        row["work_method_id"] = Text(method.work_method_id());
        row["experiment_id"] = Text(study.experiment_id());
        row["outcome_id"] = Text(study.outcome_id());
        row["title"] = Text(study.title());
        row["area_code"] = Text(study.area_code());
        row["design"] = EnumCell(study.design(), "STUDY_DESIGN_");
        row["measure_used"] = MeasureUsed(method);
        row["yi"] = study.effect();
        row["vi"] = study.variance();
        row["ci_lower"] = study.ci_lower();
        row["ci_upper"] = study.ci_upper();
        row["weight_percent"] = study.weight_percent();
        if (study.participants() != 0) row["participants"] = Integer(study.participants());
        if (auto e = by_id.find(study.experiment_id()); e != by_id.end()) {
          AddContext(*e->second, row);
        }
      }
    }
  }
  CompleteColumns(table);
  return table;
}

void WriteCsv(const FlatTable& table, std::ostream& out) {
  std::vector<std::string> header;
  for (const std::string& column : table.columns) header.push_back(CsvField(column));
  out << absl::StrJoin(header, ",") << "\n";
  for (const auto& row : table.rows) {
    std::vector<std::string> cells;
    cells.reserve(table.columns.size());
    for (const std::string& column : table.columns) {
      auto cell = row.find(column);
      cells.push_back(cell == row.end() ? "" : CsvCell(cell->second));
    }
    out << absl::StrJoin(cells, ",") << "\n";
  }
}

void WriteJson(const FlatTable& table, std::ostream& out) {
  // protobuf's JSON mapping writes the array (numbers round-trip exactly).
  google::protobuf::ListValue list;
  for (const auto& row : table.rows) {
    google::protobuf::Struct* object = list.add_values()->mutable_struct_value();
    for (const std::string& column : table.columns) {
      auto cell = row.find(column);
      if (cell == row.end()) continue;
      google::protobuf::Value& value = (*object->mutable_fields())[column];
      std::visit(
          [&value](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
              value.set_string_value(v);
            } else if constexpr (std::is_same_v<T, bool>) {
              value.set_bool_value(v);
            } else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
              value.set_number_value(static_cast<double>(v));
            }
          },
          cell->second);
      if (value.kind_case() == google::protobuf::Value::KIND_NOT_SET) {
        object->mutable_fields()->erase(column);
      }
    }
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(list, &json, options);
  out << json;
}

}  // namespace leerlus::client
