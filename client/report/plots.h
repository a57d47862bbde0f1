// The report's plots as ForestPlots: a forest plot per work method and the
// subgroups of the condition compared. Internal to leerlus_report.
#ifndef LEERLUS_CLIENT_REPORT_PLOTS_H_
#define LEERLUS_CLIENT_REPORT_PLOTS_H_

#include <string>

#include "client/report/report.h"
#include "client/report/svg_plot.h"

namespace leerlus::client::report_internal {

// A study per row (square and line), then the pooled result (diamond, with
// its prediction interval).
ForestPlot MethodForestPlot(const ReportData& data, const v1::MethodResult& method);

// Subgroup diamonds side by side, for a categorical condition.
ForestPlot SubgroupPlot(const ReportData& data, const std::string& method_name,
                        const std::string& condition,
                        const google::protobuf::RepeatedPtrField<v1::Subgroup>& subgroups);

// The condition a method's conditions plot shows: the one asked for, or the
// top discovered categorical one. Null when there is none to draw.
struct ConditionsPlot {
  std::string condition;
  const google::protobuf::RepeatedPtrField<v1::Subgroup>* subgroups = nullptr;
};

ConditionsPlot ConditionsPlotFor(const ReportData& data, const std::string& method_id);

}  // namespace leerlus::client::report_internal

#endif  // LEERLUS_CLIENT_REPORT_PLOTS_H_
