#include "core/insights.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "analysis/distributions.h"
#include "analysis/meta_analysis.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/effects.h"
#include "core/evidence.h"
#include "core/evidence_collection.h"
#include "core/experiment_fields.h"
#include "core/filter.h"
#include "core/validation.h"

namespace leerlus::core {
namespace {

using analysis::Effect;

// A study holding more of the weight than this is named in the answer's
// warnings: the pooled result is then mostly that one experiment's.
constexpr double kDominantWeightPercent = 90;

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

analysis::FitOptions FitOptionsFor(const Question& question, size_t k) {
  analysis::FitOptions options;
  options.method = MethodOf(question.model);
  // With one outcome there is nothing to estimate s2w from.
  options.knapp_hartung = question.knapp_hartung && k > 1;
  return options;
}

void FillPooled(const analysis::FitResult& fit, const Question& question, v1::PooledResult* out) {
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
  out->set_knapp_hartung(fit.knapp_hartung);
}

absl::StatusOr<analysis::FitResult> Pool(const std::vector<const EffectRow*>& rows,
                                         const Question& question) {
  std::vector<double> effects, variances;
  for (const EffectRow* row : rows) {
    effects.push_back(row->effect.value);
    variances.push_back(row->effect.variance);
  }
  return analysis::FitPooled(effects, variances, FitOptionsFor(question, rows.size()));
}

// Cost beside the effect: budgets of the pooled experiments over their
// participants (an experiment's participants: its largest pooled outcome).
void Cost(const std::vector<const EffectRow*>& rows, v1::PooledResult* pooled) {
  std::map<std::string, std::pair<int64_t, int64_t>> by_experiment;  // budget, participants
  for (const EffectRow* row : rows) {
    auto& [budget, participants] = by_experiment[row->experiment->id()];
    budget = row->experiment->budget_cents();
    participants = std::max(participants, OutcomeParticipants(row->outcome));
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

// The one condition read from the outcome rather than from its experiment.
constexpr absl::string_view kDesignCondition = "design";

// The value of a condition for one outcome: a level (text) or a number.
struct ConditionValue {
  bool present = false;
  bool numeric = false;
  std::string level;
  double number = 0;
};

ConditionValue ContextConditionOf(const v1::Experiment& experiment, absl::string_view condition) {
  ConditionValue value;
  const v1::AttributeValue* attribute = FindContextValue(experiment, condition);
  if (attribute == nullptr) return value;
  value.present = true;
  switch (attribute->kind_case()) {
    case v1::AttributeValue::kNumberValue:
      value.numeric = true;
      value.number = attribute->number_value();
      break;
    case v1::AttributeValue::kTextValue:
      value.level = attribute->text_value();
      break;
    case v1::AttributeValue::kBoolValue:
      value.level = attribute->bool_value() ? "true" : "false";
      break;
    case v1::AttributeValue::KIND_NOT_SET:
      value.present = false;
      break;
  }
  return value;
}

absl::StatusOr<ConditionValue> ConditionOf(const EffectRow& row, absl::string_view condition) {
  ConditionValue value;
  value.present = true;
  if (condition == kDesignCondition) {
    value.level = ShortEnumName(v1::StudyDesign_Name(row.outcome.design()), "STUDY_DESIGN_");
    return value;
  }
  const ExperimentField* field = FindConditionField(condition);
  if (field == nullptr) {
    return FieldError("condition", absl::StrCat("'", condition, "' is not a condition; use ",
                                                absl::StrJoin(ConditionFieldNames(), ", "), ", ",
                                                kDesignCondition, " or context.<attr>"));
  }
  const v1::Experiment& experiment = *row.experiment;
  if (field->type == FieldType::kContext) return ContextConditionOf(experiment, condition);
  value.present = field->has_level == nullptr || field->has_level(experiment);
  value.level = field->type == FieldType::kEnum
                    ? ShortEnumName(field->text(experiment), field->enum_prefix)
                    : field->text(experiment);
  return value;
}

}  // namespace

namespace {
absl::StatusOr<v1::WhatWorksResponse> AnswerWhatWorks(storage::ProjectionReader& view,
                                                      const Question& question);
absl::StatusOr<v1::CompareConditionsResponse> CompareOn(CollectedEvidence& collected,
                                                        const std::string& condition,
                                                        const Question& question,
                                                        int min_experiments);
}  // namespace

absl::StatusOr<v1::WhatWorksResponse> Insights::WhatWorks(const v1::WhatWorksRequest& request,
                                                          absl::Time deadline) {
  FieldViolations violations;
  for (int i = 0; i < request.work_method_ids_size(); ++i) {
    CheckId(violations, absl::StrCat("work_method_ids[", i, "]"), request.work_method_ids(i));
  }
  LEERLUS_ASSIGN_OR_RETURN(
      Question question,
      MakeQuestion(request.indicator_id(),
                   {request.work_method_ids().begin(), request.work_method_ids().end()},
                   request.filter(), request.measure(), request.model(), request.knapp_hartung(),
                   violations));
  question.preregistered_only = request.preregistered_only();
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  return AnswerWhatWorks(*view, question);
}

namespace {

absl::StatusOr<v1::WhatWorksResponse> AnswerWhatWorks(storage::ProjectionReader& view,
                                                      const Question& question) {
  LEERLUS_ASSIGN_OR_RETURN(CollectedEvidence collected, CollectEvidence(view, question));
  v1::WhatWorksResponse response;
  response.set_indicator_id(question.indicator_id);
  response.set_read_position(collected.read_position);
  for (const auto& [method_id, rows] : collected.rows_by_method) {
    v1::MethodResult* result = response.add_methods();
    result->set_work_method_id(method_id);
    if (auto name = collected.method_names.find(method_id); name != collected.method_names.end()) {
      result->set_work_method_name(name->second);
    }
    for (const v1::ExcludedOutcome& excluded : collected.excluded_by_method[method_id]) {
      *result->add_excluded() = excluded;
    }
    std::vector<const EffectRow*> used;
    for (const EffectRow& row : rows) {
      used.push_back(&row);
      v1::StudyEffect* study = result->add_studies();
      study->set_experiment_id(row.experiment->id());
      study->set_title(row.experiment->title());
      study->set_outcome_id(row.outcome.id());
      study->set_area_code(row.experiment->area().code());
      study->set_design(row.outcome.design());
      study->set_effect(row.effect.value);
      study->set_variance(row.effect.variance);
      const double half_width = analysis::NormalCritical95() * std::sqrt(row.effect.variance);
      study->set_ci_lower(row.effect.value - half_width);
      study->set_ci_upper(row.effect.value + half_width);
      study->set_participants(OutcomeParticipants(row.outcome));
    }
    if (used.empty()) {
      result->set_not_pooled_reason(result->excluded_size() == 0
                                        ? "no outcomes for this indicator"
                                        : absl::StrCat("all ", result->excluded_size(),
                                                       " outcomes left out (",
                                                       result->excluded(0).reason(), ")"));
      continue;
    }
    absl::StatusOr<analysis::FitResult> fit = Pool(used, question);
    if (!fit.ok()) {
      result->set_not_pooled_reason(std::string(fit.status().message()));
      continue;
    }
    for (int i = 0; i < result->studies_size(); ++i) {
      result->mutable_studies(i)->set_weight_percent(fit->weights_percent[i]);
      // A study that dominates numerically is said, not silently pooled.
      if (result->studies_size() > 1 && fit->weights_percent[i] > kDominantWeightPercent) {
        result->add_warnings(
            absl::StrCat("experiment '", result->studies(i).experiment_id(), "' holds ",
                         absl::StrFormat("%.1f", fit->weights_percent[i]),
                         "% of the weight: the pooled result is mostly that one experiment's"));
      }
    }
    FillPooled(*fit, question, result->mutable_pooled());
    Grade(used, question.indicator_id, collected.answer_date, result->mutable_pooled());
    Cost(used, result->mutable_pooled());
  }
  return response;
}

}  // namespace

absl::StatusOr<v1::CompareConditionsResponse> Insights::CompareConditions(
    const v1::CompareConditionsRequest& request, absl::Time deadline) {
  FieldViolations violations;
  std::vector<std::string> methods;
  if (!request.work_method_id().empty()) {
    CheckId(violations, "work_method_id", request.work_method_id());
    methods.push_back(request.work_method_id());
  }
  if (request.condition().empty()) violations.Add("condition", "is required");
  if (request.min_experiments_per_level() < 0) {
    violations.Add("min_experiments_per_level", "must not be negative");
  }
  LEERLUS_ASSIGN_OR_RETURN(
      Question question,
      MakeQuestion(request.indicator_id(), methods, request.filter(), request.measure(),
                   request.model(), request.knapp_hartung(), violations));
  const int min_experiments =
      request.min_experiments_per_level() == 0 ? 2 : request.min_experiments_per_level();
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  LEERLUS_ASSIGN_OR_RETURN(CollectedEvidence collected, CollectEvidence(*view, question));
  return CompareOn(collected, request.condition(), question, min_experiments);
}

namespace {

absl::StatusOr<v1::CompareConditionsResponse> CompareOn(CollectedEvidence& collected,
                                                        const std::string& condition,
                                                        const Question& question,
                                                        int min_experiments) {
  v1::CompareConditionsResponse response;
  response.set_condition(condition);
  response.set_read_position(collected.read_position);
  // Every usable outcome with its condition value.
  std::vector<std::pair<const EffectRow*, ConditionValue>> rows;
  bool any_numeric = false, any_level = false;
  for (const auto& [method_id, method_rows] : collected.rows_by_method) {
    for (const v1::ExcludedOutcome& excluded : collected.excluded_by_method[method_id]) {
      *response.add_excluded() = excluded;
    }
    for (const EffectRow& row : method_rows) {
      LEERLUS_ASSIGN_OR_RETURN(ConditionValue value, ConditionOf(row, condition));
      if (!value.present) {
        v1::ExcludedOutcome* excluded = response.add_excluded();
        excluded->set_experiment_id(row.experiment->id());
        excluded->set_outcome_id(row.outcome.id());
        excluded->set_reason(absl::StrCat("the experiment has no value for ", condition));
        continue;
      }
      any_numeric |= value.numeric;
      any_level |= !value.numeric;
      rows.emplace_back(&row, value);
    }
  }
  if (any_numeric && any_level) {
    return FieldError("condition", absl::StrCat("'", condition,
                                                "' is a number in some experiments and text in "
                                                "others; it cannot be compared"));
  }
  response.set_numeric(any_numeric);
  auto fill_test = [&](const analysis::FitResult& fit) {
    v1::ModeratorTest* test = response.mutable_test();
    test->set_qm(fit.qm);
    test->set_qm_df(fit.qm_df1);
    test->set_qm_pvalue(fit.qm_p);
    test->set_qe(fit.qe);
    test->set_qe_df(fit.qe_df);
    test->set_qe_pvalue(std::isfinite(fit.qe_p) ? fit.qe_p : 1);
    test->set_tau2(fit.tau2);
    test->set_r2(std::isfinite(fit.r2) ? fit.r2 : 0);
    test->set_k(fit.k);
  };

  if (any_numeric) {
    std::vector<double> effects, variances, values;
    std::set<double> distinct;
    for (const auto& [row, value] : rows) {
      effects.push_back(row->effect.value);
      variances.push_back(row->effect.variance);
      values.push_back(value.number);
      distinct.insert(value.number);
    }
    if (distinct.size() < 2 || rows.size() < 3) {
      response.set_not_tested_reason(
          absl::StrCat("a meta-regression needs at least 3 outcomes and 2 distinct values of ",
                       condition, " (have ", rows.size(), " and ", distinct.size(), ")"));
      return response;
    }
    absl::StatusOr<analysis::FitResult> fit = analysis::FitRegression(
        effects, variances, {values}, {condition}, FitOptionsFor(question, rows.size()));
    if (!fit.ok()) {
      response.set_not_tested_reason(std::string(fit.status().message()));
      return response;
    }
    for (const analysis::Coefficient& c : fit->coefficients) {
      v1::RegressionCoefficient* out = response.add_coefficients();
      out->set_name(c.name);
      out->set_estimate(c.estimate);
      out->set_se(c.se);
      out->set_ci_lower(c.ci_lower);
      out->set_ci_upper(c.ci_upper);
      out->set_p_value(c.p_value);
    }
    fill_test(*fit);
    return response;
  }

  // Categorical: levels in order, those with too few experiments left out.
  std::map<std::string, std::vector<const EffectRow*>> by_level;
  for (const auto& [row, value] : rows) by_level[value.level].push_back(row);
  std::vector<std::string> levels;
  for (const auto& [level, level_rows] : by_level) {
    std::set<std::string> experiments;
    for (const EffectRow* row : level_rows) experiments.insert(row->experiment->id());
    if (static_cast<int>(experiments.size()) < min_experiments) {
      v1::SkippedLevel* skipped = response.add_skipped_levels();
      skipped->set_level(level);
      skipped->set_reason(absl::StrCat(experiments.size(), " experiment(s); at least ",
                                       min_experiments, " are needed to say anything"));
      continue;
    }
    absl::StatusOr<analysis::FitResult> fit = Pool(level_rows, question);
    if (!fit.ok()) {
      v1::SkippedLevel* skipped = response.add_skipped_levels();
      skipped->set_level(level);
      skipped->set_reason(std::string(fit.status().message()));
      continue;
    }
    v1::Subgroup* subgroup = response.add_subgroups();
    subgroup->set_level(level);
    subgroup->set_experiments(static_cast<int32_t>(experiments.size()));
    FillPooled(*fit, question, subgroup->mutable_pooled());
    Grade(level_rows, question.indicator_id, collected.answer_date, subgroup->mutable_pooled());
    Cost(level_rows, subgroup->mutable_pooled());
    levels.push_back(level);
  }
  if (levels.size() < 2) {
    response.set_not_tested_reason(absl::StrCat(
        "the test for subgroup differences needs at least 2 levels with enough experiments (have ",
        levels.size(), ")"));
    return response;
  }
  // Mixed-effects model: one dummy per level after the first (metafor's
  // mods = ~ factor(condition)), a common tau2.
  std::vector<double> effects, variances;
  std::vector<std::vector<double>> dummies(levels.size() - 1);
  std::vector<std::string> names;
  for (size_t j = 1; j < levels.size(); ++j)
    names.push_back(absl::StrCat(condition, "[", levels[j], "]"));
  for (size_t level = 0; level < levels.size(); ++level) {
    for (const EffectRow* row : by_level[levels[level]]) {
      effects.push_back(row->effect.value);
      variances.push_back(row->effect.variance);
      for (size_t j = 1; j < levels.size(); ++j) dummies[j - 1].push_back(level == j ? 1 : 0);
    }
  }
  absl::StatusOr<analysis::FitResult> fit = analysis::FitRegression(
      effects, variances, dummies, names, FitOptionsFor(question, effects.size()));
  if (!fit.ok()) {
    response.set_not_tested_reason(std::string(fit.status().message()));
    return response;
  }
  fill_test(*fit);
  return response;
}

}  // namespace

absl::StatusOr<v1::WhatChangedResponse> Insights::WhatChanged(const v1::WhatChangedRequest& request,
                                                              absl::Time deadline) {
  if (request.since_position() == 0 && request.since_date().empty()) {
    return FieldError("since_position", "give the earlier moment as a position or a date");
  }
  FieldViolations violations;
  if (!request.indicator_id().empty()) CheckId(violations, "indicator_id", request.indicator_id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> before,
                           OpenSnapshot(request.since_position(), request.since_date(), deadline));
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> after,
                           OpenSnapshot(request.until_position(), request.until_date(), deadline));
  if (before->head_position() > after->head_position()) {
    return FieldError("until_position", "the later moment is before the earlier one");
  }
  // The indicators: the one asked for, or every indicator known afterwards.
  std::vector<std::string> indicators;
  if (!request.indicator_id().empty()) {
    indicators.push_back(request.indicator_id());
  } else {
    LEERLUS_ASSIGN_OR_RETURN(indicators, ReadIndicatorIds(*after));
  }
  v1::WhatChangedResponse response;
  response.set_since_position(before->head_position());
  response.set_until_position(after->head_position());
  for (const std::string& indicator_id : indicators) {
    FieldViolations unused;
    LEERLUS_ASSIGN_OR_RETURN(
        Question question,
        MakeQuestion(indicator_id, {}, "", request.measure(), request.model(), false, unused));
    v1::WhatWorksResponse then;
    absl::StatusOr<v1::WhatWorksResponse> answer_then = AnswerWhatWorks(*before, question);
    if (answer_then.ok()) {
      then = std::move(*answer_then);
    } else if (answer_then.status().code() != absl::StatusCode::kNotFound) {
      return answer_then.status();  // NOT_FOUND: the indicator is newer than `since`.
    }
    LEERLUS_ASSIGN_OR_RETURN(v1::WhatWorksResponse now, AnswerWhatWorks(*after, question));
    std::map<std::string, const v1::MethodResult*> old_results;
    for (const v1::MethodResult& method : then.methods())
      old_results[method.work_method_id()] = &method;
    for (const v1::MethodResult& method : now.methods()) {
      auto it = old_results.find(method.work_method_id());
      const v1::MethodResult* old = it == old_results.end() ? nullptr : it->second;
      std::set<std::string> before_ids, after_ids;
      if (old != nullptr) {
        for (const v1::StudyEffect& study : old->studies())
          before_ids.insert(study.experiment_id());
      }
      for (const v1::StudyEffect& study : method.studies()) after_ids.insert(study.experiment_id());
      const bool had = old != nullptr && old->has_pooled();
      const bool has = method.has_pooled();
      const v1::PooledResult empty;
      const v1::PooledResult& p0 = had ? old->pooled() : empty;
      const v1::PooledResult& p1 = has ? method.pooled() : empty;
      const bool changed = had != has || p0.k() != p1.k() || p0.estimate() != p1.estimate() ||
                           p0.ci_lower() != p1.ci_lower() || p0.ci_upper() != p1.ci_upper() ||
                           p0.grade() != p1.grade() || before_ids != after_ids;
      if (!changed) continue;
      v1::ResultChange* change = response.add_changes();
      change->set_indicator_id(indicator_id);
      change->set_work_method_id(method.work_method_id());
      if (had) *change->mutable_before() = p0;
      if (has) *change->mutable_after() = p1;
      for (const std::string& id : after_ids) {
        if (!before_ids.count(id)) change->add_new_experiment_ids(id);
      }
      for (const std::string& id : before_ids) {
        if (!after_ids.count(id)) change->add_dropped_experiment_ids(id);
      }
      change->set_estimate_change(had && has ? p1.estimate() - p0.estimate() : 0);
      change->set_grade_change(p1.grade() - p0.grade());
    }
  }
  return response;
}

absl::StatusOr<v1::DiscoverConditionsResponse> Insights::DiscoverConditions(
    const v1::DiscoverConditionsRequest& request, absl::Time deadline) {
  FieldViolations violations;
  CheckId(violations, "work_method_id", request.work_method_id());
  if (request.min_experiments_per_level() < 0) {
    violations.Add("min_experiments_per_level", "must not be negative");
  }
  if (request.max_results() < 0) violations.Add("max_results", "must not be negative");
  LEERLUS_ASSIGN_OR_RETURN(
      Question question,
      MakeQuestion(request.indicator_id(), {request.work_method_id()}, request.filter(),
                   request.measure(), request.model(), false, violations));
  const int min_experiments =
      request.min_experiments_per_level() == 0 ? 2 : request.min_experiments_per_level();
  const int max_results = request.max_results() == 0 ? 10 : std::min(request.max_results(), 100);
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  LEERLUS_ASSIGN_OR_RETURN(CollectedEvidence collected, CollectEvidence(*view, question));

  // Candidates: the experiment-level conditions and every context attribute
  // the method's experiments carry. The method itself is constant here.
  std::set<std::string> candidates = {std::string(kDesignCondition)};
  for (absl::string_view name : ConditionFieldNames()) {
    if (name != "method") candidates.emplace(name);
  }
  for (const auto& [method_id, rows] : collected.rows_by_method) {
    for (const EffectRow& row : rows) {
      for (const auto& [name, value] : row.experiment->context())
        candidates.insert(absl::StrCat(kContextPrefix, name));
    }
  }
  v1::DiscoverConditionsResponse response;
  response.set_read_position(collected.read_position);
  std::vector<v1::DiscoveredCondition> tested;
  for (const std::string& condition : candidates) {
    absl::StatusOr<v1::CompareConditionsResponse> compared =
        CompareOn(collected, condition, question, min_experiments);
    if (!compared.ok() || !compared->has_test()) {
      v1::UntestedCondition* untested = response.add_untested();
      untested->set_condition(condition);
      untested->set_reason(compared.ok() ? compared->not_tested_reason()
                                         : std::string(compared.status().message()));
      continue;
    }
    v1::DiscoveredCondition found;
    found.set_condition(condition);
    found.set_numeric(compared->numeric());
    *found.mutable_test() = compared->test();
    *found.mutable_subgroups() = compared->subgroups();
    *found.mutable_coefficients() = compared->coefficients();
    tested.push_back(std::move(found));
  }
  // Benjamini-Hochberg: p_(i) * m / i, made monotone from the largest down.
  std::sort(tested.begin(), tested.end(), [](const auto& a, const auto& b) {
    return a.test().qm_pvalue() < b.test().qm_pvalue();
  });
  const size_t m = tested.size();
  double running = 1.0;
  for (size_t i = m; i-- > 0;) {
    running = std::min(running, tested[i].test().qm_pvalue() * m / (i + 1));
    tested[i].set_adjusted_p_value(running);
  }
  response.set_conditions_tested(static_cast<int32_t>(m));
  for (size_t i = 0; i < tested.size() && static_cast<int>(i) < max_results; ++i) {
    *response.add_conditions() = std::move(tested[i]);
  }
  return response;
}

absl::StatusOr<v1::ContributionResponse> Insights::Contribution(
    const v1::ContributionRequest& request, absl::Time deadline) {
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  std::map<v1::ResourceDomain, std::vector<v1::MethodContribution>> by_domain;
  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Indicator> indicators, ReadIndicators(*view));
  for (const v1::Indicator& indicator : indicators) {
    FieldViolations violations;
    LEERLUS_ASSIGN_OR_RETURN(Question question,
                             MakeQuestion(indicator.id(), {}, "", v1::EFFECT_MEASURE_SMD,
                                          request.model(), false, violations));
    LEERLUS_ASSIGN_OR_RETURN(v1::WhatWorksResponse answer, AnswerWhatWorks(*view, question));
    std::vector<v1::MethodContribution>& entries = by_domain[indicator.domain()];
    for (const v1::MethodResult& method : answer.methods()) {
      if (!method.has_pooled()) continue;
      v1::MethodContribution entry;
      entry.set_indicator_id(indicator.id());
      entry.set_work_method_id(method.work_method_id());
      *entry.mutable_pooled() = method.pooled();
      entry.set_moves_it(method.pooled().ci_lower() > 0);
      entries.push_back(std::move(entry));
    }
  }
  v1::ContributionResponse response;
  response.set_read_position(view->head_position());
  for (auto& [domain, entries] : by_domain) {
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      if (a.moves_it() != b.moves_it()) return a.moves_it();
      return a.pooled().estimate() > b.pooled().estimate();
    });
    v1::DomainContribution* out = response.add_domains();
    out->set_domain(domain);
    for (auto& entry : entries) *out->add_methods() = std::move(entry);
  }
  return response;
}

