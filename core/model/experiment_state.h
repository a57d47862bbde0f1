// An experiment's state as its events make it: the fields that may be
// amended, folding one event into the record, and reading the record as of
// the live state.
#ifndef LEERLUS_CORE_MODEL_EXPERIMENT_STATE_H_
#define LEERLUS_CORE_MODEL_EXPERIMENT_STATE_H_

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "leerlus/v1/events.pb.h"
#include "storage/key_value.h"

namespace leerlus::model {

// A field of an experiment that may be changed after registration (an
// UpdateExperiment path), and how an amendment copies it.
struct AmendableField {
  absl::string_view name;
  void (*copy)(const v1::Experiment& from, v1::Experiment& to);
};
// Every amendable field, in the order the API documents them.
const std::vector<AmendableField>& AmendableFields();
// nullptr if `path` names no amendable field.
const AmendableField* FindAmendableField(absl::string_view path);

// The state changes an experiment event makes to the experiment record
// itself (outcomes and lessons are kept apart in the projections).
absl::Status FoldIntoRecord(const v1::Event& event, v1::Experiment& experiment);

// The experiment's record (without outcomes and lessons), with the version
// and update time of its last event; nullopt if it is not registered. The
// stored record keeps those of the last event that changed it (an outcome or
// a lesson does not), so a record behind its stream takes them from the
// stream's head and the log. Reads the log's stream index and events too:
// for live state, not for a projection replayed as of an earlier position.
absl::StatusOr<std::optional<v1::Experiment>> ReadExperiment(storage::KeyValueReader& state,
                                                             absl::string_view experiment_id);
// The second half of ReadExperiment, for a record read raw: a list filters
// its records first and catches up only the ones it returns.
absl::Status CatchUpWithStream(storage::KeyValueReader& state, v1::Experiment& experiment);

// Folds one experiment's events into its full state (with outcomes and
// lessons), for point-in-time reads.
absl::Status FoldExperimentEvent(const v1::Event& event, v1::Experiment& state);

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_EXPERIMENT_STATE_H_
