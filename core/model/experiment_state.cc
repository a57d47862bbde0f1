#include "core/model/experiment_state.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "core/model/streams.h"
#include "storage/read_views.h"

namespace leerlus::model {

const std::vector<AmendableField>& AmendableFields() {
  static const std::vector<AmendableField> kFields = {
      {"title", [](const v1::Experiment& from, v1::Experiment& to) { to.set_title(from.title()); }},
      {"description", [](const v1::Experiment& from,
                         v1::Experiment& to) { to.set_description(from.description()); }},
      {"societal_task", [](const v1::Experiment& from,
                           v1::Experiment& to) { to.set_societal_task(from.societal_task()); }},
      {"partner_ids", [](const v1::Experiment& from,
                         v1::Experiment& to) { *to.mutable_partner_ids() = from.partner_ids(); }},
      {"budget_cents", [](const v1::Experiment& from,
                          v1::Experiment& to) { to.set_budget_cents(from.budget_cents()); }},
      {"planned_start", [](const v1::Experiment& from,
                           v1::Experiment& to) { to.set_planned_start(from.planned_start()); }},
      {"planned_end", [](const v1::Experiment& from,
                         v1::Experiment& to) { to.set_planned_end(from.planned_end()); }},
      {"context", [](const v1::Experiment& from,
                     v1::Experiment& to) { *to.mutable_context() = from.context(); }},
  };
  return kFields;
}

const AmendableField* FindAmendableField(absl::string_view path) {
  for (const AmendableField& field : AmendableFields()) {
    if (field.name == path) return &field;
  }
  return nullptr;
}

// The state changes every experiment event makes to the experiment record
// itself (outcomes and lessons are kept apart in the projections).
absl::Status FoldIntoRecord(const v1::Event& event, v1::Experiment& experiment) {
  switch (event.payload_case()) {
    case v1::Event::kExperimentRegistered: {
      experiment = event.experiment_registered().experiment();
      experiment.set_status(v1::EXPERIMENT_STATUS_DESIGNED);
      experiment.set_create_position(event.position());
      *experiment.mutable_create_time() = event.time();
      break;
    }
    case v1::Event::kExperimentAmended: {
      const v1::Experiment& values = event.experiment_amended().values();
      for (const std::string& path : event.experiment_amended().paths()) {
        const AmendableField* field = FindAmendableField(path);
        if (field == nullptr) {
          return absl::DataLossError(absl::StrCat("event at position ", event.position(),
                                                  " amends unknown path '", path, "'"));
        }
        field->copy(values, experiment);
      }
      break;
    }
    case v1::Event::kHypothesisRegistered: {
      v1::Hypothesis* hypothesis = experiment.add_hypotheses();
      *hypothesis = event.hypothesis_registered().hypothesis();
      hypothesis->set_create_position(event.position());
      break;
    }
    case v1::Event::kExperimentStarted: {
      experiment.set_status(v1::EXPERIMENT_STATUS_RUNNING);
      const auto& sealed = event.experiment_started().sealed_hashes();
      for (v1::Hypothesis& hypothesis : *experiment.mutable_hypotheses()) {
        auto it = sealed.find(hypothesis.id());
        if (it != sealed.end()) hypothesis.set_sealed_hash(it->second);
      }
      break;
    }
    case v1::Event::kEvaluationStarted:
      experiment.set_status(v1::EXPERIMENT_STATUS_EVALUATING);
      break;
    case v1::Event::kExperimentConcluded:
      experiment.set_status(v1::EXPERIMENT_STATUS_CONCLUDED);
      experiment.set_decision(event.experiment_concluded().decision());
      experiment.set_decision_rationale(event.experiment_concluded().rationale());
      break;
    case v1::Event::kExperimentWithdrawn:
      experiment.set_status(v1::EXPERIMENT_STATUS_WITHDRAWN);
      break;
    case v1::Event::kPersonalDataErased:
      experiment.set_personal_data_erasures(event.personal_data_erased().generation() + 1);
      break;
    case v1::Event::kOutcomeRecorded:
    case v1::Event::kOutcomeRetracted:
    case v1::Event::kLessonRecorded:
      break;
    default:
      return absl::DataLossError(
          absl::StrCat("event at position ", event.position(), " is not an experiment event"));
  }
  experiment.set_version(event.stream_version());
  *experiment.mutable_update_time() = event.time();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Experiment>> ReadExperiment(storage::KeyValueReader& state,
                                                             absl::string_view experiment_id) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                           storage::GetMessage<v1::Experiment>(state, families::kExperiments,
                                                               ExperimentKey(experiment_id)));
  if (experiment.has_value()) LEERLUS_RETURN_IF_ERROR(CatchUpWithStream(state, *experiment));
  return experiment;
}

absl::Status CatchUpWithStream(storage::KeyValueReader& state, v1::Experiment& experiment) {
  const std::string stream = ExperimentStream(experiment.id());
  LEERLUS_ASSIGN_OR_RETURN(uint64_t version, storage::StreamVersion(state, stream));
  if (version == 0) {
    return absl::DataLossError(absl::StrCat("experiment '", experiment.id(), "' has no stream"));
  }
  // The record is current when the stream's last event changed it.
  if (version == experiment.version()) return absl::OkStatus();
  LEERLUS_ASSIGN_OR_RETURN(internal::v1::Envelope last,
                           storage::StreamEventEnvelope(state, stream, version));
  experiment.set_version(version);
  *experiment.mutable_update_time() = last.time();
  return absl::OkStatus();
}

absl::Status FoldExperimentEvent(const v1::Event& event, v1::Experiment& state) {
  // Outcomes and lessons live inside the full state here.
  google::protobuf::RepeatedPtrField<v1::Outcome> outcomes;
  outcomes.Swap(state.mutable_outcomes());
  google::protobuf::RepeatedPtrField<v1::Lesson> lessons;
  lessons.Swap(state.mutable_lessons());
  LEERLUS_RETURN_IF_ERROR(FoldIntoRecord(event, state));
  state.mutable_outcomes()->Swap(&outcomes);
  state.mutable_lessons()->Swap(&lessons);
  switch (event.payload_case()) {
    case v1::Event::kOutcomeRecorded: {
      v1::Outcome* outcome = state.add_outcomes();
      *outcome = event.outcome_recorded().outcome();
      outcome->set_record_position(event.position());
      break;
    }
    case v1::Event::kOutcomeRetracted:
      for (v1::Outcome& outcome : *state.mutable_outcomes()) {
        if (outcome.id() == event.outcome_retracted().outcome_id()) {
          outcome.set_retracted(true);
          outcome.set_retraction_reason(event.outcome_retracted().reason());
        }
      }
      break;
    case v1::Event::kLessonRecorded: {
      v1::Lesson* lesson = state.add_lessons();
      *lesson = event.lesson_recorded().lesson();
      lesson->set_record_position(event.position());
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace leerlus::model
