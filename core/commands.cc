#include "core/commands.h"

#include <openssl/rand.h>

#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/serialize.h"
#include "common/status_macros.h"
#include "core/access.h"
#include "core/personal_data.h"
#include "core/validation.h"
#include "storage/keys.h"
#include "storage/projector.h"

namespace leerlus::core {
namespace {

using storage::Appended;
using storage::CatalogKey;
using storage::CatalogKind;
using storage::ColumnFamily;
using storage::DecisionContext;
using storage::GetMessage;
using storage::KeyValueReader;

using DecideFn = std::function<absl::StatusOr<std::vector<v1::Event>>(const DecisionContext&)>;

// What a request's fingerprint covers: its method and content without
// request_id.
std::string FingerprintContent(absl::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const google::protobuf::FieldDescriptor* field =
      copy->GetDescriptor()->FindFieldByName("request_id");
  if (field != nullptr) copy->GetReflection()->ClearField(copy.get(), field);
  return absl::StrCat(method, "\n", SerializeDeterministic(*copy));
}

// The changes whose requests carry a personal text (sealed in the event):
// their fingerprint is keyed by the experiment's data key.
bool CarriesPersonalText(absl::string_view method) {
  return method == "CreateLesson" || method == "ConcludeExperiment" ||
         method == "WithdrawExperiment" || method == "RetractOutcome";
}

// The append a command hands to the store.
template <typename Response>
storage::AppendRequest MakeAppend(
    absl::string_view method, const google::protobuf::Message& request, std::string stream,
    const std::string& request_id, uint64_t expected_version, const Caller& caller,
    DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  storage::AppendRequest append;
  append.stream = std::move(stream);
  append.request_id = request_id;
  // Request ids are the caller's own: scoped to its token (or, without
  // one, its name).
  append.principal = PrincipalOf(caller);
  const AccessTarget target = TargetOf(method, request);
  if (CarriesPersonalText(method)) {
    // Not a plain hash of the plaintext: after an erasure nothing stored
    // may confirm a guessed text.
    append.keyed_fingerprint = [experiment_id = target.experiment_id,
                                content =
                                    FingerprintContent(method, request)](KeyValueReader& state) {
      return PersonalTextFingerprint(state, experiment_id, content);
    };
  } else {
    append.fingerprint = Sha256Hex(FingerprintContent(method, request));
  }
  append.expected_version = expected_version;
  append.actor = caller.actor;
  // Who may make the change is decided with the change, on the state it
  // applies to: no other append can slip in between the check and the
  // events (say, a registration of the same id by another team).
  append.authorize = [caller, rpc = std::string(method), target](KeyValueReader& state) {
    return AuthorizeOnState(caller, rpc, target, state);
  };
  append.decide = std::move(decide);
  append.respond = [respond = std::move(respond)](
                       const Appended& appended,
                       KeyValueReader& state) -> absl::StatusOr<std::string> {
    LEERLUS_ASSIGN_OR_RETURN(Response response, respond(appended, state));
    return SerializeDeterministic(response);
  };
  return append;
}

// Hands the append to the store; its answer comes with Pending::Wait().
template <typename Response>
Pending<Response> Start(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    std::string stream, const std::string& request_id, uint64_t expected_version,
    const Caller& caller, DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  return Pending<Response>(
      store, store->Submit(MakeAppend<Response>(method, request, std::move(stream), request_id,
                                                expected_version, caller, std::move(decide),
                                                std::move(respond))));
}

template <typename Response>
absl::StatusOr<Response> Run(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    std::string stream, const std::string& request_id, uint64_t expected_version,
    const Caller& caller, DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  return Start<Response>(store, method, request, std::move(stream), request_id, expected_version,
                         caller, std::move(decide), std::move(respond))
      .Wait();
}

absl::Status NotFound(absl::string_view what, absl::string_view id, absl::string_view field) {
  absl::Status status = absl::NotFoundError(absl::StrCat(what, " '", id, "' does not exist"));
  return WithErrorInfo(status, "NOT_FOUND",
                       {{"field", std::string(field)}, {"resource", absl::StrCat(what, "/", id)}});
}

// For decisions. Its version and update time may be those of an earlier
// event (see storage::ReadExperiment); decisions use the stream's version.
absl::StatusOr<v1::Experiment> LoadExperiment(KeyValueReader& state, absl::string_view id,
                                              absl::string_view field) {
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Experiment> experiment,
      GetMessage<v1::Experiment>(state, ColumnFamily::kExperiments, storage::ExperimentKey(id)));
  if (!experiment.has_value()) return NotFound("experiment", id, field);
  return std::move(*experiment);
}

template <typename Message>
absl::StatusOr<Message> LoadCatalog(KeyValueReader& state, CatalogKind kind, absl::string_view id,
                                    absl::string_view what, absl::string_view field) {
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<Message> entry,
      GetMessage<Message>(state, ColumnFamily::kCatalog, CatalogKey(kind, id)));
  if (!entry.has_value()) return NotFound(what, id, field);
  return std::move(*entry);
}

