// what-works, scorecard, what-changed, conditions, contribution: the
// questions the learning loop answers from the recorded outcomes.
#include <memory>
#include <string>
#include <vector>

#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "client/commands/insight_text.h"

namespace leerlus::cli {
namespace {

// `what-works --by`: one comparison per method asked for (or one across all
// methods), each with the what-works request's choices.
int CompareByCondition(client::Client& api, client::OutputFormat format,
                       const v1::WhatWorksRequest& request, const std::string& by,
                       int32_t min_experiments) {
  std::vector<std::string> methods(request.work_method_ids().begin(),
                                   request.work_method_ids().end());
  if (methods.empty()) methods.push_back("");
  for (const std::string& method : methods) {
    v1::CompareConditionsRequest compare;
    compare.set_indicator_id(request.indicator_id());
    compare.set_work_method_id(method);
    compare.set_condition(by);
    compare.set_filter(request.filter());
    compare.set_measure(request.measure());
    compare.set_model(request.model());
    compare.set_test(request.test());
    compare.set_min_experiments_per_level(min_experiments);
    compare.set_as_of_position(request.as_of_position());
    compare.set_as_of_date(request.as_of_date());
    v1::CompareConditionsResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::CompareConditions,
                                    api.insights(), compare, &response);
        code != 0)
      return code;
    RenderConditions(response, method, format, std::cout);
  }
  return 0;
}

void AddScorecardCommand(CLI::App& app, CommandContext& ctx) {
  auto* scorecard = app.add_subcommand(
      "scorecard", "hypotheses supported, refuted and inconclusive per work method");
  auto request = std::make_shared<v1::ScorecardRequest>();
  auto details = std::make_shared<bool>(false);
  scorecard->add_option("--method", *request->mutable_work_method_id(), "only this work method");
  scorecard->add_option("--filter", *request->mutable_filter(),
                        "only experiments matching this filter");
  scorecard->add_flag_function(
      "--post-hoc", [request](int64_t count) { request->set_include_post_hoc(count > 0); },
      "also judge hypotheses registered after the start");
  scorecard->add_flag("--details", *details, "list every hypothesis with its verdict and reason");
  auto as_of = std::make_shared<std::string>();
  scorecard->add_option("--as-of", *as_of, "as of a log position or a date YYYY-MM-DD");
  ctx.OnRun(scorecard, [&ctx, request, details, as_of](client::Client& api) {
    SetAsOf(*request, *as_of);
    v1::ScorecardResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::Scorecard, api.insights(),
                                    *request, &response);
        code != 0)
      return code;
    RenderScorecard(response, ctx.format(), *details, std::cout);
    return 0;
  });
}

void AddWhatChangedCommand(CLI::App& app, CommandContext& ctx) {
  auto* what_changed =
      app.add_subcommand("what-changed", "which answers moved since an earlier moment");
  auto request = std::make_shared<v1::WhatChangedRequest>();
  auto since = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  auto measure = std::make_shared<std::string>();
  what_changed
      ->add_option("--since", *since, "the earlier moment: a log position or a date YYYY-MM-DD")
      ->required();
  what_changed->add_option("--until", *until, "the later moment (default: now)");
  what_changed->add_option("--indicator", *request->mutable_indicator_id(), "only this indicator");
  what_changed->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
  auto test = AddTestOption(what_changed);
  ctx.OnRun(what_changed, [&ctx, request, since, until, measure, test](client::Client& api) {
    const AsOf from = ParseAsOf(*since);
    const AsOf to = ParseAsOf(*until);
    request->set_since_position(from.position);
    request->set_since_date(from.date);
    request->set_until_position(to.position);
    request->set_until_date(to.date);
    request->set_measure(ParseMeasure(*measure));
    request->set_test(ParseTest(*test));
    v1::WhatChangedResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::WhatChanged, api.insights(),
                                    *request, &response);
        code != 0)
      return code;
    RenderWhatChanged(response, ctx.format(), std::cout);
    return 0;
  });
}

