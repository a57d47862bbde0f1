#include "storage/projector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace leerlus::storage {
namespace {

constexpr absl::string_view kExperimentStreamPrefix = "experiments/";

absl::StatusOr<std::string> ExperimentIdOf(const v1::Event& event) {
  absl::string_view stream = event.stream();
  if (!absl::ConsumePrefix(&stream, kExperimentStreamPrefix) || stream.empty()) {
    return absl::DataLossError(absl::StrCat("event at position ", event.position(),
                                            " has an experiment payload on stream '",
                                            event.stream(), "'"));
  }
  return std::string(stream);
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
        if (path == "title") {
          experiment.set_title(values.title());
        } else if (path == "description") {
          experiment.set_description(values.description());
        } else if (path == "societal_task") {
          experiment.set_societal_task(values.societal_task());
        } else if (path == "partner_ids") {
          *experiment.mutable_partner_ids() = values.partner_ids();
        } else if (path == "budget_cents") {
          experiment.set_budget_cents(values.budget_cents());
        } else if (path == "planned_start") {
          experiment.set_planned_start(values.planned_start());
        } else if (path == "planned_end") {
          experiment.set_planned_end(values.planned_end());
        } else if (path == "context") {
          *experiment.mutable_context() = values.context();
        } else {
          return absl::DataLossError(absl::StrCat("event at position ", event.position(),
                                                  " amends unknown path '", path, "'"));
        }
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

// Which of an experiment's outcomes on one indicator analyses use: the most
// recent measurement (then the one recorded last). Its earlier outcomes on
// the indicator measured the same people, so pooling them all would count
// those people several times.
bool MoreRecent(const v1::Outcome& a, const v1::Outcome& b) {
  if (a.measured_on() != b.measured_on()) return a.measured_on() > b.measured_on();
  return a.record_position() > b.record_position();
}

absl::StatusOr<std::optional<v1::Outcome>> MostRecentLiveOutcome(KeyValueReader& projections,
                                                                 absl::string_view experiment_id,
                                                                 absl::string_view indicator_id) {
  std::optional<v1::Outcome> latest;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(projections.Scan(
      ColumnFamily::kOutcomes, ExperimentChildPrefix(experiment_id), "",
      [&](absl::string_view, absl::string_view bytes) {
        v1::Outcome outcome;
        if (!outcome.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          problem = absl::DataLossError("cannot parse a stored outcome");
          return false;
        }
        if (!outcome.retracted() && outcome.indicator_id() == indicator_id &&
            (!latest.has_value() || MoreRecent(outcome, *latest))) {
          latest = std::move(outcome);
        }
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return latest;
}

// Outcomes and lessons have rows of their own: recording them leaves the
// experiment record as it was, so the busiest events write one row less
// (ReadExperiment takes the version and update time from the stream).
bool ChangesRecord(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kOutcomeRecorded:
    case v1::Event::kOutcomeRetracted:
    case v1::Event::kLessonRecorded:
      return false;
    default:
      return true;
  }
}

bool IsExperimentEvent(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kWorkMethodDefined:
    case v1::Event::kIndicatorDefined:
    case v1::Event::kAreaDefined:
    case v1::Event::kTokenCreated:
    case v1::Event::kTokenRevoked:
    case v1::Event::PAYLOAD_NOT_SET:
      return false;
    default:
      return true;
  }
}

}  // namespace

std::string ExperimentStream(absl::string_view experiment_id) {
  return absl::StrCat(kExperimentStreamPrefix, experiment_id);
}
std::string WorkMethodStream(absl::string_view id) { return absl::StrCat("work-methods/", id); }
std::string IndicatorStream(absl::string_view id) { return absl::StrCat("indicators/", id); }
std::string AreaStream(absl::string_view code) { return absl::StrCat("areas/", code); }
std::string TokenStream(absl::string_view id) { return absl::StrCat("tokens/", id); }

absl::Status Projector::Apply(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kWorkMethodDefined: {
      v1::WorkMethod method = event.work_method_defined().work_method();
      method.set_update_position(event.position());
      PutMessage(projections_, ColumnFamily::kCatalog,
                 CatalogKey(CatalogKind::kWorkMethod, method.id()), method);
      return absl::OkStatus();
    }
    case v1::Event::kIndicatorDefined: {
      v1::Indicator indicator = event.indicator_defined().indicator();
      indicator.set_update_position(event.position());
      PutMessage(projections_, ColumnFamily::kCatalog,
                 CatalogKey(CatalogKind::kIndicator, indicator.id()), indicator);
      return absl::OkStatus();
    }
    case v1::Event::kAreaDefined: {
      v1::Area area = event.area_defined().area();
      area.set_update_position(event.position());
      PutMessage(projections_, ColumnFamily::kCatalog, CatalogKey(CatalogKind::kArea, area.code()),
                 area);
      return absl::OkStatus();
    }
    case v1::Event::kTokenCreated: {
      v1::Token token = event.token_created().token();
      token.set_create_position(event.position());
      PutMessage(projections_, ColumnFamily::kCatalog, CatalogKey(CatalogKind::kToken, token.id()),
                 token);
      if (!event.token_created().secret_sha256().empty()) {
        projections_.Put(
            ColumnFamily::kCatalog,
            CatalogKey(CatalogKind::kTokenSecret, event.token_created().secret_sha256()),
            token.id());
      }
      if (!token.certificate_subject().empty()) {
        projections_.Put(ColumnFamily::kCatalog,
                        CatalogKey(CatalogKind::kTokenCertificate, token.certificate_subject()),
                        token.id());
      }
      return absl::OkStatus();
    }
    case v1::Event::kTokenRevoked: {
      const std::string key = CatalogKey(CatalogKind::kToken, event.token_revoked().token_id());
      LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Token> token,
                               GetMessage<v1::Token>(projections_, ColumnFamily::kCatalog, key));
      if (!token.has_value()) {
        return absl::DataLossError(
            absl::StrCat("event at position ", event.position(), " revokes an unknown token"));
      }
      token->set_revoked(true);
      PutMessage(projections_, ColumnFamily::kCatalog, key, *token);
      return absl::OkStatus();
    }
    case v1::Event::PAYLOAD_NOT_SET:
      return absl::DataLossError(
          absl::StrCat("event at position ", event.position(), " has no payload"));
    default:
      break;
  }
  if (!IsExperimentEvent(event)) {
    return absl::DataLossError(
        absl::StrCat("event at position ", event.position(), " has an unknown payload"));
  }
  return ApplyExperimentEvent(event);
}

