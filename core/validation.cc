#include "core/validation.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"

namespace leerlus::core {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsDigits(absl::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

std::string Field(const std::string& prefix, absl::string_view name) {
  return prefix.empty() ? std::string(name) : absl::StrCat(prefix, ".", name);
}

void CheckPositive(FieldViolations& v, const std::string& field, double value) {
  if (!std::isfinite(value)) {
    v.Add(field, "must be a finite number");
  } else if (value <= 0) {
    v.Add(field, "must be greater than 0");
  }
}

// An SD: positive, at most kMaxMagnitude, and not implausibly small next to
// the means it goes with (an SD of 1e-300 would make any difference
// infinitely precise).
void CheckSd(FieldViolations& v, const std::string& field, double sd,
             std::initializer_list<double> means) {
  CheckPositive(v, field, sd);
  if (!std::isfinite(sd) || sd <= 0) return;
  double scale = 1;
  for (double mean : means) {
    if (std::isfinite(mean)) scale = std::max(scale, std::abs(mean));
  }
  if (sd > kMaxMagnitude) {
    v.Add(field, "must be at most 1e12");
  } else if (sd < kMinRelativeSd * scale) {
    v.Add(field, absl::StrCat("is implausibly small next to the means (at least ",
                              kMinRelativeSd * scale, ")"));
  }
}

// A group size or total: `min` .. kMaxParticipants.
void CheckCount(FieldViolations& v, const std::string& field, int64_t count, int64_t min) {
  if (count < min) {
    v.Add(field, min == 0 ? "must not be negative" : absl::StrCat("must be at least ", min));
  } else if (count > kMaxParticipants) {
    v.Add(field, "must be at most 100,000,000");
  }
}

// A variance (or a squared SE or interval half-width) in its domain.
void CheckVariance(FieldViolations& v, const std::string& field, double variance,
                   absl::string_view what) {
  if (!std::isfinite(variance) || variance < kMinVariance || variance > kMaxVariance) {
    v.Add(field, absl::StrCat("gives a variance of ", variance, "; ", what,
                              " must give one between 1e-12 and 1e12"));
  }
}

}  // namespace

bool IsValidId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength || !IsLowerAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsValidAttributeName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxIdLength || name[0] < 'a' || name[0] > 'z') {
    return false;
  }
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '_') return false;
  }
  return true;
}

bool ParseAreaCode(absl::string_view code, v1::AreaLevel* level) {
  struct Form {
    absl::string_view prefix;
    size_t digits;
    v1::AreaLevel level;
  };
  static constexpr Form kForms[] = {
      {"PV", 2, v1::AREA_LEVEL_PROVINCE},
      {"GM", 4, v1::AREA_LEVEL_MUNICIPALITY},
      {"WK", 6, v1::AREA_LEVEL_DISTRICT},
      {"BU", 8, v1::AREA_LEVEL_NEIGHBOURHOOD},
  };
  for (const Form& form : kForms) {
    absl::string_view rest = code;
    if (absl::ConsumePrefix(&rest, form.prefix) && rest.size() == form.digits && IsDigits(rest)) {
      if (level != nullptr) *level = form.level;
      return true;
    }
  }
  return false;
}

bool IsValidDate(absl::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  if (!IsDigits(date.substr(0, 4)) || !IsDigits(date.substr(5, 2)) ||
      !IsDigits(date.substr(8, 2))) {
    return false;
  }
  absl::CivilDay day;
  if (!absl::ParseCivilTime(date, &day)) return false;
  // ParseCivilTime normalises 2024-02-30 to March; a real date round-trips.
  return absl::FormatCivilTime(day) == date;
}

void CheckId(FieldViolations& v, const std::string& field, absl::string_view id) {
  if (id.empty()) {
    v.Add(field, "is required");
  } else if (!IsValidId(id)) {
    v.Add(field, absl::StrCat("'", absl::CHexEscape(id.substr(0, 80)),
                              "' is not a valid id: use 1-63 characters a-z, 0-9 and "
                              "'-', starting with a letter or digit"));
  }
}