void JudgeHypothesis(const v1::Hypothesis& hypothesis, const v1::Outcome& outcome,
                     v1::HypothesisVerdict* verdict) {
  verdict->set_outcome_id(outcome.id());
  absl::StatusOr<RawChange> change = RawChangeOf(outcome);
  if (!change.ok()) {
    verdict->set_verdict(v1::VERDICT_INCONCLUSIVE);
    verdict->set_reason(absl::StrCat("outcome ", outcome.id(), ": ", change.status().message()));
    return;
  }
  const double half_width = analysis::NormalCritical95() * std::sqrt(change->variance);
  const double lower = change->estimate - half_width;
  const double upper = change->estimate + half_width;
  verdict->set_estimate(change->estimate);
  verdict->set_ci_lower(lower);
  verdict->set_ci_upper(upper);
  verdict->set_scale(change->scale);
  const double sesoi = hypothesis.smallest_effect_of_interest();
  const bool compare_sesoi = sesoi > 0 && change->in_indicator_units;
  const std::string ci = absl::StrFormat("%s %.3f, 95%% CI [%.3f, %.3f]", change->scale,
                                         change->estimate, lower, upper);
  switch (hypothesis.expected_direction()) {
    case v1::EXPECTED_DIRECTION_INCREASE:
    case v1::EXPECTED_DIRECTION_DECREASE: {
      const double sign =
          hypothesis.expected_direction() == v1::EXPECTED_DIRECTION_INCREASE ? 1 : -1;
      const double toward_lower = sign > 0 ? lower : -upper;   // Expected side's inner bound.
      const double against_upper = sign > 0 ? upper : -lower;  // Other side's inner bound.
      if (toward_lower > 0) {
        if (compare_sesoi && sign * change->estimate < sesoi) {
          verdict->set_verdict(v1::VERDICT_INCONCLUSIVE);
          verdict->set_reason(
              absl::StrFormat("%s: in the expected direction but smaller than the smallest effect "
                              "that matters (%g)",
                              ci, sesoi));
        } else {
          verdict->set_verdict(v1::VERDICT_SUPPORTED);
          verdict->set_reason(absl::StrCat(ci, ": the CI lies on the expected side of zero"));
        }
      } else if (against_upper < 0) {
        verdict->set_verdict(v1::VERDICT_REFUTED);
        verdict->set_reason(absl::StrCat(ci, ": the CI lies on the other side of zero"));
      } else {
        verdict->set_verdict(v1::VERDICT_INCONCLUSIVE);
        verdict->set_reason(absl::StrCat(ci, ": the CI includes zero"));
      }
      return;
    }
    case v1::EXPECTED_DIRECTION_NO_CHANGE:
      if (lower > 0 || upper < 0) {
        verdict->set_verdict(v1::VERDICT_REFUTED);
        verdict->set_reason(absl::StrCat(ci, ": a change, the CI excludes zero"));
      } else if (compare_sesoi && lower > -sesoi && upper < sesoi) {
        verdict->set_verdict(v1::VERDICT_SUPPORTED);
        verdict->set_reason(absl::StrFormat(
            "%s: the CI lies within the smallest effect that matters (±%g)", ci, sesoi));
      } else {
        verdict->set_verdict(v1::VERDICT_INCONCLUSIVE);
        verdict->set_reason(absl::StrCat(
            ci, compare_sesoi
                    ? ": the CI reaches beyond the smallest effect that matters"
                    : ": no change shown, but no smallest effect to test equivalence against"));
      }
      return;
    default:
      verdict->set_verdict(v1::VERDICT_INCONCLUSIVE);
      verdict->set_reason("the hypothesis has no expected direction");
      return;
  }
}

