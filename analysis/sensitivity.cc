#include "analysis/sensitivity.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "analysis/distributions.h"

namespace leerlus::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

std::vector<double> Pick(const std::vector<double>& values, const std::vector<int>& indices) {
  std::vector<double> picked;
  picked.reserve(indices.size());
  for (int i : indices) picked.push_back(values[i]);
  return picked;
}

std::vector<int> AllBut(int k, int left_out) {
  std::vector<int> indices;
  for (int i = 0; i < k; ++i) {
    if (i != left_out) indices.push_back(i);
  }
  return indices;
}

absl::Status CheckStudies(const std::vector<double>& y, const std::vector<double>& v,
                          size_t minimum, const char* what) {
  if (y.size() != v.size()) {
    return absl::InvalidArgumentError("effects and variances differ in length");
  }
  if (y.size() < minimum) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " needs at least ", minimum, " studies; there are ", y.size()));
  }
  return absl::OkStatus();
}

// The generalised Q statistic of an intercept-only model at `tau2`: the
// weighted residual sum of squares with weights 1 / (v + tau2).
double GeneralizedQ(const std::vector<double>& y, const std::vector<double>& v, double tau2) {
  double sum_w = 0, sum_wy = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    sum_w += 1 / (v[i] + tau2);
    sum_wy += y[i] / (v[i] + tau2);
  }
  const double mean = sum_wy / sum_w;
  double q = 0;
  for (size_t i = 0; i < y.size(); ++i) q += (y[i] - mean) * (y[i] - mean) / (v[i] + tau2);
  return q;
}

double Estimate(const FitResult& fit) { return fit.coefficients[0].estimate; }
double Variance(const FitResult& fit) { return fit.covariance(0, 0); }

// Kendall's tau-b between x and y, and its two-sided p-value as R's
// cor.test(method = "kendall", exact = TRUE) gives it.
RankCorrelationTest KendallTest(const std::vector<double>& x, const std::vector<double>& y) {
  const int n = static_cast<int>(x.size());
  double s = 0;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j], dy = y[i] - y[j];
      s += (dx > 0 ? 1 : dx < 0 ? -1 : 0) * (dy > 0 ? 1 : dy < 0 ? -1 : 0);
    }
  }
  // Sizes of the groups of tied values.
  auto tie_groups = [](std::vector<double> values) {
    std::sort(values.begin(), values.end());
    std::vector<double> sizes;
    for (size_t i = 0; i < values.size();) {
      size_t j = i;
      while (j < values.size() && values[j] == values[i]) ++j;
      if (j - i > 1) sizes.push_back(static_cast<double>(j - i));
      i = j;
    }
    return sizes;
  };
  const std::vector<double> x_ties = tie_groups(x), y_ties = tie_groups(y);
  const double t0 = n * (n - 1) / 2.0;
  auto sum_over = [](const std::vector<double>& ties, auto term) {
    double total = 0;
    for (double t : ties) total += term(t);
    return total;
  };
  const double t1 = sum_over(x_ties, [](double t) { return t * (t - 1) / 2; });
  const double t2 = sum_over(y_ties, [](double t) { return t * (t - 1) / 2; });
  RankCorrelationTest test;
  test.tau = s / std::sqrt((t0 - t1) * (t0 - t2));
  const bool ties = !x_ties.empty() || !y_ties.empty();
  if (!ties && n <= 100) {
    // The exact null distribution of the number of concordant pairs: the
    // Mahonian numbers (permutations of n with a given number of
    // inversions), as probabilities.
    const int max_pairs = n * (n - 1) / 2;
    std::vector<double> distribution = {1.0};
    for (int m = 2; m <= n; ++m) {
      std::vector<double> next(distribution.size() + m - 1, 0.0);
      for (size_t q = 0; q < distribution.size(); ++q) {
        for (int add = 0; add < m; ++add) next[q + add] += distribution[q] / m;
      }
      distribution = std::move(next);
    }
    auto cumulative = [&](int q) {
      double total = 0;
      for (int i = 0; i <= std::min(q, max_pairs); ++i) total += distribution[i];
      return total;
    };
    const int q = static_cast<int>(std::nearbyint((test.tau + 1) * n * (n - 1) / 4));
    const double p = q > n * (n - 1) / 4.0 ? 1 - cumulative(q - 1) : cumulative(q);
    test.p_value = std::min(2 * p, 1.0);
    test.exact = true;
    return test;
  }
  auto tie_sum = [&](const std::vector<double>& ties, auto term) { return sum_over(ties, term); };
  const double v0 = n * (n - 1.0) * (2.0 * n + 5);
  const double vt = tie_sum(x_ties, [](double t) { return t * (t - 1) * (2 * t + 5); });
  const double vu = tie_sum(y_ties, [](double t) { return t * (t - 1) * (2 * t + 5); });
  const double v1 = tie_sum(x_ties, [](double t) { return t * (t - 1); }) *
                    tie_sum(y_ties, [](double t) { return t * (t - 1); });
  const double v2 = tie_sum(x_ties, [](double t) { return t * (t - 1) * (t - 2); }) *
                    tie_sum(y_ties, [](double t) { return t * (t - 1) * (t - 2); });
  const double variance =
      (v0 - vt - vu) / 18 + v1 / (2.0 * n * (n - 1)) + v2 / (9.0 * n * (n - 1) * (n - 2));
  const double z = s / std::sqrt(variance);
  test.p_value = 2 * std::min(NormalCdf(z), 1 - NormalCdf(z));
  return test;
}

}  // namespace

