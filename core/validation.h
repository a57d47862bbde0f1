// Field validation shared by every command. Each check appends to a
// FieldViolations list under the field's full path, so one reply names every
// problem of a request at once.
#ifndef LEERLUS_CORE_VALIDATION_H_
#define LEERLUS_CORE_VALIDATION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/errors.h"
#include "common/text.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

// Limits, part of the API (documented in the protos and the README).
inline constexpr size_t kMaxIdLength = 63;
inline constexpr size_t kMaxRequestIdLength = 128;
inline constexpr size_t kMaxNameLength = 200;
inline constexpr size_t kMaxLongTextLength = 10000;
inline constexpr size_t kMaxAttributeTextLength = 1000;
inline constexpr size_t kMaxCertificateSubjectLength = 1000;
inline constexpr size_t kMaxAttributes = 100;
inline constexpr size_t kMaxListItems = 50;
// Numeric domains: finite numbers far beyond what a programme measures are
// refused (naming the field) rather than let one outcome overflow a sum or
// swamp a pooled answer.
// Group sizes, totals and participants: 1 (or 2) .. 100 million.
inline constexpr int64_t kMaxParticipants = 100'000'000;
// Means, effects, interval bounds, numeric attributes: |x| <= 10^12.
inline constexpr double kMaxMagnitude = 1e12;
// An SD at least 10^-6 of the means' scale (max(1, |mean|)).
inline constexpr double kMinRelativeSd = 1e-6;
// A directly given effect's variance in [10^-12, 10^12] (its SE, or the
// half-width of its interval over 1.96, likewise squared).
inline constexpr double kMinVariance = 1e-12;
inline constexpr double kMaxVariance = 1e12;
// Budgets: at most EUR 100 billion.
inline constexpr int64_t kMaxBudgetCents = 10'000'000'000'000;
// Dates: from 1900-01-01; a measurement no later than tomorrow (UTC);
// planned dates up to 2100-12-31.
inline constexpr absl::string_view kEarliestDate = "1900-01-01";
inline constexpr absl::string_view kLatestPlannedDate = "2100-12-31";
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;
inline constexpr size_t kMaxFilterLength = 2000;
inline constexpr int kMaxFilterDepth = 32;

// `[a-z0-9][a-z0-9-]{0,62}`.
bool IsValidId(absl::string_view id);
// `[a-z][a-z0-9_]{0,62}`.
bool IsValidAttributeName(absl::string_view name);
// A CBS region code; sets `level` when valid.
bool ParseAreaCode(absl::string_view code, v1::AreaLevel* level);
// `YYYY-MM-DD`, a real calendar date.
bool IsValidDate(absl::string_view date);

void CheckId(FieldViolations& violations, const std::string& field, absl::string_view id);
void CheckRequestId(FieldViolations& violations, absl::string_view request_id);
// The measure of an effect given directly: `effect_measure`, or the older
// `measure` text in any case; adds violations under `prefix` (and returns
// nothing) when neither is valid or they disagree.
std::optional<v1::EffectMeasure> DirectEffectMeasure(const v1::DirectEffect& effect,
                                                     FieldViolations& violations,
                                                     const std::string& prefix);
// Fills both `effect_measure` and the canonical `measure` text (SMD, ...),
// as the server stores them; a no-op on an invalid measure.
void CanonicaliseDirectEffect(v1::DirectEffect& effect);

// A one-line text (names, titles, units): CheckText, and no tab, line
// break, C1 control, bidirectional override or invisible character, which
// would let the text rewrite the table it is shown in.
void CheckLine(FieldViolations& violations, const std::string& field, absl::string_view text,
               size_t min_length, size_t max_length);
// Valid UTF-8 of min..max code points.
void CheckText(FieldViolations& violations, const std::string& field, absl::string_view text,
               size_t min_length, size_t max_length);
void CheckDate(FieldViolations& violations, const std::string& field, absl::string_view date,
               bool required);
// A finite number of magnitude at most kMaxMagnitude.
void CheckFinite(FieldViolations& violations, const std::string& field, double value);
// A valid date (CheckDate) from kEarliestDate to `latest`.
void CheckDateRange(FieldViolations& violations, const std::string& field, absl::string_view date,
                    absl::string_view latest);
// An optional planned date: valid, kEarliestDate .. kLatestPlannedDate.
void CheckPlannedDate(FieldViolations& violations, const std::string& field,
                      absl::string_view date);
// A budget: 0 .. kMaxBudgetCents.
void CheckBudget(FieldViolations& violations, const std::string& field, int64_t cents);
// Tomorrow's date in UTC: the latest a measurement may be dated.
std::string TomorrowUtc();
void CheckAttributes(FieldViolations& violations, const std::string& field,
                     const google::protobuf::Map<std::string, v1::AttributeValue>& attributes);
// Ids in a repeated field: each valid, no duplicates, at most kMaxListItems.
void CheckIdList(FieldViolations& violations, const std::string& field,
                 const google::protobuf::RepeatedPtrField<std::string>& ids);
// page_size: negative is an error, 0 is the default, larger is coerced.
int32_t CheckPageSize(FieldViolations& violations, int32_t page_size);

// Validation of resources as given by a client (output-only fields are
// ignored). Catalogue and state checks happen when the command is decided.
void ValidateWorkMethod(FieldViolations& violations, const std::string& prefix,
                        const v1::WorkMethod& method);
void ValidateIndicator(FieldViolations& violations, const std::string& prefix,
                       const v1::Indicator& indicator);
void ValidateArea(FieldViolations& violations, const std::string& prefix, const v1::Area& area);
void ValidateNewExperiment(FieldViolations& violations, const std::string& prefix,
                           const v1::Experiment& experiment);
void ValidateHypothesis(FieldViolations& violations, const std::string& prefix,
                        const v1::Hypothesis& hypothesis);
void ValidateOutcome(FieldViolations& violations, const std::string& prefix,
                     const v1::Outcome& outcome);
void ValidateLesson(FieldViolations& violations, const std::string& prefix,
                    const v1::Lesson& lesson);

// Short enum names as users write them ("RUNNING" for
// EXPERIMENT_STATUS_RUNNING).
std::string StatusName(v1::ExperimentStatus status);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_VALIDATION_H_
