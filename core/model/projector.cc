#include "core/model/projector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/arena.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "core/model/experiment_state.h"
#include "core/model/keys.h"
#include "core/model/streams.h"

namespace leerlus::model {
namespace {

absl::StatusOr<std::string> ExperimentIdOf(const v1::Event& event) {
  absl::string_view stream = event.stream();
  if (!absl::ConsumePrefix(&stream, kExperimentStreamPrefix) || stream.empty()) {
    return absl::DataLossError(absl::StrCat("event at position ", event.position(),
                                            " has an experiment payload on stream '",
                                            event.stream(), "'"));
  }
  return std::string(stream);
}

// Which of an experiment's outcomes on one indicator analyses use: the most
// recent measurement (then the one recorded last). Its earlier outcomes on
// the indicator measured the same people, so pooling them all would count
// those people several times.
bool MoreRecent(const v1::Outcome& a, const v1::Outcome& b) {
  if (a.measured_on() != b.measured_on()) return a.measured_on() > b.measured_on();
  return a.record_position() > b.record_position();
}

absl::StatusOr<std::optional<v1::Outcome>> MostRecentLiveOutcome(
    storage::KeyValueReader& projections, absl::string_view experiment_id,
    absl::string_view indicator_id) {
  std::optional<v1::Outcome> latest;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(projections.Scan(
      families::kOutcomes, ExperimentChildPrefix(experiment_id), "",
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

namespace {

// Events parsed into one arena: few allocations, freed at once.
class ParsedEvents : public storage::DecodedChunk {
 public:
  google::protobuf::Arena arena;
  std::vector<const v1::Event*> events;
};

}  // namespace

absl::StatusOr<std::unique_ptr<storage::DecodedChunk>> DecodeChunk(std::vector<std::string> events) {
  auto parsed = std::make_unique<ParsedEvents>();
  parsed->events.reserve(events.size());
  for (const std::string& bytes : events) {
    auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(&parsed->arena);
    if (!event->ParseFromString(bytes)) return absl::DataLossError("cannot parse a stored event");
    parsed->events.push_back(event);
  }
  return parsed;
}

absl::Status Projector::ApplyDecoded(const storage::DecodedChunk& chunk) {
  // The schema pairs this projector with DecodeChunk: its chunks are parsed events.
  for (const v1::Event* event : static_cast<const ParsedEvents&>(chunk).events) {
    LEERLUS_RETURN_IF_ERROR(Apply(*event));
  }
  return absl::OkStatus();
}

absl::Status Projector::Apply(absl::string_view event_bytes) {
  // One message reused for every event: parsing reuses its allocations.
  if (!event_.ParseFromArray(event_bytes.data(), static_cast<int>(event_bytes.size()))) {
    return absl::DataLossError("cannot parse a stored event");
  }
  return Apply(event_);
}

absl::Status Projector::Apply(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kWorkMethodDefined: {
      v1::WorkMethod method = event.work_method_defined().work_method();
      method.set_update_position(event.position());
      storage::PutMessage(projections_, families::kCatalog,
                          CatalogKey(CatalogKind::kWorkMethod, method.id()), method);
      return absl::OkStatus();
    }
    case v1::Event::kIndicatorDefined: {
      v1::Indicator indicator = event.indicator_defined().indicator();
      indicator.set_update_position(event.position());
      storage::PutMessage(projections_, families::kCatalog,
                          CatalogKey(CatalogKind::kIndicator, indicator.id()), indicator);
      return absl::OkStatus();
    }
    case v1::Event::kAreaDefined: {
      v1::Area area = event.area_defined().area();
      area.set_update_position(event.position());
      storage::PutMessage(projections_, families::kCatalog,
                          CatalogKey(CatalogKind::kArea, area.code()), area);
      return absl::OkStatus();
    }
    case v1::Event::kTokenCreated: {
      v1::Token token = event.token_created().token();
      token.set_create_position(event.position());
      storage::PutMessage(projections_, families::kCatalog,
                          CatalogKey(CatalogKind::kToken, token.id()), token);
      if (!event.token_created().secret_sha256().empty()) {
        projections_.Put(
            families::kCatalog,
            CatalogKey(CatalogKind::kTokenSecret, event.token_created().secret_sha256()),
            token.id());
      }
      if (!token.certificate_subject().empty()) {
        projections_.Put(families::kCatalog,
                         CatalogKey(CatalogKind::kTokenCertificate, token.certificate_subject()),
                         token.id());
      }
      return absl::OkStatus();
    }
    case v1::Event::kTokenRevoked: {
      const std::string key = CatalogKey(CatalogKind::kToken, event.token_revoked().token_id());
      LEERLUS_ASSIGN_OR_RETURN(
          std::optional<v1::Token> token,
          storage::GetMessage<v1::Token>(projections_, families::kCatalog, key));
      if (!token.has_value()) {
        return absl::DataLossError(
            absl::StrCat("event at position ", event.position(), " revokes an unknown token"));
      }
      token->set_revoked(true);
      storage::PutMessage(projections_, families::kCatalog, key, *token);
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
      projections_.Put(families::kExperimentOrder, ExperimentOrderKey(event.position()),
                       experiment_id);
      break;
    case v1::Event::kOutcomeRecorded: {
      v1::Outcome outcome = event.outcome_recorded().outcome();
      outcome.set_record_position(event.position());
      storage::PutMessage(projections_, families::kOutcomes,
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
      LEERLUS_ASSIGN_OR_RETURN(
          std::optional<v1::Outcome> outcome,
          storage::GetMessage<v1::Outcome>(projections_, families::kOutcomes, key));
      if (!outcome.has_value()) {
        return absl::DataLossError(
            absl::StrCat("event at position ", event.position(), " retracts an unknown outcome"));
      }
      outcome->set_retracted(true);
      outcome->set_retraction_reason(event.outcome_retracted().reason());
      storage::PutMessage(projections_, families::kOutcomes, key, *outcome);
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
      storage::PutMessage(projections_, families::kLessons,
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
    storage::KeyValueReader& base, const std::string& key) {
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<Message> stored,
                             storage::GetMessage<Message>(base, cf_, key));
    it = rows_.emplace(key, Row{std::move(stored), false}).first;
  }
  return &it->second;
}

template <typename Message>
void Projector::CachedRows<Message>::Flush(storage::KeyValueWriter& out) {
  for (auto& [key, row] : rows_) {
    if (!row.changed) continue;
    if (row.value.has_value()) {
      storage::PutMessage(out, cf_, key, *row.value);
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

absl::Status ApplyEvent(const v1::Event& event, storage::KeyValueWriter& projections) {
  Projector projector(projections);
  LEERLUS_RETURN_IF_ERROR(projector.Apply(event));
  projector.Flush();
  return absl::OkStatus();
}

}  // namespace leerlus::model
