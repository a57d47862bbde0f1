#include "core/pooling.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "analysis/sensitivity.h"
#include "core/certainty.h"
#include "core/effects.h"

namespace leerlus::core {
namespace {

analysis::Method MethodOf(v1::PoolingModel model) {
  switch (model) {
    case v1::POOLING_MODEL_FE:
      return analysis::Method::kFixed;
    case v1::POOLING_MODEL_DL:
      return analysis::Method::kDerSimonianLaird;
    default:
      return analysis::Method::kReml;
  }
}

// The estimate, its intervals and the heterogeneity.
void FillEstimate(const analysis::FitResult& fit, const Question& question, v1::PooledResult* out) {
  const analysis::Coefficient& pooled = fit.coefficients[0];
  out->set_estimate(pooled.estimate);
  out->set_se(pooled.se);
  out->set_statistic(pooled.statistic);
  out->set_p_value(pooled.p_value);
  out->set_ci_lower(pooled.ci_lower);
  out->set_ci_upper(pooled.ci_upper);
  if (question.model != v1::POOLING_MODEL_FE) {
    const analysis::Prediction prediction = fit.Predict({});
    out->set_pi_lower(prediction.pi_lower);
    out->set_pi_upper(prediction.pi_upper);
    out->set_tau2_se(std::isfinite(fit.se_tau2) ? fit.se_tau2 : 0);
  }
  out->set_tau2(fit.tau2);
  out->set_i2(fit.i2);
  out->set_h2(std::isfinite(fit.h2) ? fit.h2 : 0);
  out->set_q(fit.qe);
  out->set_q_pvalue(std::isfinite(fit.qe_p) ? fit.qe_p : 1);
  out->set_k(fit.k);
  out->set_model(question.model);
  out->set_measure(question.measure);
  out->set_knapp_hartung(fit.OnStudentT());
  out->set_test(fit.test == analysis::TestKind::kZ              ? v1::POOLING_TEST_Z
                : fit.test == analysis::TestKind::kKnappHartung ? v1::POOLING_TEST_KNHA
                                                                : v1::POOLING_TEST_ADHOC);
}

// Cost beside the effect: budgets of the pooled experiments over the
// participants who received the intervention (an experiment's: those of
// its largest pooled outcome). A control group costs the programme little:
// counting it would halve the cost of a controlled experiment.
void Cost(const std::vector<const EffectRow*>& rows, v1::PooledResult* pooled) {
  std::map<std::string, std::pair<int64_t, int64_t>> by_experiment;  // budget, participants
  for (const EffectRow* row : rows) {
    auto& [budget, participants] = by_experiment[row->experiment->id()];
    budget = row->experiment->budget_cents();
    participants = std::max(participants, OutcomeTreatedParticipants(row->outcome));
  }
  int64_t budgets = 0, with_budget = 0, costed_budget = 0, costed_participants = 0;
  for (const auto& [id, entry] : by_experiment) {
    if (entry.first <= 0) continue;
    budgets += entry.first;
    ++with_budget;
    if (entry.second > 0) {
      costed_budget += entry.first;
      costed_participants += entry.second;
    }
  }
  if (with_budget > 0) pooled->set_budget_per_experiment_cents(budgets / with_budget);
  if (costed_participants == 0) return;
  const int64_t per_participant = costed_budget / costed_participants;
  pooled->set_cost_per_participant_cents(per_participant);
  const double euros = per_participant / 100.0;
  if (pooled->estimate() > 0) {
    pooled->set_euros_per_participant_per_unit_effect(euros / pooled->estimate());
  }
  pooled->set_cost_band(euros < 100    ? "very low"
                        : euros < 250  ? "low"
                        : euros < 750  ? "moderate"
                        : euros < 1500 ? "high"
                                       : "very high");
}

// Rates the certainty of evidence of a pooled result from the rows it
// pooled and the fit; adds the heterogeneity intervals it uses.
void RateEvidence(const analysis::FitResult& fit, const std::vector<const EffectRow*>& rows,
                  const Question& question, const std::string& answer_date,
                  v1::PooledResult* pooled) {
  CertaintyInput input;
  std::vector<double> effects, variances;
  for (size_t i = 0; i < rows.size(); ++i) {
    const v1::Outcome& outcome = rows[i]->outcome;
    input.studies.push_back({.weight_percent = fit.weights_percent[i],
                             .design = outcome.design(),
                             .risk_of_bias = outcome.risk_of_bias(),
                             .follow_up_months = outcome.follow_up_months(),
                             .measured_on = outcome.measured_on()});
    const int64_t participants = OutcomeParticipants(outcome);
    input.participants += participants;
    if (participants <= 0) input.participants_known = false;
    effects.push_back(rows[i]->effect.value);
    variances.push_back(rows[i]->effect.variance);
  }
  input.measure = question.measure;
  input.estimate = pooled->estimate();
  input.se = pooled->se();
  input.ci_lower = pooled->ci_lower();
  input.ci_upper = pooled->ci_upper();
  input.tau2 = fit.tau2;
  if (question.model != v1::POOLING_MODEL_FE && fit.k > 1) {
    input.pi_lower = pooled->pi_lower();
    input.pi_upper = pooled->pi_upper();
  }
  if (fit.k > 1) {
    // The Q-profile interval depends on the data alone: a fixed-effect
    // model does not hide the heterogeneity.
    absl::StatusOr<analysis::HeterogeneityIntervals> intervals =
        analysis::QProfileIntervals(effects, variances, fit);
    if (intervals.ok()) {
      input.i2_ci_lower = intervals->i2.lower;
      input.i2_ci_upper = intervals->i2.upper;
      pooled->set_i2_ci_lower(intervals->i2.lower);
      pooled->set_i2_ci_upper(intervals->i2.upper);
      pooled->set_tau2_ci_lower(intervals->tau2.lower);
      pooled->set_tau2_ci_upper(intervals->tau2.upper);
    }
  }
  input.i2 = fit.i2;
  if (rows.size() >= 10) {
    absl::StatusOr<analysis::RegressionTest> egger =
        analysis::EggerRegressionTest(effects, variances, FitOptionsFor(question, rows.size(), 2));
    if (egger.ok()) {
      input.egger_p = egger->p_value;
    } else {
      input.egger_error = std::string(egger.status().message());
    }
  }
  input.answer_date = answer_date;
  const CertaintyRating rating = RateCertainty(input);
  pooled->set_certainty(rating.certainty);
  pooled->set_finding(rating.finding);
  for (const v1::CertaintyDomain& domain : rating.domains) {
    *pooled->add_certainty_domains() = domain;
    pooled->add_grade_reasons(absl::StrCat(domain.domain(), ": ", domain.judgement()));
  }
  pooled->set_grade(rating.certainty);
  pooled->set_grade_label(rating.label);
  pooled->set_participants(input.participants);
}

}  // namespace

analysis::FitOptions FitOptionsFor(const Question& question, size_t k, size_t coefficients) {
  analysis::FitOptions options;
  options.method = MethodOf(question.model);
  // With one outcome there is nothing to estimate s2w from.
  // With no more outcomes than coefficients (one outcome, for a pooled
  // effect) there is nothing to estimate Hartung-Knapp's s2w from: z.
  if (k <= coefficients || question.test == v1::POOLING_TEST_Z) {
    options.test = analysis::TestKind::kZ;
  } else {
    options.test = question.test == v1::POOLING_TEST_KNHA ? analysis::TestKind::kKnappHartung
                                                          : analysis::TestKind::kKnappHartungAdhoc;
    options.prediction_distribution = analysis::PredictionDistribution::kStudentOneFewer;
  }
  return options;
}

absl::StatusOr<analysis::FitResult> PoolEffects(const std::vector<const EffectRow*>& rows,
                                                const Question& question) {
  std::vector<double> effects, variances;
  for (const EffectRow* row : rows) {
    effects.push_back(row->effect.value);
    variances.push_back(row->effect.variance);
  }
  return analysis::FitPooled(effects, variances, FitOptionsFor(question, rows.size()));
}

void FillPooledResult(const analysis::FitResult& fit, const std::vector<const EffectRow*>& rows,
                      const Question& question, const std::string& answer_date,
                      v1::PooledResult* pooled) {
  FillEstimate(fit, question, pooled);
  // Both read what FillEstimate set.
  RateEvidence(fit, rows, question, answer_date, pooled);
  Cost(rows, pooled);
}

}  // namespace leerlus::core