double ZeroIn(const std::function<double(double)>& f, double lower, double upper, double tolerance,
              int max_iterations) {
  double a = lower, b = upper;
  double fa = f(a), fb = f(b);
  double c = a, fc = fa;
  if (fa == 0) return a;
  if (fb == 0) return b;
  for (int remaining = max_iterations + 1; remaining-- > 0;) {
    const double previous_step = b - a;
    if (std::fabs(fc) < std::fabs(fb)) {  // Keep b the best approximation.
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const double actual_tolerance = 2 * kEpsilon * std::fabs(b) + tolerance / 2;
    double new_step = (c - b) / 2;
    if (std::fabs(new_step) <= actual_tolerance || fb == 0) return b;
    // Interpolate when the previous step was large enough and went the
    // right way; bisect otherwise.
    if (std::fabs(previous_step) >= actual_tolerance && std::fabs(fa) > std::fabs(fb)) {
      double p, q;
      const double cb = c - b;
      if (a == c) {  // Two distinct points: linear interpolation.
        const double t1 = fb / fa;
        p = cb * t1;
        q = 1.0 - t1;
      } else {  // Inverse quadratic interpolation.
        q = fa / fc;
        const double t1 = fb / fc;
        const double t2 = fb / fa;
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0));
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0);
      }
      if (p > 0) {
        q = -q;
      } else {
        p = -p;
      }
      if (p < (0.75 * cb * q - std::fabs(actual_tolerance * q) / 2) &&
          p < std::fabs(previous_step * q / 2)) {
        new_step = p / q;
      }
    }
    if (std::fabs(new_step) < actual_tolerance) {
      new_step = new_step > 0 ? actual_tolerance : -actual_tolerance;
    }
    a = b;
    fa = fb;
    b += new_step;
    fb = f(b);
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  return kNaN;
}

