// Golden tests: leerlus's effect sizes and meta-analyses against the numbers
// the R package metafor 3.8-1 printed for the same data
// (tests/data/metafor, copied from shared/reference/metafor; README there).
// Tolerance: 1e-8 relative, 1e-10 absolute — tighter than the 1e-6 promised.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "analysis/effect_size.h"
#include "analysis/meta_analysis.h"
#include "tests/metafor_reference.h"
#include "tests/test_util.h"

namespace leerlus::analysis {
namespace {

using reference::MetaforReference;
using Table = reference::MetaforTable;

const std::string& kDataDir = reference::kMetaforDataDir;

Table LoadCsv(const std::string& file) { return reference::LoadMetaforCsv(kDataDir + file); }

// metafor's printed results for one data set; 1e-8 relative.
MetaforReference Reference(const std::string& stem) {
  return MetaforReference(stem, kDataDir + stem + "_results.txt", 1e-8);
}

FitOptions OptionsFor(const std::string& model) {
  FitOptions options;
  if (model == "FE") options.method = Method::kFixed;
  if (model == "DL" || model == "DL_knha") options.method = Method::kDerSimonianLaird;
  if (model == "REML" || model == "REML_knha" || model == "REML_tight")
    options.method = Method::kReml;
  if (model == "REML_knha" || model == "DL_knha") options.test = TestKind::kKnappHartung;
  if (model == "REML_tight") {
    options.reml_threshold = 1e-12;
    options.reml_max_iterations = 10000;
  }
  return options;
}

const std::vector<std::string> kModels = {"FE", "DL", "REML", "REML_tight", "REML_knha", "DL_knha"};

// Every statistic metafor printed for one fit under `prefix`.
void ExpectFit(MetaforReference& ref, const std::string& prefix, const FitResult& fit,
               bool intercept_only) {
  ref.Expect(prefix + ".k", fit.k);
  ref.Expect(prefix + ".p", fit.p);
  const std::string stat = fit.OnStudentT() ? "tval" : "zval";
  for (const Coefficient& c : fit.coefficients) {
    const std::string suffix = intercept_only ? "" : "." + c.name;
    ref.Expect(prefix + (intercept_only ? ".est" : ".b" + suffix), c.estimate);
    ref.Expect(prefix + ".se" + suffix, c.se);
    ref.Expect(prefix + "." + stat + suffix, c.statistic);
    ref.Expect(prefix + ".pval" + suffix, c.p_value);
    ref.Expect(prefix + ".ci.lb" + suffix, c.ci_lower);
    ref.Expect(prefix + ".ci.ub" + suffix, c.ci_upper);
  }
  ref.Expect(prefix + ".tau2", fit.tau2);
  ref.Expect(prefix + ".tau", std::sqrt(fit.tau2));
  ref.Expect(prefix + ".se.tau2", fit.se_tau2);
  ref.Expect(prefix + ".I2", fit.i2);
  ref.Expect(prefix + ".H2", fit.h2);
  ref.Expect(prefix + ".vt", fit.typical_variance);
  ref.Expect(prefix + ".QE", fit.qe);
  ref.Expect(prefix + ".QEdf", fit.qe_df);
  ref.Expect(prefix + ".QEp", fit.qe_p);
  ref.Expect(prefix + ".ll.ML", fit.ll_ml);
  ref.Expect(prefix + ".ll.REML", fit.ll_reml);
  if (fit.OnStudentT()) {
    ref.Expect(prefix + ".s2w", fit.s2w);
    ref.Expect(prefix + ".df", fit.k - fit.p);
  }
  if (!intercept_only) {
    ref.Expect(prefix + ".QM", fit.qm);
    ref.Expect(prefix + ".QMdf1", fit.qm_df1);
    ref.Expect(prefix + ".QMdf2", fit.qm_df2);
    ref.Expect(prefix + ".QMp", fit.qm_p);
  }
  if (intercept_only) {
    Prediction pooled = fit.Predict({});
    ref.Expect(prefix + ".pred", pooled.estimate);
    ref.Expect(prefix + ".pred.se", pooled.se);
    ref.Expect(prefix + ".pi.lb", pooled.pi_lower);
    ref.Expect(prefix + ".pi.ub", pooled.pi_upper);
  }
}

void ExpectWeights(const std::string& stem, const std::string& model, const FitResult& fit) {
  Table weights = LoadCsv(stem + "_weights.csv");
  const std::string column = "w_" + model + "_pct";
  if (weights.header.empty() ||
      std::find(weights.header.begin(), weights.header.end(), column) == weights.header.end()) {
    return;
  }
  size_t used = 0;
  for (size_t i = 0; i < weights.rows.size(); ++i) {
    const double expected = weights.Number(i, column);
    if (std::isnan(expected)) continue;
    ASSERT_LT(used, fit.weights_percent.size());
    EXPECT_NEAR(fit.weights_percent[used], expected, 1e-8 * std::max(1.0, expected))
        << stem << " " << column << " row " << i;
    ++used;
  }
  EXPECT_EQ(used, fit.weights_percent.size());
}

// The studies of a data file: yi, vi as metafor computed them.
struct Studies {
  std::vector<double> y, v;
};

Studies Given(const Table& data) {
  Studies studies;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const double y = data.Number(i, "yi");
    if (std::isnan(y)) continue;  // metafor drops missing rows.
    studies.y.push_back(y);
    studies.v.push_back(data.Number(i, "vi"));
  }
  return studies;
}

void ExpectPooledModels(const std::string& stem, const Studies& studies) {
  MetaforReference ref = Reference(stem);
  for (const std::string& model : kModels) {
    if (!ref.Has("pooled." + model + ".est")) continue;
    absl::StatusOr<FitResult> fit = FitPooled(studies.y, studies.v, OptionsFor(model));
    ASSERT_OK(fit);
    ExpectFit(ref, "pooled." + model, *fit, true);
    ExpectWeights(stem, model, *fit);
  }
  EXPECT_GT(ref.compared(), 80) << stem;
}

TEST(GoldenTest, Raudenbush1985PooledModels) {
  ExpectPooledModels("raudenbush1985", Given(LoadCsv("raudenbush1985_data.csv")));
}

TEST(GoldenTest, Raudenbush1985MetaRegressionOnWeeks) {
  Table data = LoadCsv("raudenbush1985_data.csv");
  Studies studies = Given(data);
  std::vector<double> weeks;
  for (size_t i = 0; i < data.rows.size(); ++i) weeks.push_back(data.Number(i, "weeks"));
  MetaforReference ref = Reference("raudenbush1985");
  for (const std::string& model : kModels) {
    const std::string prefix = "metareg_weeks." + model;
    if (!ref.Has(prefix + ".k")) continue;
    absl::StatusOr<FitResult> fit =
        FitRegression(studies.y, studies.v, {weeks}, {"weeks"}, OptionsFor(model));
    ASSERT_OK(fit);
    ExpectFit(ref, prefix, *fit, false);
    ref.Expect(prefix + ".R2", fit->r2);
    for (double at : {0.0, 1.0, 5.0}) {
      const std::string key = absl::StrCat(prefix, ".pred@", at);
      Prediction prediction = fit->Predict({at});
      ref.Expect(key + ".pred", prediction.estimate);
      ref.Expect(key + ".se", prediction.se);
      ref.Expect(key + ".ci.lb", prediction.ci_lower);
      ref.Expect(key + ".ci.ub", prediction.ci_upper);
      ref.Expect(key + ".pi.lb", prediction.pi_lower);
      ref.Expect(key + ".pi.ub", prediction.pi_upper);
    }
  }
  EXPECT_GT(ref.compared(), 250);
}

TEST(GoldenTest, Raudenbush1985SubgroupsByWeeks) {
  Table data = LoadCsv("raudenbush1985_data.csv");
  Studies studies = Given(data);
  // Levels as metafor sorts them: gt1 (weeks > 1) is the reference level.
  std::vector<double> is_le1;
  for (size_t i = 0; i < data.rows.size(); ++i)
    is_le1.push_back(data.Number(i, "weeks") <= 1 ? 1 : 0);
  MetaforReference ref = Reference("raudenbush1985");
  for (const std::string& model : kModels) {
    // Common tau2: mods = ~ factor(grp); QM tests the difference.
    const std::string mods = "weeks_gt1.mods." + model;
    if (ref.Has(mods + ".k")) {
      absl::StatusOr<FitResult> fit =
          FitRegression(studies.y, studies.v, {is_le1}, {"grp[le1]"}, OptionsFor(model));
      ASSERT_OK(fit);
      ExpectFit(ref, mods, *fit, false);
      ref.Expect(mods + ".R2", fit->r2);
    }
    // Level means under the common tau2: mods = ~ factor(grp) - 1.
    const std::string noint = "weeks_gt1.mods_noint." + model;
    if (ref.Has(noint + ".k")) {
      Eigen::MatrixXd x(studies.y.size(), 2);
      for (size_t i = 0; i < studies.y.size(); ++i) {
        x(i, 0) = 1 - is_le1[i];
        x(i, 1) = is_le1[i];
      }
      absl::StatusOr<FitResult> fit =
          FitModel(studies.y, studies.v, x, {"grp[gt1]", "grp[le1]"}, false, OptionsFor(model));
      ASSERT_OK(fit);
      ExpectFit(ref, noint, *fit, false);
    }
    // A separate fit per level, then the test between them.
    const std::string sep = "weeks_gt1.sep." + model;
    if (ref.Has(sep + ".Qbetween")) {
      std::vector<double> estimates, variances;
      for (const char* level : {"gt1", "le1"}) {
        Studies subset;
        for (size_t i = 0; i < studies.y.size(); ++i) {
          if ((is_le1[i] == 1) == (std::string(level) == "le1")) {
            subset.y.push_back(studies.y[i]);
            subset.v.push_back(studies.v[i]);
          }
        }
        absl::StatusOr<FitResult> fit = FitPooled(subset.y, subset.v, OptionsFor(model));
        ASSERT_OK(fit);
        ExpectFit(ref, absl::StrCat("weeks_gt1.sep.", level, ".", model), *fit, true);
        estimates.push_back(fit->coefficients[0].estimate);
        variances.push_back(fit->coefficients[0].se * fit->coefficients[0].se);
      }
      FitOptions fixed;
      fixed.method = Method::kFixed;
      absl::StatusOr<FitResult> between = FitPooled(estimates, variances, fixed);
      ASSERT_OK(between);
      ref.Expect(sep + ".Qbetween", between->qe);
      ref.Expect(sep + ".Qbetween.df", between->qe_df);
      ref.Expect(sep + ".Qbetween.p", between->qe_p);
    }
  }
  EXPECT_GT(ref.compared(), 350);
}

TEST(GoldenTest, Normand1999StandardisedMeanDifferences) {
  Table data = LoadCsv("normand1999_SMD_data.csv");
  Studies computed;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    absl::StatusOr<Effect> g =
        StandardizedMeanDifference({data.Number(i, "m1i"), data.Number(i, "sd1i"),
                                    static_cast<int64_t>(data.Number(i, "n1i"))},
                                   {data.Number(i, "m2i"), data.Number(i, "sd2i"),
                                    static_cast<int64_t>(data.Number(i, "n2i"))});
    ASSERT_OK(g);
    EXPECT_NEAR(g->value, data.Number(i, "yi"), 1e-12) << "study " << i;
    EXPECT_NEAR(g->variance, data.Number(i, "vi"), 1e-12) << "study " << i;
    computed.y.push_back(g->value);
    computed.v.push_back(g->variance);
  }
  ExpectPooledModels("normand1999_SMD", computed);
}