// FAILED_PRECONDITION naming the experiment's current state.
absl::Status WrongState(const v1::Experiment& experiment, absl::string_view action,
                        absl::string_view allowed) {
  absl::Status status =
      PreconditionError("STATUS", absl::StrCat("experiments/", experiment.id()),
                        absl::StrCat("cannot ", action, ": experiment '", experiment.id(), "' is ",
                                     StatusName(experiment.status()), "; this needs ", allowed));
  return WithErrorInfo(status, "ILLEGAL_TRANSITION",
                       {{"current_status", StatusName(experiment.status())}});
}

bool IsOpen(v1::ExperimentStatus status) {
  return status == v1::EXPERIMENT_STATUS_DESIGNED || status == v1::EXPERIMENT_STATUS_RUNNING ||
         status == v1::EXPERIMENT_STATUS_EVALUATING;
}

absl::StatusOr<std::vector<v1::Event>> One(v1::Event event) {
  std::vector<v1::Event> events;
  events.push_back(std::move(event));
  return events;
}

// For the experiment-level responses: the experiment after the events.
template <typename Response>
std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> RespondWithExperiment(
    std::string id) {
  return [id = std::move(id)](const Appended& appended,
                              KeyValueReader& state) -> absl::StatusOr<Response> {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                             storage::ReadExperiment(state, id));
    if (!experiment.has_value()) return absl::InternalError("changed experiment not projected");
    Response response;
    *response.mutable_experiment() = std::move(*experiment);
    response.set_position(appended.last_position);
    return response;
  };
}

// The id of a new outcome, lesson or hypothesis: the caller's, or one the
// server makes, `prefix` and the stream's next version, with a suffix when
// a caller chose that id earlier, so that a generated id never collides.
absl::StatusOr<std::string> ChildId(
    absl::string_view given, absl::string_view prefix, uint64_t next_version,
    const std::function<absl::StatusOr<bool>(const std::string&)>& taken) {
  if (!given.empty()) return std::string(given);
  // Bounded: a caller who claimed many suffixed ids cannot keep the writer
  // searching.
  constexpr int kMaxSuffixes = 100;
  std::string id = absl::StrCat(prefix, next_version);
  for (int suffix = 1; suffix <= kMaxSuffixes; ++suffix) {
    LEERLUS_ASSIGN_OR_RETURN(bool is_taken, taken(id));
    if (!is_taken) return id;
    id = absl::StrCat(prefix, next_version, "-", suffix);
  }
  return WithErrorInfo(
      absl::AlreadyExistsError(absl::StrCat("the ids the server would give (", prefix, next_version,
                                            " and ", kMaxSuffixes, " more) are taken; give an id")),
      "ALREADY_EXISTS", {{"field", "id"}});
}

// Whether `cf` holds a child `id` of experiment `experiment_id`.
absl::StatusOr<bool> ChildExists(KeyValueReader& state, ColumnFamily cf,
                                 absl::string_view experiment_id, const std::string& id) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> row,
                           state.Get(cf, storage::ExperimentChildKey(experiment_id, id)));
  return row.has_value();
}

}  // namespace

std::string HypothesisSeal(const v1::Hypothesis& hypothesis) {
  v1::Hypothesis content;
  content.set_id(hypothesis.id());
  content.set_statement(hypothesis.statement());
  content.set_indicator_id(hypothesis.indicator_id());
  content.set_expected_direction(hypothesis.expected_direction());
  content.set_smallest_effect_of_interest(hypothesis.smallest_effect_of_interest());
  return Sha256Hex(SerializeDeterministic(content));
}

