#include "core/model/keys.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/log_keys.h"

namespace leerlus::model {
namespace {
constexpr char kSeparator = '\0';
}  // namespace

std::string ExperimentKey(absl::string_view experiment_id) { return std::string(experiment_id); }

std::string ExperimentOrderKey(uint64_t create_position) {
  return storage::EncodeFixed64BigEndian(create_position);
}

std::string ExperimentChildPrefix(absl::string_view experiment_id) {
  return absl::StrCat(experiment_id, absl::string_view(&kSeparator, 1));
}

std::string ExperimentChildKey(absl::string_view experiment_id, absl::string_view child_id) {
  return absl::StrCat(ExperimentChildPrefix(experiment_id), child_id);
}

std::string DataKeyKey(absl::string_view experiment_id, uint32_t generation) {
  const char bytes[4] = {static_cast<char>(generation >> 24), static_cast<char>(generation >> 16),
                         static_cast<char>(generation >> 8), static_cast<char>(generation)};
  return absl::StrCat(ExperimentChildPrefix(experiment_id), absl::string_view(bytes, 4));
}

std::string AnalysisIndicatorPrefix(absl::string_view indicator_id) {
  return absl::StrCat(indicator_id, absl::string_view(&kSeparator, 1));
}

std::string AnalysisKey(absl::string_view indicator_id, absl::string_view work_method_id,
                        absl::string_view experiment_id) {
  absl::string_view sep(&kSeparator, 1);
  return absl::StrCat(indicator_id, sep, work_method_id, sep, experiment_id);
}

absl::StatusOr<AnalysisKeyParts> ParseAnalysisKey(absl::string_view key) {
  const size_t end_of_indicator = key.find(kSeparator);
  const size_t end_of_method = end_of_indicator == absl::string_view::npos
                                   ? absl::string_view::npos
                                   : key.find(kSeparator, end_of_indicator + 1);
  if (end_of_method == absl::string_view::npos) {
    return absl::DataLossError("analysis key has fewer than three parts");
  }
  return AnalysisKeyParts{
      std::string(key.substr(0, end_of_indicator)),
      std::string(key.substr(end_of_indicator + 1, end_of_method - end_of_indicator - 1)),
      std::string(key.substr(end_of_method + 1))};
}

std::string CatalogPrefix(CatalogKind kind) { return std::string{static_cast<char>(kind), '/'}; }

std::string CatalogKey(CatalogKind kind, absl::string_view id) {
  return absl::StrCat(CatalogPrefix(kind), id);
}

}  // namespace leerlus::model
