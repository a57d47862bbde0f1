// The one place free text that may hold personal data (lesson texts,
// decision rationales, withdrawal and retraction reasons) passes through on
// its way into an event. Today it is stored as given; encrypting it per
// experiment (so that it can be erased without rewriting the log) slots in
// here and in its counterpart on the way out.
#ifndef LEERLUS_CORE_PERSONAL_DATA_H_
#define LEERLUS_CORE_PERSONAL_DATA_H_

#include <string>

#include "absl/strings/string_view.h"

namespace leerlus::core {

// Returns the form of `text` to store in an event of `experiment_id`.
inline std::string ProtectFreeText(absl::string_view /*experiment_id*/, absl::string_view text) {
  return std::string(text);
}

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_PERSONAL_DATA_H_
