// experiment, hypothesis: registering experiments and moving them through
// their lifecycle (DESIGNED -> RUNNING -> EVALUATING -> CONCLUDED).
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "client/commands/import.h"

namespace leerlus::cli {
namespace {

void AddCreate(CLI::App* experiment, CommandContext& ctx) {
  auto* create = experiment->add_subcommand("create", "register an experiment (DESIGNED)");
  auto request = std::make_shared<v1::CreateExperimentRequest>();
  auto strings = std::make_shared<std::map<std::string, std::string>>();
  auto context = std::make_shared<std::vector<std::string>>();
  auto context_text = std::make_shared<std::vector<std::string>>();
  auto* e = request->mutable_experiment();
  create->add_option("--id", *e->mutable_id(), "stable id")->required();
  create->add_option("--kind", (*strings)["kind"], "project or deal")->required();
  create->add_option("--title", *e->mutable_title())->required();
  create->add_option("--description", *e->mutable_description());
  create->add_option("--method", *e->mutable_work_method_id(), "work method id")->required();
  create->add_option("--line", (*strings)["line"], "area-based or crossover")->required();
  create->add_option("--societal-task", *e->mutable_societal_task(), "required for crossovers");
  create->add_option("--area", (*strings)["area"], "CBS code of an area in the catalogue");
  create->add_option("--team", *e->mutable_team_id(), "owning team id")->required();
  create->add_option_function<std::vector<std::string>>(
      "--partner",
      [e](const std::vector<std::string>& v) {
        for (const auto& id : v) e->add_partner_ids(id);
      },
      "partner id (repeatable)");
  create->add_option_function<int64_t>(
      "--budget-cents", [e](const int64_t& v) { e->set_budget_cents(v); }, "budget in euro cents");
  create->add_option("--start", *e->mutable_planned_start(), "planned start YYYY-MM-DD");
  create->add_option("--end", *e->mutable_planned_end(), "planned end YYYY-MM-DD");
  create->add_option("--context", *context,
                     "condition name=value; numbers and true/false are typed (repeatable)");
  create->add_option("--context-text", *context_text,
                     "condition name=value kept as text (repeatable)");
  create->add_option("--parent", *e->mutable_parent_experiment_id(),
                     "the experiment this one iterates on");
  ctx.OnRun(create, [&ctx, request, strings, context, context_text](client::Client& api) {
    auto* exp = request->mutable_experiment();
    exp->set_kind(RequireEnum("--kind", (*strings)["kind"], "EXPERIMENT_KIND_",
                              &v1::ExperimentKind_Parse, "project, deal"));
    exp->set_line(RequireEnum("--line", (*strings)["line"], "LINE_", &v1::Line_Parse,
                              "area-based, crossover"));
    if (!(*strings)["area"].empty()) exp->mutable_area()->set_code((*strings)["area"]);
    ParseAttributes(*context, false, exp->mutable_context());
    ParseAttributes(*context_text, true, exp->mutable_context());
    request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::CreateExperiment,
                         api.experiments(), *request);
  });
}

void AddShow(CLI::App* experiment, CommandContext& ctx) {
  auto* show = experiment->add_subcommand(
      "show", "show an experiment with hypotheses, outcomes and lessons");
  auto get = std::make_shared<v1::GetExperimentRequest>();
  show->add_option("id", *get->mutable_id())->required();
  show->add_option_function<uint64_t>(
      "--as-of", [get](const uint64_t& v) { get->set_as_of_position(v); },
      "as of this log position");
  show->add_flag_function(
      "--history", [get](int64_t count) { get->set_include_history(count > 0); },
      "also list every event of the experiment");
  ctx.OnRun(show, [&ctx, get](client::Client& api) {
    v1::GetExperimentResponse response;
    grpc::Status status = client::GetWholeExperiment(api, *get, &response);
    if (!status.ok()) return PrintError(status);
    client::Render(response, ctx.format(), std::cout);
    return 0;
  });
}

void AddList(CLI::App* experiment, CommandContext& ctx) {
  auto* list = experiment->add_subcommand("list", "list experiments, filtered");
  auto request = std::make_shared<v1::ListExperimentsRequest>();
  auto all = std::make_shared<bool>(false);
  list->add_option("--filter", *request->mutable_filter(),
                   "e.g. 'method = buurtcoach AND (status = RUNNING OR context.urbanity >= 4)'");
  AddPageOptions(list, request, all.get());
  ctx.OnRun(list, [&ctx, request, all](client::Client& api) {
    return CallAndRenderList(api, ctx.format(), &v1::ExperimentService::Stub::ListExperiments,
                             api.experiments(), *request, *all,
                             &v1::ListExperimentsResponse::mutable_experiments);
  });
}

void AddImport(CLI::App* experiment, CommandContext& ctx) {
  auto* import_command = experiment->add_subcommand(
      "import", "register experiments from a CSV file (as `export experiments` writes it)");
  auto flags = AddImportFlags(import_command, "CSV with a header row");
  ctx.OnRun(import_command, [flags](client::Client& api) {
    // A row whose status is past DESIGNED is started once registered.
    std::function<grpc::Status(const client::ExperimentImport&, size_t)> start =
        [&api](const client::ExperimentImport& rows, size_t i) {
          if (rows.starts[i].id().empty()) return grpc::Status::OK;
          v1::StartExperimentResponse started;
          return api.Call(&v1::ExperimentService::Stub::StartExperiment, api.experiments(),
                          rows.starts[i], &started);
        };
    return ImportRowByRow(api, flags->file, "experiments", flags->decimal_comma,
                          &client::ExperimentRequestsFromCsv,
                          &v1::ExperimentService::Stub::CreateExperiment, api.experiments(), start);
  });
}

void AddAmend(CLI::App* experiment, CommandContext& ctx) {
  auto* amend = experiment->add_subcommand("amend", "change descriptive fields");
  auto update = std::make_shared<v1::UpdateExperimentRequest>();
  auto context = std::make_shared<std::vector<std::string>>();
  auto* values = update->mutable_experiment();
  amend->add_option("id", *values->mutable_id())->required();
  // Each field given goes into the update mask, in this order.
  std::vector<std::pair<CLI::Option*, std::string>> fields = {
      {amend->add_option("--title", *values->mutable_title()), "title"},
      {amend->add_option("--description", *values->mutable_description()), "description"},
      {amend->add_option("--societal-task", *values->mutable_societal_task()), "societal_task"},
      {amend->add_option_function<std::vector<std::string>>(
           "--partner",
           [values](const std::vector<std::string>& v) {
             for (const auto& id : v) values->add_partner_ids(id);
           },
           "the new partner list (repeatable)"),
       "partner_ids"},
      {amend->add_option_function<int64_t>(
           "--budget-cents", [values](const int64_t& v) { values->set_budget_cents(v); }),
       "budget_cents"},
      {amend->add_option("--start", *values->mutable_planned_start()), "planned_start"},
      {amend->add_option("--end", *values->mutable_planned_end()), "planned_end"},
      {amend->add_option("--context", *context, "the new context, name=value (repeatable)"),
       "context"}};
  ctx.OnRun(amend, [&ctx, update, context, fields](client::Client& api) {
    for (const auto& [option, path] : fields) {
      if (option->count()) update->mutable_update_mask()->add_paths(path);
    }
    if (fields.back().first->count()) {
      ParseAttributes(*context, false, update->mutable_experiment()->mutable_context());
    }
    update->set_request_id(ctx.RequestId());
    update->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::UpdateExperiment,
                         api.experiments(), *update);
  });
}