// ------------------------------------------------------------------ catalogue

namespace {

// Defines a new catalogue entry (work method or indicator): refused if the
// id is taken, answered with the entry as stored.
template <typename Response, typename Entry>
absl::StatusOr<Response> CreateCatalogEntry(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    const std::string& request_id, const Caller& caller, Entry entry, CatalogKind kind,
    std::string stream, absl::string_view what, absl::string_view field,
    std::function<void(v1::Event&, const Entry&)> set_payload,
    std::function<Entry*(Response&)> mutable_entry) {
  const std::string id = entry.id();
  return Run<Response>(
      store, method, request, std::move(stream), request_id, 0, caller,
      [entry, what, field,
       set_payload](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        if (context.stream_version != 0) {
          return WithErrorInfo(
              absl::AlreadyExistsError(absl::StrCat(what, " '", entry.id(), "' already exists")),
              "ALREADY_EXISTS", {{"field", std::string(field)}});
        }
        v1::Event event;
        set_payload(event, entry);
        return One(std::move(event));
      },
      [id, kind, what, field, mutable_entry](const Appended& appended,
                                             KeyValueReader& state) -> absl::StatusOr<Response> {
        Response response;
        LEERLUS_ASSIGN_OR_RETURN(*mutable_entry(response),
                                 LoadCatalog<Entry>(state, kind, id, what, field));
        response.set_position(appended.last_position);
        return response;
      });
}

}  // namespace

absl::StatusOr<v1::CreateWorkMethodResponse> Commands::CreateWorkMethod(
    const v1::CreateWorkMethodRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateWorkMethod(violations, "work_method", request.work_method());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::WorkMethod method = request.work_method();
  method.clear_update_position();
  return CreateCatalogEntry<v1::CreateWorkMethodResponse, v1::WorkMethod>(
      store_, "CreateWorkMethod", request, request.request_id(), caller, method,
      CatalogKind::kWorkMethod, storage::WorkMethodStream(method.id()), "work method",
      "work_method.id",
      [](v1::Event& event, const v1::WorkMethod& entry) {
        *event.mutable_work_method_defined()->mutable_work_method() = entry;
      },
      [](v1::CreateWorkMethodResponse& response) { return response.mutable_work_method(); });
}

absl::StatusOr<v1::CreateIndicatorResponse> Commands::CreateIndicator(
    const v1::CreateIndicatorRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateIndicator(violations, "indicator", request.indicator());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Indicator indicator = request.indicator();
  indicator.clear_update_position();
  return CreateCatalogEntry<v1::CreateIndicatorResponse, v1::Indicator>(
      store_, "CreateIndicator", request, request.request_id(), caller, indicator,
      CatalogKind::kIndicator, storage::IndicatorStream(indicator.id()), "indicator",
      "indicator.id",
      [](v1::Event& event, const v1::Indicator& entry) {
        *event.mutable_indicator_defined()->mutable_indicator() = entry;
      },
      [](v1::CreateIndicatorResponse& response) { return response.mutable_indicator(); });
}

absl::StatusOr<v1::PutAreaResponse> Commands::PutArea(const v1::PutAreaRequest& request,
                                                      const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateArea(violations, "area", request.area());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Area area = request.area();
  area.clear_update_position();
  v1::AreaLevel level;
  ParseAreaCode(area.code(), &level);
  area.set_level(level);
  const std::string code = area.code();
  return Run<v1::PutAreaResponse>(
      store_, "PutArea", request, storage::AreaStream(code), request.request_id(), 0, caller,
      [area](const DecisionContext&) -> absl::StatusOr<std::vector<v1::Event>> {
        v1::Event event;
        *event.mutable_area_defined()->mutable_area() = area;
        return One(std::move(event));
      },
      [code](const Appended& appended,
             KeyValueReader& state) -> absl::StatusOr<v1::PutAreaResponse> {
        v1::PutAreaResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_area(),
            LoadCatalog<v1::Area>(state, CatalogKind::kArea, code, "area", "area.code"));
        response.set_position(appended.last_position);
        return response;
      });
}

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
      store_, "CreateExperiment", request, storage::ExperimentStream(id), request.request_id(), 0,
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