absl::StatusOr<HeterogeneityIntervals> QProfileIntervals(const std::vector<double>& y,
                                                         const std::vector<double>& v,
                                                         const FitResult& fit) {
  if (absl::Status s = CheckStudies(y, v, 2, "an interval for the heterogeneity"); !s.ok()) {
    return s;
  }
  if (fit.p != 1 || fit.k != static_cast<int>(y.size())) {
    return absl::InvalidArgumentError(
        "Q-profile intervals need the intercept-only fit of the same studies");
  }
  const double df = fit.k - 1;
  // metafor's search range and uniroot() tolerance; the range grows where
  // metafor would report the upper bound as beyond it (effects on a raw
  // scale with large variances).
  const double tau2_min = std::min(0.0, fit.tau2);
  double tau2_max = std::max({100.0, 10 * fit.tau2, 10 * tau2_min});
  const double tolerance = std::pow(kEpsilon, 0.25);
  const double critical_upper = ChiSquareQuantile(0.975, df);
  const double critical_lower = ChiSquareQuantile(0.025, df);
  const double q_at_min = GeneralizedQ(y, v, tau2_min);
  double q_at_max = GeneralizedQ(y, v, tau2_max);
  while (q_at_max > critical_lower && tau2_max < 1e15) {
    tau2_max *= 10;
    q_at_max = GeneralizedQ(y, v, tau2_max);
  }
  auto solve = [&](double objective) {
    return ZeroIn([&](double tau2) { return GeneralizedQ(y, v, tau2) - objective; }, tau2_min,
                  tau2_max, tolerance, 1000);
  };
  HeterogeneityIntervals result;
  double lower = kNaN, upper = kNaN;
  // The upper bound: where Q falls to the lower quantile.
  if (q_at_min < critical_lower) {
    lower = upper = tau2_min;
    result.empty = tau2_min <= 0;
  } else if (q_at_max > critical_lower) {
    upper = tau2_max;
  } else {
    upper = solve(critical_lower);
  }
  // The lower bound: where Q falls to the upper quantile.
  if (q_at_max > critical_upper) {
    lower = upper = tau2_max;
  } else if (q_at_min < critical_upper) {
    lower = tau2_min;
  } else {
    lower = solve(critical_upper);
  }
  const double vt = fit.typical_variance;
  auto tau = [](double tau2) { return tau2 >= 0 ? std::sqrt(tau2) : kNaN; };
  auto i2 = [vt](double tau2) { return 100 * tau2 / (vt + tau2); };
  auto h2 = [vt](double tau2) { return tau2 / vt + 1; };
  result.tau2 = {fit.tau2, lower, upper};
  result.tau = {tau(fit.tau2), tau(lower), tau(upper)};
  result.i2 = {fit.i2, i2(lower), i2(upper)};
  result.h2 = {fit.h2, h2(lower), h2(upper)};
  return result;
}

absl::StatusOr<std::vector<LeftOut>> LeaveEachOut(const std::vector<double>& y,
                                                  const std::vector<double>& v,
                                                  const FitOptions& options) {
  const size_t minimum = options.test == TestKind::kZ ? 2 : 3;
  if (absl::Status s = CheckStudies(y, v, minimum, "leaving one out"); !s.ok()) return s;
  const int k = static_cast<int>(y.size());
  std::vector<LeftOut> result;
  for (int i = 0; i < k; ++i) {
    const std::vector<int> kept = AllBut(k, i);
    LeftOut row{.study = i};
    absl::StatusOr<FitResult> fit = FitPooled(Pick(y, kept), Pick(v, kept), options);
    if (!fit.ok()) {
      // As metafor: a refit that fails leaves its row empty.
      row.estimate = row.se = row.ci_lower = row.ci_upper = row.qe = row.tau2 = row.i2 = kNaN;
    } else {
      const Coefficient& pooled = fit->coefficients[0];
      row.estimate = pooled.estimate;
      row.se = pooled.se;
      row.ci_lower = pooled.ci_lower;
      row.ci_upper = pooled.ci_upper;
      row.qe = fit->qe;
      row.tau2 = fit->tau2;
      row.i2 = fit->i2;
    }
    result.push_back(row);
  }
  return result;
}

absl::StatusOr<std::vector<StudyInfluence>> InfluenceDiagnostics(const std::vector<double>& y,
                                                                 const std::vector<double>& v,
                                                                 const FitOptions& options) {
  const size_t minimum = options.test == TestKind::kZ ? 2 : 3;
  if (absl::Status s = CheckStudies(y, v, minimum, "influence diagnostics"); !s.ok()) return s;
  absl::StatusOr<FitResult> full = FitPooled(y, v, options);
  if (!full.ok()) return full.status();
  const int k = full->k;
  const int p = 1;
  double total_weight = 0;
  for (double vi : v) total_weight += 1 / (vi + full->tau2);
  std::vector<StudyInfluence> result;
  for (int i = 0; i < k; ++i) {
    StudyInfluence row{.study = i};
    row.hat = 1 / (v[i] + full->tau2) / total_weight;
    row.weight_percent = 100 * row.hat;
    const std::vector<int> kept = AllBut(k, i);
    absl::StatusOr<FitResult> deleted = FitPooled(Pick(y, kept), Pick(v, kept), options);
    if (!deleted.ok()) {
      row.studentized_residual = row.dffits = row.cooks_distance = row.covariance_ratio =
          row.tau2_deleted = row.qe_deleted = row.dfbetas = kNaN;
      result.push_back(row);
      continue;
    }
    row.tau2_deleted = deleted->tau2;
    row.qe_deleted = deleted->qe;
    // metafor's s2w is 1 without Hartung-Knapp.
    const double s2w = deleted->OnStudentT() ? deleted->s2w : 1.0;
    const double change = Estimate(*full) - Estimate(*deleted);
    row.dffits = change / std::sqrt(s2w * row.hat * (row.tau2_deleted + v[i]));
    // The variance of the full data's estimate at the deleted tau2.
    double weight_at_deleted_tau2 = 0;
    for (double vj : v) weight_at_deleted_tau2 += 1 / (vj + row.tau2_deleted);
    row.dfbetas = change / std::sqrt(s2w / weight_at_deleted_tau2);
    row.cooks_distance = change * change / Variance(*full);
    row.covariance_ratio = Variance(*deleted) / Variance(*full);
    double residual = y[i] - Estimate(*deleted);
    if (std::fabs(residual) < 100 * kEpsilon) residual = 0;
    row.studentized_residual =
        residual / std::sqrt(v[i] * s2w + Variance(*deleted) + row.tau2_deleted * s2w);
    row.influential = std::fabs(row.dffits) > 3 * std::sqrt(1.0 * p / (k - p)) ||
                      ChiSquareUpperP(row.cooks_distance, p) < 0.5 || row.hat > 3.0 * p / k ||
                      std::fabs(row.dfbetas) > 1;
    result.push_back(row);
  }
  return result;
}

