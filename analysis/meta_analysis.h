// Fixed-, random- and mixed-effects meta-analysis, computed exactly as the R
// package metafor 3.8-1 does (`rma.uni`); the formulas are in
// tests/data/metafor/FORMULAS.md and the tests hold metafor's own numbers.
//
//   std::vector<double> y = ..., v = ...;        // effects and sampling variances
//   absl::StatusOr<FitResult> fit = FitPooled(y, v, {.method = Method::kReml});
//   fit->coefficients[0].estimate, fit->tau2, fit->i2, ...
//
//   // Meta-regression: one column per moderator (the intercept is added).
//   absl::StatusOr<FitResult> reg = FitRegression(y, v, {weeks}, {"weeks"}, options);
//
// Pure functions: no I/O, nothing of leerlus's storage or API.
#ifndef LEERLUS_ANALYSIS_META_ANALYSIS_H_
#define LEERLUS_ANALYSIS_META_ANALYSIS_H_

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace leerlus::analysis {

enum class Method {
  kFixed,             // "FE": tau2 = 0.
  kDerSimonianLaird,  // "DL".
  kReml,              // "REML" (the default): Fisher scoring as metafor does it.
};

// How the coefficients are tested and their intervals built (metafor's
// `test` argument).
enum class TestKind {
  kZ,  // "z": Wald tests on the normal distribution.
  // "knha": Hartung-Knapp (Knapp-Hartung): the covariance scaled by the
  // weighted residual variance s2w, t tests on k - p df.
  kKnappHartung,
  // "adhoc": Hartung-Knapp with s2w never below 1, so that the interval is
  // never narrower than the z one (Knapp & Hartung 2003; IntHout et al. 2014).
  kKnappHartungAdhoc,
};

// The distribution a prediction interval is built on.
enum class PredictionDistribution {
  // metafor's default: the test's, z or t(k - p).
  kAsTest,
  // t(k - p - 1), never fewer than 1 df, as Higgins et al. (2009) and Riley
  // et al. (2011) recommend (metafor's `pi.type = "riley"`).
  kStudentOneFewer,
};

struct FitOptions {
  Method method = Method::kReml;
  TestKind test = TestKind::kZ;
  PredictionDistribution prediction_distribution = PredictionDistribution::kAsTest;
  // REML convergence, metafor's defaults: stop when tau2 changes by at most
  // this much; fail after this many iterations.
  double reml_threshold = 1e-5;
  int reml_max_iterations = 100;
};

struct Coefficient {
  std::string name;
  double estimate = 0;
  double se = 0;
  // z, or t under Hartung-Knapp.
  double statistic = 0;
  double p_value = 0;
  double ci_lower = 0;
  double ci_upper = 0;
};

struct Prediction {
  double estimate = 0;
  double se = 0;
  double ci_lower = 0;
  double ci_upper = 0;
  // Prediction interval for a new study's true effect; NaN for FE models.
  double pi_lower = 0;
  double pi_upper = 0;
};

struct FitResult {
  Method method = Method::kReml;
  TestKind test = TestKind::kZ;
  PredictionDistribution prediction_distribution = PredictionDistribution::kAsTest;
  int k = 0;  // Studies.
  int p = 0;  // Coefficients, intercept included.
  // Intercept first, then the moderators in the order given.
  std::vector<Coefficient> coefficients;
  // Var(b), Hartung-Knapp adjusted when requested.
  Eigen::MatrixXd covariance;
  double tau2 = 0;
  double se_tau2 = 0;  // NaN for FE.
  double i2 = 0;       // Percent.
  double h2 = 0;
  double typical_variance = 0;  // metafor's vt.
  double qe = 0;                // Test of (residual) heterogeneity.
  double qe_df = 0;
  double qe_p = 0;
  // Omnibus test of the moderators (p > 1): chi-square QM on qm_df1, or with
  // Hartung-Knapp an F statistic on (qm_df1, qm_df2). NaN when p == 1.
  double qm = 0;
  double qm_df1 = 0;
  double qm_df2 = 0;
  double qm_p = 0;
  // Proportion of heterogeneity explained, percent (p > 1); NaN otherwise.
  double r2 = 0;
  double s2w = 0;    // Hartung-Knapp scale factor (after the ad hoc floor); NaN without it.
  double ll_ml = 0;  // Log-likelihoods at the fitted tau2.
  double ll_reml = 0;
  int iterations = 0;  // REML Fisher-scoring iterations.
  // Per-study weights in percent of the total (1/(v + tau2)).
  std::vector<double> weights_percent;

  // Whether tests and intervals are on t (Hartung-Knapp) rather than z.
  bool OnStudentT() const { return test != TestKind::kZ; }

  // The model's prediction at moderator values `x` (without the intercept;
  // empty for the pooled effect of an intercept-only model).
  Prediction Predict(const std::vector<double>& x) const;
};

// Intercept-only model: the pooled effect. Errors: INVALID_ARGUMENT for
// mismatched lengths, k < 1, non-finite effects or non-positive variances;
// FAILED_PRECONDITION if REML does not converge.
absl::StatusOr<FitResult> FitPooled(const std::vector<double>& y, const std::vector<double>& v,
                                    const FitOptions& options);

// Meta-regression: the intercept plus one column per moderator (each
// `moderators[j]` has k values). R2 is computed against the intercept-only
// model with the same method.
absl::StatusOr<FitResult> FitRegression(const std::vector<double>& y, const std::vector<double>& v,
                                        const std::vector<std::vector<double>>& moderators,
                                        const std::vector<std::string>& names,
                                        const FitOptions& options);

// The general form: an explicit k x p model matrix (with its own intercept
// column, if any). `intercept` says whether column 0 is the intercept (the
// omnibus test then leaves it out).
absl::StatusOr<FitResult> FitModel(const std::vector<double>& y, const std::vector<double>& v,
                                   const Eigen::MatrixXd& x, const std::vector<std::string>& names,
                                   bool intercept, const FitOptions& options);

// Method names as metafor prints them: "FE", "DL", "REML".
const char* MethodName(Method method);

}  // namespace leerlus::analysis

#endif  // LEERLUS_ANALYSIS_META_ANALYSIS_H_
