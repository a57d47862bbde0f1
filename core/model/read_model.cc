#include "core/model/read_model.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace leerlus::model {

absl::StatusOr<std::optional<v1::Experiment>> ExperimentRecord(storage::KeyValueReader& state,
                                                               absl::string_view experiment_id) {
  return storage::GetMessage<v1::Experiment>(state, families::kExperiments,
                                             ExperimentKey(experiment_id));
}

absl::Status ScanExperimentRecords(storage::KeyValueReader& state, const RowVisitor& visit) {
  return state.Scan(families::kExperiments, "", "", visit);
}

absl::Status ScanExperimentOrder(storage::KeyValueReader& state, absl::string_view start,
                                 const RowVisitor& visit) {
  return state.Scan(families::kExperimentOrder, "", start, visit);
}

absl::StatusOr<std::optional<v1::Outcome>> FindOutcome(storage::KeyValueReader& state,
                                                       absl::string_view experiment_id,
                                                       absl::string_view outcome_id) {
  return storage::GetMessage<v1::Outcome>(state, families::kOutcomes,
                                          ExperimentChildKey(experiment_id, outcome_id));
}

absl::StatusOr<std::optional<v1::Lesson>> FindLesson(storage::KeyValueReader& state,
                                                     absl::string_view experiment_id,
                                                     absl::string_view lesson_id) {
  return storage::GetMessage<v1::Lesson>(state, families::kLessons,
                                         ExperimentChildKey(experiment_id, lesson_id));
}

absl::Status ScanOutcomeRows(storage::KeyValueReader& state, absl::string_view experiment_id,
                             absl::string_view start, const RowVisitor& visit) {
  return state.Scan(families::kOutcomes, ExperimentChildPrefix(experiment_id), start, visit);
}

absl::Status ScanLessonRows(storage::KeyValueReader& state, absl::string_view experiment_id,
                            absl::string_view start, const RowVisitor& visit) {
  return state.Scan(families::kLessons, ExperimentChildPrefix(experiment_id), start, visit);
}

std::string FirstChildKey(absl::string_view experiment_id) {
  return ExperimentChildPrefix(experiment_id);
}

absl::Status ScanAnalysisRows(
    storage::KeyValueReader& state, absl::string_view indicator_id,
    const std::function<bool(const AnalysisKeyParts& key, absl::string_view outcome)>& visit) {
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(state.Scan(families::kAnalysis, AnalysisIndicatorPrefix(indicator_id), "",
                                     [&](absl::string_view key, absl::string_view value) {
                                       absl::StatusOr<AnalysisKeyParts> parts =
                                           ParseAnalysisKey(key);
                                       if (!parts.ok()) {
                                         problem = parts.status();
                                         return false;
                                       }
                                       return visit(*parts, value);
                                     }));
  return problem;
}

absl::StatusOr<std::optional<v1::Outcome>> AnalysisRow(storage::KeyValueReader& state,
                                                       absl::string_view indicator_id,
                                                       absl::string_view work_method_id,
                                                       absl::string_view experiment_id) {
  return storage::GetMessage<v1::Outcome>(state, families::kAnalysis,
                                          AnalysisKey(indicator_id, work_method_id, experiment_id));
}

absl::Status ScanCatalog(storage::KeyValueReader& state, CatalogKind kind, absl::string_view start,
                         const RowVisitor& visit) {
  return state.Scan(families::kCatalog, CatalogPrefix(kind), start, visit);
}

std::string FirstCatalogKey(CatalogKind kind) { return CatalogPrefix(kind); }

absl::string_view CatalogIdOfKey(CatalogKind kind, absl::string_view key) {
  return key.substr(CatalogPrefix(kind).size());
}

absl::StatusOr<std::optional<std::string>> FindTokenIdBySecretHash(storage::KeyValueReader& state,
                                                                   absl::string_view secret_hash) {
  return state.Get(families::kCatalog, CatalogKey(CatalogKind::kTokenSecret, secret_hash));
}

absl::StatusOr<std::optional<std::string>> FindTokenIdByCertificate(
    storage::KeyValueReader& state, absl::string_view certificate_subject) {
  return state.Get(families::kCatalog,
                   CatalogKey(CatalogKind::kTokenCertificate, certificate_subject));
}

absl::StatusOr<std::optional<std::string>> FindDataKey(storage::KeyValueReader& state,
                                                       absl::string_view experiment_id,
                                                       uint32_t generation) {
  return state.Get(families::kDataKeys, DataKeyKey(experiment_id, generation));
}

void PutDataKey(storage::KeyValueWriter& side_writes, absl::string_view experiment_id,
                uint32_t generation, absl::string_view key) {
  side_writes.Put(families::kDataKeys, DataKeyKey(experiment_id, generation), key);
}

void DeleteDataKey(storage::KeyValueWriter& side_writes, absl::string_view experiment_id,
                   uint32_t generation) {
  side_writes.Delete(families::kDataKeys, DataKeyKey(experiment_id, generation));
}

absl::Status PurgeErasedDataKeys(storage::EventStore& store) {
  return store.PurgeDeleted(families::kDataKeys);
}

}  // namespace leerlus::model
