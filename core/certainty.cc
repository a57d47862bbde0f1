#include "core/certainty.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace leerlus::core {
namespace {

// A small standardised effect (Cohen): the smallest that matters when the
// programme sets none.
constexpr double kSmallestSmd = 0.2;
// Participants needed to detect SMD 0.2 with 80% power at the two-sided 5%
// level: 2 groups x 2 (1.96 + 0.84)^2 / 0.2^2 = 2 x 393 (GRADE's optimal
// information size).
constexpr int64_t kOptimalInformationSize = 786;
// Evidence older than this is indirect for today's practice.
constexpr int kMaxAgeYears = 5;
// Follow-up shorter than this says little about lasting effects.
constexpr int kShortFollowUpMonths = 6;

// Years between two dates (0 if either is missing or unreadable).
double YearsBetween(const std::string& from, const std::string& to) {
  absl::CivilDay a, b;
  if (!absl::ParseCivilTime(from, &a) || !absl::ParseCivilTime(to, &b)) return 0;
  return static_cast<double>(b - a) / 365.25;
}

std::string Percent(double share) { return absl::StrFormat("%.0f%%", share); }

std::string Concern(int levels) {
  return levels == 0 ? "no serious concern" : levels == -1 ? "serious" : "very serious";
}

v1::CertaintyDomain Domain(const char* name, int levels, const std::string& judgement) {
  v1::CertaintyDomain domain;
  domain.set_domain(name);
  domain.set_levels(levels);
  domain.set_judgement(judgement);
  return domain;
}

double ShareOf(const CertaintyInput& in, auto predicate) {
  double share = 0;
  for (const RatedStudy& study : in.studies) {
    if (predicate(study)) share += study.weight_percent;
  }
  return share;
}

bool Controlled(v1::StudyDesign design) {
  return design == v1::STUDY_DESIGN_RCT || design == v1::STUDY_DESIGN_QUASI_EXPERIMENTAL;
}

// The start: randomised evidence starts high, other controlled designs low,
// designs without a comparison group very low; by the designs that carry
// the weight.
v1::CertaintyDomain RateDesign(const CertaintyInput& in) {
  const double rct =
      ShareOf(in, [](const RatedStudy& s) { return s.design == v1::STUDY_DESIGN_RCT; });
  const double quasi = ShareOf(
      in, [](const RatedStudy& s) { return s.design == v1::STUDY_DESIGN_QUASI_EXPERIMENTAL; });
  const std::string data = absl::StrCat(
      Percent(rct), " of the weight from RCTs, ", Percent(quasi), " quasi-experimental, ",
      Percent(std::max(0.0, 100 - rct - quasi)), " without a comparison group");
  if (rct >= 50) return Domain("design", v1::CERTAINTY_HIGH, absl::StrCat("start high: ", data));
  if (rct + quasi >= 50) {
    return Domain("design", v1::CERTAINTY_LOW,
                  absl::StrCat("start low (mostly non-randomised comparisons): ", data));
  }
  return Domain("design", v1::CERTAINTY_VERY_LOW,
                absl::StrCat("start very low (mostly no comparison group): ", data));
}

v1::CertaintyDomain RateRiskOfBias(const CertaintyInput& in) {
  const double high =
      ShareOf(in, [](const RatedStudy& s) { return s.risk_of_bias == v1::RISK_OF_BIAS_HIGH; });
  const double unassessed = ShareOf(
      in, [](const RatedStudy& s) { return s.risk_of_bias == v1::RISK_OF_BIAS_UNSPECIFIED; });
  const double concerns = ShareOf(in,
                                  [](const RatedStudy& s) {
                                    return s.risk_of_bias == v1::RISK_OF_BIAS_SOME_CONCERNS;
                                  }) +
                          unassessed;
  const int levels = high >= 50 ? -2 : high + concerns > 50 ? -1 : 0;
  return Domain("risk_of_bias", levels,
                absl::StrCat(Concern(levels), ": ", Percent(high), " of the weight at high risk, ",
                             Percent(concerns), " with some concerns or not assessed (",
                             Percent(unassessed), " not assessed)"));
}

v1::CertaintyDomain RateInconsistency(const CertaintyInput& in) {
  const int k = static_cast<int>(in.studies.size());
  if (k < 3) {
    return Domain("inconsistency", 0,
                  absl::StrCat("not judged: ", k, " outcome", k == 1 ? "" : "s",
                               " cannot show whether results agree"));
  }
  std::string data = absl::StrFormat("I2 %.0f%%", in.i2);
  if (in.i2_ci_lower && in.i2_ci_upper) {
    data += absl::StrFormat(" (95%% CI %.0f%% to %.0f%%)", *in.i2_ci_lower, *in.i2_ci_upper);
  }
  // Heterogeneity that is both substantial and shown (its interval excludes 0).
  const bool heterogeneous = in.i2 >= 50 && in.i2_ci_lower && *in.i2_ci_lower > 0;
  // A direction shown on average that some settings may not share: judged
  // on the spread between experiments alone (tau2, on the CI's own critical
  // value), not on the prediction interval's fewer degrees of freedom, which
  // widen it even when the experiments agree.
  bool prediction_crosses = false;
  if (in.pi_lower && in.pi_upper) {
    data += absl::StrFormat(", 95%% prediction interval %.2f to %.2f", *in.pi_lower, *in.pi_upper);
    if (in.tau2 > 0 && in.se > 0) {
      const double critical = (in.ci_upper - in.estimate) / in.se;
      const double spread = critical * std::sqrt(in.se * in.se + in.tau2);
      prediction_crosses = (in.ci_lower > 0 && in.estimate - spread <= 0) ||
                           (in.ci_upper < 0 && in.estimate + spread >= 0);
    }
  }
  const int levels = -(static_cast<int>(heterogeneous) + static_cast<int>(prediction_crosses));
  std::string why;
  if (prediction_crosses) why += "; in some settings the effect may be absent or reversed";
  if (heterogeneous) why += "; substantial heterogeneity";
  return Domain("inconsistency", levels, absl::StrCat(Concern(levels), ": ", data, why));
}

v1::CertaintyDomain RateImprecision(const CertaintyInput& in, std::optional<double> threshold) {
  const std::string ci = absl::StrFormat("95%% CI %.2f to %.2f", in.ci_lower, in.ci_upper);
  if (in.ci_lower <= 0 && in.ci_upper >= 0) {
    if (!threshold) {
      return Domain("imprecision", -1,
                    absl::StrCat("serious: the ", ci,
                                 " includes no effect (no smallest effect "
                                 "that matters on this scale)"));
    }
    const bool benefit = in.ci_upper > *threshold, harm = in.ci_lower < -*threshold;
    const int levels = benefit && harm ? -2 : benefit || harm ? -1 : 0;
    return Domain(
        "imprecision", levels,
        absl::StrFormat("%s: the %s includes no effect%s", Concern(levels), ci,
                        benefit && harm ? " and effects that matter either way"
                        : levels != 0   ? " and an effect that matters"
                                        : absl::StrFormat(" and lies within ±%.2f, "
                                                            "the smallest effect that matters",
                                                          *threshold)));
  }
  if (!threshold) {
    return Domain("imprecision", 0,
                  absl::StrCat("no serious concern: the ", ci, " excludes no effect"));
  }
  if (!in.participants_known) {
    return Domain("imprecision", 0,
                  absl::StrCat("no serious concern: the ", ci,
                               " excludes no effect (the information size is not judged: some "
                               "outcomes do not say how many took part)"));
  }
  if (in.participants < kOptimalInformationSize) {
    return Domain("imprecision", -1,
                  absl::StrCat("serious: the ", ci, " excludes no effect, but ", in.participants,
                               " participants are fewer than the ", kOptimalInformationSize,
                               " needed to detect a small effect (SMD 0.2) with 80% power"));
  }
  return Domain("imprecision", 0,
                absl::StrCat("no serious concern: the ", ci, " excludes no effect with ",
                             in.participants, " participants"));
}

v1::CertaintyDomain RateReportingBias(const CertaintyInput& in) {
  const int k = static_cast<int>(in.studies.size());
  if (!in.egger_p) {
    return Domain("reporting_bias", 0,
                  k < 10 ? absl::StrCat("not judged: small-study tests need at least 10 "
                                        "outcomes (k = ",
                                        k, ")")
                         : absl::StrCat("not judged: Egger's test could not be computed (",
                                        in.egger_error, ")"));
  }
  const int levels = *in.egger_p < 0.10 ? -1 : 0;
  return Domain(
      "reporting_bias", levels,
      absl::StrFormat("%s: Egger's test p = %.3f (k = %d)%s", Concern(levels), *in.egger_p, k,
                      levels ? ": smaller experiments show larger effects" : ""));
}

v1::CertaintyDomain RateIndirectness(const CertaintyInput& in) {
  std::string newest;
  for (const RatedStudy& study : in.studies) newest = std::max(newest, study.measured_on);
  const double age = YearsBetween(newest, in.answer_date);
  const bool old = age > kMaxAgeYears;
  const double stated = ShareOf(in, [](const RatedStudy& s) { return s.follow_up_months > 0; });
  const double short_follow_up = ShareOf(in, [](const RatedStudy& s) {
    return s.follow_up_months > 0 && s.follow_up_months < kShortFollowUpMonths;
  });
  const bool mostly_short = short_follow_up > 50;
  const int levels = -(static_cast<int>(old) + static_cast<int>(mostly_short));
  std::string data = absl::StrCat("newest measurement ", newest.empty() ? "unknown" : newest,
                                  old ? absl::StrFormat(", %.0f years old", std::floor(age)) : "");
  data += stated > 0 ? absl::StrCat("; ", Percent(short_follow_up),
                                    " of the weight followed up for less than ",
                                    kShortFollowUpMonths, " months")
                     : "";
  if (stated < 100) data += absl::StrCat("; follow-up not stated for ", Percent(100 - stated));
  return Domain("indirectness", levels, absl::StrCat(Concern(levels), ": ", data));
}

// A CI within the smallest effect that matters either way shows no effect
// that matters, even when it excludes zero: a trivial benefit is no benefit
// to claim.
v1::Finding FindingOf(const CertaintyInput& in, std::optional<double> threshold) {
  if (threshold && in.ci_lower > -*threshold && in.ci_upper < *threshold) {
    return v1::FINDING_NO_EFFECT_THAT_MATTERS;
  }
  if (in.ci_lower > 0) return v1::FINDING_BENEFIT;
  if (in.ci_upper < 0) return v1::FINDING_HARM;
  return v1::FINDING_NOT_ENOUGH_EVIDENCE;
}

// The Dutch words, kept conservative: a benefit's level follows the
// certainty, and unless controlled designs carry most (more than half) of
// the weight it stays at "eerste aanwijzingen" whatever the certainty.
std::string LabelOf(v1::Finding finding, v1::Certainty certainty, double controlled_share) {
  constexpr const char* kIndicative = " (indicatief; geen erkenning)";
  switch (finding) {
    case v1::FINDING_BENEFIT: {
      v1::Certainty level = certainty;
      if (controlled_share <= 50) level = std::min(level, v1::CERTAINTY_LOW);
      const char* words = level == v1::CERTAINTY_HIGH       ? "sterke aanwijzingen"
                          : level == v1::CERTAINTY_MODERATE ? "goede aanwijzingen"
                          : level == v1::CERTAINTY_LOW      ? "eerste aanwijzingen"
                                                            : "nog geen aanwijzingen";
      return absl::StrCat(words, " voor effectiviteit", kIndicative);
    }
    case v1::FINDING_HARM:
      return absl::StrCat("aanwijzingen voor een ongunstig effect", kIndicative);
    case v1::FINDING_NO_EFFECT_THAT_MATTERS:
      return absl::StrCat("geen relevant effect gevonden", kIndicative);
    default:
      return absl::StrCat("nog onvoldoende gegevens over effectiviteit", kIndicative);
  }
}

}  // namespace

