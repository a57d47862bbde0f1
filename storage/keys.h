// Key encoding for every column family, in one place.
//
// Integers in keys are big-endian and fixed-width so that byte order equals
// numeric order. Ids and stream names never contain '\0' (validation
// guarantees it), so '\0' separates the parts of composite keys.
//
//   std::string key = EventKey(42);
//   absl::StatusOr<uint64_t> position = ParseEventKey(key);
#ifndef LEERLUS_STORAGE_KEYS_H_
#define LEERLUS_STORAGE_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus::storage {

// Appends `value` as 8 big-endian bytes.
void PutFixed64BigEndian(std::string* out, uint64_t value);

// 8 big-endian bytes: the value format of positions and versions too.
std::string EncodeFixed64BigEndian(uint64_t value);

// Reads 8 big-endian bytes from the front of `*in` and consumes them.
// Fails cleanly (without consuming) if fewer than 8 bytes remain.
absl::StatusOr<uint64_t> ConsumeFixed64BigEndian(absl::string_view* in);

// events CF: global position.
std::string EventKey(uint64_t position);
absl::StatusOr<uint64_t> ParseEventKey(absl::string_view key);

// streams CF: one key per (stream, version) pointing at the event's
// position, and one head key per stream holding its current version.
std::string StreamEventKey(absl::string_view stream, uint64_t version);
std::string StreamEventPrefix(absl::string_view stream);
std::string StreamHeadKey(absl::string_view stream);
struct StreamEventKeyParts {
  std::string stream;
  uint64_t version = 0;
};
absl::StatusOr<StreamEventKeyParts> ParseStreamEventKey(absl::string_view key);

// requests CF: the principal, then the request id -> the request record.
// (Records written before ids were scoped are keyed by the bare id; the
// separator keeps the two apart.)
std::string RequestKey(absl::string_view principal, absl::string_view request_id);

// experiments CF: experiment id -> Experiment (without outcomes, lessons),
// as of the last event that changed it; read it with ReadExperiment.
std::string ExperimentKey(absl::string_view experiment_id);

// experiment_order CF: registration position -> experiment id, the order
// lists use (new experiments sort last, so pages never skip or repeat).
std::string ExperimentOrderKey(uint64_t create_position);

// outcomes CF and lessons CF: experiment id, then the record's id.
std::string ExperimentChildKey(absl::string_view experiment_id, absl::string_view child_id);
std::string ExperimentChildPrefix(absl::string_view experiment_id);

// data_keys CF: experiment id, then the key generation (the number of
// erasures before it) as 4 big-endian bytes.
std::string DataKeyKey(absl::string_view experiment_id, uint32_t generation);

// analysis CF: indicator, work method, experiment -> the experiment's most
// recent live Outcome on the indicator. The rows one what-works question
// needs are one contiguous range, one row per experiment.
std::string AnalysisKey(absl::string_view indicator_id, absl::string_view work_method_id,
                        absl::string_view experiment_id);
std::string AnalysisIndicatorPrefix(absl::string_view indicator_id);

// catalog CF: kind letter, '/', id.
enum class CatalogKind : char {
  kWorkMethod = 'm',
  kIndicator = 'i',
  kArea = 'a',
  kToken = 't',
  // Hex SHA-256 of a token secret -> token id.
  kTokenSecret = 's',
  // Client certificate subject -> token id.
  kTokenCertificate = 'c',
};
std::string CatalogKey(CatalogKind kind, absl::string_view id);
std::string CatalogPrefix(CatalogKind kind);

// meta CF: the log head (last position) and the hash of the last event.
inline constexpr absl::string_view kHeadPositionKey = "head_position";
inline constexpr absl::string_view kHeadHashKey = "head_hash";
// meta CF: the layout of the projections they were written in; a store
// opened with another layout rebuilds them from the log.
inline constexpr absl::string_view kProjectionFormatKey = "projection_format";
// 2: one analysis row per experiment (its most recent live outcome).
// 3: outcomes and lessons no longer rewrite the experiment record.
inline constexpr absl::string_view kProjectionFormat = "3";

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_KEYS_H_
