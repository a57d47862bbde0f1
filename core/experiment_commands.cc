// An experiment's own commands: registration, amendment, the lifecycle
// and its hypotheses.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "core/command_support.h"
#include "core/commands.h"
#include "core/model/streams.h"
#include "core/validation.h"

namespace leerlus::core {

// ---------------------------------------------------------------- experiments

absl::StatusOr<v1::CreateExperimentResponse> Commands::CreateExperiment(
    const v1::CreateExperimentRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  if (!request.has_experiment()) violations.Add("experiment", "is required");
  ValidateNewExperiment(violations, "experiment", request.experiment());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());

  // Only the fields a client may set at registration.
  const v1::Experiment& given = request.experiment();
  v1::Experiment experiment;
  experiment.set_id(given.id());
  experiment.set_kind(given.kind());
  experiment.set_title(given.title());
  experiment.set_description(given.description());
  experiment.set_work_method_id(given.work_method_id());
  experiment.set_line(given.line());
  experiment.set_societal_task(given.societal_task());
  if (given.has_area()) experiment.mutable_area()->set_code(given.area().code());
  experiment.set_team_id(given.team_id());
  *experiment.mutable_partner_ids() = given.partner_ids();
  experiment.set_budget_cents(given.budget_cents());
  experiment.set_planned_start(given.planned_start());
  experiment.set_planned_end(given.planned_end());
  *experiment.mutable_context() = given.context();
  experiment.set_parent_experiment_id(given.parent_experiment_id());
  const std::string id = experiment.id();

  return Run<v1::CreateExperimentResponse>(
      store_, "CreateExperiment", request, model::ExperimentStream(id), request.request_id(), 0,
      caller,
      [experiment](
          const DecisionContext& context) mutable -> absl::StatusOr<std::vector<v1::Event>> {
        if (context.stream_version != 0) {
          return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                   "experiment '", experiment.id(), "' already exists")),
                               "ALREADY_EXISTS", {{"field", "experiment.id"}});
        }
        LEERLUS_RETURN_IF_ERROR(LoadCatalog<v1::WorkMethod>(context.state, CatalogKind::kWorkMethod,
                                                            experiment.work_method_id(),
                                                            "work method",
                                                            "experiment.work_method_id")
                                    .status());
        if (!experiment.parent_experiment_id().empty()) {
          LEERLUS_RETURN_IF_ERROR(LoadExperiment(context.state, experiment.parent_experiment_id(),
                                                 "experiment.parent_experiment_id")
                                      .status());
        }
        if (experiment.has_area()) {
          LEERLUS_ASSIGN_OR_RETURN(
              v1::Area area,
              LoadCatalog<v1::Area>(context.state, CatalogKind::kArea, experiment.area().code(),
                                    "area", "experiment.area.code"));
          experiment.mutable_area()->set_display_name(area.display_name());
          experiment.mutable_area()->set_level(area.level());
          // The snapshot: the area's attributes now; values given win.
          *experiment.mutable_area_snapshot() = area.attributes();
          for (const auto& [name, value] : area.attributes()) {
            experiment.mutable_context()->insert({name, value});
          }
          if (experiment.context_size() > static_cast<int>(kMaxAttributes)) {
            return FieldError(
                "experiment.context",
                absl::StrCat("with the area's attributes the context has ",
                             experiment.context_size(), " attributes; at most ", kMaxAttributes));
          }
        }
        v1::Event event;
        *event.mutable_experiment_registered()->mutable_experiment() = experiment;
        return One(std::move(event));
      },
      RespondWithExperiment<v1::CreateExperimentResponse>(id));
}

namespace {

// The amendment an UpdateExperiment request asks for, its paths and values
// checked; the request's violations are added to `violations`.
v1::ExperimentAmended CheckedAmendment(const v1::UpdateExperimentRequest& request,
                                       FieldViolations& violations) {
  static const std::set<std::string> kImmutable = {"id",   "kind",    "work_method_id",      "line",
                                                   "area", "team_id", "parent_experiment_id"};
  const v1::Experiment& values = request.experiment();
  if (request.update_mask().paths_size() == 0) {
    violations.Add("update_mask", "name at least one field to change");
  }
  std::set<std::string> paths;
  for (const std::string& path : request.update_mask().paths()) {
    if (model::FindAmendableField(path) == nullptr) {
      violations.Add("update_mask",
                     kImmutable.count(path)
                         ? absl::StrCat("'", path, "' cannot be changed after registration")
                         : absl::StrCat("'", path, "' is not a field that can be amended"));
    } else if (!paths.insert(path).second) {
      violations.Add("update_mask", absl::StrCat("'", path, "' is named twice"));
    }
  }
  if (paths.count("title"))
    CheckLine(violations, "experiment.title", values.title(), 1, kMaxNameLength);
  if (paths.count("description")) {
    CheckText(violations, "experiment.description", values.description(), 0, kMaxLongTextLength);
  }
  if (paths.count("societal_task")) {
    CheckLine(violations, "experiment.societal_task", values.societal_task(), 0, kMaxNameLength);
  }
  if (paths.count("partner_ids"))
    CheckIdList(violations, "experiment.partner_ids", values.partner_ids());
  if (paths.count("budget_cents")) {
    CheckBudget(violations, "experiment.budget_cents", values.budget_cents());
  }
  if (paths.count("planned_start")) {
    CheckPlannedDate(violations, "experiment.planned_start", values.planned_start());
  }
  if (paths.count("planned_end")) {
    CheckPlannedDate(violations, "experiment.planned_end", values.planned_end());
  }
  if (paths.count("context")) CheckAttributes(violations, "experiment.context", values.context());
  v1::ExperimentAmended amended;
  for (const std::string& path : paths) {
    amended.add_paths(path);
    model::FindAmendableField(path)->copy(values, *amended.mutable_values());
  }
  return amended;
}

}  // namespace

