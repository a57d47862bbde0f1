// outcome, lesson: what an experiment measured and what it taught.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "client/commands/import.h"

namespace leerlus::cli {
namespace {

// The optional columns of `outcome import` (the assessment and the
// statistics), each also a flag of `outcome record` (with '-' for '_').
constexpr const char* kColumnFlags[] = {"risk-of-bias",
                                        "follow-up-months",
                                        "treatment-mean",
                                        "treatment-sd",
                                        "treatment-n",
                                        "control-mean",
                                        "control-sd",
                                        "control-n",
                                        "treatment-events",
                                        "treatment-total",
                                        "control-events",
                                        "control-total",
                                        "pre-mean",
                                        "pre-sd",
                                        "post-mean",
                                        "post-sd",
                                        "n",
                                        "pre-post-correlation",
                                        "measure",
                                        "effect",
                                        "variance",
                                        "standard-error",
                                        "ci-lower",
                                        "ci-upper",
                                        "total-n"};

// Builds the outcome of `outcome record` with the CSV row reader, one row
// whose columns are the flags, so both check the same way. Prints the
// flags' errors and returns false if there are any.
bool OutcomeFromFlags(const v1::CreateOutcomeRequest& flags, const std::string& design,
                      const std::map<std::string, std::string>& numbers,
                      v1::CreateOutcomeRequest* built) {
  client::CsvTable table;
  client::CsvRow row{1, {}};
  auto add = [&](const std::string& name, const std::string& value) {
    table.columns[name] = table.header.size();
    table.header.push_back(name);
    row.fields.push_back(value);
  };
  add("experiment_id", flags.experiment_id());
  add("outcome_id", flags.outcome().id());
  add("indicator_id", flags.outcome().indicator_id());
  add("measured_on", flags.outcome().measured_on());
  add("design", design);
  add("corrects_outcome_id", flags.outcome().corrects_outcome_id());
  for (const auto& [name, value] : numbers) add(name, value);
  table.rows.push_back(row);
  client::OutcomeImport converted = client::OutcomeRequestsFromCsv(table, false);
  for (const auto& error : converted.errors) {
    std::cerr << "error: --" << absl::StrReplaceAll(error.field, {{"_", "-"}}) << ": "
              << error.message << std::endl;
  }
  if (!converted.errors.empty()) return false;
  *built = converted.requests.front();
  return true;
}

void AddRecord(CLI::App* outcome, CommandContext& ctx) {
  auto* record =
      outcome->add_subcommand("record", "record one outcome (give the columns of one shape)");
  auto request = std::make_shared<v1::CreateOutcomeRequest>();
  auto design = std::make_shared<std::string>();
  auto numbers = std::make_shared<std::map<std::string, std::string>>();
  auto* o = request->mutable_outcome();
  record->add_option("experiment", *request->mutable_experiment_id())->required();
  record->add_option("--id", *o->mutable_id(), "id within the experiment (default generated)");
  record->add_option("--indicator", *o->mutable_indicator_id())->required();
  record->add_option("--measured-on", *o->mutable_measured_on(), "YYYY-MM-DD")->required();
  record->add_option("--design", *design, "rct, quasi-experimental, pre-post or post-only")
      ->required();
  record->add_option("--corrects", *o->mutable_corrects_outcome_id(),
                     "the retracted outcome this corrects");
  for (const char* column : kColumnFlags) {
    record->add_option(absl::StrCat("--", column),
                       (*numbers)[absl::StrReplaceAll(column, {{"-", "_"}})]);
  }
  ctx.OnRun(record, [&ctx, request, design, numbers](client::Client& api) {
    v1::CreateOutcomeRequest built;
    if (!OutcomeFromFlags(*request, *design, *numbers, &built)) return kExitUsage;
    built.set_request_id(ctx.RequestId());
    built.set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::CreateOutcome,
                         api.experiments(), built);
  });
}

void AddRetract(CLI::App* outcome, CommandContext& ctx) {
  auto* retract =
      outcome->add_subcommand("retract", "retract an outcome (it stays in the history)");
  auto request = std::make_shared<v1::RetractOutcomeRequest>();
  retract->add_option("experiment", *request->mutable_experiment_id())->required();
  retract->add_option("outcome", *request->mutable_outcome_id())->required();
  retract->add_option("--reason", *request->mutable_reason())->required();
  ctx.OnRun(retract, [&ctx, request](client::Client& api) {
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::RetractOutcome,
                         api.experiments(), *request);
  });
}

void AddImport(CLI::App* outcome, CommandContext& ctx) {
  auto* import_command = outcome->add_subcommand(
      "import", "stream outcomes from a CSV file; re-running writes nothing twice");
  auto flags = AddImportFlags(import_command, "CSV with a header row");
  ctx.OnRun(import_command, [&ctx, flags](client::Client& api) {
    return ImportOutcomes(api, ctx.format(), flags->file, flags->decimal_comma);
  });
}

void AddList(CLI::App* outcome, CommandContext& ctx) {
  auto* list = outcome->add_subcommand(
      "list", "list an experiment's outcomes, retracted ones included, in id order");
  auto request = std::make_shared<v1::ListOutcomesRequest>();
  auto all = std::make_shared<bool>(false);
  list->add_option("experiment", *request->mutable_experiment_id())->required();
  AddPageOptions(list, request, all.get());
  ctx.OnRun(list, [&ctx, request, all](client::Client& api) {
    return CallAndRenderList(api, ctx.format(), &v1::ExperimentService::Stub::ListOutcomes,
                             api.experiments(), *request, *all,
                             &v1::ListOutcomesResponse::mutable_outcomes);
  });
}

void AddLessonCommands(CLI::App& app, CommandContext& ctx) {
  auto* lesson = app.add_subcommand("lesson", "lessons learned")->require_subcommand(1);
  auto* add = lesson->add_subcommand("add", "record a lesson");
  auto request = std::make_shared<v1::CreateLessonRequest>();
  add->add_option("experiment", *request->mutable_experiment_id())->required();
  add->add_option("--id", *request->mutable_lesson()->mutable_id());
  add->add_option("--text", *request->mutable_lesson()->mutable_text())->required();
  add->add_option_function<std::vector<std::string>>(
      "--tag",
      [request](const std::vector<std::string>& v) {
        for (const auto& tag : v) request->mutable_lesson()->add_tags(tag);
      },
      "tag (repeatable)");
  ctx.OnRun(add, [&ctx, request](client::Client& api) {
    request->set_request_id(ctx.RequestId());
    request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::ExperimentService::Stub::CreateLesson,
                         api.experiments(), *request);
  });
}

}  // namespace

void AddOutcomeCommands(CLI::App& app, CommandContext& ctx) {
  auto* outcome = app.add_subcommand("outcome", "measured outcomes")->require_subcommand(1);
  AddRecord(outcome, ctx);
  AddRetract(outcome, ctx);
  AddImport(outcome, ctx);
  AddList(outcome, ctx);
  AddLessonCommands(app, ctx);
}

}  // namespace leerlus::cli
