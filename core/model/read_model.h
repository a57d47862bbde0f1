// The typed read model: every read (and the few side writes) of the
// domain's column families, so that commands, queries, access and
// insights never touch a family or a key. Each function reads through any
// storage::KeyValueReader: a decision's state, a read view, a past view.
//
// Scans visit rows as (key, serialized value) so that a caller can count
// the bytes it answers with and page by key; `start` is the first key to
// visit (empty: from the first row).
#ifndef LEERLUS_CORE_MODEL_READ_MODEL_H_
#define LEERLUS_CORE_MODEL_READ_MODEL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "leerlus/v1/resources.pb.h"
#include "storage/event_store.h"
#include "storage/key_value.h"

namespace leerlus::model {

using RowVisitor = std::function<bool(absl::string_view key, absl::string_view value)>;

// Experiments.
// The record as stored (its version and update time may be behind the
// stream: model::ReadExperiment catches it up).
absl::StatusOr<std::optional<v1::Experiment>> ExperimentRecord(storage::KeyValueReader& state,
                                                               absl::string_view experiment_id);
// Every record, in id order.
absl::Status ScanExperimentRecords(storage::KeyValueReader& state, const RowVisitor& visit);
// Experiment ids in registration order: visit(order key, experiment id).
absl::Status ScanExperimentOrder(storage::KeyValueReader& state, absl::string_view start,
                                 const RowVisitor& visit);

// An experiment's outcomes and lessons.
absl::StatusOr<std::optional<v1::Outcome>> FindOutcome(storage::KeyValueReader& state,
                                                       absl::string_view experiment_id,
                                                       absl::string_view outcome_id);
absl::StatusOr<std::optional<v1::Lesson>> FindLesson(storage::KeyValueReader& state,
                                                     absl::string_view experiment_id,
                                                     absl::string_view lesson_id);
absl::Status ScanOutcomeRows(storage::KeyValueReader& state, absl::string_view experiment_id,
                             absl::string_view start, const RowVisitor& visit);
absl::Status ScanLessonRows(storage::KeyValueReader& state, absl::string_view experiment_id,
                            absl::string_view start, const RowVisitor& visit);
// The first key an experiment's outcome or lesson rows can have.
std::string FirstChildKey(absl::string_view experiment_id);

// The analysis view: per indicator, one row per (work method, experiment)
// holding the experiment's most recent live outcome on it.
absl::Status ScanAnalysisRows(
    storage::KeyValueReader& state, absl::string_view indicator_id,
    const std::function<bool(const AnalysisKeyParts& key, absl::string_view outcome)>& visit);
absl::StatusOr<std::optional<v1::Outcome>> AnalysisRow(storage::KeyValueReader& state,
                                                       absl::string_view indicator_id,
                                                       absl::string_view work_method_id,
                                                       absl::string_view experiment_id);

// The catalogue: work methods, indicators, areas and tokens by id.
template <typename Message>
absl::StatusOr<std::optional<Message>> FindCatalogEntry(storage::KeyValueReader& state,
                                                        CatalogKind kind, absl::string_view id) {
  return storage::GetMessage<Message>(state, families::kCatalog, CatalogKey(kind, id));
}
// Entries of one kind in id order: visit(key, entry).
absl::Status ScanCatalog(storage::KeyValueReader& state, CatalogKind kind, absl::string_view start,
                         const RowVisitor& visit);
// The first key entries of `kind` can have.
std::string FirstCatalogKey(CatalogKind kind);
// The id of an entry from its key.
absl::string_view CatalogIdOfKey(CatalogKind kind, absl::string_view key);
// The token with this secret (hex SHA-256) or client certificate subject.
absl::StatusOr<std::optional<std::string>> FindTokenIdBySecretHash(storage::KeyValueReader& state,
                                                                   absl::string_view secret_hash);
absl::StatusOr<std::optional<std::string>> FindTokenIdByCertificate(
    storage::KeyValueReader& state, absl::string_view certificate_subject);

// The keys of experiments' personal texts, one per erasure generation.
absl::StatusOr<std::optional<std::string>> FindDataKey(storage::KeyValueReader& state,
                                                       absl::string_view experiment_id,
                                                       uint32_t generation);
void PutDataKey(storage::KeyValueWriter& side_writes, absl::string_view experiment_id,
                uint32_t generation, absl::string_view key);
void DeleteDataKey(storage::KeyValueWriter& side_writes, absl::string_view experiment_id,
                   uint32_t generation);
// Makes deleted data keys physically gone from the disk.
absl::Status PurgeErasedDataKeys(storage::EventStore& store);

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_READ_MODEL_H_