absl::StatusOr<v1::UpdateExperimentResponse> Commands::UpdateExperiment(
    const v1::UpdateExperimentRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  const v1::Experiment& values = request.experiment();
  CheckId(violations, "experiment.id", values.id());
  v1::ExperimentAmended amended = CheckedAmendment(request, violations);
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = values.id();

  return Run<v1::UpdateExperimentResponse>(
      store_, "UpdateExperiment", request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, amended](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment.id"));
        // Check the dates as they will be after the change.
        std::string start = current.planned_start();
        std::string end = current.planned_end();
        for (const std::string& path : amended.paths()) {
          if (path == "planned_start") start = amended.values().planned_start();
          if (path == "planned_end") end = amended.values().planned_end();
        }
        if (!start.empty() && !end.empty() && end < start) {
          return FieldError("experiment.planned_end", "must not be before planned_start");
        }
        if (current.line() == v1::LINE_CROSSOVER) {
          for (const std::string& path : amended.paths()) {
            if (path == "societal_task" && amended.values().societal_task().empty()) {
              return FieldError("experiment.societal_task",
                                "is required for a CROSSOVER experiment");
            }
          }
        }
        v1::Event event;
        *event.mutable_experiment_amended() = amended;
        return One(std::move(event));
      },
      RespondWithExperiment<v1::UpdateExperimentResponse>(id));
}

namespace {

// The lifecycle: which statuses each move starts from.
struct Move {
  absl::string_view action;   // For messages: "cannot start: ..."
  absl::string_view allowed;  // The statuses in words.
  std::set<v1::ExperimentStatus> from;
};

const Move kStart{"start", "DESIGNED", {v1::EXPERIMENT_STATUS_DESIGNED}};
const Move kEvaluate{"begin evaluation", "RUNNING", {v1::EXPERIMENT_STATUS_RUNNING}};
const Move kConclude{"conclude", "EVALUATING", {v1::EXPERIMENT_STATUS_EVALUATING}};
const Move kWithdraw{"withdraw",
                     "DESIGNED, RUNNING or EVALUATING",
                     {v1::EXPERIMENT_STATUS_DESIGNED, v1::EXPERIMENT_STATUS_RUNNING,
                      v1::EXPERIMENT_STATUS_EVALUATING}};

// Runs one lifecycle move of experiment `request.id()`: the request is
// validated (`violations` holds the checks of the move's own fields), then
// the move is decided against the experiment's current status and
// `make_event` fills the event from the current state.
template <typename Response, typename Request>
absl::StatusOr<Response> Transition(
    storage::EventStore* store, absl::string_view method, const Request& request,
    const Caller& caller, FieldViolations violations, const Move& move,
    std::function<absl::Status(const DecisionContext&, const v1::Experiment&, v1::Event&)>
        make_event) {
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "id", request.id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.id();
  return Run<Response>(
      store, method, request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, &move,
       make_event](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current, LoadExperiment(context.state, id, "id"));
        if (move.from.count(current.status()) == 0) {
          return WrongState(current, move.action, move.allowed);
        }
        v1::Event event;
        LEERLUS_RETURN_IF_ERROR(make_event(context, current, event));
        return One(std::move(event));
      },
      RespondWithExperiment<Response>(id));
}

}  // namespace

