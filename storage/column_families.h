// The registry of RocksDB column families: every family is named by this
// enum, never by a bare string or index.
#ifndef LEERLUS_STORAGE_COLUMN_FAMILIES_H_
#define LEERLUS_STORAGE_COLUMN_FAMILIES_H_

#include <array>
#include <cstddef>

#include "absl/strings/string_view.h"

namespace leerlus::storage {

enum class ColumnFamily : int {
  kMeta = 0,         // RocksDB's default family: head position and hash.
  kEvents,           // position -> serialized v1::Event (the log itself).
  kStreams,          // stream + version -> position; stream -> head version.
  kRequests,         // request id -> internal::v1::RequestRecord.
  kExperiments,      // projection: id -> v1::Experiment.
  kExperimentOrder,  // projection: registration position -> id.
  kOutcomes,         // projection: experiment + outcome id -> v1::Outcome.
  kLessons,          // projection: experiment + lesson id -> v1::Lesson.
  kAnalysis,         // projection: indicator/method/experiment -> its latest live v1::Outcome.
  kCatalog,          // projection: kind + id -> WorkMethod/Indicator/Area.
  kDataKeys,         // experiment + key generation -> AES-256 key for its free texts.
};

inline constexpr size_t kColumnFamilyCount = 11;

inline constexpr std::array<absl::string_view, kColumnFamilyCount> kColumnFamilyNames = {
    "default",  "events",  "streams",  "requests", "experiments", "experiment_order",
    "outcomes", "lessons", "analysis", "catalog",  "data_keys"};

inline constexpr absl::string_view ColumnFamilyName(ColumnFamily cf) {
  return kColumnFamilyNames[static_cast<size_t>(cf)];
}

// Projections are derived from the log and can be dropped and rebuilt.
inline constexpr std::array<ColumnFamily, 6> kProjectionFamilies = {
    ColumnFamily::kExperiments, ColumnFamily::kExperimentOrder, ColumnFamily::kOutcomes,
    ColumnFamily::kLessons,     ColumnFamily::kAnalysis,        ColumnFamily::kCatalog};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_COLUMN_FAMILIES_H_