absl::StatusOr<v1::ScorecardResponse> Insights::Scorecard(const v1::ScorecardRequest& request,
                                                          absl::Time deadline) {
  FieldViolations violations;
  if (!request.work_method_id().empty())
    CheckId(violations, "work_method_id", request.work_method_id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  LEERLUS_ASSIGN_OR_RETURN(ExperimentFilter filter, ExperimentFilter::Parse(request.filter()));
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  v1::ScorecardResponse response;
  response.set_read_position(view->head_position());
  std::map<std::string, v1::MethodScorecard> cards;
  if (!request.work_method_id().empty())
    cards[request.work_method_id()].set_work_method_id(request.work_method_id());

  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Experiment> experiments, ReadExperiments(*view));
  for (const v1::Experiment& experiment : experiments) {
    if (!request.work_method_id().empty() &&
        experiment.work_method_id() != request.work_method_id())
      continue;
    LEERLUS_ASSIGN_OR_RETURN(bool matched, filter.Matches(experiment));
    if (!matched) continue;
    v1::MethodScorecard& card = cards[experiment.work_method_id()];
    card.set_work_method_id(experiment.work_method_id());
    for (const v1::Hypothesis& hypothesis : experiment.hypotheses()) {
      if (!hypothesis.pre_registered() && !request.include_post_hoc()) continue;
      v1::HypothesisVerdict* verdict = card.add_hypotheses();
      verdict->set_experiment_id(experiment.id());
      verdict->set_hypothesis_id(hypothesis.id());
      verdict->set_statement(hypothesis.statement());
      verdict->set_indicator_id(hypothesis.indicator_id());
      verdict->set_expected_direction(hypothesis.expected_direction());
      verdict->set_pre_registered(hypothesis.pre_registered());
      LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> latest,
                               ReadLatestOutcome(*view, hypothesis.indicator_id(), experiment));
      if (!latest.has_value()) {
        verdict->set_verdict(v1::VERDICT_NOT_MEASURED);
        verdict->set_reason("no outcome on this indicator yet");
      } else {
        JudgeHypothesis(hypothesis, *latest, verdict);
      }
      switch (verdict->verdict()) {
        case v1::VERDICT_SUPPORTED:
          card.set_supported(card.supported() + 1);
          break;
        case v1::VERDICT_REFUTED:
          card.set_refuted(card.refuted() + 1);
          break;
        case v1::VERDICT_NOT_MEASURED:
          card.set_not_measured(card.not_measured() + 1);
          break;
        default:
          card.set_inconclusive(card.inconclusive() + 1);
          break;
      }
    }
  }
  for (auto& [method, card] : cards) *response.add_methods() = std::move(card);
  return response;
}

}  // namespace leerlus::core