void CheckRequestId(FieldViolations& v, absl::string_view request_id) {
  if (request_id.empty()) {
    v.Add("request_id", "is required (a unique id per change, e.g. a UUID)");
    return;
  }
  if (request_id.size() > kMaxRequestIdLength) {
    v.Add("request_id", absl::StrCat("must be at most ", kMaxRequestIdLength, " characters"));
    return;
  }
  for (char c : request_id) {
    if (c < 0x21 || c > 0x7e) {
      v.Add("request_id", "must be printable ASCII without spaces");
      return;
    }
  }
}

namespace {

// C0 controls other than tab, line feed and carriage return, and DEL.
bool HasControlCharacter(absl::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && c != '\t' && c != '\n' && c != '\r') || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace

void CheckText(FieldViolations& v, const std::string& field, absl::string_view text,
               size_t min_length, size_t max_length) {
  int64_t length = Utf8Length(text);
  if (length < 0) {
    v.Add(field, "is not valid UTF-8");
  } else if (HasControlCharacter(text)) {
    v.Add(field, "must not contain control characters (tab and line breaks are allowed)");
  } else if (static_cast<size_t>(length) < min_length) {
    v.Add(field, min_length == 1 ? "is required"
                                 : absl::StrCat("must be at least ", min_length, " characters"));
  } else if (static_cast<size_t>(length) > max_length) {
    v.Add(field, absl::StrCat("must be at most ", max_length, " characters (has ", length, ")"));
  }
}

std::optional<v1::EffectMeasure> DirectEffectMeasure(const v1::DirectEffect& effect,
                                                     FieldViolations& v,
                                                     const std::string& prefix) {
  static const char kNames[] = "must be one of SMD, MD, RR, OR, RD, SMCC";
  std::optional<v1::EffectMeasure> from_text;
  if (!effect.measure().empty()) {
    v1::EffectMeasure parsed;
    if (!v1::EffectMeasure_Parse(
            absl::StrCat("EFFECT_MEASURE_", absl::AsciiStrToUpper(effect.measure())), &parsed) ||
        parsed == v1::EFFECT_MEASURE_UNSPECIFIED) {
      v.Add(Field(prefix, "measure"), kNames);
      return std::nullopt;
    }
    from_text = parsed;
  }
  const v1::EffectMeasure given = effect.effect_measure();
  if (given == v1::EFFECT_MEASURE_UNSPECIFIED) {
    if (!from_text.has_value())
      v.Add(Field(prefix, "effect_measure"), absl::StrCat("is required; ", kNames));
    return from_text;
  }
  if (!v1::EffectMeasure_IsValid(given)) {
    v.Add(Field(prefix, "effect_measure"), kNames);
    return std::nullopt;
  }
  if (from_text.has_value() && *from_text != given) {
    v.Add(Field(prefix, "measure"), "disagrees with effect_measure; give one of them");
    return std::nullopt;
  }
  return given;
}

void CanonicaliseDirectEffect(v1::DirectEffect& effect) {
  FieldViolations ignored;
  std::optional<v1::EffectMeasure> measure = DirectEffectMeasure(effect, ignored, "");
  if (!measure.has_value()) return;
  effect.set_effect_measure(*measure);
  // The short name analyses and older readers use.
  effect.set_measure(
      v1::EffectMeasure_Name(*measure).substr(std::string("EFFECT_MEASURE_").size()));
}

void CheckLine(FieldViolations& v, const std::string& field, absl::string_view text,
               size_t min_length, size_t max_length) {
  FieldViolations own;
  CheckText(own, field, text, min_length, max_length);
  if (!own.empty()) {
    CheckText(v, field, text, min_length, max_length);
    return;
  }
  bool spoofing = false;
  DecodeUtf8(text, [&](uint32_t code) {
    spoofing = code == '\t' || code == '\n' || code == '\r' || IsInvisibleOrReordering(code);
    return !spoofing;
  });
  if (spoofing) {
    v.Add(field,
          "must be one line without tabs, line breaks, C1 controls, bidirectional overrides or "
          "invisible characters");
  }
}

void CheckDate(FieldViolations& v, const std::string& field, absl::string_view date,
               bool required) {
  if (date.empty()) {
    if (required) v.Add(field, "is required (YYYY-MM-DD)");
  } else if (!IsValidDate(date)) {
    v.Add(field, absl::StrCat("'", absl::CHexEscape(date.substr(0, 40)),
                              "' is not a calendar date YYYY-MM-DD"));
  }
}

void CheckFinite(FieldViolations& v, const std::string& field, double value) {
  if (!std::isfinite(value) || std::abs(value) > kMaxMagnitude) {
    v.Add(field, "must be a finite number of magnitude at most 1e12");
  }
}

void CheckDateRange(FieldViolations& v, const std::string& field, absl::string_view date,
                    absl::string_view latest) {
  if (!IsValidDate(date)) return;  // CheckDate says why.
  if (date < kEarliestDate) {
    v.Add(field, absl::StrCat("must not be before ", kEarliestDate));
  } else if (date > latest) {
    v.Add(field, absl::StrCat("must not be after ", latest));
  }
}

void CheckBudget(FieldViolations& v, const std::string& field, int64_t cents) {
  if (cents < 0) {
    v.Add(field, "must not be negative");
  } else if (cents > kMaxBudgetCents) {
    v.Add(field, "must be at most 10,000,000,000,000 cents (EUR 100 billion)");
  }
}

void CheckPlannedDate(FieldViolations& v, const std::string& field, absl::string_view date) {
  CheckDate(v, field, date, false);
  CheckDateRange(v, field, date, kLatestPlannedDate);
}

std::string TomorrowUtc() {
  return absl::FormatCivilTime(
      absl::ToCivilDay(absl::Now() + absl::Hours(24), absl::UTCTimeZone()));
}

void CheckAttributes(FieldViolations& v, const std::string& field,
                     const google::protobuf::Map<std::string, v1::AttributeValue>& attributes) {
  if (attributes.size() > kMaxAttributes) {
    v.Add(field, absl::StrCat("has ", attributes.size(), " attributes; at most ", kMaxAttributes,
                              " are allowed"));
    return;
  }
  for (const auto& [name, value] : attributes) {
    if (!IsValidAttributeName(name)) {
      v.Add(absl::StrCat(field, "[", absl::CHexEscape(name.substr(0, 80)), "]"),
            "attribute names use 1-63 characters a-z, 0-9 and '_', starting with a letter");
      continue;
    }
    const std::string item = absl::StrCat(field, ".", name);
    switch (value.kind_case()) {
      case v1::AttributeValue::kNumberValue:
        CheckFinite(v, item, value.number_value());
        break;
      case v1::AttributeValue::kTextValue:
        CheckText(v, item, value.text_value(), 0, kMaxAttributeTextLength);
        break;
      case v1::AttributeValue::kBoolValue:
        break;
      case v1::AttributeValue::KIND_NOT_SET:
        v.Add(item, "has no value: set a number, text or boolean");
        break;
    }
  }
}

void CheckIdList(FieldViolations& v, const std::string& field,
                 const google::protobuf::RepeatedPtrField<std::string>& ids) {
  if (static_cast<size_t>(ids.size()) > kMaxListItems) {
    v.Add(field, absl::StrCat("has ", ids.size(), " items; at most ", kMaxListItems));
    return;
  }
  std::set<std::string> seen;
  for (int i = 0; i < ids.size(); ++i) {
    const std::string item = absl::StrCat(field, "[", i, "]");
    CheckId(v, item, ids[i]);
    if (!seen.insert(ids[i]).second) v.Add(item, absl::StrCat("'", ids[i], "' is repeated"));
  }
}

int32_t CheckPageSize(FieldViolations& v, int32_t page_size) {
  if (page_size < 0) {
    v.Add("page_size", "must not be negative");
    return kDefaultPageSize;
  }
  if (page_size == 0) return kDefaultPageSize;
  return std::min(page_size, kMaxPageSize);
}

void ValidateWorkMethod(FieldViolations& v, const std::string& prefix,
                        const v1::WorkMethod& method) {
  CheckId(v, Field(prefix, "id"), method.id());
  CheckLine(v, Field(prefix, "display_name"), method.display_name(), 1, kMaxNameLength);
  CheckText(v, Field(prefix, "description"), method.description(), 0, kMaxLongTextLength);
}

void ValidateIndicator(FieldViolations& v, const std::string& prefix,
                       const v1::Indicator& indicator) {
  CheckId(v, Field(prefix, "id"), indicator.id());
  CheckLine(v, Field(prefix, "display_name"), indicator.display_name(), 1, kMaxNameLength);
  CheckText(v, Field(prefix, "description"), indicator.description(), 0, kMaxLongTextLength);
  CheckLine(v, Field(prefix, "unit"), indicator.unit(), 0, kMaxNameLength);
  if (indicator.better_direction() == v1::BETTER_DIRECTION_UNSPECIFIED ||
      !v1::BetterDirection_IsValid(indicator.better_direction())) {
    v.Add(Field(prefix, "better_direction"), "must be HIGHER or LOWER");
  }
  if (indicator.domain() == v1::RESOURCE_DOMAIN_UNSPECIFIED ||
      !v1::ResourceDomain_IsValid(indicator.domain())) {
    v.Add(Field(prefix, "domain"), "must be PERSONAL, SOCIAL or ENVIRONMENTAL");
  }
}

void ValidateArea(FieldViolations& v, const std::string& prefix, const v1::Area& area) {
  if (area.code().empty()) {
    v.Add(Field(prefix, "code"), "is required");
  } else if (!ParseAreaCode(area.code(), nullptr)) {
    v.Add(Field(prefix, "code"),
          absl::StrCat("'", absl::CHexEscape(area.code().substr(0, 40)),
                       "' is not a CBS code (PVnn, GMnnnn, WKnnnnnn or BUnnnnnnnn)"));
  }
  CheckLine(v, Field(prefix, "display_name"), area.display_name(), 1, kMaxNameLength);
  CheckAttributes(v, Field(prefix, "attributes"), area.attributes());
}

void ValidateNewExperiment(FieldViolations& v, const std::string& prefix, const v1::Experiment& e) {
  CheckId(v, Field(prefix, "id"), e.id());
  if (e.kind() == v1::EXPERIMENT_KIND_UNSPECIFIED || !v1::ExperimentKind_IsValid(e.kind())) {
    v.Add(Field(prefix, "kind"), "must be PROJECT or DEAL");
  }
  CheckLine(v, Field(prefix, "title"), e.title(), 1, kMaxNameLength);
  CheckText(v, Field(prefix, "description"), e.description(), 0, kMaxLongTextLength);
  CheckId(v, Field(prefix, "work_method_id"), e.work_method_id());
  if (e.line() == v1::LINE_UNSPECIFIED || !v1::Line_IsValid(e.line())) {
    v.Add(Field(prefix, "line"), "must be AREA_BASED or CROSSOVER");
  }
  CheckLine(v, Field(prefix, "societal_task"), e.societal_task(), 0, kMaxNameLength);
  if (e.line() == v1::LINE_CROSSOVER && e.societal_task().empty()) {
    v.Add(Field(prefix, "societal_task"), "is required for a CROSSOVER experiment");
  }
  if (e.has_area() && !ParseAreaCode(e.area().code(), nullptr)) {
    v.Add(Field(prefix, "area.code"),
          absl::StrCat("'", absl::CHexEscape(e.area().code().substr(0, 40)),
                       "' is not a CBS code (PVnn, GMnnnn, WKnnnnnn or BUnnnnnnnn)"));
  }
  CheckId(v, Field(prefix, "team_id"), e.team_id());
  CheckIdList(v, Field(prefix, "partner_ids"), e.partner_ids());
  CheckBudget(v, Field(prefix, "budget_cents"), e.budget_cents());
  CheckPlannedDate(v, Field(prefix, "planned_start"), e.planned_start());
  CheckPlannedDate(v, Field(prefix, "planned_end"), e.planned_end());
  if (IsValidDate(e.planned_start()) && IsValidDate(e.planned_end()) &&
      e.planned_end() < e.planned_start()) {
    v.Add(Field(prefix, "planned_end"), "must not be before planned_start");
  }
  CheckAttributes(v, Field(prefix, "context"), e.context());
  if (!e.parent_experiment_id().empty()) {
    CheckId(v, Field(prefix, "parent_experiment_id"), e.parent_experiment_id());
    if (e.parent_experiment_id() == e.id()) {
      v.Add(Field(prefix, "parent_experiment_id"), "an experiment cannot be its own parent");
    }
  }
}

void ValidateHypothesis(FieldViolations& v, const std::string& prefix, const v1::Hypothesis& h) {
  if (!h.id().empty()) CheckId(v, Field(prefix, "id"), h.id());
  CheckText(v, Field(prefix, "statement"), h.statement(), 1, kMaxLongTextLength);
  CheckId(v, Field(prefix, "indicator_id"), h.indicator_id());
  if (h.expected_direction() == v1::EXPECTED_DIRECTION_UNSPECIFIED ||
      !v1::ExpectedDirection_IsValid(h.expected_direction())) {
    v.Add(Field(prefix, "expected_direction"), "must be INCREASE, DECREASE or NO_CHANGE");
  }
  if (!std::isfinite(h.smallest_effect_of_interest()) || h.smallest_effect_of_interest() < 0 ||
      h.smallest_effect_of_interest() > kMaxMagnitude) {
    v.Add(Field(prefix, "smallest_effect_of_interest"), "must be a number from 0 to 1e12");
  }
}

namespace {

// Fifty years: no programme follows its participants longer.
constexpr int32_t kMaxFollowUpMonths = 600;

// The statistics of each shape of outcome, under `p` (the shape's field).

void ValidateTwoGroupContinuous(FieldViolations& v, const std::string& p,
                                const v1::TwoGroupContinuous& s) {
  CheckFinite(v, Field(p, "treatment_mean"), s.treatment_mean());
  CheckFinite(v, Field(p, "control_mean"), s.control_mean());
  CheckSd(v, Field(p, "treatment_sd"), s.treatment_sd(), {s.treatment_mean(), s.control_mean()});
  CheckSd(v, Field(p, "control_sd"), s.control_sd(), {s.treatment_mean(), s.control_mean()});
  CheckCount(v, Field(p, "treatment_n"), s.treatment_n(), 2);
  CheckCount(v, Field(p, "control_n"), s.control_n(), 2);
}

// A group's events: none negative, and no more than its total (`total_name`).
void CheckEvents(FieldViolations& v, const std::string& field, int64_t events, int64_t total,
                 absl::string_view total_name) {
  if (events < 0) {
    v.Add(field, "must not be negative");
  } else if (events > total) {
    v.Add(field, absl::StrCat("must not exceed ", total_name));
  }
}

void ValidateTwoGroupCounts(FieldViolations& v, const std::string& p, const v1::TwoGroupCounts& s) {
  CheckCount(v, Field(p, "treatment_total"), s.treatment_total(), 1);
  CheckCount(v, Field(p, "control_total"), s.control_total(), 1);
  CheckEvents(v, Field(p, "treatment_events"), s.treatment_events(), s.treatment_total(),
              "treatment_total");
  CheckEvents(v, Field(p, "control_events"), s.control_events(), s.control_total(),
              "control_total");
}

void ValidatePrePost(FieldViolations& v, const std::string& p, const v1::PrePost& s) {
  CheckFinite(v, Field(p, "pre_mean"), s.pre_mean());
  CheckFinite(v, Field(p, "post_mean"), s.post_mean());
  CheckSd(v, Field(p, "pre_sd"), s.pre_sd(), {s.pre_mean(), s.post_mean()});
  CheckSd(v, Field(p, "post_sd"), s.post_sd(), {s.pre_mean(), s.post_mean()});
  CheckCount(v, Field(p, "n"), s.n(), 2);
  if (!std::isfinite(s.pre_post_correlation()) || s.pre_post_correlation() < -1 ||
      s.pre_post_correlation() > 1) {
    v.Add(Field(p, "pre_post_correlation"), "must be between -1 and 1");
  }
}

// A direct effect's uncertainty, in whichever form it came: each must give
// a variance the analysis can weigh.
void ValidateUncertainty(FieldViolations& v, const std::string& p, const v1::DirectEffect& s) {
  switch (s.uncertainty_case()) {
    case v1::DirectEffect::kVariance:
      CheckPositive(v, Field(p, "variance"), s.variance());
      CheckVariance(v, Field(p, "variance"), s.variance(), "the variance");
      break;
    case v1::DirectEffect::kStandardError:
      CheckPositive(v, Field(p, "standard_error"), s.standard_error());
      CheckVariance(v, Field(p, "standard_error"), s.standard_error() * s.standard_error(),
                    "the standard error");
      break;
    case v1::DirectEffect::kCi95: {
      CheckFinite(v, Field(p, "ci95.lower"), s.ci95().lower());
      CheckFinite(v, Field(p, "ci95.upper"), s.ci95().upper());
      if (!(s.ci95().upper() > s.ci95().lower())) {
        v.Add(Field(p, "ci95.upper"), "must be greater than ci95.lower");
      } else if (s.effect() < s.ci95().lower() || s.effect() > s.ci95().upper()) {
        v.Add(Field(p, "effect"), "must lie inside ci95");
      }
      const double half_width = (s.ci95().upper() - s.ci95().lower()) / (2 * 1.959964);
      CheckVariance(v, Field(p, "ci95"), half_width * half_width, "the interval");
      break;
    }
    case v1::DirectEffect::UNCERTAINTY_NOT_SET:
      v.Add(Field(p, "variance"), "give the variance, standard_error or ci95");
      break;
  }
}

void ValidateDirectEffect(FieldViolations& v, const std::string& p, const v1::DirectEffect& s) {
  (void)DirectEffectMeasure(s, v, p);
  CheckFinite(v, Field(p, "effect"), s.effect());
  CheckCount(v, Field(p, "total_n"), s.total_n(), 0);
  ValidateUncertainty(v, p, s);
}

}  // namespace

void ValidateOutcome(FieldViolations& v, const std::string& prefix, const v1::Outcome& o) {
  if (!o.id().empty()) CheckId(v, Field(prefix, "id"), o.id());
  CheckId(v, Field(prefix, "indicator_id"), o.indicator_id());
  CheckDate(v, Field(prefix, "measured_on"), o.measured_on(), true);
  // A measurement is of the past: one far in the future would shadow
  // every later outcome of the experiment.
  CheckDateRange(v, Field(prefix, "measured_on"), o.measured_on(), TomorrowUtc());
  if (o.design() == v1::STUDY_DESIGN_UNSPECIFIED || !v1::StudyDesign_IsValid(o.design())) {
    v.Add(Field(prefix, "design"), "must be RCT, QUASI_EXPERIMENTAL, PRE_POST or POST_ONLY");
  }
  if (!o.corrects_outcome_id().empty()) {
    CheckId(v, Field(prefix, "corrects_outcome_id"), o.corrects_outcome_id());
  }
  if (!v1::RiskOfBias_IsValid(o.risk_of_bias())) {
    v.Add(Field(prefix, "risk_of_bias"), "must be LOW, SOME_CONCERNS or HIGH");
  }
  if (o.follow_up_months() < 0 || o.follow_up_months() > kMaxFollowUpMonths) {
    v.Add(Field(prefix, "follow_up_months"),
          absl::StrCat("must be 0 .. ", kMaxFollowUpMonths, " (0: not stated)"));
  }
  switch (o.statistics_case()) {
    case v1::Outcome::kTwoGroupContinuous:
      ValidateTwoGroupContinuous(v, Field(prefix, "two_group_continuous"),
                                 o.two_group_continuous());
      break;
    case v1::Outcome::kTwoGroupCounts:
      ValidateTwoGroupCounts(v, Field(prefix, "two_group_counts"), o.two_group_counts());
      break;
    case v1::Outcome::kPrePost:
      ValidatePrePost(v, Field(prefix, "pre_post"), o.pre_post());
      break;
    case v1::Outcome::kDirectEffect:
      ValidateDirectEffect(v, Field(prefix, "direct_effect"), o.direct_effect());
      break;
    case v1::Outcome::STATISTICS_NOT_SET:
      v.Add(Field(prefix, "statistics"),
            "give one of two_group_continuous, two_group_counts, pre_post, direct_effect");
      break;
  }
}

void ValidateLesson(FieldViolations& v, const std::string& prefix, const v1::Lesson& lesson) {
  if (!lesson.id().empty()) CheckId(v, Field(prefix, "id"), lesson.id());
  CheckText(v, Field(prefix, "text"), lesson.text(), 1, kMaxLongTextLength);
  CheckIdList(v, Field(prefix, "tags"), lesson.tags());
}

std::string StatusName(v1::ExperimentStatus status) {
  std::string name = v1::ExperimentStatus_Name(status);
  absl::string_view short_name = name;
  absl::ConsumePrefix(&short_name, "EXPERIMENT_STATUS_");
  return std::string(short_name);
}

}  // namespace leerlus::core
