// Key encoding of the domain's column families, in one place (the log's
// own keys are in storage/log_keys.h). Ids never contain '\0' (validation
// guarantees it), so '\0' separates the parts of composite keys; integers
// are big-endian so that byte order equals numeric order.
#ifndef LEERLUS_CORE_MODEL_KEYS_H_
#define LEERLUS_CORE_MODEL_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus::model {

// experiments family: experiment id -> Experiment (without outcomes, lessons),
// as of the last event that changed it; read it with ReadExperiment.
std::string ExperimentKey(absl::string_view experiment_id);

// experiment_order family: registration position -> experiment id, the order
// lists use (new experiments sort last, so pages never skip or repeat).
std::string ExperimentOrderKey(uint64_t create_position);

// outcomes and lessons families: experiment id, then the record's id.
std::string ExperimentChildKey(absl::string_view experiment_id, absl::string_view child_id);
std::string ExperimentChildPrefix(absl::string_view experiment_id);

// data_keys family: experiment id, then the key generation (the number of
// erasures before it) as 4 big-endian bytes.
std::string DataKeyKey(absl::string_view experiment_id, uint32_t generation);

// analysis family: indicator, work method, experiment -> the experiment's most
// recent live Outcome on the indicator. The rows one what-works question
// needs are one contiguous range, one row per experiment.
std::string AnalysisKey(absl::string_view indicator_id, absl::string_view work_method_id,
                        absl::string_view experiment_id);
std::string AnalysisIndicatorPrefix(absl::string_view indicator_id);
struct AnalysisKeyParts {
  std::string indicator_id;
  std::string work_method_id;
  std::string experiment_id;
};
absl::StatusOr<AnalysisKeyParts> ParseAnalysisKey(absl::string_view key);

// catalog family: kind letter, '/', id.
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

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_KEYS_H_