absl::StatusOr<std::vector<CumulativeStep>> PoolCumulatively(const std::vector<double>& y,
                                                             const std::vector<double>& v,
                                                             const std::vector<int>& order,
                                                             const FitOptions& options) {
  if (absl::Status s = CheckStudies(y, v, 1, "cumulative pooling"); !s.ok()) return s;
  const int k = static_cast<int>(y.size());
  std::vector<int> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> identity(k);
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity) {
    return absl::InvalidArgumentError("the order is not a permutation of the studies");
  }
  std::vector<CumulativeStep> steps;
  std::vector<int> included;
  for (int study : order) {
    included.push_back(study);
    FitOptions step_options = options;
    if (included.size() < 2) step_options.test = TestKind::kZ;
    absl::StatusOr<FitResult> fit = FitPooled(Pick(y, included), Pick(v, included), step_options);
    if (!fit.ok()) return fit.status();
    const Coefficient& pooled = fit->coefficients[0];
    steps.push_back({.added = study,
                     .k = fit->k,
                     .estimate = pooled.estimate,
                     .se = pooled.se,
                     .ci_lower = pooled.ci_lower,
                     .ci_upper = pooled.ci_upper,
                     .tau2 = fit->tau2,
                     .i2 = fit->i2});
  }
  return steps;
}

absl::StatusOr<RegressionTest> EggerRegressionTest(const std::vector<double>& y,
                                                   const std::vector<double>& v,
                                                   const FitOptions& options) {
  if (absl::Status s = CheckStudies(y, v, 3, "Egger's test"); !s.ok()) return s;
  std::vector<double> standard_errors;
  for (double vi : v) standard_errors.push_back(std::sqrt(vi));
  absl::StatusOr<FitResult> fit = FitRegression(y, v, {standard_errors}, {"sei"}, options);
  if (!fit.ok()) return fit.status();
  const Coefficient& intercept = fit->coefficients[0];
  const Coefficient& slope = fit->coefficients[1];
  return RegressionTest{.statistic = slope.statistic,
                        .p_value = slope.p_value,
                        .limit_estimate = intercept.estimate,
                        .limit_ci_lower = intercept.ci_lower,
                        .limit_ci_upper = intercept.ci_upper};
}

absl::StatusOr<RankCorrelationTest> BeggRankTest(const std::vector<double>& y,
                                                 const std::vector<double>& v) {
  if (absl::Status s = CheckStudies(y, v, 3, "Begg's test"); !s.ok()) return s;
  double sum_w = 0, sum_wy = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    sum_w += 1 / v[i];
    sum_wy += y[i] / v[i];
  }
  const double pooled = sum_wy / sum_w;
  const double pooled_variance = 1 / sum_w;
  if (std::all_of(y.begin(), y.end(), [&](double yi) { return yi == y[0]; })) {
    return absl::FailedPreconditionError("all effects are equal: there is nothing to rank");
  }
  std::vector<double> standardized;
  for (size_t i = 0; i < y.size(); ++i) {
    standardized.push_back((y[i] - pooled) / std::sqrt(v[i] - pooled_variance));
  }
  return KendallTest(standardized, v);
}

