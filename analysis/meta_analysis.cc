#include "analysis/meta_analysis.h"

#include <cmath>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "analysis/distributions.h"

namespace leerlus::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kLog2Pi = 1.8378770664093454836;

using Eigen::MatrixXd;
using Eigen::VectorXd;

// What the estimators need of P(w) = W - W X (X'WX)^-1 X'W, computed in
// O(k p^2) without forming the k x k matrix (k can be large):
//   y'P y   = sum w r^2, r the weighted least-squares residuals;
//   y'PP y  = |P y|^2 = |W r|^2 = sum w^2 r^2;
//   tr P    = sum w - tr(A^-1 X'W^2 X),            A = X'WX;
//   tr PP   = sum w^2 - 2 tr(A^-1 X'W^3 X) + tr((A^-1 X'W^2 X)^2).
struct ProjectionTraces {
  double ypy = 0;
  double yppy = 0;
  double trace_p = 0;
  double trace_pp = 0;
};

ProjectionTraces Traces(const MatrixXd& x, const VectorXd& y, const VectorXd& w) {
  const Eigen::LDLT<MatrixXd> a(x.transpose() * w.asDiagonal() * x);
  const VectorXd b = a.solve(x.transpose() * (w.array() * y.array()).matrix());
  const VectorXd r = y - x * b;
  const VectorXd w2 = w.array().square();
  const VectorXd w3 = w2.array() * w.array();
  const MatrixXd a_inv_xw2x = a.solve(x.transpose() * w2.asDiagonal() * x);
  const MatrixXd a_inv_xw3x = a.solve(x.transpose() * w3.asDiagonal() * x);
  ProjectionTraces t;
  t.ypy = (w.array() * r.array().square()).sum();
  t.yppy = (w2.array() * r.array().square()).sum();
  t.trace_p = w.sum() - a_inv_xw2x.trace();
  t.trace_pp = w2.sum() - 2 * a_inv_xw3x.trace() + (a_inv_xw2x * a_inv_xw2x).trace();
  return t;
}

struct WeightedFit {
  VectorXd b;
  MatrixXd xtwx_inverse;
  VectorXd residuals;
};

WeightedFit SolveWeighted(const MatrixXd& x, const VectorXd& y, const VectorXd& w) {
  WeightedFit fit;
  const MatrixXd xtwx = x.transpose() * w.asDiagonal() * x;
  fit.xtwx_inverse = xtwx.ldlt().solve(MatrixXd::Identity(x.cols(), x.cols()));
  fit.b = fit.xtwx_inverse * (x.transpose() * w.asDiagonal() * y);
  fit.residuals = y - x * fit.b;
  return fit;
}

// Restricted log-likelihood (metafor's REMLf = TRUE form).
double RestrictedLogLikelihood(const MatrixXd& x, const VectorXd& y, const VectorXd& v,
                               double tau2) {
  const int k = static_cast<int>(y.size());
  const int p = static_cast<int>(x.cols());
  const VectorXd w = (v.array() + tau2).inverse();
  WeightedFit fit = SolveWeighted(x, y, w);
  const MatrixXd xtx = x.transpose() * x;
  const MatrixXd xtwx = x.transpose() * w.asDiagonal() * x;
  return -0.5 * (k - p) * kLog2Pi + 0.5 * std::log(xtx.determinant()) -
         0.5 * (v.array() + tau2).log().sum() - 0.5 * std::log(xtwx.determinant()) -
         0.5 * (w.array() * fit.residuals.array().square()).sum();
}

double MaximumLogLikelihood(const MatrixXd& x, const VectorXd& y, const VectorXd& v, double tau2) {
  const int k = static_cast<int>(y.size());
  const VectorXd w = (v.array() + tau2).inverse();
  WeightedFit fit = SolveWeighted(x, y, w);
  return -0.5 * k * kLog2Pi - 0.5 * (v.array() + tau2).log().sum() -
         0.5 * (w.array() * fit.residuals.array().square()).sum();
}

// An estimate of tau2 and its standard error. The default, tau2 = 0 without
// a standard error, is the fixed-effect model's, and that of any model with
// no residual degrees of freedom.
struct Tau2Estimate {
  double tau2 = 0;
  double se = kNaN;
  int iterations = 0;  // REML's Fisher-scoring iterations; 0 for the others.
};

