// Under which conditions a method works: CompareConditions (subgroups or a
// meta-regression on one condition) and DiscoverConditions (every condition
// tried as a moderator, ranked).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "analysis/sensitivity.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/evidence_collection.h"
#include "core/experiment_fields.h"
#include "core/insights.h"
#include "core/pooling.h"
#include "core/validation.h"

namespace leerlus::core {
namespace {

// The one condition read from the outcome rather than from its experiment.
constexpr absl::string_view kDesignCondition = "design";

// Fewest experiments a subgroup needs unless the request says otherwise.
int MinExperimentsPerLevel(int32_t requested) { return requested == 0 ? 2 : requested; }

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

// Usable outcomes with their value of the condition, all numbers or all
// levels.
struct ConditionRows {
  std::vector<std::pair<const EffectRow*, ConditionValue>> rows;
  bool numeric = false;
};

// The outcomes that have a value of the condition; the others are added to
// the response's excluded. INVALID_ARGUMENT when the values mix numbers and
// levels.
absl::StatusOr<ConditionRows> ConditionRowsOf(CollectedEvidence& collected,
                                              const std::string& condition,
                                              v1::CompareConditionsResponse& response) {
  ConditionRows valued;
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
      valued.rows.emplace_back(&row, value);
    }
  }
  if (any_numeric && any_level) {
    return FieldError("condition", absl::StrCat("'", condition,
                                                "' is a number in some experiments and text in "
                                                "others; it cannot be compared"));
  }
  valued.numeric = any_numeric;
  return valued;
}

// What the permutation tests of one question may spend: the call's deadline
// and a number of model fits shared by every condition it tests.
struct PermutationBudget {
  absl::Time deadline;
  int64_t fits_left = 0;
};

// The moderator test of `fit`, with its permutation p-value: the rows of
// the model matrix (without the intercept) permuted over the outcomes. The
// call's deadline stops the permutations (DEADLINE_EXCEEDED); when the
// question's fits run out the test has no permutation p (permutations 0).
absl::Status FillModeratorTest(const analysis::FitResult& fit, const std::vector<double>& effects,
                               const std::vector<double>& variances,
                               const std::vector<std::vector<double>>& moderator_columns,
                               const analysis::FitOptions& options, PermutationBudget& budget,
                               v1::ModeratorTest* test) {
  test->set_qm(fit.qm);
  test->set_qm_df(fit.qm_df1);
  test->set_qm_df2(std::isfinite(fit.qm_df2) ? fit.qm_df2 : 0);
  test->set_qm_pvalue(fit.qm_p);
  test->set_qe(fit.qe);
  test->set_qe_df(fit.qe_df);
  test->set_qe_pvalue(std::isfinite(fit.qe_p) ? fit.qe_p : 1);
  test->set_tau2(fit.tau2);
  test->set_r2(std::isfinite(fit.r2) ? fit.r2 : 0);
  test->set_k(fit.k);
  std::vector<std::vector<double>> rows(effects.size());
  for (const std::vector<double>& column : moderator_columns) {
    for (size_t i = 0; i < column.size(); ++i) rows[i].push_back(column[i]);
  }
  if (budget.fits_left <= 0) return absl::OkStatus();
  analysis::PermutationOptions permutation;
  // Asked every 256 fits.
  permutation.should_stop = [&budget] {
    budget.fits_left -= 256;
    return budget.fits_left < 0 || absl::Now() > budget.deadline;
  };
  absl::StatusOr<analysis::PermutationTest> permuted =
      analysis::ModeratorPermutationTest(effects, variances, rows, options, permutation);
  if (absl::IsCancelled(permuted.status())) {
    if (absl::Now() > budget.deadline) {
      return absl::DeadlineExceededError("the deadline passed while permuting the condition");
    }
    return absl::OkStatus();  // The question's fits ran out: no permutation p.
  }
  if (permuted.ok()) {
    test->set_permutation_p_value(permuted->permutation_p);
    test->set_permutation_exact(permuted->exact);
    test->set_permutations(permuted->permutations_run);
    test->set_permutation_seed(permuted->seed);
  }
  return absl::OkStatus();
}

// A numeric condition: a meta-regression on it.
absl::Status RegressOnCondition(const ConditionRows& valued, const std::string& condition,
                                const Question& question, PermutationBudget& budget,
                                v1::CompareConditionsResponse& response) {
  const auto& rows = valued.rows;
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
    return absl::OkStatus();
  }
  const analysis::FitOptions options = FitOptionsFor(question, rows.size(), 2);
  absl::StatusOr<analysis::FitResult> fit =
      analysis::FitRegression(effects, variances, {values}, {condition}, options);
  if (!fit.ok()) {
    response.set_not_tested_reason(std::string(fit.status().message()));
    return absl::OkStatus();
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
  return FillModeratorTest(*fit, effects, variances, {values}, options, budget,
                           response.mutable_test());
}

using RowsByLevel = std::map<std::string, std::vector<const EffectRow*>>;

