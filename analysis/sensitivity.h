// How far a pooled effect can be trusted: intervals for the heterogeneity,
// sensitivity to single studies and to their order, small-study (reporting)
// bias, and exact permutation tests for a moderator. Each function computes
// what the named metafor 3.8-1 function computes, for an intercept-only
// random-effects model unless said otherwise; the golden tests hold
// metafor's numbers (tests/data/metafor/sensitivity).
//
//   HeterogeneityIntervals h = *QProfileIntervals(y, v, *FitPooled(y, v, options));
//   std::vector<LeftOut> loo = *LeaveEachOut(y, v, options);
//
// Pure functions: no I/O, nothing of leerlus's storage or API.
#ifndef LEERLUS_ANALYSIS_SENSITIVITY_H_
#define LEERLUS_ANALYSIS_SENSITIVITY_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/meta_analysis.h"

namespace leerlus::analysis {

struct Interval {
  double estimate = 0;
  double lower = 0;
  double upper = 0;
};

// 95% Q-profile confidence intervals (Viechtbauer 2007; metafor's
// `confint()`): the tau2 at which the generalised Q statistic meets the
// chi-square quantiles on k - 1 df, searched on [0, max(100, 10 tau2)] as
// metafor does, and further where the upper bound lies beyond (metafor
// would print it as "> 100").
struct HeterogeneityIntervals {
  Interval tau2;
  Interval tau;
  Interval i2;  // Percent.
  Interval h2;
  // Q at tau2 = 0 is already below the lower quantile: the interval is the
  // empty set, reported as [0, 0].
  bool empty = false;
};

// `fit` is the intercept-only fit of y and v (the intervals depend on the
// data alone; the estimates are the fit's). Errors: INVALID_ARGUMENT for
// another fit or fewer than 2 studies.
absl::StatusOr<HeterogeneityIntervals> QProfileIntervals(const std::vector<double>& y,
                                                         const std::vector<double>& v,
                                                         const FitResult& fit);

// The pooled effect without one study (metafor's `leave1out()`).
struct LeftOut {
  int study = 0;  // 0-based index into y.
  double estimate = 0;
  double se = 0;
  double ci_lower = 0;
  double ci_upper = 0;
  double qe = 0;
  double tau2 = 0;
  double i2 = 0;
};

// Needs at least 2 studies (3 under Hartung-Knapp).
absl::StatusOr<std::vector<LeftOut>> LeaveEachOut(const std::vector<double>& y,
                                                  const std::vector<double>& v,
                                                  const FitOptions& options);

// Case-deletion diagnostics (metafor's `influence()`, Viechtbauer & Cheung
// 2010).
struct StudyInfluence {
  int study = 0;
  double studentized_residual = 0;  // rstudent.
  double dffits = 0;
  double cooks_distance = 0;
  double covariance_ratio = 0;  // cov.r.
  double tau2_deleted = 0;      // tau2.del.
  double qe_deleted = 0;        // QE.del.
  double hat = 0;
  double weight_percent = 0;
  double dfbetas = 0;
  // metafor's flag: |DFFITS| > 3 sqrt(p / (k - p)), P(chi2_p < Cook's
  // distance) > 0.5, hat > 3 p / k, or |DFBETAS| > 1.
  bool influential = false;
};

absl::StatusOr<std::vector<StudyInfluence>> InfluenceDiagnostics(const std::vector<double>& y,
                                                                 const std::vector<double>& v,
                                                                 const FitOptions& options);

// Cumulative pooling (metafor's `cumul()`): step i pools the first i + 1
// studies of `order`.
struct CumulativeStep {
  int added = 0;  // The study this step adds.
  int k = 0;
  double estimate = 0;
  double se = 0;
  double ci_lower = 0;
  double ci_upper = 0;
  double tau2 = 0;
  double i2 = 0;
};

// `order` is a permutation of 0..k-1. A step with one study is tested on z
// whatever the options: Hartung-Knapp needs two.
absl::StatusOr<std::vector<CumulativeStep>> PoolCumulatively(const std::vector<double>& y,
                                                             const std::vector<double>& v,
                                                             const std::vector<int>& order,
                                                             const FitOptions& options);

// Egger's regression test (metafor's `regtest(model = "rma", predictor =
// "sei")`): the standard errors as a moderator.
struct RegressionTest {
  double statistic = 0;  // z (t under Hartung-Knapp) of the slope.
  double p_value = 0;
  // The intercept: the effect a study of infinite size would show.
  double limit_estimate = 0;
  double limit_ci_lower = 0;
  double limit_ci_upper = 0;
};

// Needs at least 3 studies.
absl::StatusOr<RegressionTest> EggerRegressionTest(const std::vector<double>& y,
                                                   const std::vector<double>& v,
                                                   const FitOptions& options);

// Begg and Mazumdar's rank correlation test (metafor's `ranktest()`):
// Kendall's tau between the standardised effects and their variances,
// exact without ties (up to 100 studies), else the normal approximation
// with tie corrections, as R's `cor.test()`.
struct RankCorrelationTest {
  double tau = 0;
  double p_value = 0;
  bool exact = false;
};

// Needs at least 3 studies, not all of the same effect (FAILED_PRECONDITION).
absl::StatusOr<RankCorrelationTest> BeggRankTest(const std::vector<double>& y,
                                                 const std::vector<double>& v);

// Duval and Tweedie's trim and fill with the L0 estimator (metafor's
// `trimfill()`): a sensitivity check, not a corrected estimate.
struct TrimAndFillResult {
  int missing = 0;  // k0: the studies imputed.
  // The side the missing studies are imputed on, from the sign of Egger's
  // slope: right when it is negative.
  bool right_side = false;
  // The imputed studies (mirror images of the most extreme ones).
  std::vector<double> filled_effects;
  std::vector<double> filled_variances;
  // The pooled result over the observed and the imputed studies, on z as
  // metafor refits it (the observed fit, with the options' test, when none
  // is imputed).
  double estimate = 0;
  double ci_lower = 0;
  double ci_upper = 0;
};

// Needs at least 3 studies. FAILED_PRECONDITION when the estimate of k0
// does not settle within 100 iterations.
absl::StatusOr<TrimAndFillResult> TrimAndFill(const std::vector<double>& y,
                                              const std::vector<double>& v,
                                              const FitOptions& options);

// The omnibus test of a moderator, with its p-value from permutations of
// the moderator over the studies (metafor's `permutest()`): exact over every
// distinct arrangement when there are at most `max_exact` of them, else
// `random_permutations` random ones drawn with `seed` (the observed
// arrangement counted as the first).
struct PermutationOptions {
  int64_t max_exact = 100000;
  int64_t random_permutations = 10000;
  uint64_t seed = 2026;
  // Asked every 256 fits; true stops the test with CANCELLED.
  std::function<bool()> should_stop;
};

struct PermutationTest {
  double qm = 0;    // The observed statistic (chi-square, or F under Hartung-Knapp).
  double qm_p = 0;  // Its asymptotic p-value.
  double permutation_p = 0;
  // Distinct arrangements of the moderator over the studies (may exceed
  // the 64-bit range: a double).
  double distinct_permutations = 0;
  bool exact = false;
  int64_t permutations_run = 0;  // Arrangements whose model could be fitted.
  uint64_t seed = 0;             // The seed of the random permutations; 0 when exact.
};

// `moderators[i]` is study i's row of the model matrix without the
// intercept (one value for a numeric moderator, the dummies of a factor);
// permutations move whole rows. Errors: INVALID_ARGUMENT for mismatched
// lengths or rows that are all alike; CANCELLED when `should_stop` says so.
absl::StatusOr<PermutationTest> ModeratorPermutationTest(
    const std::vector<double>& y, const std::vector<double>& v,
    const std::vector<std::vector<double>>& moderators, const FitOptions& options,
    const PermutationOptions& permutation);

// The same for a factor: `levels[i]` is study i's level (any integers; at
// least two distinct), coded as dummies against the smallest.
absl::StatusOr<PermutationTest> FactorPermutationTest(const std::vector<double>& y,
                                                      const std::vector<double>& v,
                                                      const std::vector<int>& levels,
                                                      const FitOptions& options,
                                                      const PermutationOptions& permutation);

// R's `uniroot()` (Brent's zeroin as R's C code runs it): a root of `f` in
// [lower, upper], where f(lower) and f(upper) have opposite signs, to
// within `tolerance`. Exposed for its test.
// NaN when it does not converge in `max_iterations`.
double ZeroIn(const std::function<double(double)>& f, double lower, double upper, double tolerance,
              int max_iterations);

}  // namespace leerlus::analysis

#endif  // LEERLUS_ANALYSIS_SENSITIVITY_H_