absl::Status Projector::ApplyExperimentEvent(const v1::Event& event) {
  LEERLUS_ASSIGN_OR_RETURN(std::string experiment_id, ExperimentIdOf(event));
  const std::string record_key = ExperimentKey(experiment_id);
  CachedRows<v1::Experiment>::Row* record;
  if (event.payload_case() == v1::Event::kExperimentRegistered) {
    // A registration starts the record afresh; nothing to read.
    record = &experiments_.Slot(record_key);
    record->Set(v1::Experiment());
  } else {
    LEERLUS_ASSIGN_OR_RETURN(record, experiments_.Find(projections_, record_key));
  }
  if (!record->value.has_value()) {
    return absl::DataLossError(absl::StrCat("event at position ", event.position(),
                                            " refers to unregistered experiment '", experiment_id,
                                            "'"));
  }
  const v1::Experiment* experiment = &*record->value;
  if (ChangesRecord(event)) {
    LEERLUS_RETURN_IF_ERROR(FoldIntoRecord(event, *record->value));
    record->changed = true;
  }

  switch (event.payload_case()) {
    case v1::Event::kExperimentRegistered:
      projections_.Put(ColumnFamily::kExperimentOrder, ExperimentOrderKey(event.position()),
                       experiment_id);
      break;
    case v1::Event::kOutcomeRecorded: {
      v1::Outcome outcome = event.outcome_recorded().outcome();
      outcome.set_record_position(event.position());
      PutMessage(projections_, ColumnFamily::kOutcomes,
                 ExperimentChildKey(experiment_id, outcome.id()), outcome);
      const std::string key =
          AnalysisKey(outcome.indicator_id(), experiment->work_method_id(), experiment_id);
      LEERLUS_ASSIGN_OR_RETURN(CachedRows<v1::Outcome>::Row * latest,
                               analysis_.Find(projections_, key));
      if (!latest->value.has_value() || MoreRecent(outcome, *latest->value)) {
        latest->Set(std::move(outcome));
      }
      break;
    }
    case v1::Event::kOutcomeRetracted: {
      const std::string key =
          ExperimentChildKey(experiment_id, event.outcome_retracted().outcome_id());
      LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> outcome,
                               GetMessage<v1::Outcome>(projections_, ColumnFamily::kOutcomes, key));
      if (!outcome.has_value()) {
        return absl::DataLossError(
            absl::StrCat("event at position ", event.position(), " retracts an unknown outcome"));
      }
      outcome->set_retracted(true);
      outcome->set_retraction_reason(event.outcome_retracted().reason());
      PutMessage(projections_, ColumnFamily::kOutcomes, key, *outcome);
      // Retracted outcomes stay in the history but leave the analysis view:
      // the experiment's next most recent live outcome takes their place.
      const std::string analysis_key =
          AnalysisKey(outcome->indicator_id(), experiment->work_method_id(), experiment_id);
      LEERLUS_ASSIGN_OR_RETURN(CachedRows<v1::Outcome>::Row * latest,
                               analysis_.Find(projections_, analysis_key));
      if (latest->value.has_value() && latest->value->id() == outcome->id()) {
        LEERLUS_ASSIGN_OR_RETURN(
            std::optional<v1::Outcome> next,
            MostRecentLiveOutcome(projections_, experiment_id, outcome->indicator_id()));
        latest->Set(std::move(next));
      }
      break;
    }
    case v1::Event::kLessonRecorded: {
      v1::Lesson lesson = event.lesson_recorded().lesson();
      lesson.set_record_position(event.position());
      PutMessage(projections_, ColumnFamily::kLessons,
                 ExperimentChildKey(experiment_id, lesson.id()), lesson);
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

template <typename Message>
absl::StatusOr<typename Projector::CachedRows<Message>::Row*> Projector::CachedRows<Message>::Find(
    KeyValueReader& base, const std::string& key) {
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<Message> stored, GetMessage<Message>(base, cf_, key));
    it = rows_.emplace(key, Row{std::move(stored), false}).first;
  }
  return &it->second;
}

