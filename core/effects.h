// Effect translation: an outcome as recorded (two-group means or counts, a
// one-group pre/post change, or an effect given directly) turned into the
// effect size a meta-analysis pools, or into the raw change a hypothesis is
// judged on.
//
//   absl::StatusOr<analysis::Effect> effect =
//       OutcomeEffect(outcome, v1::EFFECT_MEASURE_SMD, /*lower_is_better=*/false);
#ifndef LEERLUS_CORE_EFFECTS_H_
#define LEERLUS_CORE_EFFECTS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "analysis/effect_size.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

// The effect of one recorded outcome in `measure`, oriented so that positive
// means better for an indicator where `lower_is_better` says which way is
// good. FAILED_PRECONDITION, with a reason a person can read, when the
// outcome's shape cannot be expressed in that measure.
absl::StatusOr<analysis::Effect> OutcomeEffect(const v1::Outcome& outcome,
                                               v1::EffectMeasure measure, bool lower_is_better);

// Participants an outcome reports (both groups), 0 if unknown.
int64_t OutcomeParticipants(const v1::Outcome& outcome);
// Those of them who received the intervention: a controlled outcome's
// treatment group, everyone measured before and after; 0 for an outcome
// given as an effect alone, which does not say.
int64_t OutcomeTreatedParticipants(const v1::Outcome& outcome);

// The raw change an outcome measured (treatment minus control, post minus
// pre), on a scale stated in words, and whether the smallest effect of
// interest (in indicator units) can be compared with it.
struct RawChange {
  double estimate = 0;
  double variance = 0;
  std::string scale;
  bool in_indicator_units = false;
};

// FAILED_PRECONDITION when the outcome gives no usable change.
absl::StatusOr<RawChange> RawChangeOf(const v1::Outcome& outcome);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_EFFECTS_H_