absl::StatusOr<v1::UpdateExperimentResponse> Commands::UpdateExperiment(
    const v1::UpdateExperimentRequest& request, const Caller& caller) {
  static const std::set<std::string> kAmendable = {"title",       "description",  "societal_task",
                                                   "partner_ids", "budget_cents", "planned_start",
                                                   "planned_end", "context"};
  static const std::set<std::string> kImmutable = {"id",   "kind",    "work_method_id",      "line",
                                                   "area", "team_id", "parent_experiment_id"};
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  const v1::Experiment& values = request.experiment();
  CheckId(violations, "experiment.id", values.id());
  if (request.update_mask().paths_size() == 0) {
    violations.Add("update_mask", "name at least one field to change");
  }
  std::set<std::string> paths;
  for (const std::string& path : request.update_mask().paths()) {
    if (kAmendable.count(path) == 0) {
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
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());

  v1::ExperimentAmended amended;
  for (const std::string& path : paths) amended.add_paths(path);
  v1::Experiment* stored_values = amended.mutable_values();
  if (paths.count("title")) stored_values->set_title(values.title());
  if (paths.count("description")) stored_values->set_description(values.description());
  if (paths.count("societal_task")) stored_values->set_societal_task(values.societal_task());
  if (paths.count("partner_ids")) *stored_values->mutable_partner_ids() = values.partner_ids();
  if (paths.count("budget_cents")) stored_values->set_budget_cents(values.budget_cents());
  if (paths.count("planned_start")) stored_values->set_planned_start(values.planned_start());
  if (paths.count("planned_end")) stored_values->set_planned_end(values.planned_end());
  if (paths.count("context")) *stored_values->mutable_context() = values.context();
  const std::string id = values.id();

  return Run<v1::UpdateExperimentResponse>(
      store_, "UpdateExperiment", request, storage::ExperimentStream(id), request.request_id(),
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
      store, method, request, storage::ExperimentStream(id), request.request_id(),
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
      store_, "CreateHypothesis", request, storage::ExperimentStream(id), request.request_id(),
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

absl::StatusOr<v1::CreateOutcomeResponse> Commands::CreateOutcome(
    const v1::CreateOutcomeRequest& request, const Caller& caller) {
  return StartCreateOutcome(request, caller).Wait();
}

namespace {

absl::StatusOr<storage::AppendRequest> CreateOutcomeAppend(const v1::CreateOutcomeRequest& request,
                                                           const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  if (!request.has_outcome()) violations.Add("outcome", "is required");
  ValidateOutcome(violations, "outcome", request.outcome());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  v1::Outcome given = request.outcome();
  given.clear_retracted();
  given.clear_retraction_reason();
  given.clear_record_position();
  given.set_recorded_by_partner_id(caller.role == v1::ROLE_PARTNER ? caller.partner_id : "");
  if (given.has_direct_effect()) CanonicaliseDirectEffect(*given.mutable_direct_effect());
  auto outcome_id = std::make_shared<std::string>();
  return MakeAppend<v1::CreateOutcomeResponse>(
      "CreateOutcome", request, storage::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, given, outcome_id](
          const DecisionContext& context) mutable -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        if (current.status() != v1::EXPERIMENT_STATUS_RUNNING &&
            current.status() != v1::EXPERIMENT_STATUS_EVALUATING) {
          return WrongState(current, "record an outcome", "RUNNING or EVALUATING");
        }
        LEERLUS_RETURN_IF_ERROR(LoadCatalog<v1::Indicator>(context.state, CatalogKind::kIndicator,
                                                           given.indicator_id(), "indicator",
                                                           "outcome.indicator_id")
                                    .status());
        LEERLUS_ASSIGN_OR_RETURN(
            *given.mutable_id(),
            ChildId(given.id(), "o", context.stream_version + 1, [&](const std::string& child) {
              return ChildExists(context.state, ColumnFamily::kOutcomes, id, child);
            }));
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Outcome> existing,
            GetMessage<v1::Outcome>(context.state, ColumnFamily::kOutcomes,
                                    storage::ExperimentChildKey(id, given.id())));
        if (existing.has_value()) {
          return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                   "outcome '", given.id(), "' already exists in '", id, "'")),
                               "ALREADY_EXISTS", {{"field", "outcome.id"}});
        }
        if (!given.corrects_outcome_id().empty()) {
          LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> corrected,
                                   GetMessage<v1::Outcome>(context.state, ColumnFamily::kOutcomes,
                                                           storage::ExperimentChildKey(
                                                               id, given.corrects_outcome_id())));
          if (!corrected.has_value()) {
            return NotFound("outcome", given.corrects_outcome_id(), "outcome.corrects_outcome_id");
          }
          if (!corrected->retracted()) {
            return PreconditionError(
                "OUTCOME", absl::StrCat("experiments/", id, "/outcomes/", corrected->id()),
                absl::StrCat("outcome '", corrected->id(),
                             "' must be retracted before a correction replaces it"));
          }
        }
        *outcome_id = given.id();
        v1::Event event;
        *event.mutable_outcome_recorded()->mutable_outcome() = given;
        return One(std::move(event));
      },
      [id, outcome_id](const Appended& appended,
                       KeyValueReader& state) -> absl::StatusOr<v1::CreateOutcomeResponse> {
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Outcome> outcome,
            GetMessage<v1::Outcome>(state, ColumnFamily::kOutcomes,
                                    storage::ExperimentChildKey(id, *outcome_id)));
        if (!outcome.has_value()) return absl::InternalError("recorded outcome not projected");
        v1::CreateOutcomeResponse response;
        *response.mutable_outcome() = std::move(*outcome);
        response.set_experiment_version(appended.stream_version);
        response.set_position(appended.last_position);
        return response;
      });
}

}  // namespace

