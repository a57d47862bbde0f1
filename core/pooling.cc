#include "core/pooling.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "core/effects.h"
#include "core/evidence.h"

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

// Grades a pooled result from the rows it pooled.
void Grade(const std::vector<const EffectRow*>& rows, const std::string& indicator_id,
           const std::string& answer_date, v1::PooledResult* pooled) {
  EvidenceInput input;
  input.k = static_cast<int>(rows.size());
  std::set<std::string> experiments, preregistered;
  for (const EffectRow* row : rows) {
    experiments.insert(row->experiment->id());
    input.participants += OutcomeParticipants(row->outcome);
    if (row->outcome.design() == v1::STUDY_DESIGN_RCT ||
        row->outcome.design() == v1::STUDY_DESIGN_QUASI_EXPERIMENTAL) {
      ++input.controlled_outcomes;
    }
    input.newest_measurement = std::max(input.newest_measurement, row->outcome.measured_on());
    if (PreRegisteredOn(*row->experiment, indicator_id))
      preregistered.insert(row->experiment->id());
  }
  input.experiments = static_cast<int>(experiments.size());
  input.preregistered_experiments = static_cast<int>(preregistered.size());
  input.i2 = pooled->i2();
  input.answer_date = answer_date;
  input.ci_lower = pooled->ci_lower();
  input.ci_upper = pooled->ci_upper();
  EvidenceGrade grade = GradeEvidence(input);
  pooled->set_grade(grade.grade);
  for (const std::string& reason : grade.reasons) pooled->add_grade_reasons(reason);
  pooled->set_grade_label(grade.label);
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
  Grade(rows, question.indicator_id, answer_date, pooled);
  Cost(rows, pooled);
}

}  // namespace leerlus::core