// A lifecycle move that takes the experiment's id alone.
template <typename Request, typename Response>
void AddMove(CLI::App* experiment, const char* name, const char* help,
             grpc::Status (v1::ExperimentService::Stub::*method)(grpc::ClientContext*,
                                                                 const Request&, Response*),
             CommandContext& ctx) {
  auto* command = experiment->add_subcommand(name, help);
  auto request = std::make_shared<Request>();
  command->add_option("id", *request->mutable_id())->required();
  ctx.OnRun(command, [&ctx, request, method](client::Client& api) {
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), method, api.experiments(), *request);
  });
}

void AddConclude(CLI::App* experiment, CommandContext& ctx) {
  auto* conclude =
      experiment->add_subcommand("conclude", "EVALUATING -> CONCLUDED with a decision");
  auto request = std::make_shared<v1::ConcludeExperimentRequest>();
  auto decision = std::make_shared<std::string>();
  conclude->add_option("id", *request->mutable_id())->required();
  conclude->add_option("--decision", *decision, "scale-up, adapt or stop")->required();
  conclude->add_option("--rationale", *request->mutable_rationale())->required();
  ctx.OnRun(conclude, [&ctx, request, decision](client::Client& api) {
    request->set_decision(RequireEnum("--decision", *decision, "DECISION_", &v1::Decision_Parse,
                                      "scale-up, adapt, stop"));
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::ConcludeExperiment,
                         api.experiments(), *request);
  });
}