Pending<v1::CreateOutcomeResponse> Commands::StartCreateOutcome(
    const v1::CreateOutcomeRequest& request, const Caller& caller) {
  absl::StatusOr<storage::AppendRequest> append = CreateOutcomeAppend(request, caller);
  if (!append.ok()) return Pending<v1::CreateOutcomeResponse>(append.status());
  return Pending<v1::CreateOutcomeResponse>(store_, store_->Submit(std::move(*append)));
}

void Commands::CreateOutcome(const v1::CreateOutcomeRequest& request, const Caller& caller,
                             std::function<void(absl::StatusOr<v1::CreateOutcomeResponse>)> done) {
  absl::StatusOr<storage::AppendRequest> append = CreateOutcomeAppend(request, caller);
  if (!append.ok()) return done(append.status());
  store_->Submit(std::move(*append), [store = store_, done = std::move(done)](
                                         absl::StatusOr<storage::AppendResult> result) {
    done(ResponseOf<v1::CreateOutcomeResponse>(*store, result));
  });
}

absl::StatusOr<v1::RetractOutcomeResponse> Commands::RetractOutcome(
    const v1::RetractOutcomeRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  CheckId(violations, "outcome_id", request.outcome_id());
  CheckText(violations, "reason", request.reason(), 1, kMaxLongTextLength);
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  const std::string outcome_id = request.outcome_id();
  return Run<v1::RetractOutcomeResponse>(
      store_, "RetractOutcome", request, storage::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, outcome_id, reason = request.reason()](
          const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        if (current.status() != v1::EXPERIMENT_STATUS_RUNNING &&
            current.status() != v1::EXPERIMENT_STATUS_EVALUATING) {
          return WrongState(current, "retract an outcome", "RUNNING or EVALUATING");
        }
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Outcome> outcome,
            GetMessage<v1::Outcome>(context.state, ColumnFamily::kOutcomes,
                                    storage::ExperimentChildKey(id, outcome_id)));
        if (!outcome.has_value()) return NotFound("outcome", outcome_id, "outcome_id");
        if (outcome->retracted()) {
          return PreconditionError("OUTCOME",
                                   absl::StrCat("experiments/", id, "/outcomes/", outcome_id),
                                   absl::StrCat("outcome '", outcome_id, "' is already retracted"));
        }
        v1::Event event;
        v1::OutcomeRetracted* retracted = event.mutable_outcome_retracted();
        retracted->set_outcome_id(outcome_id);
        LEERLUS_ASSIGN_OR_RETURN(*retracted->mutable_reason(),
                                 SealPersonalText(context, current, reason));
        return One(std::move(event));
      },
      [id, outcome_id](const Appended& appended,
                       KeyValueReader& state) -> absl::StatusOr<v1::RetractOutcomeResponse> {
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Outcome> outcome,
            GetMessage<v1::Outcome>(state, ColumnFamily::kOutcomes,
                                    storage::ExperimentChildKey(id, outcome_id)));
        if (!outcome.has_value()) return absl::InternalError("retracted outcome not projected");
        v1::RetractOutcomeResponse response;
        *response.mutable_outcome() = std::move(*outcome);
        response.set_experiment_version(appended.stream_version);
        response.set_position(appended.last_position);
        return response;
      });
}