// DerSimonian-Laird: the method of moments on Q_E, with the fixed-effect
// traces (FORMULAS.md 2.4).
Tau2Estimate EstimateDerSimonianLaird(const ProjectionTraces& fe, double qe, int df) {
  Tau2Estimate estimate;
  estimate.tau2 = std::max(0.0, (qe - df) / fe.trace_p);
  estimate.se = std::sqrt((2.0 * df + 4 * estimate.tau2 * fe.trace_p +
                           2 * estimate.tau2 * estimate.tau2 * fe.trace_pp) /
                          (fe.trace_p * fe.trace_p));
  return estimate;
}

// Fisher scoring from the Hedges estimator with step halving, exactly as
// metafor 3.8-1 runs it (FORMULAS.md 2.5).
absl::StatusOr<Tau2Estimate> EstimateReml(const MatrixXd& x, const VectorXd& y, const VectorXd& v,
                                          const FitOptions& options) {
  const int k = static_cast<int>(y.size());
  const int p = static_cast<int>(x.cols());
  // Hedges start: P0 = I - X(X'X)^-1 X' (unit weights); tr(P0 V) = sum v - tr((X'X)^-1 X'VX).
  const ProjectionTraces unweighted = Traces(x, y, VectorXd::Ones(k));
  const double trace_p0_v =
      v.sum() - (x.transpose() * x).ldlt().solve(x.transpose() * v.asDiagonal() * x).trace();
  double tau2 = std::max(0.0, (unweighted.ypy - trace_p0_v) / (k - p));
  int iterations = 0;
  double change = options.reml_threshold + 1;
  while (change > options.reml_threshold) {
    if (iterations >= options.reml_max_iterations) {
      return absl::FailedPreconditionError(absl::StrCat(
          "REML did not converge in ", options.reml_max_iterations,
          " iterations (last change in tau2: ", change, "); use DL or more iterations"));
    }
    ++iterations;
    const double old_tau2 = tau2;
    const ProjectionTraces t = Traces(x, y, (v.array() + tau2).inverse().matrix());
    double delta = (t.yppy - t.trace_p) / t.trace_pp;
    // No information left in the scoring step (its denominator underflowed):
    // halving an infinite step would never end.
    if (!std::isfinite(delta)) {
      return absl::FailedPreconditionError(
          "REML diverged (the scoring step is not finite); use DL");
    }
    while (tau2 + delta < 0) delta /= 2;  // Step halving keeps tau2 >= 0.
    tau2 += delta;
    change = std::fabs(old_tau2 - tau2);
    if (!std::isfinite(tau2)) {
      return absl::FailedPreconditionError("REML diverged (tau2 is not finite); use DL");
    }
  }
  tau2 = std::max(0.0, tau2);
  // ll0check: prefer tau2 = 0 if the likelihood there is clearly higher.
  const double tolerance = std::pow(std::numeric_limits<double>::epsilon(), 0.25);
  if (tau2 > options.reml_threshold &&
      RestrictedLogLikelihood(x, y, v, 0.0) - RestrictedLogLikelihood(x, y, v, tau2) > tolerance) {
    tau2 = 0;
  }
  // The standard error from the Fisher information at the estimate.
  const double se = std::sqrt(2.0 / Traces(x, y, (v.array() + tau2).inverse().matrix()).trace_pp);
  return Tau2Estimate{tau2, se, iterations};
}

// tau2 by the chosen method. With one study per coefficient (df < 1) there
// is no residual variation to estimate it from.
absl::StatusOr<Tau2Estimate> EstimateTau2(const MatrixXd& x, const VectorXd& y, const VectorXd& v,
                                          const ProjectionTraces& fe, double qe, int df,
                                          const FitOptions& options) {
  if (options.method == Method::kFixed || df < 1) return Tau2Estimate{};
  if (options.method == Method::kDerSimonianLaird) return EstimateDerSimonianLaird(fe, qe, df);
  return EstimateReml(x, y, v, options);
}

