// Evidence collection for the insights (core/insights.h): the question's
// validated parts, and what answering it reads from one snapshot of the
// projections. Every read of a column family the insights make is in
// evidence_collection.cc; the other insight files work on what it returns.
//
//   FieldViolations violations;
//   absl::StatusOr<Question> question =
//       MakeQuestion(indicator_id, {}, "", {.measure = measure, .model = model}, violations);
//   absl::StatusOr<CollectedEvidence> evidence = CollectEvidence(*view, *question);
#ifndef LEERLUS_CORE_EVIDENCE_COLLECTION_H_
#define LEERLUS_CORE_EVIDENCE_COLLECTION_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/effect_size.h"
#include "common/errors.h"
#include "core/filter.h"
#include "leerlus/v1/insight_service.pb.h"
#include "leerlus/v1/resources.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

// What a what-works question asks.
struct Question {
  std::string indicator_id;
  std::set<std::string> methods;  // Empty: all.
  ExperimentFilter filter;
  v1::EffectMeasure measure = v1::EFFECT_MEASURE_SMD;
  v1::PoolingModel model = v1::POOLING_MODEL_REML;
  v1::PoolingTest test = v1::POOLING_TEST_ADHOC;
  // Only experiments with a pre-registered hypothesis on the indicator.
  bool preregistered_only = false;
};

// How a request asks to pool: the fields every insight request shares,
// unspecified where the request leaves them out.
struct PoolingChoice {
  v1::EffectMeasure measure = v1::EFFECT_MEASURE_UNSPECIFIED;
  v1::PoolingModel model = v1::POOLING_MODEL_UNSPECIFIED;
  v1::PoolingTest test = v1::POOLING_TEST_UNSPECIFIED;
  bool knapp_hartung = false;  // The deprecated request field: KNHA if `test` is unspecified.
};

// Validates the parts every insight request shares and fills in the
// defaults; earlier `violations` of the request are reported with them.
absl::StatusOr<Question> MakeQuestion(const std::string& indicator_id,
                                      const std::vector<std::string>& methods,
                                      const std::string& filter, const PoolingChoice& pooling,
                                      FieldViolations& violations);

// Whether the experiment pre-registered a hypothesis on the indicator.
bool PreRegisteredOn(const v1::Experiment& experiment, const std::string& indicator_id);

// One usable outcome of the question's indicator, as an oriented effect.
struct EffectRow {
  const v1::Experiment* experiment = nullptr;
  v1::Outcome outcome;
  analysis::Effect effect;
};

// Everything a what-works question needs from one snapshot.
struct CollectedEvidence {
  uint64_t read_position = 0;
  // The date of the newest event the answer reflects (YYYY-MM-DD).
  std::string answer_date;
  // Experiments by id (the rows point into this map).
  std::map<std::string, v1::Experiment> experiments;
  std::map<std::string, std::string> method_names;
  std::map<std::string, std::vector<EffectRow>> rows_by_method;
  std::map<std::string, std::vector<v1::ExcludedOutcome>> excluded_by_method;
};

// Reads the indicator's analysis rows (one contiguous range, one row per
// experiment: its most recent live outcome), keeps those of the question's
// methods and filter, and turns them into oriented effects. NOT_FOUND for
// an unknown indicator.
absl::StatusOr<CollectedEvidence> CollectEvidence(storage::ProjectionReader& view,
                                                  const Question& question);

// The ids of every indicator, in key order.
absl::StatusOr<std::vector<std::string>> ReadIndicatorIds(storage::ProjectionReader& view);

// Every indicator, in key order.
absl::StatusOr<std::vector<v1::Indicator>> ReadIndicators(storage::ProjectionReader& view);

// Every experiment, in key order.
absl::StatusOr<std::vector<v1::Experiment>> ReadExperiments(storage::ProjectionReader& view);

// The experiment's most recent live outcome on the indicator, as the
// analyses use it (its row in the analysis view), if any.
absl::StatusOr<std::optional<v1::Outcome>> ReadLatestOutcome(storage::ProjectionReader& view,
                                                             const std::string& indicator_id,
                                                             const v1::Experiment& experiment);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_EVIDENCE_COLLECTION_H_