absl::StatusOr<TrimAndFillResult> TrimAndFill(const std::vector<double>& y,
                                              const std::vector<double>& v,
                                              const FitOptions& options) {
  if (absl::Status s = CheckStudies(y, v, 3, "trim and fill"); !s.ok()) return s;
  const int k = static_cast<int>(y.size());
  // The estimates below do not depend on the test; z works for any k.
  FitOptions estimate_options = options;
  estimate_options.test = TestKind::kZ;
  std::vector<double> standard_errors;
  for (double vi : v) standard_errors.push_back(std::sqrt(vi));
  absl::StatusOr<FitResult> side =
      FitRegression(y, v, {standard_errors}, {"sei"}, estimate_options);
  if (!side.ok()) return side.status();
  TrimAndFillResult result;
  result.right_side = side->coefficients[1].estimate < 0;
  // Work as if the missing studies were on the left: flip for the right.
  const double sign = result.right_side ? -1 : 1;
  std::vector<int> by_effect(k);
  std::iota(by_effect.begin(), by_effect.end(), 0);
  std::stable_sort(by_effect.begin(), by_effect.end(),
                   [&](int a, int b) { return sign * y[a] < sign * y[b]; });
  std::vector<double> sorted_y, sorted_v;
  for (int i : by_effect) {
    sorted_y.push_back(sign * y[i]);
    sorted_v.push_back(v[i]);
  }
  int missing = 0, previous = -1;
  double center = 0;
  for (int iteration = 0; missing != previous; ++iteration) {
    if (iteration >= 100) {
      return absl::FailedPreconditionError("trim and fill did not settle in 100 iterations");
    }
    previous = missing;
    const std::vector<double> trimmed_y(sorted_y.begin(), sorted_y.end() - missing);
    const std::vector<double> trimmed_v(sorted_v.begin(), sorted_v.end() - missing);
    absl::StatusOr<FitResult> trimmed = FitPooled(trimmed_y, trimmed_v, estimate_options);
    if (!trimmed.ok()) return trimmed.status();
    center = Estimate(*trimmed);
    // Signed ranks of the centred effects; ties ranked in order.
    std::vector<int> by_distance(k);
    std::iota(by_distance.begin(), by_distance.end(), 0);
    std::stable_sort(by_distance.begin(), by_distance.end(), [&](int a, int b) {
      return std::fabs(sorted_y[a] - center) < std::fabs(sorted_y[b] - center);
    });
    double positive_rank_sum = 0;
    for (int rank = 1; rank <= k; ++rank) {
      if (sorted_y[by_distance[rank - 1]] - center > 0) positive_rank_sum += rank;
    }
    const double l0 = (4 * positive_rank_sum - k * (k + 1.0)) / (2.0 * k - 1);
    missing = static_cast<int>(std::max(0.0, std::nearbyint(l0)));
  }
  result.missing = missing;
  std::vector<double> all_y = y, all_v = v;
  for (int i = k - missing; i < k; ++i) {
    result.filled_effects.push_back(sign * (2 * center - sorted_y[i]));
    result.filled_variances.push_back(sorted_v[i]);
  }
  all_y.insert(all_y.end(), result.filled_effects.begin(), result.filled_effects.end());
  all_v.insert(all_v.end(), result.filled_variances.begin(), result.filled_variances.end());
  // metafor refits filled data with its default test, z; with nothing
  // imputed it returns the observed fit.
  absl::StatusOr<FitResult> adjusted =
      FitPooled(all_y, all_v, missing > 0 ? estimate_options : options);
  if (!adjusted.ok()) return adjusted.status();
  result.estimate = Estimate(*adjusted);
  result.ci_lower = adjusted->coefficients[0].ci_lower;
  result.ci_upper = adjusted->coefficients[0].ci_upper;
  return result;
}

