#include "core/insights.h"

#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "analysis/distributions.h"
#include "analysis/meta_analysis.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/filter.h"
#include "core/validation.h"
#include "storage/keys.h"

namespace leerlus::core {
namespace {

using analysis::Effect;

absl::Status NotExpressible(absl::string_view shape, v1::EffectMeasure measure) {
  std::string name = v1::EffectMeasure_Name(measure);
  return absl::FailedPreconditionError(absl::StrCat(
      shape, " cannot be expressed as ", name.substr(std::string("EFFECT_MEASURE_").size())));
}

// A directly given effect, its uncertainty turned into a variance.
absl::StatusOr<Effect> DirectEffect(const v1::DirectEffect& direct) {
  double variance = 0;
  switch (direct.uncertainty_case()) {
    case v1::DirectEffect::kVariance:
      variance = direct.variance();
      break;
    case v1::DirectEffect::kStandardError:
      variance = analysis::VarianceFromStandardError(direct.standard_error());
      break;
    case v1::DirectEffect::kCi95:
      variance = analysis::VarianceFromConfidenceInterval(direct.ci95().lower(),
                                                          direct.ci95().upper());
      break;
    case v1::DirectEffect::UNCERTAINTY_NOT_SET:
      return absl::FailedPreconditionError("the effect has no variance, SE or CI");
  }
  return Effect{direct.effect(), variance};
}

absl::StatusOr<Effect> RawEffect(const v1::Outcome& outcome, v1::EffectMeasure measure) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous: {
      const auto& s = outcome.two_group_continuous();
      analysis::GroupSummary treatment{s.treatment_mean(), s.treatment_sd(), s.treatment_n()};
      analysis::GroupSummary control{s.control_mean(), s.control_sd(), s.control_n()};
      switch (measure) {
        case v1::EFFECT_MEASURE_SMD:
          return analysis::StandardizedMeanDifference(treatment, control);
        case v1::EFFECT_MEASURE_MD:
          return analysis::MeanDifference(treatment, control);
        case v1::EFFECT_MEASURE_OR: {
          LEERLUS_ASSIGN_OR_RETURN(Effect smd,
                                   analysis::StandardizedMeanDifference(treatment, control));
          return analysis::SmdToLogOddsRatio(smd);
        }
        default:
          return NotExpressible("two-group means", measure);
      }
    }
    case v1::Outcome::kTwoGroupCounts: {
      const auto& s = outcome.two_group_counts();
      analysis::GroupCounts treatment{s.treatment_events(), s.treatment_total()};
      analysis::GroupCounts control{s.control_events(), s.control_total()};
      switch (measure) {
        case v1::EFFECT_MEASURE_OR:
          return analysis::LogOddsRatio(treatment, control);
        case v1::EFFECT_MEASURE_RR:
          return analysis::LogRiskRatio(treatment, control);
        case v1::EFFECT_MEASURE_RD:
          return analysis::RiskDifference(treatment, control);
        case v1::EFFECT_MEASURE_SMD: {
          LEERLUS_ASSIGN_OR_RETURN(Effect log_or, analysis::LogOddsRatio(treatment, control));
          return analysis::LogOddsRatioToSmd(log_or);
        }
        default:
          return NotExpressible("two-group counts", measure);
      }
    }
    case v1::Outcome::kPrePost: {
      const auto& s = outcome.pre_post();
      if (measure != v1::EFFECT_MEASURE_SMCC) {
        return NotExpressible("a one-group pre/post change", measure);
      }
      return analysis::StandardizedMeanChange({s.pre_mean(), s.pre_sd(), s.n()},
                                              {s.post_mean(), s.post_sd(), s.n()},
                                              s.pre_post_correlation());
    }
    case v1::Outcome::kDirectEffect: {
      const auto& direct = outcome.direct_effect();
      LEERLUS_ASSIGN_OR_RETURN(Effect effect, DirectEffect(direct));
      const std::string wanted =
          v1::EffectMeasure_Name(measure).substr(std::string("EFFECT_MEASURE_").size());
      if (direct.measure() == wanted) return effect;
      if (direct.measure() == "OR" && measure == v1::EFFECT_MEASURE_SMD) {
        return analysis::LogOddsRatioToSmd(effect);
      }
      if (direct.measure() == "SMD" && measure == v1::EFFECT_MEASURE_OR) {
        return analysis::SmdToLogOddsRatio(effect);
      }
      return NotExpressible(absl::StrCat("an effect given as ", direct.measure()), measure);
    }
    case v1::Outcome::STATISTICS_NOT_SET:
      break;
  }
  return absl::FailedPreconditionError("the outcome has no statistics");
}