TEST(GoldenTest, Normand1999MeanDifferences) {
  Table data = LoadCsv("normand1999_MD_data.csv");
  Studies computed;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    absl::StatusOr<Effect> md = MeanDifference({data.Number(i, "m1i"), data.Number(i, "sd1i"),
                                                static_cast<int64_t>(data.Number(i, "n1i"))},
                                               {data.Number(i, "m2i"), data.Number(i, "sd2i"),
                                                static_cast<int64_t>(data.Number(i, "n2i"))});
    ASSERT_OK(md);
    EXPECT_NEAR(md->value, data.Number(i, "yi"), 1e-12);
    EXPECT_NEAR(md->variance, data.Number(i, "vi"), 1e-10);
    computed.y.push_back(md->value);
    computed.v.push_back(md->variance);
  }
  ExpectPooledModels("normand1999_MD", computed);
}

TEST(GoldenTest, BcgLogOddsRatios) {
  Table data = LoadCsv("bcg_OR_data.csv");
  Studies computed;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    const int64_t tpos = static_cast<int64_t>(data.Number(i, "tpos"));
    const int64_t tneg = static_cast<int64_t>(data.Number(i, "tneg"));
    const int64_t cpos = static_cast<int64_t>(data.Number(i, "cpos"));
    const int64_t cneg = static_cast<int64_t>(data.Number(i, "cneg"));
    absl::StatusOr<Effect> log_or = LogOddsRatio({tpos, tpos + tneg}, {cpos, cpos + cneg});
    ASSERT_OK(log_or);
    EXPECT_NEAR(log_or->value, data.Number(i, "yi"), 1e-12);
    EXPECT_NEAR(log_or->variance, data.Number(i, "vi"), 1e-12);
    computed.y.push_back(log_or->value);
    computed.v.push_back(log_or->variance);
  }
  ExpectPooledModels("bcg_OR", computed);
}