template <typename Message>
void Projector::CachedRows<Message>::Flush(KeyValueWriter& out) {
  for (auto& [key, row] : rows_) {
    if (!row.changed) continue;
    if (row.value.has_value()) {
      PutMessage(out, cf_, key, *row.value);
    } else {
      out.Delete(cf_, key);
    }
    row.changed = false;
  }
}

void Projector::Flush() {
  experiments_.Flush(projections_);
  analysis_.Flush(projections_);
  if (CacheFull()) {
    experiments_.Clear();
    analysis_.Clear();
  }
}

absl::StatusOr<std::optional<v1::Experiment>> ReadExperiment(KeyValueReader& state,
                                                             absl::string_view experiment_id) {
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Experiment> experiment,
      GetMessage<v1::Experiment>(state, ColumnFamily::kExperiments, ExperimentKey(experiment_id)));
  if (experiment.has_value()) LEERLUS_RETURN_IF_ERROR(CatchUpWithStream(state, *experiment));
  return experiment;
}

absl::Status CatchUpWithStream(KeyValueReader& state, v1::Experiment& experiment) {
  const std::string stream = ExperimentStream(experiment.id());
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> head,
                           state.Get(ColumnFamily::kStreams, StreamHeadKey(stream)));
  if (!head.has_value()) {
    return absl::DataLossError(absl::StrCat("experiment '", experiment.id(), "' has no stream"));
  }
  absl::string_view head_bytes(*head);
  LEERLUS_ASSIGN_OR_RETURN(uint64_t version, ConsumeFixed64BigEndian(&head_bytes));
  // The record is current when the stream's last event changed it.
  if (version == experiment.version()) return absl::OkStatus();
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> entry,
                           state.Get(ColumnFamily::kStreams, StreamEventKey(stream, version)));
  if (!entry.has_value()) {
    return absl::DataLossError(
        absl::StrCat("stream '", stream, "' has no index entry for its head ", version));
  }
  absl::string_view entry_bytes(*entry);
  LEERLUS_ASSIGN_OR_RETURN(uint64_t position, ConsumeFixed64BigEndian(&entry_bytes));
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Event> last,
                           GetMessage<v1::Event>(state, ColumnFamily::kEvents, EventKey(position)));
  if (!last.has_value()) {
    return absl::DataLossError(absl::StrCat("the log has no event at position ", position));
  }
  experiment.set_version(version);
  *experiment.mutable_update_time() = last->time();
  return absl::OkStatus();
}

absl::Status ApplyEvent(const v1::Event& event, KeyValueWriter& projections) {
  Projector projector(projections);
  LEERLUS_RETURN_IF_ERROR(projector.Apply(event));
  projector.Flush();
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

}  // namespace leerlus::storage
