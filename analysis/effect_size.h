// Effect sizes and their sampling variances from the outcome shapes teams
// record, computed as metafor's escalc() does (FORMULAS.md section 1).
//
//   absl::StatusOr<Effect> g = StandardizedMeanDifference({4.1, 1.2, 40}, {4.8, 1.3, 38});
//   g->value, g->variance
//
// Every function returns the effect "group 1 minus group 2" (treatment
// minus control, post minus pre); orienting it so that positive means
// better is the caller's choice (Orient).
#ifndef LEERLUS_ANALYSIS_EFFECT_SIZE_H_
#define LEERLUS_ANALYSIS_EFFECT_SIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace leerlus::analysis {

struct Effect {
  double value = 0;
  double variance = 0;
};

struct GroupSummary {
  double mean = 0;
  double sd = 0;
  int64_t n = 0;
};

struct GroupCounts {
  int64_t events = 0;
  int64_t total = 0;
};

// metafor's exact small-sample correction J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2)).
double HedgesCorrection(double m);

// Hedges' g with the exact correction and the large-sample variance
// 1/n1 + 1/n2 + g^2 / (2 (n1 + n2)).
absl::StatusOr<Effect> StandardizedMeanDifference(const GroupSummary& treatment,
                                                  const GroupSummary& control);

// m1 - m2 with variance sd1^2/n1 + sd2^2/n2.
absl::StatusOr<Effect> MeanDifference(const GroupSummary& treatment, const GroupSummary& control);

// How zero cells of a 2x2 table are handled.
struct TableOptions {
  // Add this to every cell of a table that has a zero cell (metafor "only0").
  double zero_cell_correction = 0.5;
  // Refuse tables with no events in both groups (or only events in both):
  // they say nothing about a ratio. metafor keeps them by default (drop00 = FALSE).
  bool exclude_double_zero = true;
};

// Log risk ratio: log(a/n1) - log(c/n2), variance 1/a - 1/n1 + 1/c - 1/n2.
absl::StatusOr<Effect> LogRiskRatio(const GroupCounts& treatment, const GroupCounts& control,
                                    const TableOptions& options = {});
// Log odds ratio: log(ad/bc), variance 1/a + 1/b + 1/c + 1/d.
absl::StatusOr<Effect> LogOddsRatio(const GroupCounts& treatment, const GroupCounts& control,
                                    const TableOptions& options = {});
// Risk difference a/n1 - c/n2, variance p1(1-p1)/n1 + p2(1-p2)/n2 (no
// correction: a zero cell is no obstacle to a difference of proportions).
absl::StatusOr<Effect> RiskDifference(const GroupCounts& treatment, const GroupCounts& control);

// Standardised mean change of one group measured twice, standardised by the
// SD of the change scores (metafor "SMCC"):
//   sd_d = sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post),
//   y = J(n-1) (m_post - m_pre) / sd_d,  variance 1/n + y^2 / (2n).
absl::StatusOr<Effect> StandardizedMeanChange(const GroupSummary& pre, const GroupSummary& post,
                                              double correlation);

// Pretest-posttest-control standardised mean difference d_ppc2 (Morris
// 2008), as metafor's documentation computes it: both groups' changes
// standardised by the pooled pre-test SD with metafor's "SMCR" (raw-score
// standardisation), J(n - 1) (m_post - m_pre) / sd_pre_pooled with variance
// 2 (1 - r) / n + y^2 / (2 n) per group; the difference of the two, the
// variances added. `correlation` is the pre-post correlation, assumed
// equal in both groups. The post-test SDs do not enter d_ppc2.
absl::StatusOr<Effect> PrePostControlDifference(const GroupSummary& treatment_pre,
                                                const GroupSummary& treatment_post,
                                                const GroupSummary& control_pre,
                                                const GroupSummary& control_post,
                                                double correlation);

// A variance from a standard error or a 95% confidence interval.
double VarianceFromStandardError(double se);
double VarianceFromConfidenceInterval(double lower, double upper);

// Converting between a log odds ratio and a standardised mean difference
// (the logistic-distribution factor sqrt(3)/pi; Hasselblad & Hedges 1995).
Effect LogOddsRatioToSmd(const Effect& log_odds_ratio);
Effect SmdToLogOddsRatio(const Effect& smd);

// Flips the sign when lower values of the indicator are better.
Effect Orient(const Effect& effect, bool lower_is_better);

}  // namespace leerlus::analysis

#endif  // LEERLUS_ANALYSIS_EFFECT_SIZE_H_
