#include "core/effects.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace leerlus::core {
namespace {

using analysis::Effect;

absl::Status NotExpressible(absl::string_view shape, v1::EffectMeasure measure) {
  std::string name = v1::EffectMeasure_Name(measure);
  return absl::FailedPreconditionError(absl::StrCat(
      shape, " cannot be expressed as ", name.substr(std::string("EFFECT_MEASURE_").size())));
}

// A directly given effect, its uncertainty turned into a variance.
absl::StatusOr<Effect> DirectEffect(const v1::DirectEffect& direct) {
  double variance = 0;
  switch (direct.uncertainty_case()) {
    case v1::DirectEffect::kVariance:
      variance = direct.variance();
      break;
    case v1::DirectEffect::kStandardError:
      variance = analysis::VarianceFromStandardError(direct.standard_error());
      break;
    case v1::DirectEffect::kCi95:
      variance =
          analysis::VarianceFromConfidenceInterval(direct.ci95().lower(), direct.ci95().upper());
      break;
    case v1::DirectEffect::UNCERTAINTY_NOT_SET:
      return absl::FailedPreconditionError("the effect has no variance, SE or CI");
  }
  return Effect{direct.effect(), variance};
}

absl::StatusOr<Effect> RawEffect(const v1::Outcome& outcome, v1::EffectMeasure measure) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous: {
      const auto& s = outcome.two_group_continuous();
      analysis::GroupSummary treatment{s.treatment_mean(), s.treatment_sd(), s.treatment_n()};
      analysis::GroupSummary control{s.control_mean(), s.control_sd(), s.control_n()};
      switch (measure) {
        case v1::EFFECT_MEASURE_SMD:
          return analysis::StandardizedMeanDifference(treatment, control);
        case v1::EFFECT_MEASURE_MD:
          return analysis::MeanDifference(treatment, control);
        case v1::EFFECT_MEASURE_OR: {
          LEERLUS_ASSIGN_OR_RETURN(Effect smd,
                                   analysis::StandardizedMeanDifference(treatment, control));
          return analysis::SmdToLogOddsRatio(smd);
        }
        default:
          return NotExpressible("two-group means", measure);
      }
    }
    case v1::Outcome::kTwoGroupCounts: {
      const auto& s = outcome.two_group_counts();
      analysis::GroupCounts treatment{s.treatment_events(), s.treatment_total()};
      analysis::GroupCounts control{s.control_events(), s.control_total()};
      switch (measure) {
        case v1::EFFECT_MEASURE_OR:
          return analysis::LogOddsRatio(treatment, control);
        case v1::EFFECT_MEASURE_RR:
          return analysis::LogRiskRatio(treatment, control);
        case v1::EFFECT_MEASURE_RD:
          return analysis::RiskDifference(treatment, control);
        case v1::EFFECT_MEASURE_SMD: {
          LEERLUS_ASSIGN_OR_RETURN(Effect log_or, analysis::LogOddsRatio(treatment, control));
          return analysis::LogOddsRatioToSmd(log_or);
        }
        default:
          return NotExpressible("two-group counts", measure);
      }
    }
    case v1::Outcome::kPrePost: {
      const auto& s = outcome.pre_post();
      if (measure != v1::EFFECT_MEASURE_SMCC) {
        return NotExpressible("a one-group pre/post change", measure);
      }
      return analysis::StandardizedMeanChange({s.pre_mean(), s.pre_sd(), s.n()},
                                              {s.post_mean(), s.post_sd(), s.n()},
                                              s.pre_post_correlation());
    }
    case v1::Outcome::kDirectEffect: {
      const auto& direct = outcome.direct_effect();
      LEERLUS_ASSIGN_OR_RETURN(Effect effect, DirectEffect(direct));
      const std::string wanted =
          v1::EffectMeasure_Name(measure).substr(std::string("EFFECT_MEASURE_").size());
      if (direct.measure() == wanted) return effect;
      if (direct.measure() == "OR" && measure == v1::EFFECT_MEASURE_SMD) {
        return analysis::LogOddsRatioToSmd(effect);
      }
      if (direct.measure() == "SMD" && measure == v1::EFFECT_MEASURE_OR) {
        return analysis::SmdToLogOddsRatio(effect);
      }
      return NotExpressible(absl::StrCat("an effect given as ", direct.measure()), measure);
    }
    case v1::Outcome::STATISTICS_NOT_SET:
      break;
  }
  return absl::FailedPreconditionError("the outcome has no statistics");
}

}  // namespace