// Refuses what no model can be fitted to, before any arithmetic.
absl::Status CheckModelInputs(const std::vector<double>& y, const std::vector<double>& v,
                              const MatrixXd& x, const std::vector<std::string>& names) {
  const int k = static_cast<int>(y.size());
  const int p = static_cast<int>(x.cols());
  if (v.size() != y.size() || x.rows() != k || static_cast<int>(names.size()) != p) {
    return absl::InvalidArgumentError("effects, variances, model rows and names differ in length");
  }
  if (k < 1) return absl::InvalidArgumentError("no studies to pool");
  if (k < p) {
    return absl::InvalidArgumentError(
        absl::StrCat(k, " studies cannot estimate ", p, " coefficients"));
  }
  for (int i = 0; i < k; ++i) {
    if (!std::isfinite(y[i])) return absl::InvalidArgumentError("an effect is not finite");
    if (!std::isfinite(v[i]) || v[i] <= 0) {
      return absl::InvalidArgumentError("a sampling variance is not positive and finite");
    }
  }
  if (!x.allFinite()) return absl::InvalidArgumentError("a moderator value is not finite");
  const MatrixXd xtx = x.transpose() * x;
  Eigen::FullPivLU<MatrixXd> rank_check(xtx);
  if (rank_check.rank() < p) {
    return absl::InvalidArgumentError(
        "the moderators are collinear (or constant): the model cannot be estimated");
  }
  return absl::OkStatus();
}

// The test of (residual) heterogeneity Q_E and metafor's typical
// within-study variance (FORMULAS.md 2.3, 2.6). Both use the fixed-effect
// weights 1/v whatever the method, as metafor does; DerSimonian-Laird needs
// the same traces, which are returned.
ProjectionTraces TestResidualHeterogeneity(const MatrixXd& x, const VectorXd& y, const VectorXd& v,
                                           int df, FitResult& result) {
  const VectorXd fe_weights = v.array().inverse();
  const ProjectionTraces fe = Traces(x, y, fe_weights);
  // y'P y computed as the weighted residual sum of squares: the same number,
  // never negative through rounding.
  const WeightedFit fe_fit = SolveWeighted(x, y, fe_weights);
  result.qe = std::max(0.0, (fe_weights.array() * fe_fit.residuals.array().square()).sum());
  result.qe_df = df;
  result.qe_p = df > 0 ? ChiSquareUpperP(result.qe, df) : kNaN;
  result.typical_variance = df > 0 ? df / fe.trace_p : kNaN;
  return fe;
}

// I2 and H2 (FORMULAS.md 2.6). The fixed-effect model has no tau2: metafor
// takes both from Q_E. The others compare tau2 with the typical within-study
// variance.
void DescribeHeterogeneity(int df, FitResult& result) {
  if (result.method == Method::kFixed) {
    result.i2 = df > 0 && result.qe > 0 ? std::max(0.0, 100 * (result.qe - df) / result.qe) : 0;
    result.h2 = df > 0 ? result.qe / df : kNaN;
  } else if (df > 0) {
    result.i2 = 100 * result.tau2 / (result.tau2 + result.typical_variance);
    result.h2 = (result.tau2 + result.typical_variance) / result.typical_variance;
  } else {
    result.i2 = 0;
    result.h2 = 1;
  }
}

// The coefficients (the pooled estimate, for an intercept-only model), their
// covariance, Wald tests and 95% intervals, at the weights `w` = 1/(v + tau2)
// (FORMULAS.md 2.1). Hartung-Knapp (2.8) scales the covariance by the
// weighted residual variance s2w and tests on t with k - p df: it needs k > p.
// Its ad hoc variant never lets s2w below 1.
absl::Status EstimateCoefficients(const WeightedFit& fit, const VectorXd& w,
                                  const std::vector<std::string>& names, int df, TestKind test,
                                  FitResult& result) {
  MatrixXd covariance = fit.xtwx_inverse;
  result.s2w = kNaN;
  double critical = NormalCritical95();
  const bool on_t = test != TestKind::kZ;
  if (on_t) {
    if (df < 1) {
      return absl::InvalidArgumentError(
          "the Hartung-Knapp adjustment needs more studies than coefficients");
    }
    const double rss = (w.array() * fit.residuals.array().square()).sum();
    // metafor: a residual sum of squares at rounding level (all effects
    // equal) scales by 0, not by noise.
    result.s2w = rss <= std::numeric_limits<double>::epsilon() ? 0.0 : rss / df;
    if (test == TestKind::kKnappHartungAdhoc) result.s2w = std::max(1.0, result.s2w);
    covariance *= result.s2w;
    critical = StudentCritical95(df);
  }
  result.covariance = covariance;
  for (int j = 0; j < static_cast<int>(names.size()); ++j) {
    Coefficient c;
    c.name = names[j];
    c.estimate = fit.b(j);
    c.se = std::sqrt(covariance(j, j));
    c.statistic = c.estimate / c.se;
    c.p_value = on_t ? StudentTwoSidedP(c.statistic, df) : NormalTwoSidedP(c.statistic);
    c.ci_lower = c.estimate - critical * c.se;
    c.ci_upper = c.estimate + critical * c.se;
    result.coefficients.push_back(c);
  }
  return absl::OkStatus();
}