// One pooled subgroup per level, in order; a level with too few
// experiments, or that cannot be pooled, is skipped. The levels pooled.
std::vector<std::string> PoolSubgroups(const RowsByLevel& by_level, const Question& question,
                                       int min_experiments, const std::string& answer_date,
                                       v1::CompareConditionsResponse& response) {
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
    absl::StatusOr<analysis::FitResult> fit = PoolEffects(level_rows, question);
    if (!fit.ok()) {
      v1::SkippedLevel* skipped = response.add_skipped_levels();
      skipped->set_level(level);
      skipped->set_reason(std::string(fit.status().message()));
      continue;
    }
    v1::Subgroup* subgroup = response.add_subgroups();
    subgroup->set_level(level);
    subgroup->set_experiments(static_cast<int32_t>(experiments.size()));
    FillPooledResult(*fit, level_rows, question, answer_date, subgroup->mutable_pooled());
    levels.push_back(level);
  }
  return levels;
}

// A categorical condition: subgroups, and the test for subgroup
// differences between the levels pooled.
absl::Status CompareSubgroups(const ConditionRows& valued, const std::string& condition,
                              const Question& question, int min_experiments,
                              const std::string& answer_date, PermutationBudget& budget,
                              v1::CompareConditionsResponse& response) {
  RowsByLevel by_level;
  for (const auto& [row, value] : valued.rows) by_level[value.level].push_back(row);
  const std::vector<std::string> levels =
      PoolSubgroups(by_level, question, min_experiments, answer_date, response);
  if (levels.size() < 2) {
    response.set_not_tested_reason(absl::StrCat(
        "the test for subgroup differences needs at least 2 levels with enough experiments (have ",
        levels.size(), ")"));
    return absl::OkStatus();
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
  const analysis::FitOptions options = FitOptionsFor(question, effects.size(), dummies.size() + 1);
  absl::StatusOr<analysis::FitResult> fit =
      analysis::FitRegression(effects, variances, dummies, names, options);
  if (!fit.ok()) {
    response.set_not_tested_reason(std::string(fit.status().message()));
    return absl::OkStatus();
  }
  return FillModeratorTest(*fit, effects, variances, dummies, options, budget,
                           response.mutable_test());
}

// Sorts the tested conditions by p-value and sets each one's p-value
// adjusted for testing them all (Benjamini-Hochberg).
void RankByAdjustedPValue(std::vector<v1::DiscoveredCondition>& tested) {
  // p_(i) * m / i, made monotone from the largest down.
  std::sort(tested.begin(), tested.end(), [](const auto& a, const auto& b) {
    return a.test().qm_pvalue() < b.test().qm_pvalue();
  });
  const size_t m = tested.size();
  double running = 1.0;
  for (size_t i = m; i-- > 0;) {
    running = std::min(running, tested[i].test().qm_pvalue() * m / (i + 1));
    tested[i].set_adjusted_p_value(running);
  }
}

absl::StatusOr<v1::CompareConditionsResponse> CompareOn(CollectedEvidence& collected,
                                                        const std::string& condition,
                                                        const Question& question,
                                                        int min_experiments,
                                                        PermutationBudget& budget) {
  v1::CompareConditionsResponse response;
  response.set_condition(condition);
  response.set_read_position(collected.read_position);
  LEERLUS_ASSIGN_OR_RETURN(ConditionRows valued, ConditionRowsOf(collected, condition, response));
  response.set_numeric(valued.numeric);
  if (valued.numeric) {
    LEERLUS_RETURN_IF_ERROR(RegressOnCondition(valued, condition, question, budget, response));
  } else {
    LEERLUS_RETURN_IF_ERROR(CompareSubgroups(valued, condition, question, min_experiments,
                                             collected.answer_date, budget, response));
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
  LEERLUS_ASSIGN_OR_RETURN(Question question,
                           MakeQuestion(request.indicator_id(), methods, request.filter(),
                                        {.measure = request.measure(),
                                         .model = request.model(),
                                         .test = request.test(),
                                         .knapp_hartung = request.knapp_hartung()},
                                        violations));
  const int min_experiments = MinExperimentsPerLevel(request.min_experiments_per_level());
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  LEERLUS_ASSIGN_OR_RETURN(CollectedEvidence collected, CollectEvidence(*view, question));
  PermutationBudget budget{deadline, permutation_fits_per_question_};
  return CompareOn(collected, request.condition(), question, min_experiments, budget);
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
                   {.measure = request.measure(), .model = request.model(), .test = request.test()},
                   violations));
  const int min_experiments = MinExperimentsPerLevel(request.min_experiments_per_level());
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
  PermutationBudget budget{deadline, permutation_fits_per_question_};
  for (const std::string& condition : candidates) {
    absl::StatusOr<v1::CompareConditionsResponse> compared =
        CompareOn(collected, condition, question, min_experiments, budget);
    if (absl::IsDeadlineExceeded(compared.status())) return compared.status();
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
  RankByAdjustedPValue(tested);
  response.set_conditions_tested(static_cast<int32_t>(tested.size()));
  for (size_t i = 0; i < tested.size() && static_cast<int>(i) < max_results; ++i) {
    *response.add_conditions() = std::move(tested[i]);
  }
  return response;
}

}  // namespace leerlus::core