absl::StatusOr<Effect> OutcomeEffect(const v1::Outcome& outcome, v1::EffectMeasure measure,
                                     bool lower_is_better) {
  LEERLUS_ASSIGN_OR_RETURN(Effect effect, RawEffect(outcome, measure));
  if (!std::isfinite(effect.value) || !(effect.variance > 0) || !std::isfinite(effect.variance)) {
    return absl::FailedPreconditionError("the effect or its variance is not a usable number");
  }
  return analysis::Orient(effect, lower_is_better);
}

int64_t OutcomeParticipants(const v1::Outcome& outcome) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous:
      return outcome.two_group_continuous().treatment_n() +
             outcome.two_group_continuous().control_n();
    case v1::Outcome::kTwoGroupCounts:
      return outcome.two_group_counts().treatment_total() +
             outcome.two_group_counts().control_total();
    case v1::Outcome::kPrePost:
      return outcome.pre_post().n();
    case v1::Outcome::kDirectEffect:
      return outcome.direct_effect().total_n();
    default:
      return 0;
  }
}

int64_t OutcomeTreatedParticipants(const v1::Outcome& outcome) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous:
      return outcome.two_group_continuous().treatment_n();
    case v1::Outcome::kTwoGroupCounts:
      return outcome.two_group_counts().treatment_total();
    case v1::Outcome::kPrePost:
      return outcome.pre_post().n();
    default:
      return 0;
  }
}

absl::StatusOr<RawChange> RawChangeOf(const v1::Outcome& outcome) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous: {
      const auto& s = outcome.two_group_continuous();
      LEERLUS_ASSIGN_OR_RETURN(
          Effect md,
          analysis::MeanDifference({s.treatment_mean(), s.treatment_sd(), s.treatment_n()},
                                   {s.control_mean(), s.control_sd(), s.control_n()}));
      return RawChange{md.value, md.variance, "MD", true};
    }
    case v1::Outcome::kPrePost: {
      const auto& s = outcome.pre_post();
      const double change_variance = s.pre_sd() * s.pre_sd() + s.post_sd() * s.post_sd() -
                                     2 * s.pre_post_correlation() * s.pre_sd() * s.post_sd();
      if (!(change_variance > 0) || s.n() < 2) {
        return absl::FailedPreconditionError("the change scores have no spread");
      }
      return RawChange{s.post_mean() - s.pre_mean(), change_variance / s.n(), "MD", true};
    }
    case v1::Outcome::kTwoGroupCounts: {
      const auto& s = outcome.two_group_counts();
      LEERLUS_ASSIGN_OR_RETURN(Effect rd,
                               analysis::RiskDifference({s.treatment_events(), s.treatment_total()},
                                                        {s.control_events(), s.control_total()}));
      return RawChange{rd.value, rd.variance, "RD", false};
    }
    case v1::Outcome::kDirectEffect: {
      LEERLUS_ASSIGN_OR_RETURN(Effect effect, DirectEffect(outcome.direct_effect()));
      const std::string& measure = outcome.direct_effect().measure();
      return RawChange{effect.value, effect.variance, measure, measure == "MD"};
    }
    case v1::Outcome::STATISTICS_NOT_SET:
      break;
  }
  return absl::FailedPreconditionError("the outcome has no statistics");
}

}  // namespace leerlus::core