// Omnibus test that every moderator's coefficient is 0, the intercept left
// out (FORMULAS.md 2.9): chi-square, or F under Hartung-Knapp. NaN when
// there is no moderator to test.
void TestModerators(const VectorXd& coefficients, bool intercept, int df, bool on_t,
                    FitResult& result) {
  const int p = static_cast<int>(coefficients.size());
  const int first = intercept ? 1 : 0;
  const int m = p - first;
  if (m > 0 && (intercept ? p > 1 : true)) {
    const VectorXd b = coefficients.segment(first, m);
    const MatrixXd vb = result.covariance.block(first, first, m, m);
    const double qm = b.dot(vb.ldlt().solve(b));
    result.qm_df1 = m;
    if (on_t) {
      result.qm = qm / m;
      result.qm_df2 = df;
      result.qm_p = FisherUpperP(result.qm, m, df);
    } else {
      result.qm = qm;
      result.qm_df2 = kNaN;
      result.qm_p = ChiSquareUpperP(qm, m);
    }
  } else {
    result.qm = result.qm_df1 = result.qm_df2 = result.qm_p = kNaN;
  }
}

}  // namespace

const char* MethodName(Method method) {
  switch (method) {
    case Method::kFixed:
      return "FE";
    case Method::kDerSimonianLaird:
      return "DL";
    case Method::kReml:
      return "REML";
  }
  return "?";
}

absl::StatusOr<FitResult> FitModel(const std::vector<double>& y_in, const std::vector<double>& v_in,
                                   const MatrixXd& x, const std::vector<std::string>& names,
                                   bool intercept, const FitOptions& options) {
  if (absl::Status valid = CheckModelInputs(y_in, v_in, x, names); !valid.ok()) return valid;
  const int k = static_cast<int>(y_in.size());
  const int p = static_cast<int>(x.cols());
  const VectorXd y = Eigen::Map<const VectorXd>(y_in.data(), k);
  const VectorXd v = Eigen::Map<const VectorXd>(v_in.data(), k);

  FitResult result;
  result.method = options.method;
  result.test = options.test;
  result.prediction_distribution = options.prediction_distribution;
  result.k = k;
  result.p = p;
  const int df = k - p;

  const ProjectionTraces fe = TestResidualHeterogeneity(x, y, v, df, result);
  absl::StatusOr<Tau2Estimate> tau2 = EstimateTau2(x, y, v, fe, result.qe, df, options);
  if (!tau2.ok()) return tau2.status();
  result.tau2 = tau2->tau2;
  result.se_tau2 = tau2->se;
  result.iterations = tau2->iterations;
  DescribeHeterogeneity(df, result);

  const VectorXd w = (v.array() + result.tau2).inverse();
  const WeightedFit fit = SolveWeighted(x, y, w);
  if (absl::Status estimated = EstimateCoefficients(fit, w, names, df, options.test, result);
      !estimated.ok()) {
    return estimated;
  }
  TestModerators(fit.b, intercept, df, result.OnStudentT(), result);
  result.r2 = kNaN;  // FitRegression compares with the intercept-only model.

  result.ll_ml = MaximumLogLikelihood(x, y, v, result.tau2);
  result.ll_reml = RestrictedLogLikelihood(x, y, v, result.tau2);
  const double total_weight = w.sum();
  for (int i = 0; i < k; ++i) result.weights_percent.push_back(100 * w(i) / total_weight);
  return result;
}

