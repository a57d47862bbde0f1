// Insight answers as leerlus prints them: text tables for people, CSV for
// spreadsheets where the answer is a table, and otherwise protobuf's JSON
// (client/output.h), for `what-works`, `scorecard`, `what-changed`,
// `conditions` and `contribution`.
#ifndef LEERLUS_CLIENT_COMMANDS_INSIGHT_TEXT_H_
#define LEERLUS_CLIENT_COMMANDS_INSIGHT_TEXT_H_

#include <ostream>
#include <string>

#include "client/output.h"
#include "leerlus/v1/insight_service.pb.h"

namespace leerlus::cli {

// One line per work method (with `show_studies`, its grade reasons, studies
// and left-out outcomes under it); CSV the same; JSON the full answer.
void RenderWhatWorks(const v1::WhatWorksResponse& response, client::OutputFormat format,
                     bool show_studies, std::ostream& out);

// Subgroups or a meta-regression for one method (`method`, empty: all).
void RenderConditions(const v1::CompareConditionsResponse& response, const std::string& method,
                      client::OutputFormat format, std::ostream& out);

// Counts of verdicts per method (with `details`, every hypothesis).
void RenderScorecard(const v1::ScorecardResponse& response, client::OutputFormat format,
                     bool details, std::ostream& out);

// Each pooled result that moved, before and after.
void RenderWhatChanged(const v1::WhatChangedResponse& response, client::OutputFormat format,
                       std::ostream& out);

// The conditions that moderate the method and indicator `request` names.
void RenderDiscoveredConditions(const v1::DiscoverConditionsRequest& request,
                                const v1::DiscoverConditionsResponse& response,
                                client::OutputFormat format, std::ostream& out);

// Per resource domain, the methods that move it and their cost.
void RenderContribution(const v1::ContributionResponse& response, client::OutputFormat format,
                        std::ostream& out);

}  // namespace leerlus::cli

#endif  // LEERLUS_CLIENT_COMMANDS_INSIGHT_TEXT_H_