analysis::Method MethodOf(v1::PoolingModel model) {
  switch (model) {
    case v1::POOLING_MODEL_FE: return analysis::Method::kFixed;
    case v1::POOLING_MODEL_DL: return analysis::Method::kDerSimonianLaird;
    default: return analysis::Method::kReml;
  }
}

}  // namespace

absl::StatusOr<Effect> OutcomeEffect(const v1::Outcome& outcome, v1::EffectMeasure measure,
                                     bool lower_is_better) {
  LEERLUS_ASSIGN_OR_RETURN(Effect effect, RawEffect(outcome, measure));
  if (!std::isfinite(effect.value) || !(effect.variance > 0) || !std::isfinite(effect.variance)) {
    return absl::FailedPreconditionError("the effect or its variance is not a usable number");
  }
  return analysis::Orient(effect, lower_is_better);
}

int64_t OutcomeParticipants(const v1::Outcome& outcome) {
  switch (outcome.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous:
      return outcome.two_group_continuous().treatment_n() + outcome.two_group_continuous().control_n();
    case v1::Outcome::kTwoGroupCounts:
      return outcome.two_group_counts().treatment_total() +
             outcome.two_group_counts().control_total();
    case v1::Outcome::kPrePost:
      return outcome.pre_post().n();
    case v1::Outcome::kDirectEffect:
      return outcome.direct_effect().total_n();
    default:
      return 0;
  }
}