absl::StatusOr<FitResult> FitPooled(const std::vector<double>& y, const std::vector<double>& v,
                                    const FitOptions& options) {
  return FitModel(y, v, MatrixXd::Ones(static_cast<Eigen::Index>(y.size()), 1), {"intrcpt"}, true,
                  options);
}

absl::StatusOr<FitResult> FitRegression(const std::vector<double>& y, const std::vector<double>& v,
                                        const std::vector<std::vector<double>>& moderators,
                                        const std::vector<std::string>& names,
                                        const FitOptions& options) {
  const Eigen::Index k = static_cast<Eigen::Index>(y.size());
  if (moderators.size() != names.size()) {
    return absl::InvalidArgumentError("moderators and names differ in number");
  }
  MatrixXd x(k, static_cast<Eigen::Index>(moderators.size()) + 1);
  x.col(0).setOnes();
  std::vector<std::string> all_names = {"intrcpt"};
  for (size_t j = 0; j < moderators.size(); ++j) {
    if (static_cast<Eigen::Index>(moderators[j].size()) != k) {
      return absl::InvalidArgumentError(absl::StrCat(
          "moderator '", names[j], "' has ", moderators[j].size(), " values for ", k, " studies"));
    }
    for (Eigen::Index i = 0; i < k; ++i) x(i, static_cast<Eigen::Index>(j) + 1) = moderators[j][i];
    all_names.push_back(names[j]);
  }
  absl::StatusOr<FitResult> result = FitModel(y, v, x, all_names, true, options);
  if (!result.ok() || moderators.empty()) return result;
  if (options.method == Method::kFixed) {
    // metafor reports the adjusted R2 of the weighted least-squares fit.
    const VectorXd yv = Eigen::Map<const VectorXd>(y.data(), k);
    const VectorXd w = Eigen::Map<const VectorXd>(v.data(), k).array().inverse();
    WeightedFit fit = SolveWeighted(x, yv, w);
    const double mean = (w.array() * yv.array()).sum() / w.sum();
    const double total = (w.array() * (yv.array() - mean).square()).sum();
    const double residual = (w.array() * fit.residuals.array().square()).sum();
    const double r2 = 1 - residual / total;
    const double p = static_cast<double>(x.cols());
    const double adjusted = 1 - (1 - r2) * (k - 1) / (k - p);
    result->r2 = std::max(0.0, 100 * adjusted);
  } else {
    FitOptions pooled_options = options;
    pooled_options.test = TestKind::kZ;
    absl::StatusOr<FitResult> pooled = FitPooled(y, v, pooled_options);
    if (!pooled.ok()) return pooled.status();
    result->r2 =
        pooled->tau2 > 0 ? std::max(0.0, 100 * (pooled->tau2 - result->tau2) / pooled->tau2) : 0.0;
  }
  return result;
}

Prediction FitResult::Predict(const std::vector<double>& x) const {
  VectorXd x0(p);
  x0(0) = 1;
  for (int j = 1; j < p; ++j) x0(j) = j - 1 < static_cast<int>(x.size()) ? x[j - 1] : 0;
  VectorXd b(p);
  for (int j = 0; j < p; ++j) b(j) = coefficients[j].estimate;
  Prediction prediction;
  prediction.estimate = x0.dot(b);
  prediction.se = std::sqrt(x0.dot(covariance * x0));
  const double critical = OnStudentT() ? StudentCritical95(k - p) : NormalCritical95();
  prediction.ci_lower = prediction.estimate - critical * prediction.se;
  prediction.ci_upper = prediction.estimate + critical * prediction.se;
  if (method == Method::kFixed) {
    prediction.pi_lower = prediction.pi_upper = kNaN;
  } else {
    const double pi_critical = prediction_distribution == PredictionDistribution::kAsTest
                                   ? critical
                                   : StudentCritical95(std::max(1, k - p - 1));
    const double spread = pi_critical * std::sqrt(prediction.se * prediction.se + tau2);
    prediction.pi_lower = prediction.estimate - spread;
    prediction.pi_upper = prediction.estimate + spread;
  }
  return prediction;
}

}  // namespace leerlus::analysis
