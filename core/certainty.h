// The certainty of evidence behind a pooled result, rated in the manner of
// GRADE (Guyatt et al. 2008; the GRADE handbook): a start set by the designs
// that carry the weight, then rated down per domain, each judgement given
// with the data behind it. Published in the README ("Certainty of
// evidence"). What leerlus cannot judge from what it records (upgrading
// for a large effect or a dose-response, the directness of populations and
// settings) it does not claim.
#ifndef LEERLUS_CORE_CERTAINTY_H_
#define LEERLUS_CORE_CERTAINTY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "leerlus/v1/insight_service.pb.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

// One pooled outcome, as the rating sees it.
struct RatedStudy {
  double weight_percent = 0;
  v1::StudyDesign design = v1::STUDY_DESIGN_UNSPECIFIED;
  v1::RiskOfBias risk_of_bias = v1::RISK_OF_BIAS_UNSPECIFIED;
  int32_t follow_up_months = 0;  // 0: not stated.
  std::string measured_on;       // YYYY-MM-DD.
};

struct CertaintyInput {
  std::vector<RatedStudy> studies;
  int64_t participants = 0;
  // False when some pooled outcome does not say how many took part.
  bool participants_known = true;
  v1::EffectMeasure measure = v1::EFFECT_MEASURE_SMD;
  // The pooled estimate, its SE and 95% CI (positive = better), tau2, and
  // the prediction interval as reported (absent for a fixed-effect model or
  // one outcome).
  double estimate = 0;
  double se = 0;
  double ci_lower = 0;
  double ci_upper = 0;
  double tau2 = 0;
  std::optional<double> pi_lower;
  std::optional<double> pi_upper;
  // I2 (percent) and its Q-profile 95% CI, when there are 2 or more outcomes.
  double i2 = 0;
  std::optional<double> i2_ci_lower;
  std::optional<double> i2_ci_upper;
  // Egger's test p-value, computed from 10 outcomes on, or why it could
  // not be.
  std::optional<double> egger_p;
  std::string egger_error;
  std::string answer_date;  // YYYY-MM-DD the answer reflects.
};

struct CertaintyRating {
  v1::Certainty certainty = v1::CERTAINTY_UNSPECIFIED;
  // design (its start, 1-4), then risk_of_bias, inconsistency, imprecision,
  // reporting_bias and indirectness (0, -1 or -2 each).
  std::vector<v1::CertaintyDomain> domains;
  v1::Finding finding = v1::FINDING_UNSPECIFIED;
  // The advisory Dutch label (see the README): conservative, and never a
  // recognition.
  std::string label;
};

CertaintyRating RateCertainty(const CertaintyInput& input);

// The smallest effect that matters on the measure's scale (SMD 0.2, a small
// effect, and its log-odds-ratio equivalent); absent for measures with no
// conversion from it.
std::optional<double> SmallestEffectThatMatters(v1::EffectMeasure measure);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_CERTAINTY_H_