TEST(GoldenTest, Yusuf1985ZeroCellsAndMissingRows) {
  Table data = LoadCsv("yusuf1985_t6_OR_data.csv");
  Studies computed;
  TableOptions metafor_default;
  metafor_default.exclude_double_zero = false;  // escalc's drop00 = FALSE.
  int double_zero = 0;
  for (size_t i = 0; i < data.rows.size(); ++i) {
    if (std::isnan(data.Number(i, "ai"))) continue;  // Snow 1: missing counts.
    GroupCounts treatment{static_cast<int64_t>(data.Number(i, "ai")),
                          static_cast<int64_t>(data.Number(i, "n1i"))};
    GroupCounts control{static_cast<int64_t>(data.Number(i, "ci")),
                        static_cast<int64_t>(data.Number(i, "n2i"))};
    absl::StatusOr<Effect> log_or = LogOddsRatio(treatment, control, metafor_default);
    ASSERT_OK(log_or);
    EXPECT_NEAR(log_or->value, data.Number(i, "yi"), 1e-12) << data.rows[i].at("trial");
    EXPECT_NEAR(log_or->variance, data.Number(i, "vi"), 1e-12) << data.rows[i].at("trial");
    computed.y.push_back(log_or->value);
    computed.v.push_back(log_or->variance);
    // leerlus's own default leaves double-zero studies out, with a reason.
    absl::StatusOr<Effect> strict = LogOddsRatio(treatment, control);
    if (treatment.events == 0 && control.events == 0) {
      ++double_zero;
      EXPECT_EQ(strict.status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_NE(strict.status().message().find("no events in either group"), std::string::npos);
    } else {
      EXPECT_OK(strict);
    }
  }
  EXPECT_EQ(computed.y.size(), 21u);
  EXPECT_EQ(double_zero, 3);
  ExpectPooledModels("yusuf1985_t6_OR", computed);
}

// ------------------------------------------------- hand-checkable cases

TEST(MetaAnalysisTest, OneStudyPoolsToItself) {
  for (Method method : {Method::kFixed, Method::kDerSimonianLaird, Method::kReml}) {
    absl::StatusOr<FitResult> fit = FitPooled({0.4}, {0.04}, {.method = method});
    ASSERT_OK(fit);
    EXPECT_DOUBLE_EQ(fit->coefficients[0].estimate, 0.4);
    EXPECT_DOUBLE_EQ(fit->coefficients[0].se, 0.2);
    EXPECT_EQ(fit->tau2, 0);
    EXPECT_EQ(fit->qe, 0);
  }
  EXPECT_FALSE(FitPooled({0.4}, {0.04}, {.test = TestKind::kKnappHartung}).ok());
}

TEST(MetaAnalysisTest, TwoStudiesByHand) {
  // y = (0, 1), v = (1, 1): FE mean 0.5, SE sqrt(1/2);
  // Q = 2 * 0.25 = 0.5 < df = 1, so DL tau2 = 0 and I2 = 0.
  absl::StatusOr<FitResult> fe = FitPooled({0, 1}, {1, 1}, {.method = Method::kFixed});
  ASSERT_OK(fe);
  EXPECT_DOUBLE_EQ(fe->coefficients[0].estimate, 0.5);
  EXPECT_NEAR(fe->coefficients[0].se, std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(fe->qe, 0.5, 1e-15);
  absl::StatusOr<FitResult> dl = FitPooled({0, 1}, {1, 1}, {.method = Method::kDerSimonianLaird});
  ASSERT_OK(dl);
  EXPECT_EQ(dl->tau2, 0);
  EXPECT_EQ(dl->i2, 0);
  // y = (0, 4), v = (1, 1): Q = 8, tr P = 2 - 2/2 = 1, DL tau2 = (8 - 1)/1 = 7;
  // weights 1/8 each: mean 2, SE sqrt(8/2) = 2.
  absl::StatusOr<FitResult> spread =
      FitPooled({0, 4}, {1, 1}, {.method = Method::kDerSimonianLaird});
  ASSERT_OK(spread);
  EXPECT_NEAR(spread->tau2, 7, 1e-12);
  EXPECT_NEAR(spread->coefficients[0].se, 2, 1e-12);
  // vt = (k-1) Σw / ((Σw)^2 - Σw^2) = 1 * 2 / (4 - 2) = 1; I2 = 100 * 7/8.
  EXPECT_NEAR(spread->i2, 87.5, 1e-10);
}

TEST(MetaAnalysisTest, IdenticalEffectsHaveNoHeterogeneity) {
  absl::StatusOr<FitResult> fit = FitPooled({0.3, 0.3, 0.3, 0.3}, {0.01, 0.02, 0.05, 0.1}, {});
  ASSERT_OK(fit);
  EXPECT_NEAR(fit->coefficients[0].estimate, 0.3, 1e-15);
  EXPECT_EQ(fit->tau2, 0);  // At the zero boundary.
  EXPECT_NEAR(fit->qe, 0, 1e-20);
  EXPECT_EQ(fit->i2, 0);
  EXPECT_NEAR(fit->qe_p, 1, 1e-15);
}

TEST(MetaAnalysisTest, EqualVariancesGiveTheArithmeticMean) {
  absl::StatusOr<FitResult> fit = FitPooled({0.1, 0.5, 0.9}, {0.2, 0.2, 0.2}, {});
  ASSERT_OK(fit);
  EXPECT_NEAR(fit->coefficients[0].estimate, 0.5, 1e-14);
  for (double w : fit->weights_percent) EXPECT_NEAR(w, 100.0 / 3, 1e-12);
}

TEST(MetaAnalysisTest, ManyStudiesNeedNoKByKMatrix) {
  // 100,000 studies: a k x k matrix would need 80 GB; the O(k p^2) traces
  // do not. Alternating effects 0 and 1 with equal variances: mean 0.5,
  // Q = k * 0.25 / v = 100,000 * 0.25 / 0.5 = 50,000 on 99,999 df, so DL and
  // REML both put tau2 at 0.
  const size_t k = 100000;
  std::vector<double> y(k), v(k, 0.5);
  for (size_t i = 0; i < k; ++i) y[i] = i % 2;
  absl::StatusOr<FitResult> fit = FitPooled(y, v, {});
  ASSERT_OK(fit);
  EXPECT_NEAR(fit->coefficients[0].estimate, 0.5, 1e-12);
  EXPECT_NEAR(fit->qe, 50000, 1e-6);
  EXPECT_EQ(fit->tau2, 0);
  absl::StatusOr<FitResult> regression =
      FitRegression(y, v, {std::vector<double>(y.begin(), y.end())}, {"x"}, {});
  ASSERT_OK(regression);
  EXPECT_NEAR(regression->coefficients[1].estimate, 1, 1e-9);  // y = x exactly.
}

TEST(MetaAnalysisTest, HugeAndTinyVariancesStayFinite) {
  absl::StatusOr<FitResult> fit = FitPooled({0.2, 5.0, -3.0}, {1e-8, 1e8, 1e6}, {});
  ASSERT_OK(fit);
  EXPECT_NEAR(fit->coefficients[0].estimate, 0.2, 1e-6);
  EXPECT_TRUE(std::isfinite(fit->coefficients[0].se));
  EXPECT_TRUE(std::isfinite(fit->tau2));
}

TEST(MetaAnalysisTest, RemlNonConvergenceIsReportedNotReturned) {
  // One iteration cannot reach the threshold on heterogeneous data.
  FitOptions options;
  options.reml_max_iterations = 1;
  options.reml_threshold = 1e-15;
  absl::StatusOr<FitResult> fit =
      FitPooled({-1.2, 0.1, 0.9, 2.5, -0.4}, {0.1, 0.2, 0.05, 0.3, 0.15}, options);
  EXPECT_EQ(fit.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(fit.status().message().find("did not converge"), std::string::npos);
}

// Variances twelve orders of magnitude apart leave REML's Fisher scoring
// with no information (a zero denominator): the fit must end with an
// error, not keep a server thread halving an infinite step forever.
TEST(MetaAnalysisTest, ARemlStepWithoutInformationEndsTheFit) {
  absl::StatusOr<FitResult> fit =
      FitRegression({0.2, 5, -3}, {1e-8, 1e8, 1e6}, {{1, 0, 1}}, {"x"}, {});
  if (fit.ok()) {
    EXPECT_TRUE(std::isfinite(fit->tau2));
  } else {
    EXPECT_EQ(fit.status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(MetaAnalysisTest, BadInputsAreRefused) {
  EXPECT_EQ(FitPooled({}, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPooled({0.1}, {0}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPooled({0.1, 0.2}, {0.1}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPooled({std::nan("")}, {0.1}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A constant moderator is collinear with the intercept.
  EXPECT_EQ(FitRegression({0.1, 0.2, 0.3}, {0.1, 0.1, 0.1}, {{2, 2, 2}}, {"x"}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------- effect sizes by hand

TEST(EffectSizeTest, HedgesCorrectionIsTheExactGammaRatio) {
  // J(m) for m = 2: Γ(1) / (1 · Γ(1/2)) = 1/sqrt(pi).
  EXPECT_NEAR(HedgesCorrection(2), 1 / std::sqrt(M_PI), 1e-15);
  // The approximation 1 - 3/(4m - 1) differs by about -9.0e-5 at m = 19 (FORMULAS.md).
  EXPECT_NEAR(HedgesCorrection(19) - (1 - 3.0 / (4 * 19 - 1)), -9.0e-5, 0.05e-5);
}

TEST(EffectSizeTest, StandardisedMeanChangeByHand) {
  // pre 10 (sd 2), post 12 (sd 2), r = 0.5, n = 26: sd_d = sqrt(4 + 4 - 4) = 2,
  // d = 1, y = J(25) * 1, v = 1/26 + y^2/52.
  absl::StatusOr<Effect> smcc = StandardizedMeanChange({10, 2, 26}, {12, 2, 26}, 0.5);
  ASSERT_OK(smcc);
  const double j = HedgesCorrection(25);
  EXPECT_NEAR(smcc->value, j, 1e-15);
  EXPECT_NEAR(smcc->variance, 1.0 / 26 + j * j / 52, 1e-15);
  EXPECT_EQ(StandardizedMeanChange({10, 2, 26}, {12, 2, 26}, 1.0).status().code(),
            absl::StatusCode::kFailedPrecondition);  // sd_d = 0.
}

TEST(EffectSizeTest, RiskRatioAndDifferenceByHand) {
  // 10/50 vs 20/50: log RR = log(0.2/0.4) = -log 2, v = 1/10 - 1/50 + 1/20 - 1/50.
  absl::StatusOr<Effect> rr = LogRiskRatio({10, 50}, {20, 50});
  ASSERT_OK(rr);
  EXPECT_NEAR(rr->value, -std::log(2.0), 1e-15);
  EXPECT_NEAR(rr->variance, 0.1 - 0.02 + 0.05 - 0.02, 1e-15);
  // RD = 0.2 - 0.4, v = 0.2*0.8/50 + 0.4*0.6/50 = 0.008.
  absl::StatusOr<Effect> rd = RiskDifference({10, 50}, {20, 50});
  ASSERT_OK(rd);
  EXPECT_NEAR(rd->value, -0.2, 1e-15);
  EXPECT_NEAR(rd->variance, 0.008, 1e-15);
  // A single zero cell: 0.5 added to every cell: 0.5/50.5... log RR = log(0.5/51) - log(20.5/51).
  absl::StatusOr<Effect> zero = LogRiskRatio({0, 50}, {20, 50});
  ASSERT_OK(zero);
  EXPECT_NEAR(zero->value, std::log(0.5 / 51) - std::log(20.5 / 51), 1e-15);
  EXPECT_EQ(RiskDifference({0, 10}, {0, 10}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(EffectSizeTest, ConversionsAndOrientation) {
  Effect log_or{1.0, 0.3};
  Effect smd = LogOddsRatioToSmd(log_or);
  EXPECT_NEAR(smd.value, std::sqrt(3.0) / M_PI, 1e-15);
  EXPECT_NEAR(smd.variance, 0.3 * 3 / (M_PI * M_PI), 1e-15);
  Effect back = SmdToLogOddsRatio(smd);
  EXPECT_NEAR(back.value, 1.0, 1e-15);
  EXPECT_NEAR(back.variance, 0.3, 1e-15);
  EXPECT_EQ(Orient({0.4, 0.1}, true).value, -0.4);
  EXPECT_EQ(Orient({0.4, 0.1}, true).variance, 0.1);
  EXPECT_EQ(Orient({0.4, 0.1}, false).value, 0.4);
  // 95% CI of width 2 * 1.96 * 0.1 gives variance 0.01.
  EXPECT_NEAR(VarianceFromConfidenceInterval(-0.1959963984540054, 0.1959963984540054), 0.01, 1e-15);
}

}  // namespace
}  // namespace leerlus::analysis