absl::StatusOr<PermutationTest> ModeratorPermutationTest(
    const std::vector<double>& y, const std::vector<double>& v,
    const std::vector<std::vector<double>>& moderators, const FitOptions& options,
    const PermutationOptions& permutation) {
  if (absl::Status s = CheckStudies(y, v, 2, "a permutation test"); !s.ok()) return s;
  if (moderators.size() != y.size()) {
    return absl::InvalidArgumentError("moderator rows and effects differ in length");
  }
  const int k = static_cast<int>(y.size());
  const size_t m = moderators[0].size();
  for (const std::vector<double>& row : moderators) {
    if (row.size() != m || m == 0) {
      return absl::InvalidArgumentError("every moderator row needs the same, non-zero length");
    }
  }
  // Distinct rows, and each study's code: permuting codes moves rows.
  std::vector<std::vector<double>> distinct = moderators;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() < 2) {
    return absl::InvalidArgumentError("the moderator takes one value only: nothing to permute");
  }
  std::vector<int> codes;
  for (const std::vector<double>& row : moderators) {
    codes.push_back(static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), row) -
                                     distinct.begin()));
  }
  std::vector<std::string> names = {"intrcpt"};
  for (size_t j = 0; j < m; ++j) names.push_back(absl::StrCat("mod", j + 1));
  Eigen::MatrixXd x(k, static_cast<Eigen::Index>(m) + 1);
  auto fit_arrangement = [&](const std::vector<int>& arrangement) {
    for (int i = 0; i < k; ++i) {
      x(i, 0) = 1;
      for (size_t j = 0; j < m; ++j)
        x(i, static_cast<Eigen::Index>(j) + 1) = distinct[arrangement[i]][j];
    }
    return FitModel(y, v, x, names, true, options);
  };
  absl::StatusOr<FitResult> observed = fit_arrangement(codes);
  if (!observed.ok()) return observed.status();

  PermutationTest test;
  test.qm = observed->qm;
  test.qm_p = observed->qm_p;
  double log_count = std::lgamma(k + 1.0);
  for (size_t j = 0; j < distinct.size(); ++j) {
    log_count -= std::lgamma(std::count(codes.begin(), codes.end(), static_cast<int>(j)) + 1.0);
  }
  test.distinct_permutations = std::nearbyint(std::exp(log_count));
  // metafor's comparison tolerance: a permuted statistic equal to the
  // observed one up to rounding counts as at least as extreme.
  const double tolerance = std::sqrt(kEpsilon);
  int64_t at_least_as_extreme = 0, fits = 0;
  auto count = [&](const std::vector<int>& arrangement) -> absl::Status {
    if (++fits % 256 == 0 && permutation.should_stop && permutation.should_stop()) {
      return absl::CancelledError("the permutation test was stopped");
    }
    absl::StatusOr<FitResult> fit = fit_arrangement(arrangement);
    if (!fit.ok()) return absl::OkStatus();  // As metafor: an unfittable arrangement is left out.
    ++test.permutations_run;
    if (fit->qm >= test.qm - tolerance) ++at_least_as_extreme;
    return absl::OkStatus();
  };
  if (test.distinct_permutations <= static_cast<double>(permutation.max_exact)) {
    test.exact = true;
    std::vector<int> arrangement = codes;
    std::sort(arrangement.begin(), arrangement.end());
    do {
      if (absl::Status s = count(arrangement); !s.ok()) return s;
    } while (std::next_permutation(arrangement.begin(), arrangement.end()));
  } else {
    test.seed = permutation.seed;
    std::mt19937_64 random(permutation.seed);
    ++test.permutations_run;  // The observed arrangement.
    ++at_least_as_extreme;
    std::vector<int> arrangement = codes;
    for (int64_t i = 1; i < permutation.random_permutations; ++i) {
      std::shuffle(arrangement.begin(), arrangement.end(), random);
      if (absl::Status s = count(arrangement); !s.ok()) return s;
    }
  }
  test.permutation_p = test.permutations_run > 0
                           ? static_cast<double>(at_least_as_extreme) / test.permutations_run
                           : kNaN;
  return test;
}

absl::StatusOr<PermutationTest> FactorPermutationTest(const std::vector<double>& y,
                                                      const std::vector<double>& v,
                                                      const std::vector<int>& levels,
                                                      const FitOptions& options,
                                                      const PermutationOptions& permutation) {
  std::vector<int> distinct = levels;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() < 2) {
    return absl::InvalidArgumentError("a moderator needs at least two levels");
  }
  std::vector<std::vector<double>> dummies;
  for (int level : levels) {
    std::vector<double>& row = dummies.emplace_back(distinct.size() - 1, 0.0);
    for (size_t j = 1; j < distinct.size(); ++j) row[j - 1] = level == distinct[j] ? 1 : 0;
  }
  return ModeratorPermutationTest(y, v, dummies, options, permutation);
}

}  // namespace leerlus::analysis
