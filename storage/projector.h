// The projector folds events into the query views (projections). It is the
// only code that writes projections, used both live (inside the append's
// write batch) and when rebuilding from the log, so the two cannot differ.
#ifndef LEERLUS_STORAGE_PROJECTOR_H_
#define LEERLUS_STORAGE_PROJECTOR_H_

#include "absl/status/status.h"
#include "leerlus/v1/events.pb.h"
#include "storage/key_value.h"

namespace leerlus::storage {

// Stream names of the resources that have one.
std::string ExperimentStream(absl::string_view experiment_id);
std::string WorkMethodStream(absl::string_view id);
std::string IndicatorStream(absl::string_view id);
std::string AreaStream(absl::string_view code);
std::string TokenStream(absl::string_view id);

// Applies one stored event (position and stream version set) to the
// projections. Reads and writes only projection column families; uses only
// the event's own data, so the result is a pure function of the log.
absl::Status ApplyEvent(const v1::Event& event, KeyValueWriter& projections);

// Folds one experiment's events into its full state (with outcomes and
// lessons), for point-in-time reads.
absl::Status FoldExperimentEvent(const v1::Event& event, v1::Experiment& state);

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_PROJECTOR_H_
