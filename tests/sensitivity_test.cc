// Golden tests of the sensitivity and certainty tools against metafor 3.8-1
// (tests/data/metafor/sensitivity, copied from
// shared/reference/metafor/sensitivity; README there): Q-profile intervals,
// Hartung-Knapp and its ad hoc variant, leave-one-out, influence,
// cumulative pooling, Egger, Begg, trim and fill, exact permutation tests,
// and pretest-posttest-control effect sizes.
#include "analysis/sensitivity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <functional>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "analysis/effect_size.h"
#include "analysis/meta_analysis.h"
#include "tests/metafor_reference.h"
#include "tests/test_util.h"

namespace leerlus::analysis {
namespace {

using reference::kMetaforDataDir;
using reference::MetaforReference;
using reference::MetaforTable;

// The promise is 1e-6 relative; every value here holds to 1e-8.
constexpr double kTolerance = 1e-8;

struct DataSet {
  std::string stem;
  MetaforTable table;
  std::vector<double> y, v;
};

DataSet Load(const std::string& stem) {
  DataSet data{stem, reference::LoadMetaforCsv(kMetaforDataDir + stem + "_data.csv"), {}, {}};
  for (size_t i = 0; i < data.table.rows.size(); ++i) {
    data.y.push_back(data.table.Number(i, "yi"));
    data.v.push_back(data.table.Number(i, "vi"));
  }
  return data;
}

MetaforReference SensitivityOf(const std::string& stem) {
  return MetaforReference(stem, kMetaforDataDir + "sensitivity/" + stem + "_sensitivity.txt",
                          kTolerance);
}

// 1-based study numbers, ';'-separated, as 0-based indices.
std::vector<int> Studies(const std::string& text) {
  std::vector<int> studies;
  for (absl::string_view part : absl::StrSplit(text, ';', absl::SkipEmpty())) {
    studies.push_back(std::stoi(std::string(part)) - 1);
  }
  return studies;
}

const FitOptions kReml = {.method = Method::kReml};

double ChiSquareQuantileForTest(double p, double df) {
  return boost::math::quantile(boost::math::chi_squared(df), p);
}

class SensitivityGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  DataSet data_ = Load(GetParam());
  MetaforReference ref_ = SensitivityOf(GetParam());
};

TEST_P(SensitivityGoldenTest, QProfileIntervalsForTheHeterogeneity) {
  absl::StatusOr<FitResult> fit = FitPooled(data_.y, data_.v, kReml);
  ASSERT_OK(fit);
  absl::StatusOr<HeterogeneityIntervals> intervals = QProfileIntervals(data_.y, data_.v, *fit);
  ASSERT_OK(intervals);
  const std::pair<const char*, Interval> rows[] = {{"tau2", intervals->tau2},
                                                   {"tau", intervals->tau},
                                                   {"i2", intervals->i2},
                                                   {"h2", intervals->h2}};
  for (const auto& [name, interval] : rows) {
    const std::string prefix = absl::StrCat("qprofile.", name);
    ref_.Expect(prefix + ".estimate", interval.estimate);
    ref_.Expect(prefix + ".ci_lower", interval.lower);
    ref_.Expect(prefix + ".ci_upper", interval.upper);
  }
  EXPECT_EQ(ref_.compared(), 12);
}

TEST_P(SensitivityGoldenTest, HartungKnappAndItsAdHocVariant) {
  for (const auto& [name, test] : {std::pair{"knha", TestKind::kKnappHartung},
                                   std::pair{"adhoc", TestKind::kKnappHartungAdhoc}}) {
    absl::StatusOr<FitResult> fit =
        FitPooled(data_.y, data_.v, {.method = Method::kReml, .test = test});
    ASSERT_OK(fit);
    const Coefficient& pooled = fit->coefficients[0];
    const Prediction prediction = fit->Predict({});
    const std::string prefix = name;
    ref_.Expect(prefix + ".estimate", pooled.estimate);
    ref_.Expect(prefix + ".se", pooled.se);
    ref_.Expect(prefix + ".ci_lower", pooled.ci_lower);
    ref_.Expect(prefix + ".ci_upper", pooled.ci_upper);
    ref_.Expect(prefix + ".pvalue", pooled.p_value);
    ref_.Expect(prefix + ".pi_lower", prediction.pi_lower);
    ref_.Expect(prefix + ".pi_upper", prediction.pi_upper);
  }
  EXPECT_EQ(ref_.compared(), 14);
}

// metafor's reference has no t(k - 2) prediction interval; it follows by
// hand from the ad hoc fit's estimate and SE and the REML tau2 above:
// estimate -/+ t(0.975; k - 2) sqrt(se^2 + tau2).
TEST_P(SensitivityGoldenTest, PredictionIntervalOnKMinusTwoDegreesOfFreedomByHand) {
  absl::StatusOr<FitResult> fit =
      FitPooled(data_.y, data_.v,
                {.method = Method::kReml,
                 .test = TestKind::kKnappHartungAdhoc,
                 .prediction_distribution = PredictionDistribution::kStudentOneFewer});
  ASSERT_OK(fit);
  const double k = static_cast<double>(data_.y.size());
  const double critical = boost::math::quantile(boost::math::students_t(k - 2), 0.975);
  const double spread =
      critical * std::sqrt(std::pow(ref_.Get("adhoc.se"), 2) + ref_.Get("qprofile.tau2.estimate"));
  const Prediction prediction = fit->Predict({});
  EXPECT_NEAR(prediction.pi_lower, ref_.Get("adhoc.estimate") - spread, 1e-8);
  EXPECT_NEAR(prediction.pi_upper, ref_.Get("adhoc.estimate") + spread, 1e-8);
  // Wider than metafor's default, which uses k - 1 df.
  EXPECT_LT(prediction.pi_lower, ref_.Get("adhoc.pi_lower"));
}

TEST_P(SensitivityGoldenTest, LeaveOneOut) {
  absl::StatusOr<std::vector<LeftOut>> rows = LeaveEachOut(data_.y, data_.v, kReml);
  ASSERT_OK(rows);
  ASSERT_EQ(rows->size(), data_.y.size());
  for (const LeftOut& row : *rows) {
    const std::string prefix = absl::StrCat("leave1out.", row.study + 1, ".");
    ref_.Expect(prefix + "estimate", row.estimate);
    ref_.Expect(prefix + "se", row.se);
    ref_.Expect(prefix + "ci.lb", row.ci_lower);
    ref_.Expect(prefix + "ci.ub", row.ci_upper);
    ref_.Expect(prefix + "Q", row.qe);
    ref_.Expect(prefix + "tau2", row.tau2);
    ref_.Expect(prefix + "I2", row.i2);
  }
  EXPECT_EQ(ref_.compared(), 7 * static_cast<int>(data_.y.size()));
}

TEST_P(SensitivityGoldenTest, InfluenceDiagnostics) {
  absl::StatusOr<std::vector<StudyInfluence>> rows = InfluenceDiagnostics(data_.y, data_.v, kReml);
  ASSERT_OK(rows);
  std::vector<int> flagged;
  for (const StudyInfluence& row : *rows) {
    const std::string prefix = absl::StrCat("influence.", row.study + 1, ".");
    ref_.Expect(prefix + "rstudent", row.studentized_residual);
    ref_.Expect(prefix + "dffits", row.dffits);
    ref_.Expect(prefix + "cook.d", row.cooks_distance);
    ref_.Expect(prefix + "cov.r", row.covariance_ratio);
    ref_.Expect(prefix + "tau2.del", row.tau2_deleted);
    ref_.Expect(prefix + "QE.del", row.qe_deleted);
    ref_.Expect(prefix + "hat", row.hat);
    ref_.Expect(prefix + "weight", row.weight_percent);
    if (row.influential) flagged.push_back(row.study);
  }
  EXPECT_EQ(ref_.compared(), 8 * static_cast<int>(data_.y.size()));
  EXPECT_EQ(flagged, Studies(ref_.Text("influence.flagged")));
}

TEST_P(SensitivityGoldenTest, CumulativePoolingInOrderOfYear) {
  const std::vector<int> order = Studies(ref_.Text("cumul.order"));
  if (std::find(data_.table.header.begin(), data_.table.header.end(), "year") !=
      data_.table.header.end()) {
    // The reference's order is the studies sorted by year, ties in file order.
    std::vector<int> by_year(data_.y.size());
    std::iota(by_year.begin(), by_year.end(), 0);
    std::stable_sort(by_year.begin(), by_year.end(), [&](int a, int b) {
      return data_.table.Number(a, "year") < data_.table.Number(b, "year");
    });
    EXPECT_EQ(by_year, order);
  }
  absl::StatusOr<std::vector<CumulativeStep>> steps =
      PoolCumulatively(data_.y, data_.v, order, kReml);
  ASSERT_OK(steps);
  for (size_t i = 0; i < steps->size(); ++i) {
    const CumulativeStep& step = (*steps)[i];
    EXPECT_EQ(step.added, order[i]);
    EXPECT_EQ(step.k, static_cast<int>(i + 1));
    const std::string prefix = absl::StrCat("cumul.", i + 1, ".");
    ref_.Expect(prefix + "estimate", step.estimate);
    ref_.Expect(prefix + "ci.lb", step.ci_lower);
    ref_.Expect(prefix + "ci.ub", step.ci_upper);
    ref_.Expect(prefix + "tau2", step.tau2);
    ref_.Expect(prefix + "I2", step.i2);
  }
  EXPECT_EQ(ref_.compared(), 5 * static_cast<int>(data_.y.size()));
}

TEST_P(SensitivityGoldenTest, EggerRegressionTest) {
  absl::StatusOr<RegressionTest> test = EggerRegressionTest(data_.y, data_.v, kReml);
  ASSERT_OK(test);
  ref_.Expect("regtest.zval", test->statistic);
  ref_.Expect("regtest.pval", test->p_value);
  ref_.Expect("regtest.limit_estimate", test->limit_estimate);
  EXPECT_EQ(ref_.compared(), 3);
}

TEST_P(SensitivityGoldenTest, BeggRankCorrelationTest) {
  absl::StatusOr<RankCorrelationTest> test = BeggRankTest(data_.y, data_.v);
  ASSERT_OK(test);
  ref_.Expect("ranktest.tau", test->tau);
  ref_.Expect("ranktest.pval", test->p_value);
  EXPECT_EQ(ref_.compared(), 2);
}

TEST_P(SensitivityGoldenTest, TrimAndFill) {
  absl::StatusOr<TrimAndFillResult> result = TrimAndFill(data_.y, data_.v, kReml);
  ASSERT_OK(result);
  ref_.Expect("trimfill.k0", result->missing);
  ref_.Expect("trimfill.side", result->right_side ? 1 : 0);
  ref_.Expect("trimfill.estimate", result->estimate);
  ref_.Expect("trimfill.ci_lower", result->ci_lower);
  ref_.Expect("trimfill.ci_upper", result->ci_upper);
  EXPECT_EQ(ref_.compared(), 5);
  EXPECT_EQ(static_cast<int>(result->filled_effects.size()), result->missing);
}

INSTANTIATE_TEST_SUITE_P(Metafor, SensitivityGoldenTest,
                         ::testing::Values("raudenbush1985", "normand1999_SMD", "bcg_OR"));

// The exact permutation test of the data set's moderator (raudenbush1985:
// weeks > 1; bcg_OR: allocation), against metafor's permutest(exact = TRUE).
void ExpectExactPermutationTest(const std::string& stem,
                                const std::function<int(const DataSet&, size_t)>& level_of) {
  const DataSet data = Load(stem);
  MetaforReference ref = SensitivityOf(stem);
  std::vector<int> levels;
  for (size_t i = 0; i < data.y.size(); ++i) levels.push_back(level_of(data, i));
  absl::StatusOr<PermutationTest> test = FactorPermutationTest(data.y, data.v, levels, kReml, {});
  ASSERT_OK(test);
  ref.Expect("moderator.QM", test->qm);
  ref.Expect("moderator.QMp", test->qm_p);
  ref.Expect("moderator.distinct_permutations", test->distinct_permutations);
  ref.Expect("moderator.permutation_pval", test->permutation_p);
  EXPECT_EQ(ref.compared(), 4);
  EXPECT_TRUE(test->exact);
  // An arrangement whose REML fit does not converge is left out, as metafor
  // leaves it out (bcg_OR has two); the p-value above counts the rest.
  EXPECT_LE(test->permutations_run, static_cast<int64_t>(test->distinct_permutations));
  EXPECT_GT(test->permutations_run, 0.99 * test->distinct_permutations);
}

TEST(PermutationGoldenTest, Raudenbush1985WeeksOfContact) {
  ExpectExactPermutationTest("raudenbush1985", [](const DataSet& data, size_t i) {
    return data.table.Number(i, "weeks") > 1 ? 1 : 0;
  });
}

TEST(PermutationGoldenTest, BcgAllocation) {
  ExpectExactPermutationTest("bcg_OR", [](const DataSet& data, size_t i) {
    const std::string& alloc = data.table.rows[i].at("alloc");
    return alloc == "alternate" ? 0 : alloc == "random" ? 1 : 2;
  });
}

// Six synthetic pretest-posttest-control studies: Morris's d_ppc2 per study
// and their REML pooling, as metafor's documentation computes them.
TEST(PrePostControlTest, MatchesMetaforsSynthetic) {
  const MetaforTable table =
      reference::LoadMetaforCsv(kMetaforDataDir + "sensitivity/ppc_synthetic_data.csv");
  ASSERT_EQ(table.rows.size(), 6u);
  std::vector<double> y, v;
  for (size_t i = 0; i < table.rows.size(); ++i) {
    auto group = [&](const std::string& prefix, const std::string& when) {
      return GroupSummary{table.Number(i, prefix + "_" + when + "_mean"),
                          table.Number(i, prefix + "_" + when + "_sd"),
                          static_cast<int64_t>(table.Number(i, prefix + "_n"))};
    };
    absl::StatusOr<Effect> effect =
        PrePostControlDifference(group("t", "pre"), group("t", "post"), group("c", "pre"),
                                 group("c", "post"), table.Number(i, "r"));
    ASSERT_OK(effect);
    EXPECT_NEAR(effect->value, table.Number(i, "yi"), 1e-8 * std::fabs(table.Number(i, "yi")));
    EXPECT_NEAR(effect->variance, table.Number(i, "vi"), 1e-8 * table.Number(i, "vi"));
    y.push_back(effect->value);
    v.push_back(effect->variance);
  }
  MetaforReference ref("ppc_synthetic", kMetaforDataDir + "sensitivity/ppc_synthetic_results.txt",
                       kTolerance);
  absl::StatusOr<FitResult> fit = FitPooled(y, v, kReml);
  ASSERT_OK(fit);
  ref.Expect("reml.estimate", fit->coefficients[0].estimate);
  ref.Expect("reml.se", fit->coefficients[0].se);
  ref.Expect("reml.tau2", fit->tau2);
  ref.Expect("reml.ci_lower", fit->coefficients[0].ci_lower);
  ref.Expect("reml.ci_upper", fit->coefficients[0].ci_upper);
  EXPECT_EQ(ref.compared(), 5);
}

TEST(PrePostControlTest, RefusesWhatCannotBeComputed) {
  const GroupSummary pre{5.0, 1.0, 30}, post{5.5, 1.1, 30};
  EXPECT_FALSE(PrePostControlDifference(pre, post, pre, post, 1.0).ok());
  EXPECT_FALSE(PrePostControlDifference(pre, post, pre, post, std::nan("")).ok());
  EXPECT_FALSE(PrePostControlDifference(pre, {5.5, 1.1, 29}, pre, post, 0.5).ok());
  EXPECT_FALSE(PrePostControlDifference(pre, post, {5.0, 0.0, 30}, post, 0.5).ok());
  // The same change in both groups is no effect.
  absl::StatusOr<Effect> none = PrePostControlDifference(pre, post, pre, post, 0.5);
  ASSERT_OK(none);
  EXPECT_DOUBLE_EQ(none->value, 0);
}

TEST(ZeroInTest, FindsARootToTheTolerance) {
  int calls = 0;
  const double root = ZeroIn(
      [&](double x) {
        ++calls;
        return x * x - 2;
      },
      0, 2, 1e-12, 1000);
  EXPECT_NEAR(root, std::sqrt(2.0), 1e-12);
  EXPECT_LT(calls, 20);
  // No sign change within the iterations allowed: NaN, not a guess.
  EXPECT_TRUE(std::isnan(ZeroIn([](double x) { return x - 1e6; }, 0, 2, 1e-12, 5)));
}

TEST(QProfileTest, HomogeneousStudiesGiveTheEmptySet) {
  // Effects far closer together than their variances allow: Q(0) is below
  // the lower chi-square quantile.
  const std::vector<double> y = {0.30, 0.31, 0.30, 0.29, 0.30}, v = {0.04, 0.05, 0.04, 0.06, 0.05};
  absl::StatusOr<FitResult> fit = FitPooled(y, v, kReml);
  ASSERT_OK(fit);
  absl::StatusOr<HeterogeneityIntervals> intervals = QProfileIntervals(y, v, *fit);
  ASSERT_OK(intervals);
  EXPECT_TRUE(intervals->empty);
  EXPECT_EQ(intervals->tau2.lower, 0);
  EXPECT_EQ(intervals->tau2.upper, 0);
  EXPECT_EQ(QProfileIntervals({0.1, 0.2}, {0.01, 0.01}, *fit).status().code(),
            absl::StatusCode::kInvalidArgument);  // Not the fit of these studies.
}

// Raw-scale effects with large variances: the upper bound lies beyond
// metafor's search range of tau2 <= 100 and is found, not capped.
TEST(QProfileTest, TheUpperBoundIsNotCappedAtTheSearchRange) {
  const std::vector<double> y = {0, 10, 20, 30}, v = {1000, 1000, 1000, 1000};
  absl::StatusOr<FitResult> fit = FitPooled(y, v, kReml);
  ASSERT_OK(fit);
  absl::StatusOr<HeterogeneityIntervals> intervals = QProfileIntervals(y, v, *fit);
  ASSERT_OK(intervals);
  // Q(tau2) = 500 / (1000 + tau2) meets chi2(0.025; 3) = 0.2158 at tau2 ≈ 1317.
  EXPECT_NEAR(intervals->tau2.upper, 500 / ChiSquareQuantileForTest(0.025, 3) - 1000, 1e-3);
  EXPECT_GT(intervals->i2.upper, 50);
}

TEST(PermutationTest, BeyondTheExactLimitUsesSeededRandomPermutations) {
  const DataSet data = Load("raudenbush1985");
  std::vector<int> levels;
  for (size_t i = 0; i < data.y.size(); ++i) {
    levels.push_back(data.table.Number(i, "weeks") > 1 ? 1 : 0);
  }
  const PermutationOptions options{.max_exact = 1000, .random_permutations = 2000, .seed = 7};
  absl::StatusOr<PermutationTest> first =
      FactorPermutationTest(data.y, data.v, levels, kReml, options);
  absl::StatusOr<PermutationTest> again =
      FactorPermutationTest(data.y, data.v, levels, kReml, options);
  ASSERT_OK(first);
  ASSERT_OK(again);
  EXPECT_FALSE(first->exact);
  EXPECT_EQ(first->seed, 7u);
  EXPECT_EQ(first->permutations_run, 2000);
  EXPECT_EQ(first->permutation_p, again->permutation_p);
  // The exact p is 7 / 75582; 2000 draws find the observed one and few more.
  EXPECT_GE(first->permutation_p, 1.0 / 2000);
  EXPECT_LT(first->permutation_p, 0.01);
}

TEST(PermutationTest, RefusesASingleLevelAndMismatchedLengths) {
  const std::vector<double> y = {0.1, 0.2, 0.3}, v = {0.01, 0.02, 0.03};
  EXPECT_EQ(FactorPermutationTest(y, v, {1, 1, 1}, kReml, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FactorPermutationTest(y, v, {0, 1}, kReml, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ModeratorPermutationTest(y, v, {{1}, {1}, {1}}, kReml, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PermutationTest, ANumericModeratorAndStopping) {
  // Weeks of contact as a number: 19 studies with ties; the exact test
  // runs every distinct arrangement of the values.
  const DataSet data = Load("raudenbush1985");
  std::vector<std::vector<double>> weeks;
  for (size_t i = 0; i < data.y.size(); ++i) weeks.push_back({data.table.Number(i, "weeks")});
  PermutationOptions options{.max_exact = 1000, .random_permutations = 500, .seed = 3};
  absl::StatusOr<PermutationTest> test =
      ModeratorPermutationTest(data.y, data.v, weeks, kReml, options);
  ASSERT_OK(test);
  EXPECT_FALSE(test->exact);
  EXPECT_GT(test->distinct_permutations, 1e9);
  EXPECT_LT(test->permutation_p, 0.05);  // metafor: QM p 0.006 (raudenbush1985_results.txt).
  int asked = 0;
  options.should_stop = [&asked] { return ++asked >= 1; };
  EXPECT_EQ(ModeratorPermutationTest(data.y, data.v, weeks, kReml, options).status().code(),
            absl::StatusCode::kCancelled);
}

TEST(CumulativeTest, RefusesAnOrderThatIsNotAPermutation) {
  const std::vector<double> y = {0.1, 0.2, 0.3}, v = {0.01, 0.02, 0.03};
  EXPECT_FALSE(PoolCumulatively(y, v, {0, 1, 1}, kReml).ok());
  EXPECT_FALSE(PoolCumulatively(y, v, {0, 1}, kReml).ok());
  // A one-study first step under Hartung-Knapp is tested on z.
  absl::StatusOr<std::vector<CumulativeStep>> steps =
      PoolCumulatively(y, v, {2, 0, 1}, {.test = TestKind::kKnappHartungAdhoc});
  ASSERT_OK(steps);
  EXPECT_DOUBLE_EQ((*steps)[0].estimate, 0.3);
}

TEST(SmallStudyTest, NeedThreeStudies) {
  const std::vector<double> y = {0.1, 0.2}, v = {0.01, 0.02};
  EXPECT_FALSE(EggerRegressionTest(y, v, kReml).ok());
  EXPECT_FALSE(BeggRankTest(y, v).ok());
  EXPECT_FALSE(TrimAndFill(y, v, kReml).ok());
}

}  // namespace
}  // namespace leerlus::analysis