absl::StatusOr<v1::CreateLessonResponse> Commands::CreateLesson(
    const v1::CreateLessonRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  if (!request.has_lesson()) violations.Add("lesson", "is required");
  ValidateLesson(violations, "lesson", request.lesson());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  v1::Lesson given;
  given.set_id(request.lesson().id());
  given.set_text(request.lesson().text());
  *given.mutable_tags() = request.lesson().tags();
  auto lesson_id = std::make_shared<std::string>();
  return Run<v1::CreateLessonResponse>(
      store_, "CreateLesson", request, storage::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, given, lesson_id](
          const DecisionContext& context) mutable -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        LEERLUS_ASSIGN_OR_RETURN(
            *given.mutable_id(),
            ChildId(given.id(), "l", context.stream_version + 1, [&](const std::string& child) {
              return ChildExists(context.state, ColumnFamily::kLessons, id, child);
            }));
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Lesson> existing,
            GetMessage<v1::Lesson>(context.state, ColumnFamily::kLessons,
                                   storage::ExperimentChildKey(id, given.id())));
        if (existing.has_value()) {
          return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                   "lesson '", given.id(), "' already exists in '", id, "'")),
                               "ALREADY_EXISTS", {{"field", "lesson.id"}});
        }
        *lesson_id = given.id();
        v1::Event event;
        v1::Lesson* lesson = event.mutable_lesson_recorded()->mutable_lesson();
        *lesson = given;
        LEERLUS_ASSIGN_OR_RETURN(*lesson->mutable_text(),
                                 SealPersonalText(context, current, given.text()));
        return One(std::move(event));
      },
      [id, lesson_id](const Appended& appended,
                      KeyValueReader& state) -> absl::StatusOr<v1::CreateLessonResponse> {
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Lesson> lesson,
            GetMessage<v1::Lesson>(state, ColumnFamily::kLessons,
                                   storage::ExperimentChildKey(id, *lesson_id)));
        if (!lesson.has_value()) return absl::InternalError("recorded lesson not projected");
        v1::CreateLessonResponse response;
        *response.mutable_lesson() = std::move(*lesson);
        response.set_experiment_version(appended.stream_version);
        response.set_position(appended.last_position);
        return response;
      });
}

// ---------------------------------------------------------------- tokens

absl::StatusOr<v1::ErasePersonalDataResponse> Commands::ErasePersonalData(
    const v1::ErasePersonalDataRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  absl::StatusOr<v1::ErasePersonalDataResponse> response = Run<v1::ErasePersonalDataResponse>(
      store_, "ErasePersonalData", request, storage::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        const uint32_t generation = current.personal_data_erasures();
        // The key goes in the same atomic write as the event that says so.
        context.side_writes.Delete(ColumnFamily::kDataKeys, storage::DataKeyKey(id, generation));
        v1::Event event;
        event.mutable_personal_data_erased()->set_generation(generation);
        return One(std::move(event));
      },
      RespondWithExperiment<v1::ErasePersonalDataResponse>(id));
  if (!response.ok()) return response;
  // Deleting the key is not enough: its bytes stay in the write-ahead log and
  // SST files until flushed and compacted away. Done for retries too, so a
  // purge interrupted by a crash is finished by retrying (or by the next
  // start, which purges as well).
  LEERLUS_RETURN_IF_ERROR(store_->PurgeDeleted(ColumnFamily::kDataKeys));
  return response;
}

