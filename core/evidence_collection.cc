#include "core/evidence_collection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "core/effects.h"
#include "core/insights.h"
#include "core/model/read_model.h"
#include "core/validation.h"

namespace leerlus::core {
namespace {

using analysis::Effect;

// One row of the analysis view, as stored.
struct AnalysisRow {
  std::string method;
  std::string experiment_id;
  v1::Outcome outcome;
};

// The indicator's analysis rows of the question's methods.
absl::StatusOr<std::vector<AnalysisRow>> ReadAnalysisRows(storage::ProjectionReader& view,
                                                          const Question& question) {
  std::vector<AnalysisRow> raw;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(model::ScanAnalysisRows(
      view, question.indicator_id,
      [&](const model::AnalysisKeyParts& key, absl::string_view value) {
        AnalysisRow row;
        row.method = key.work_method_id;
        if (!question.methods.empty() && question.methods.count(row.method) == 0) return true;
        row.experiment_id = key.experiment_id;
        if (!row.outcome.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          problem = absl::DataLossError("cannot parse an outcome in the analysis view");
          return false;
        }
        raw.push_back(std::move(row));
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return raw;
}

// The experiment an analysis row belongs to, read once into `experiments`.
absl::StatusOr<const v1::Experiment*> ExperimentOf(
    storage::ProjectionReader& view, const std::string& experiment_id,
    std::map<std::string, v1::Experiment>& experiments) {
  auto [it, inserted] = experiments.try_emplace(experiment_id);
  if (inserted) {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                             model::ExperimentRecord(view, experiment_id));
    if (!experiment.has_value()) {
      return absl::DataLossError(
          absl::StrCat("analysis row of unknown experiment '", experiment_id, "'"));
    }
    it->second = std::move(*experiment);
  }
  return &it->second;
}

// The display names of the methods with rows (a method unknown to the
// catalog keeps none).
absl::Status ReadMethodNames(storage::ProjectionReader& view, CollectedEvidence& collected) {
  for (const auto& [method_id, rows] : collected.rows_by_method) {
    LEERLUS_ASSIGN_OR_RETURN(
        std::optional<v1::WorkMethod> method,
        model::FindCatalogEntry<v1::WorkMethod>(view, model::CatalogKind::kWorkMethod, method_id));
    if (method.has_value()) collected.method_names[method_id] = method->display_name();
  }
  return absl::OkStatus();
}

// Every message a read-model scan visits; DATA_LOSS with `parse_error` when
// one does not parse.
template <typename Message>
absl::StatusOr<std::vector<Message>> ParseAll(
    const std::function<absl::Status(const model::RowVisitor&)>& scan,
    absl::string_view parse_error) {
  std::vector<Message> messages;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(scan([&](absl::string_view, absl::string_view value) {
    Message message;
    if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      problem = absl::DataLossError(parse_error);
      return false;
    }
    messages.push_back(std::move(message));
    return true;
  }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return messages;
}

}  // namespace

absl::StatusOr<Question> MakeQuestion(const std::string& indicator_id,
                                      const std::vector<std::string>& methods,
                                      const std::string& filter, const PoolingChoice& pooling,
                                      FieldViolations& violations) {
  CheckId(violations, "indicator_id", indicator_id);
  if (!v1::EffectMeasure_IsValid(pooling.measure))
    violations.Add("measure", "is not a known effect measure");
  if (!v1::PoolingModel_IsValid(pooling.model)) violations.Add("model", "must be REML, DL or FE");
  if (!v1::PoolingTest_IsValid(pooling.test)) violations.Add("test", "must be ADHOC, KNHA or Z");
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  Question question;
  question.indicator_id = indicator_id;
  question.methods.insert(methods.begin(), methods.end());
  LEERLUS_ASSIGN_OR_RETURN(question.filter, ExperimentFilter::Parse(filter));
  question.measure =
      pooling.measure == v1::EFFECT_MEASURE_UNSPECIFIED ? v1::EFFECT_MEASURE_SMD : pooling.measure;
  question.model =
      pooling.model == v1::POOLING_MODEL_UNSPECIFIED ? v1::POOLING_MODEL_REML : pooling.model;
  if (pooling.test != v1::POOLING_TEST_UNSPECIFIED) {
    question.test = pooling.test;
  } else {
    question.test = pooling.knapp_hartung ? v1::POOLING_TEST_KNHA : v1::POOLING_TEST_ADHOC;
  }
  return question;
}

bool PreRegisteredOn(const v1::Experiment& experiment, const std::string& indicator_id) {
  for (const v1::Hypothesis& hypothesis : experiment.hypotheses()) {
    if (hypothesis.pre_registered() && hypothesis.indicator_id() == indicator_id) return true;
  }
  return false;
}

absl::StatusOr<CollectedEvidence> CollectEvidence(storage::ProjectionReader& view,
                                                  const Question& question) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Indicator> indicator,
                           model::FindCatalogEntry<v1::Indicator>(
                               view, model::CatalogKind::kIndicator, question.indicator_id));
  if (!indicator.has_value()) {
    return WithErrorInfo(
        absl::NotFoundError(absl::StrCat("indicator '", question.indicator_id, "' does not exist")),
        "NOT_FOUND", {{"field", "indicator_id"}});
  }
  const bool lower_is_better = indicator->better_direction() == v1::BETTER_DIRECTION_LOWER;
  CollectedEvidence collected;
  collected.read_position = view.head_position();
  if (collected.read_position > 0) {
    collected.answer_date = absl::FormatTime(
        "%Y-%m-%d", absl::FromUnixSeconds(view.head_time_seconds()), absl::UTCTimeZone());
  }
  for (const std::string& method : question.methods) collected.rows_by_method[method];

  LEERLUS_ASSIGN_OR_RETURN(std::vector<AnalysisRow> raw, ReadAnalysisRows(view, question));
  for (AnalysisRow& row : raw) {
    LEERLUS_ASSIGN_OR_RETURN(const v1::Experiment* experiment,
                             ExperimentOf(view, row.experiment_id, collected.experiments));
    LEERLUS_ASSIGN_OR_RETURN(bool matched, question.filter.Matches(*experiment));
    if (!matched) continue;
    if (question.preregistered_only && !PreRegisteredOn(*experiment, question.indicator_id))
      continue;
    absl::StatusOr<Effect> effect = OutcomeEffect(row.outcome, question.measure, lower_is_better);
    if (!effect.ok()) {
      v1::ExcludedOutcome excluded;
      excluded.set_experiment_id(row.experiment_id);
      excluded.set_outcome_id(row.outcome.id());
      excluded.set_reason(std::string(effect.status().message()));
      collected.excluded_by_method[row.method].push_back(std::move(excluded));
      collected.rows_by_method[row.method];
      continue;
    }
    collected.rows_by_method[row.method].push_back(
        EffectRow{experiment, std::move(row.outcome), *effect});
  }
  LEERLUS_RETURN_IF_ERROR(ReadMethodNames(view, collected));
  return collected;
}

absl::StatusOr<std::vector<std::string>> ReadIndicatorIds(storage::ProjectionReader& view) {
  std::vector<std::string> indicators;
  LEERLUS_RETURN_IF_ERROR(model::ScanCatalog(
      view, model::CatalogKind::kIndicator, "", [&](absl::string_view key, absl::string_view) {
        indicators.emplace_back(model::CatalogIdOfKey(model::CatalogKind::kIndicator, key));
        return true;
      }));
  return indicators;
}

absl::StatusOr<std::vector<v1::Indicator>> ReadIndicators(storage::ProjectionReader& view) {
  return ParseAll<v1::Indicator>(
      [&](const model::RowVisitor& visit) {
        return model::ScanCatalog(view, model::CatalogKind::kIndicator, "", visit);
      },
      "cannot parse an indicator");
}

absl::StatusOr<std::vector<v1::Experiment>> ReadExperiments(storage::ProjectionReader& view) {
  return ParseAll<v1::Experiment>(
      [&](const model::RowVisitor& visit) { return model::ScanExperimentRecords(view, visit); },
      "cannot parse an experiment");
}

absl::StatusOr<std::optional<v1::Outcome>> ReadLatestOutcome(storage::ProjectionReader& view,
                                                             const std::string& indicator_id,
                                                             const v1::Experiment& experiment) {
  return model::AnalysisRow(view, indicator_id, experiment.work_method_id(), experiment.id());
}

absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> Insights::OpenSnapshot(
    uint64_t as_of_position, const std::string& as_of_date, absl::Time deadline) {
  if (as_of_position != 0 && !as_of_date.empty()) {
    return FieldError("as_of_date", "give as_of_position or as_of_date, not both");
  }
  uint64_t position = as_of_position;
  if (!as_of_date.empty()) {
    if (!IsValidDate(as_of_date)) return FieldError("as_of_date", "is not a date YYYY-MM-DD");
    LEERLUS_ASSIGN_OR_RETURN(position, store_->PositionAtEndOfDate(as_of_date));
    if (position == 0) {
      return FieldError("as_of_date",
                        absl::StrCat("the log holds nothing on or before ", as_of_date));
    }
  }
  // The head, or a head of moments ago, needs no replay: a report asks all
  // its questions as of the position of its first answer.
  if (std::unique_ptr<storage::ProjectionReader> recent = store_->OpenRecentView(position)) {
    return recent;
  }
  absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> past =
      store_->ProjectAsOf(position, deadline);
  if (absl::IsInvalidArgument(past.status())) {
    return FieldError("as_of_position", std::string(past.status().message()));
  }
  return past;
}

}  // namespace leerlus::core