absl::StatusOr<v1::StartExperimentResponse> Commands::StartExperiment(
    const v1::StartExperimentRequest& request, const Caller& caller) {
  return Transition<v1::StartExperimentResponse>(
      store_, "StartExperiment", request, caller, FieldViolations(), kStart,
      [](const DecisionContext&, const v1::Experiment& current, v1::Event& event) {
        // Pre-registration: every hypothesis registered so far is sealed.
        auto* sealed = event.mutable_experiment_started()->mutable_sealed_hashes();
        for (const v1::Hypothesis& hypothesis : current.hypotheses()) {
          (*sealed)[hypothesis.id()] = HypothesisSeal(hypothesis);
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::EvaluateExperimentResponse> Commands::EvaluateExperiment(
    const v1::EvaluateExperimentRequest& request, const Caller& caller) {
  return Transition<v1::EvaluateExperimentResponse>(
      store_, "EvaluateExperiment", request, caller, FieldViolations(), kEvaluate,
      [](const DecisionContext&, const v1::Experiment&, v1::Event& event) {
        event.mutable_evaluation_started();
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::ConcludeExperimentResponse> Commands::ConcludeExperiment(
    const v1::ConcludeExperimentRequest& request, const Caller& caller) {
  FieldViolations violations;
  if (request.decision() == v1::DECISION_UNSPECIFIED || !v1::Decision_IsValid(request.decision())) {
    violations.Add("decision", "must be SCALE_UP, ADAPT or STOP");
  }
  CheckText(violations, "rationale", request.rationale(), 1, kMaxLongTextLength);
  return Transition<v1::ConcludeExperimentResponse>(
      store_, "ConcludeExperiment", request, caller, std::move(violations), kConclude,
      [&request](const DecisionContext& context, const v1::Experiment& current,
                 v1::Event& event) -> absl::Status {
        v1::ExperimentConcluded* concluded = event.mutable_experiment_concluded();
        concluded->set_decision(request.decision());
        LEERLUS_ASSIGN_OR_RETURN(*concluded->mutable_rationale(),
                                 SealPersonalText(context, current, request.rationale()));
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::WithdrawExperimentResponse> Commands::WithdrawExperiment(
    const v1::WithdrawExperimentRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckText(violations, "reason", request.reason(), 1, kMaxLongTextLength);
  return Transition<v1::WithdrawExperimentResponse>(
      store_, "WithdrawExperiment", request, caller, std::move(violations), kWithdraw,
      [&request](const DecisionContext& context, const v1::Experiment& current,
                 v1::Event& event) -> absl::Status {
        LEERLUS_ASSIGN_OR_RETURN(*event.mutable_experiment_withdrawn()->mutable_reason(),
                                 SealPersonalText(context, current, request.reason()));
        return absl::OkStatus();
      });
}

absl::StatusOr<v1::CreateHypothesisResponse> Commands::CreateHypothesis(
    const v1::CreateHypothesisRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  if (!request.has_hypothesis()) violations.Add("hypothesis", "is required");
  ValidateHypothesis(violations, "hypothesis", request.hypothesis());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  auto hypothesis_id = std::make_shared<std::string>();
  v1::Hypothesis given = request.hypothesis();
  return Run<v1::CreateHypothesisResponse>(
      store_, "CreateHypothesis", request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, given,
       hypothesis_id](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        if (!IsOpen(current.status())) {
          return WrongState(current, "add a hypothesis", "DESIGNED, RUNNING or EVALUATING");
        }
        LEERLUS_RETURN_IF_ERROR(LoadCatalog<v1::Indicator>(context.state, CatalogKind::kIndicator,
                                                           given.indicator_id(), "indicator",
                                                           "hypothesis.indicator_id")
                                    .status());
        v1::Hypothesis hypothesis;
        LEERLUS_ASSIGN_OR_RETURN(
            *hypothesis.mutable_id(),
            ChildId(given.id(), "h", context.stream_version + 1,
                    [&](const std::string& child) -> absl::StatusOr<bool> {
                      for (const v1::Hypothesis& existing : current.hypotheses()) {
                        if (existing.id() == child) return true;
                      }
                      return false;
                    }));
        for (const v1::Hypothesis& existing : current.hypotheses()) {
          if (existing.id() == hypothesis.id()) {
            return WithErrorInfo(
                absl::AlreadyExistsError(absl::StrCat("hypothesis '", hypothesis.id(),
                                                      "' already exists in '", id, "'")),
                "ALREADY_EXISTS", {{"field", "hypothesis.id"}});
          }
        }
        hypothesis.set_statement(given.statement());
        hypothesis.set_indicator_id(given.indicator_id());
        hypothesis.set_expected_direction(given.expected_direction());
        hypothesis.set_smallest_effect_of_interest(given.smallest_effect_of_interest());
        hypothesis.set_pre_registered(current.status() == v1::EXPERIMENT_STATUS_DESIGNED);
        *hypothesis_id = hypothesis.id();
        v1::Event event;
        *event.mutable_hypothesis_registered()->mutable_hypothesis() = hypothesis;
        return One(std::move(event));
      },
      [id, hypothesis_id](const Appended& appended,
                          KeyValueReader& state) -> absl::StatusOr<v1::CreateHypothesisResponse> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment experiment,
                                 LoadExperiment(state, id, "experiment_id"));
        v1::CreateHypothesisResponse response;
        for (const v1::Hypothesis& hypothesis : experiment.hypotheses()) {
          if (hypothesis.id() == *hypothesis_id) *response.mutable_hypothesis() = hypothesis;
        }
        response.set_experiment_version(appended.stream_version);
        response.set_position(appended.last_position);
        return response;
      });
}

}  // namespace leerlus::core