absl::StatusOr<v1::WhatWorksResponse> Insights::WhatWorks(const v1::WhatWorksRequest& request) {
  FieldViolations violations;
  CheckId(violations, "indicator_id", request.indicator_id());
  for (int i = 0; i < request.work_method_ids_size(); ++i) {
    CheckId(violations, absl::StrCat("work_method_ids[", i, "]"), request.work_method_ids(i));
  }
  if (!v1::EffectMeasure_IsValid(request.measure())) {
    violations.Add("measure", "is not a known effect measure");
  }
  if (!v1::PoolingModel_IsValid(request.model())) {
    violations.Add("model", "must be REML, DL or FE");
  }
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  LEERLUS_ASSIGN_OR_RETURN(ExperimentFilter filter, ExperimentFilter::Parse(request.filter()));
  const v1::EffectMeasure measure =
      request.measure() == v1::EFFECT_MEASURE_UNSPECIFIED ? v1::EFFECT_MEASURE_SMD : request.measure();
  const v1::PoolingModel model =
      request.model() == v1::POOLING_MODEL_UNSPECIFIED ? v1::POOLING_MODEL_REML : request.model();

  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Indicator> indicator,
      storage::GetMessage<v1::Indicator>(
          *view, storage::ColumnFamily::kCatalog,
          storage::CatalogKey(storage::CatalogKind::kIndicator, request.indicator_id())));
  if (!indicator.has_value()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat("indicator '", request.indicator_id(),
                                                          "' does not exist")),
                         "NOT_FOUND", {{"field", "indicator_id"}});
  }
  const bool lower_is_better = indicator->better_direction() == v1::BETTER_DIRECTION_LOWER;
  const std::set<std::string> wanted(request.work_method_ids().begin(),
                                     request.work_method_ids().end());

  // The analysis view holds the indicator's live outcomes grouped by method.
  struct Row {
    v1::Outcome outcome;
    std::string experiment_id;
  };
  std::map<std::string, std::vector<Row>> rows_by_method;
  absl::Status problem;
  const std::string prefix = storage::AnalysisIndicatorPrefix(request.indicator_id());
  LEERLUS_RETURN_IF_ERROR(view->Scan(
      storage::ColumnFamily::kAnalysis, prefix, "",
      [&](absl::string_view key, absl::string_view value) {
        absl::string_view rest = key.substr(prefix.size());
        const size_t end_of_method = rest.find('\0');
        const size_t end_of_experiment = rest.find('\0', end_of_method + 1);
        std::string method(rest.substr(0, end_of_method));
        if (!wanted.empty() && wanted.count(method) == 0) return true;
        Row row;
        row.experiment_id =
            std::string(rest.substr(end_of_method + 1, end_of_experiment - end_of_method - 1));
        if (!row.outcome.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          problem = absl::DataLossError("cannot parse an outcome in the analysis view");
          return false;
        }
        rows_by_method[method].push_back(std::move(row));
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  for (const std::string& method : wanted) rows_by_method[method];  // Asked for: always answered.

  v1::WhatWorksResponse response;
  response.set_indicator_id(request.indicator_id());
  response.set_read_position(view->head_position());
  std::map<std::string, std::optional<v1::Experiment>> experiments;
  for (auto& [method_id, rows] : rows_by_method) {
    v1::MethodResult* result = response.add_methods();
    result->set_work_method_id(method_id);
    LEERLUS_ASSIGN_OR_RETURN(
        std::optional<v1::WorkMethod> method,
        storage::GetMessage<v1::WorkMethod>(
            *view, storage::ColumnFamily::kCatalog,
            storage::CatalogKey(storage::CatalogKind::kWorkMethod, method_id)));
    if (method.has_value()) result->set_work_method_name(method->display_name());

    std::vector<double> effects, variances;
    for (const Row& row : rows) {
      auto [it, inserted] = experiments.try_emplace(row.experiment_id);
      if (inserted) {
        LEERLUS_ASSIGN_OR_RETURN(it->second, storage::GetMessage<v1::Experiment>(
                                                 *view, storage::ColumnFamily::kExperiments,
                                                 storage::ExperimentKey(row.experiment_id)));
      }
      if (!it->second.has_value()) {
        return absl::DataLossError(absl::StrCat("analysis row of unknown experiment '",
                                                row.experiment_id, "'"));
      }
      const v1::Experiment& experiment = *it->second;
      LEERLUS_ASSIGN_OR_RETURN(bool matched, filter.Matches(experiment));
      if (!matched) continue;
      absl::StatusOr<Effect> effect = OutcomeEffect(row.outcome, measure, lower_is_better);
      if (!effect.ok()) {
        v1::ExcludedOutcome* excluded = result->add_excluded();
        excluded->set_experiment_id(row.experiment_id);
        excluded->set_outcome_id(row.outcome.id());
        excluded->set_reason(std::string(effect.status().message()));
        continue;
      }
      v1::StudyEffect* study = result->add_studies();
      study->set_experiment_id(row.experiment_id);
      study->set_title(experiment.title());
      study->set_outcome_id(row.outcome.id());
      study->set_area_code(experiment.area().code());
      study->set_design(row.outcome.design());
      study->set_effect(effect->value);
      study->set_variance(effect->variance);
      const double half_width = analysis::NormalCritical95() * std::sqrt(effect->variance);
      study->set_ci_lower(effect->value - half_width);
      study->set_ci_upper(effect->value + half_width);
      study->set_participants(OutcomeParticipants(row.outcome));
      effects.push_back(effect->value);
      variances.push_back(effect->variance);
    }
    if (effects.empty()) {
      result->set_not_pooled_reason(
          result->excluded_size() == 0
              ? "no outcomes for this indicator"
              : absl::StrCat("all ", result->excluded_size(), " outcomes left out (",
                             result->excluded(0).reason(), ")"));
      continue;
    }
    analysis::FitOptions options;
    options.method = MethodOf(model);
    options.knapp_hartung = request.knapp_hartung() && effects.size() > 1;
    absl::StatusOr<analysis::FitResult> fit = analysis::FitPooled(effects, variances, options);
    if (!fit.ok()) {
      result->set_not_pooled_reason(std::string(fit.status().message()));
      continue;
    }
    for (int i = 0; i < result->studies_size(); ++i) {
      result->mutable_studies(i)->set_weight_percent(fit->weights_percent[i]);
    }
    const analysis::Coefficient& pooled = fit->coefficients[0];
    const analysis::Prediction prediction = fit->Predict({});
    v1::PooledResult* out = result->mutable_pooled();
    out->set_estimate(pooled.estimate);
    out->set_se(pooled.se);
    out->set_statistic(pooled.statistic);
    out->set_p_value(pooled.p_value);
    out->set_ci_lower(pooled.ci_lower);
    out->set_ci_upper(pooled.ci_upper);
    if (model != v1::POOLING_MODEL_FE) {
      out->set_pi_lower(prediction.pi_lower);
      out->set_pi_upper(prediction.pi_upper);
      out->set_tau2_se(std::isfinite(fit->se_tau2) ? fit->se_tau2 : 0);
    }
    out->set_tau2(fit->tau2);
    out->set_i2(fit->i2);
    out->set_h2(std::isfinite(fit->h2) ? fit->h2 : 0);
    out->set_q(fit->qe);
    out->set_q_pvalue(std::isfinite(fit->qe_p) ? fit->qe_p : 1);
    out->set_k(fit->k);
    out->set_model(model);
    out->set_measure(measure);
    out->set_knapp_hartung(options.knapp_hartung);
  }
  return response;
}

}  // namespace leerlus::core