absl::StatusOr<v1::CreateTokenResponse> Commands::CreateToken(const v1::CreateTokenRequest& request,
                                                              const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  const v1::Token& given = request.token();
  CheckId(violations, "token.id", given.id());
  CheckLine(violations, "token.display_name", given.display_name(), 1, kMaxNameLength);
  if (given.role() == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(given.role())) {
    violations.Add("token.role", "must be ADMIN, EVALUATOR, TEAM, PARTNER or READER");
  }
  CheckIdList(violations, "token.team_ids", given.team_ids());
  if (given.role() == v1::ROLE_TEAM && given.team_ids_size() == 0) {
    violations.Add("token.team_ids", "a TEAM token needs at least one team");
  }
  if (given.role() != v1::ROLE_TEAM && given.team_ids_size() > 0) {
    violations.Add("token.team_ids", "only TEAM tokens act for teams");
  }
  if (given.role() == v1::ROLE_PARTNER) {
    CheckId(violations, "token.partner_id", given.partner_id());
  } else if (!given.partner_id().empty()) {
    violations.Add("token.partner_id", "only PARTNER tokens act for a partner");
  }
  CheckText(violations, "token.certificate_subject", given.certificate_subject(), 0,
            kMaxCertificateSubjectLength);
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Token token = given;
  token.clear_revoked();
  token.clear_create_position();
  // A certificate-bound token has no secret: the certificate is the proof.
  const std::string secret = token.certificate_subject().empty() ? NewTokenSecret() : "";
  const std::string id = token.id();
  auto fresh = std::make_shared<bool>(false);
  absl::StatusOr<v1::CreateTokenResponse> response = Run<v1::CreateTokenResponse>(
      store_, "CreateToken", request, storage::TokenStream(id), request.request_id(), 0, caller,
      [token, secret](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        if (context.stream_version != 0) {
          return WithErrorInfo(
              absl::AlreadyExistsError(absl::StrCat("token '", token.id(), "' already exists")),
              "ALREADY_EXISTS", {{"field", "token.id"}});
        }
        if (!token.certificate_subject().empty()) {
          LEERLUS_ASSIGN_OR_RETURN(
              std::optional<std::string> holder,
              context.state.Get(ColumnFamily::kCatalog, CatalogKey(CatalogKind::kTokenCertificate,
                                                                   token.certificate_subject())));
          if (holder.has_value()) {
            return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                     "token '", *holder, "' already has certificate subject '",
                                     token.certificate_subject(), "'")),
                                 "ALREADY_EXISTS", {{"field", "token.certificate_subject"}});
          }
        }
        v1::Event event;
        *event.mutable_token_created()->mutable_token() = token;
        if (!secret.empty()) event.mutable_token_created()->set_secret_sha256(Sha256Hex(secret));
        return One(std::move(event));
      },
      [id, fresh](const Appended& appended,
                  KeyValueReader& state) -> absl::StatusOr<v1::CreateTokenResponse> {
        *fresh = true;
        v1::CreateTokenResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_token(),
            LoadCatalog<v1::Token>(state, CatalogKind::kToken, id, "token", "token.id"));
        response.set_position(appended.last_position);
        return response;  // Stored without the secret.
      });
  if (response.ok() && *fresh && !secret.empty()) response->set_secret(secret);
  return response;
}

absl::StatusOr<v1::RevokeTokenResponse> Commands::RevokeToken(const v1::RevokeTokenRequest& request,
                                                              const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "id", request.id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.id();
  return Run<v1::RevokeTokenResponse>(
      store_, "RevokeToken", request, storage::TokenStream(id), request.request_id(), 0, caller,
      [id](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(
            v1::Token token,
            LoadCatalog<v1::Token>(context.state, CatalogKind::kToken, id, "token", "id"));
        if (token.revoked()) {
          return PreconditionError("TOKEN", absl::StrCat("tokens/", id),
                                   absl::StrCat("token '", id, "' is already revoked"));
        }
        v1::Event event;
        event.mutable_token_revoked()->set_token_id(id);
        return One(std::move(event));
      },
      [id](const Appended& appended,
           KeyValueReader& state) -> absl::StatusOr<v1::RevokeTokenResponse> {
        v1::RevokeTokenResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_token(),
            LoadCatalog<v1::Token>(state, CatalogKind::kToken, id, "token", "id"));
        response.set_position(appended.last_position);
        return response;
      });
}

std::string NewTokenSecret() {
  unsigned char bytes[32];                                  // 256 bits.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // No entropy: do not issue tokens.
  return absl::StrCat("lls_", absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

}  // namespace leerlus::core