std::optional<double> SmallestEffectThatMatters(v1::EffectMeasure measure) {
  switch (measure) {
    case v1::EFFECT_MEASURE_SMD:
    case v1::EFFECT_MEASURE_SMCC:
      return kSmallestSmd;
    case v1::EFFECT_MEASURE_OR:
      return kSmallestSmd * std::numbers::pi / std::sqrt(3.0);
    default:
      return std::nullopt;
  }
}

CertaintyRating RateCertainty(const CertaintyInput& in) {
  CertaintyRating rating;
  const std::optional<double> threshold = SmallestEffectThatMatters(in.measure);
  rating.domains = {RateDesign(in),        RateRiskOfBias(in),
                    RateInconsistency(in), RateImprecision(in, threshold),
                    RateReportingBias(in), RateIndirectness(in)};
  int level = 0;
  for (const v1::CertaintyDomain& domain : rating.domains) level += domain.levels();
  rating.certainty = static_cast<v1::Certainty>(std::clamp(
      level, static_cast<int>(v1::CERTAINTY_VERY_LOW), static_cast<int>(v1::CERTAINTY_HIGH)));
  rating.finding = FindingOf(in, threshold);
  const double controlled = ShareOf(in, [](const RatedStudy& s) { return Controlled(s.design); });
  rating.label = LabelOf(rating.finding, rating.certainty, controlled);
  return rating;
}

}  // namespace leerlus::core