void AddConditionsCommand(CLI::App& app, CommandContext& ctx) {
  auto* conditions =
      app.add_subcommand("conditions", "which conditions explain how well a work method works");
  auto request = std::make_shared<v1::DiscoverConditionsRequest>();
  auto measure = std::make_shared<std::string>();
  auto as_of = std::make_shared<std::string>();
  conditions->add_option("--method", *request->mutable_work_method_id())->required();
  conditions->add_option("--indicator", *request->mutable_indicator_id())->required();
  conditions->add_option("--filter", *request->mutable_filter(),
                         "only experiments matching this filter");
  conditions->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
  conditions->add_option_function<int32_t>(
      "--min-experiments",
      [request](const int32_t& v) { request->set_min_experiments_per_level(v); },
      "levels with fewer experiments are left out (default 2)");
  conditions->add_option_function<int32_t>(
      "--top", [request](const int32_t& v) { request->set_max_results(v); },
      "most conditions shown (default 10)");
  conditions->add_option("--as-of", *as_of, "as of a log position or a date YYYY-MM-DD");
  auto test = AddTestOption(conditions);
  ctx.OnRun(conditions, [&ctx, request, measure, as_of, test](client::Client& api) {
    SetAsOf(*request, *as_of);
    request->set_measure(ParseMeasure(*measure));
    request->set_test(ParseTest(*test));
    v1::DiscoverConditionsResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::DiscoverConditions,
                                    api.insights(), *request, &response);
        code != 0)
      return code;
    RenderDiscoveredConditions(*request, response, ctx.format(), std::cout);
    return 0;
  });
}

void AddContributionCommand(CLI::App& app, CommandContext& ctx) {
  auto* contribution = app.add_subcommand(
      "contribution", "per resource domain, which work methods move it, and at what cost");
  auto request = std::make_shared<v1::ContributionRequest>();
  auto as_of = std::make_shared<std::string>();
  contribution->add_option("--as-of", *as_of, "as of a log position or a date YYYY-MM-DD");
  auto test = AddTestOption(contribution);
  ctx.OnRun(contribution, [&ctx, request, as_of, test](client::Client& api) {
    SetAsOf(*request, *as_of);
    request->set_test(ParseTest(*test));
    v1::ContributionResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::Contribution, api.insights(),
                                    *request, &response);
        code != 0)
      return code;
    RenderContribution(response, ctx.format(), std::cout);
    return 0;
  });
}

}  // namespace

void AddWhatWorksCommand(CLI::App& app, CommandContext& ctx) {
  auto* what_works =
      app.add_subcommand("what-works", "pool the outcomes of an indicator per work method");
  auto request = std::make_shared<v1::WhatWorksRequest>();
  auto measure = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  auto show_studies = std::make_shared<bool>(false);
  what_works->add_option("--indicator", *request->mutable_indicator_id())->required();
  what_works->add_option_function<std::vector<std::string>>(
      "--method",
      [request](const std::vector<std::string>& v) {
        for (const auto& id : v) request->add_work_method_ids(id);
      },
      "only this work method (repeatable)");
  what_works->add_option("--filter", *request->mutable_filter(),
                         "only experiments matching this filter");
  what_works->add_option("--measure", *measure, "smd (default), md, rr, or, rd or smcc");
  what_works->add_option("--model", *model, "reml (default), dl or fe");
  auto test = AddTestOption(what_works);
  what_works->add_flag("--studies", *show_studies,
                       "list every experiment's effect (the forest plot rows)");
  what_works->add_flag_function(
      "--preregistered-only",
      [request](int64_t count) { request->set_preregistered_only(count > 0); },
      "only experiments that pre-registered a hypothesis on the indicator");
  auto by = std::make_shared<std::string>();
  auto min_experiments = std::make_shared<int32_t>(0);
  auto as_of = std::make_shared<std::string>();
  what_works->add_option("--as-of", *as_of, "answer as of a log position or a date YYYY-MM-DD");
  what_works->add_option("--by", *by,
                         "compare by a condition: line, kind, societal_task, area_level, design, "
                         "team, method or context.<attr> (numbers: meta-regression)");
  what_works->add_option("--min-experiments", *min_experiments,
                         "with --by: levels with fewer experiments are left out (default 2)");
  ctx.OnRun(what_works, [&ctx, request, measure, model, test, show_studies, by, min_experiments,
                         as_of](client::Client& api) {
    SetAsOf(*request, *as_of);
    request->set_measure(ParseMeasure(*measure));
    request->set_model(
        RequireEnum("--model", *model, "POOLING_MODEL_", &v1::PoolingModel_Parse, "reml, dl, fe"));
    request->set_test(ParseTest(*test));
    if (!by->empty()) return CompareByCondition(api, ctx.format(), *request, *by, *min_experiments);
    v1::WhatWorksResponse response;
    if (int code = CallOrPrintError(api, &v1::InsightService::Stub::WhatWorks, api.insights(),
                                    *request, &response);
        code != 0)
      return code;
    RenderWhatWorks(response, ctx.format(), *show_studies, std::cout);
    return 0;
  });
}

void AddInsightCommands(CLI::App& app, CommandContext& ctx) {
  AddScorecardCommand(app, ctx);
  AddWhatChangedCommand(app, ctx);
  AddConditionsCommand(app, ctx);
  AddContributionCommand(app, ctx);
}

}  // namespace leerlus::cli
