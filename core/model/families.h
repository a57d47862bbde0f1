// The domain's column families beside the log's own, and the schema that
// opens a store with them. Only core/model reads or writes these families;
// the rest of core goes through the read model (core/model/read_model.h).
#ifndef LEERLUS_CORE_MODEL_FAMILIES_H_
#define LEERLUS_CORE_MODEL_FAMILIES_H_

#include "absl/status/statusor.h"
#include "storage/column_families.h"
#include "storage/event_store.h"
#include "storage/projection.h"

namespace leerlus::model {

namespace families {
using storage::ColumnFamily;
using storage::SchemaFamily;
// Projections (rebuilt from the log):
inline constexpr ColumnFamily kExperiments = SchemaFamily(0);      // id -> v1::Experiment
inline constexpr ColumnFamily kExperimentOrder = SchemaFamily(1);  // position -> id
inline constexpr ColumnFamily kOutcomes = SchemaFamily(2);         // experiment + id -> v1::Outcome
inline constexpr ColumnFamily kLessons = SchemaFamily(3);          // experiment + id -> v1::Lesson
// indicator/method/experiment -> the experiment's latest live v1::Outcome.
inline constexpr ColumnFamily kAnalysis = SchemaFamily(4);
inline constexpr ColumnFamily kCatalog = SchemaFamily(5);  // kind + id -> catalogue entry
// State of its own, kept across rebuilds: experiment + key generation ->
// the AES-256 key of its free texts.
inline constexpr ColumnFamily kDataKeys = SchemaFamily(6);
}  // namespace families

// 2: one analysis row per experiment (its most recent live outcome).
// 3: outcomes and lessons no longer rewrite the experiment record.
inline constexpr absl::string_view kProjectionFormat = "3";

// The families above, the projection format and the projector.
storage::LogSchema Schema();

// Opens a leerlus store: `options` with the schema set. Finishes the purge
// of an erasure that a crash interrupted.
absl::StatusOr<std::unique_ptr<storage::EventStore>> OpenStore(storage::StoreOptions options);

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_FAMILIES_H_
