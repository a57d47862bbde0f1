#include "core/insights.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "analysis/distributions.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/effects.h"
#include "core/evidence_collection.h"
#include "core/filter.h"
#include "core/pooling.h"
#include "core/validation.h"

namespace leerlus::core {
namespace {

// A study holding more of the weight than this is named in the answer's
// warnings: the pooled result is then mostly that one experiment's.
constexpr double kDominantWeightPercent = 90;

// The 95% quantile of the normal: a 90% interval's half-width per SE, the
// interval two one-sided tests at the 5% level use (Lakens 2017).
constexpr double kNormalCritical90 = 1.6448536269514722;

void Decide(v1::HypothesisVerdict* verdict, v1::Verdict decision, const std::string& reason) {
  verdict->set_verdict(decision);
  verdict->set_reason(reason);
}

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
    absl::StatusOr<analysis::FitResult> fit = PoolEffects(used, question);
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
    FillPooledResult(*fit, used, question, collected.answer_date, result->mutable_pooled());
  }
  return response;
}

// The methods whose answer on the indicator moved between `then` and `now`:
// pooled or not, k, estimate, CI, grade, or the experiments pooled.
void AddChanges(const std::string& indicator_id, const v1::WhatWorksResponse& then,
                const v1::WhatWorksResponse& now, v1::WhatChangedResponse* response) {
  std::map<std::string, const v1::MethodResult*> old_results;
  for (const v1::MethodResult& method : then.methods())
    old_results[method.work_method_id()] = &method;
  for (const v1::MethodResult& method : now.methods()) {
    auto it = old_results.find(method.work_method_id());
    const v1::MethodResult* old = it == old_results.end() ? nullptr : it->second;
    std::set<std::string> before_ids, after_ids;
    if (old != nullptr) {
      for (const v1::StudyEffect& study : old->studies()) before_ids.insert(study.experiment_id());
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
    v1::ResultChange* change = response->add_changes();
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
                   request.filter(),
                   {.measure = request.measure(),
                    .model = request.model(),
                    .test = request.test(),
                    .knapp_hartung = request.knapp_hartung()},
                   violations));
  question.preregistered_only = request.preregistered_only();
  LEERLUS_ASSIGN_OR_RETURN(std::unique_ptr<storage::ProjectionReader> view,
                           OpenSnapshot(request.as_of_position(), request.as_of_date(), deadline));
  return AnswerWhatWorks(*view, question);
}

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
    LEERLUS_ASSIGN_OR_RETURN(Question question, MakeQuestion(indicator_id, {}, "",
                                                             {.measure = request.measure(),
                                                              .model = request.model(),
                                                              .test = request.test()},
                                                             unused));
    v1::WhatWorksResponse then;
    absl::StatusOr<v1::WhatWorksResponse> answer_then = AnswerWhatWorks(*before, question);
    if (answer_then.ok()) {
      then = std::move(*answer_then);
    } else if (answer_then.status().code() != absl::StatusCode::kNotFound) {
      return answer_then.status();  // NOT_FOUND: the indicator is newer than `since`.
    }
    LEERLUS_ASSIGN_OR_RETURN(v1::WhatWorksResponse now, AnswerWhatWorks(*after, question));
    AddChanges(indicator_id, then, now, &response);
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
    LEERLUS_ASSIGN_OR_RETURN(Question question, MakeQuestion(indicator.id(), {}, "",
                                                             {.measure = v1::EFFECT_MEASURE_SMD,
                                                              .model = request.model(),
                                                              .test = request.test()},
                                                             violations));
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
    Decide(verdict, v1::VERDICT_INCONCLUSIVE,
           absl::StrCat("outcome ", outcome.id(), ": ", change.status().message()));
    return;
  }
  const double se = std::sqrt(change->variance);
  const double lower = change->estimate - analysis::NormalCritical95() * se;
  const double upper = change->estimate + analysis::NormalCritical95() * se;
  const double lower90 = change->estimate - kNormalCritical90 * se;
  const double upper90 = change->estimate + kNormalCritical90 * se;
  verdict->set_estimate(change->estimate);
  verdict->set_ci_lower(lower);
  verdict->set_ci_upper(upper);
  verdict->set_scale(change->scale);
  verdict->set_uncontrolled(outcome.design() == v1::STUDY_DESIGN_PRE_POST ||
                            outcome.statistics_case() == v1::Outcome::kPrePost);

  // The smallest effect that matters is in the indicator's units: it applies
  // to a change on that scale, and the reason says when it cannot.
  const double sesoi = hypothesis.smallest_effect_of_interest();
  const bool has_sesoi = sesoi > 0 && change->in_indicator_units;
  std::string ci = absl::StrFormat("%s %.3f, 95%% CI [%.3f, %.3f]", change->scale, change->estimate,
                                   lower, upper);
  std::string caveat;
  if (sesoi > 0 && !change->in_indicator_units) {
    caveat = absl::StrFormat(
        "; the smallest effect that matters (%g, in the indicator's units) cannot be compared on "
        "the %s scale and was not applied",
        sesoi, change->scale);
  } else if (sesoi <= 0) {
    caveat = "; no smallest effect that matters was stated";
  }
  if (verdict->uncontrolled()) {
    caveat +=
        "; one group measured before and after, with no comparison group: the change need "
        "not be the intervention's";
  }
  const std::string equivalence = absl::StrFormat(
      "the 90%% CI [%.3f, %.3f] lies within ±%g, the smallest effect that matters (two one-sided "
      "tests at 5%%)",
      lower90, upper90, sesoi);

  switch (hypothesis.expected_direction()) {
    case v1::EXPECTED_DIRECTION_INCREASE:
    case v1::EXPECTED_DIRECTION_DECREASE: {
      // Work on the expected side: positive = as expected.
      const double sign =
          hypothesis.expected_direction() == v1::EXPECTED_DIRECTION_INCREASE ? 1 : -1;
      const double near = sign > 0 ? lower : -upper;       // The bound nearest zero...
      const double far = sign > 0 ? upper : -lower;        // ... and the other one.
      const double far90 = sign > 0 ? upper90 : -lower90;  // One-sided 95% upper bound.
      const double near90 = sign > 0 ? lower90 : -upper90;
      if (near > 0) {
        if (!has_sesoi) {
          Decide(verdict, v1::VERDICT_SUPPORTED,
                 absl::StrCat(ci, ": the CI lies on the expected side of zero", caveat));
        } else if (near >= sesoi) {
          Decide(verdict, v1::VERDICT_SUPPORTED,
                 absl::StrFormat("%s: the whole CI reaches the smallest effect that matters (%g)%s",
                                 ci, sesoi, caveat));
        } else if (far90 < sesoi) {
          Decide(verdict, v1::VERDICT_TOO_SMALL_TO_MATTER,
                 absl::StrFormat("%s: in the expected direction, but smaller than the smallest "
                                 "effect that matters (%g): the 90%% CI ends at %.3f%s",
                                 ci, sesoi, sign * far90, caveat));
        } else {
          Decide(verdict, v1::VERDICT_INCONCLUSIVE,
                 absl::StrFormat("%s: in the expected direction, but the CI does not show whether "
                                 "it reaches the smallest effect that matters (%g)%s",
                                 ci, sesoi, caveat));
        }
      } else if (far < 0) {
        Decide(verdict, v1::VERDICT_REFUTED,
               absl::StrCat(ci, ": the CI lies on the other side of zero", caveat));
      } else if (has_sesoi && near90 > -sesoi && far90 < sesoi) {
        Decide(verdict, v1::VERDICT_TOO_SMALL_TO_MATTER,
               absl::StrCat(ci, ": no effect that matters, ", equivalence, caveat));
      } else {
        Decide(verdict, v1::VERDICT_INCONCLUSIVE,
               absl::StrCat(ci, ": the CI includes zero", caveat));
      }
      return;
    }
    case v1::EXPECTED_DIRECTION_NO_CHANGE:
      if (has_sesoi && lower90 > -sesoi && upper90 < sesoi) {
        Decide(verdict, v1::VERDICT_SUPPORTED,
               absl::StrCat(ci, ": equivalent, ", equivalence, caveat));
      } else if (has_sesoi && (lower > sesoi || upper < -sesoi)) {
        Decide(verdict, v1::VERDICT_REFUTED,
               absl::StrFormat("%s: a change beyond the smallest effect that matters (±%g)%s", ci,
                               sesoi, caveat));
      } else if (has_sesoi) {
        Decide(verdict, v1::VERDICT_INCONCLUSIVE,
               absl::StrFormat("%s: the CI reaches beyond the smallest effect that matters (±%g)%s",
                               ci, sesoi, caveat));
      } else if (lower > 0 || upper < 0) {
        Decide(verdict, v1::VERDICT_REFUTED,
               absl::StrCat(ci, ": a change, the CI excludes zero", caveat));
      } else {
        Decide(verdict, v1::VERDICT_INCONCLUSIVE,
               absl::StrCat(ci,
                            ": no change shown, but equivalence needs a smallest effect that "
                            "matters on this scale",
                            caveat));
      }
      return;
    default:
      Decide(verdict, v1::VERDICT_INCONCLUSIVE, "the hypothesis has no expected direction");
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
        case v1::VERDICT_TOO_SMALL_TO_MATTER:
          card.set_too_small_to_matter(card.too_small_to_matter() + 1);
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
