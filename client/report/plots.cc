#include "client/report/plots.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/output.h"
#include "client/report/labels.h"

namespace leerlus::client {
namespace report_internal {
namespace {

// "better: Eenzaamheid lower" on the right of the axis, "worse: ... higher"
// on the left: the axis in the indicator's own terms.
void LabelSides(const ReportData& data, const Labels& l, ForestPlot& plot) {
  const bool lower_is_better =
      data.indicator.better_direction() == v1::BETTER_DIRECTION_LOWER;
  const std::string name = IndicatorName(data);
  plot.better_label = absl::StrCat(l.better, ": ", name, " ", lower_is_better ? l.lower : l.higher);
  plot.worse_label = absl::StrCat(l.worse, ": ", name, " ", lower_is_better ? l.higher : l.lower);
}

}  // namespace

ForestPlot MethodForestPlot(const ReportData& data, const v1::MethodResult& method) {
  const Labels& l = LabelsFor(data.options.language);
  ForestPlot plot;
  plot.title = method.work_method_name().empty() ? method.work_method_id()
                                                 : method.work_method_name();
  plot.label_header = l.experiment;
  plot.detail_header = l.area_design;
  plot.estimate_header = l.effect_ci;
  plot.weight_header = l.weight;
  const v1::PooledResult& pooled = method.pooled();
  plot.axis_label = Printf(l.axis, MeasureShort(pooled.measure()));
  LabelSides(data, l, plot);
  plot.decimal_separator = l.decimal;
  for (const v1::StudyEffect& study : method.studies()) {
    ForestRow row;
    row.label = study.title().empty() ? study.experiment_id() : study.title();
    row.detail = absl::StrJoin(
        {study.area_code(), std::string(DesignName(study.design(), l))}, ", ");
    row.estimate = study.effect();
    row.ci_lower = study.ci_lower();
    row.ci_upper = study.ci_upper();
    row.weight_percent = study.weight_percent();
    row.data = {{"experiment", study.experiment_id()}, {"outcome", study.outcome_id()},
                {"effect", ExactNumber(study.effect())},
                {"variance", ExactNumber(study.variance())},
                {"ci-lower", ExactNumber(study.ci_lower())},
                {"ci-upper", ExactNumber(study.ci_upper())},
                {"weight", ExactNumber(study.weight_percent())}};
    plot.rows.push_back(std::move(row));
  }
  if (method.has_pooled()) {
    ForestRow row;
    row.label = absl::StrReplaceAll(l.pooled,
                                    {{"%s", ModelName(pooled)}, {"%d", absl::StrCat(pooled.k())}});
    row.detail = absl::StrCat("I\u00b2 = ", Num(pooled.i2(), 1, l), "%");
    row.estimate = pooled.estimate();
    row.ci_lower = pooled.ci_lower();
    row.ci_upper = pooled.ci_upper();
    row.pooled = true;
    row.rule_above = true;
    row.has_prediction = pooled.model() != v1::POOLING_MODEL_FE;
    row.pi_lower = pooled.pi_lower();
    row.pi_upper = pooled.pi_upper();
    row.css_class = "pooled";
    row.data = {{"estimate", ExactNumber(pooled.estimate())},
                {"ci-lower", ExactNumber(pooled.ci_lower())},
                {"ci-upper", ExactNumber(pooled.ci_upper())},
                {"pi-lower", ExactNumber(pooled.pi_lower())},
                {"pi-upper", ExactNumber(pooled.pi_upper())},
                {"k", absl::StrCat(pooled.k())}};
    plot.rows.push_back(std::move(row));
  }
  return plot;
}

ForestPlot SubgroupPlot(const ReportData& data, const std::string& method_name,
                        const std::string& condition,
                        const google::protobuf::RepeatedPtrField<v1::Subgroup>& subgroups) {
  const Labels& l = LabelsFor(data.options.language);
  ForestPlot plot;
  plot.title = absl::StrCat(method_name, ": ", ConditionName(condition));
  plot.label_header = l.level;
  plot.detail_header = l.experiments_pooled;
  plot.estimate_header = l.effect_ci;
  plot.axis_label = Printf(
      l.axis, MeasureShort(subgroups.empty() ? v1::EFFECT_MEASURE_SMD
                                             : subgroups.begin()->pooled().measure()));
  LabelSides(data, l, plot);
  plot.decimal_separator = l.decimal;
  for (const v1::Subgroup& subgroup : subgroups) {
    ForestRow row;
    row.label = subgroup.level();
    row.detail = absl::StrCat("k = ", subgroup.pooled().k());
    row.estimate = subgroup.pooled().estimate();
    row.ci_lower = subgroup.pooled().ci_lower();
    row.ci_upper = subgroup.pooled().ci_upper();
    row.pooled = true;
    row.css_class = "subgroup";
    row.data = {{"level", subgroup.level()},
                {"estimate", ExactNumber(subgroup.pooled().estimate())},
                {"ci-lower", ExactNumber(subgroup.pooled().ci_lower())},
                {"ci-upper", ExactNumber(subgroup.pooled().ci_upper())}};
    plot.rows.push_back(std::move(row));
  }
  return plot;
}

ConditionsPlot ConditionsPlotFor(const ReportData& data, const std::string& method_id) {
  if (auto it = data.compared.find(method_id); it != data.compared.end()) {
    if (!it->second.numeric() && !it->second.subgroups().empty()) {
      return {it->second.condition(), &it->second.subgroups()};
    }
    return {};
  }
  if (auto it = data.discovered.find(method_id); it != data.discovered.end()) {
    for (const v1::DiscoveredCondition& found : it->second.conditions()) {
      if (!found.numeric() && !found.subgroups().empty()) {
        return {found.condition(), &found.subgroups()};
      }
    }
  }
  return {};
}

}  // namespace report_internal

std::map<std::string, std::string> RenderReportSvgs(const ReportData& data) {
  std::map<std::string, std::string> files;
  for (const v1::MethodResult& method : data.what_works.methods()) {
    if (!method.has_pooled()) continue;
    const std::string slug = report_internal::Slug(method.work_method_id());
    files[absl::StrCat("forest-", slug, ".svg")] =
        absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                     RenderForestPlot(report_internal::MethodForestPlot(data, method)));
    report_internal::ConditionsPlot plot =
        report_internal::ConditionsPlotFor(data, method.work_method_id());
    if (plot.subgroups != nullptr) {
      files[absl::StrCat("conditions-", slug, ".svg")] = absl::StrCat(
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
          RenderForestPlot(report_internal::SubgroupPlot(data, method.work_method_name(),
                                                         plot.condition, *plot.subgroups)));
    }
  }
  return files;
}

}  // namespace leerlus::client