void AddWithdraw(CLI::App* experiment, CommandContext& ctx) {
  auto* withdraw =
      experiment->add_subcommand("withdraw", "withdraw an experiment that has not concluded");
  auto request = std::make_shared<v1::WithdrawExperimentRequest>();
  withdraw->add_option("id", *request->mutable_id())->required();
  withdraw->add_option("--reason", *request->mutable_reason())->required();
  ctx.OnRun(withdraw, [&ctx, request](client::Client& api) {
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::WithdrawExperiment,
                         api.experiments(), *request);
  });
}

void AddHypothesisCommands(CLI::App& app, CommandContext& ctx) {
  auto* hypothesis = app.add_subcommand("hypothesis", "hypotheses")->require_subcommand(1);
  auto* add =
      hypothesis->add_subcommand("add", "register a hypothesis (pre-registered before start)");
  auto request = std::make_shared<v1::CreateHypothesisRequest>();
  auto direction = std::make_shared<std::string>();
  auto* h = request->mutable_hypothesis();
  add->add_option("experiment", *request->mutable_experiment_id())->required();
  add->add_option("--id", *h->mutable_id(), "id within the experiment (default generated)");
  add->add_option("--statement", *h->mutable_statement())->required();
  add->add_option("--indicator", *h->mutable_indicator_id())->required();
  add->add_option("--direction", *direction, "increase, decrease or no-change")->required();
  add->add_option_function<double>(
      "--smallest-effect", [h](const double& v) { h->set_smallest_effect_of_interest(v); },
      "smallest effect that matters, in the indicator's units");
  ctx.OnRun(add, [&ctx, request, direction](client::Client& api) {
    request->mutable_hypothesis()->set_expected_direction(
        RequireEnum("--direction", *direction, "EXPECTED_DIRECTION_", &v1::ExpectedDirection_Parse,
                    "increase, decrease, no-change"));
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::CreateHypothesis,
                         api.experiments(), *request);
  });
}

}  // namespace

void AddExperimentCommands(CLI::App& app, CommandContext& ctx) {
  auto* experiment =
      app.add_subcommand("experiment", "experiments (projects and deals)")->require_subcommand(1);
  AddCreate(experiment, ctx);
  AddShow(experiment, ctx);
  AddList(experiment, ctx);
  AddImport(experiment, ctx);
  AddAmend(experiment, ctx);
  AddMove(experiment, "start", "DESIGNED -> RUNNING (seals the hypotheses)",
          &v1::ExperimentService::Stub::StartExperiment, ctx);
  AddMove(experiment, "evaluate", "RUNNING -> EVALUATING",
          &v1::ExperimentService::Stub::EvaluateExperiment, ctx);
  AddConclude(experiment, ctx);
  AddWithdraw(experiment, ctx);
  AddHypothesisCommands(app, ctx);
}

}  // namespace leerlus::cli
