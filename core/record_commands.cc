// What is recorded on a running experiment: outcomes, their retraction,
// lessons, and the erasure of its personal texts.
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "core/command_support.h"
#include "core/commands.h"
#include "core/model/streams.h"
#include "core/validation.h"

namespace leerlus::core {

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
      "CreateOutcome", request, model::ExperimentStream(id), request.request_id(),
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
              return OutcomeExists(context.state, id, child);
            }));
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> existing,
                                 model::FindOutcome(context.state, id, given.id()));
        if (existing.has_value()) {
          return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                   "outcome '", given.id(), "' already exists in '", id, "'")),
                               "ALREADY_EXISTS", {{"field", "outcome.id"}});
        }
        if (!given.corrects_outcome_id().empty()) {
          LEERLUS_ASSIGN_OR_RETURN(
              std::optional<v1::Outcome> corrected,
              model::FindOutcome(context.state, id, given.corrects_outcome_id()));
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
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> outcome,
                                 model::FindOutcome(state, id, *outcome_id));
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
      store_, "RetractOutcome", request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, outcome_id, reason = request.reason()](
          const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        if (current.status() != v1::EXPERIMENT_STATUS_RUNNING &&
            current.status() != v1::EXPERIMENT_STATUS_EVALUATING) {
          return WrongState(current, "retract an outcome", "RUNNING or EVALUATING");
        }
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> outcome,
                                 model::FindOutcome(context.state, id, outcome_id));
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
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> outcome,
                                 model::FindOutcome(state, id, outcome_id));
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
      store_, "CreateLesson", request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id, given, lesson_id](
          const DecisionContext& context) mutable -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        LEERLUS_ASSIGN_OR_RETURN(
            *given.mutable_id(),
            ChildId(given.id(), "l", context.stream_version + 1, [&](const std::string& child) {
              return LessonExists(context.state, id, child);
            }));
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Lesson> existing,
                                 model::FindLesson(context.state, id, given.id()));
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
        LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Lesson> lesson,
                                 model::FindLesson(state, id, *lesson_id));
        if (!lesson.has_value()) return absl::InternalError("recorded lesson not projected");
        v1::CreateLessonResponse response;
        *response.mutable_lesson() = std::move(*lesson);
        response.set_experiment_version(appended.stream_version);
        response.set_position(appended.last_position);
        return response;
      });
}

absl::StatusOr<v1::ErasePersonalDataResponse> Commands::ErasePersonalData(
    const v1::ErasePersonalDataRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "experiment_id", request.experiment_id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.experiment_id();
  absl::StatusOr<v1::ErasePersonalDataResponse> response = Run<v1::ErasePersonalDataResponse>(
      store_, "ErasePersonalData", request, model::ExperimentStream(id), request.request_id(),
      request.expected_version(), caller,
      [id](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(v1::Experiment current,
                                 LoadExperiment(context.state, id, "experiment_id"));
        const uint32_t generation = current.personal_data_erasures();
        // The key goes in the same atomic write as the event that says so.
        model::DeleteDataKey(context.side_writes, id, generation);
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
  LEERLUS_RETURN_IF_ERROR(model::PurgeErasedDataKeys(*store_));
  return response;
}

}  // namespace leerlus::core
