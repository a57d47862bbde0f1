// Stream names: one stream per resource that has a history.
#ifndef LEERLUS_CORE_MODEL_STREAMS_H_
#define LEERLUS_CORE_MODEL_STREAMS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace leerlus::model {

inline constexpr absl::string_view kExperimentStreamPrefix = "experiments/";

inline std::string ExperimentStream(absl::string_view experiment_id) {
  return absl::StrCat(kExperimentStreamPrefix, experiment_id);
}
inline std::string WorkMethodStream(absl::string_view id) {
  return absl::StrCat("work-methods/", id);
}
inline std::string IndicatorStream(absl::string_view id) { return absl::StrCat("indicators/", id); }
inline std::string AreaStream(absl::string_view code) { return absl::StrCat("areas/", code); }
inline std::string TokenStream(absl::string_view id) { return absl::StrCat("tokens/", id); }

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_STREAMS_H_
