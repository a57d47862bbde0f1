// The report's words in English and Dutch, and its numbers as a reader of
// that language writes them. Shared by the report's HTML and its plots;
// internal to leerlus_report.
#ifndef LEERLUS_CLIENT_REPORT_LABELS_H_
#define LEERLUS_CLIENT_REPORT_LABELS_H_

#include <cstdint>
#include <string>

#include "client/report/report.h"

namespace leerlus::client::report_internal {

// Every word the report prints, in one language. Texts the server writes
// (grade reasons, "why not" reasons) stay in the server's English.
struct Labels {
  const char* html_lang;
  char decimal;
  const char* title;  // %s: the indicator's name
  const char* higher_better;
  const char* lower_better;
  const char* higher;
  const char* lower;
  const char* unit;
  const char* reflects;  // %s: position
  const char* appended_at;
  const char* made_at;
  const char* reproduce;
  const char* summary;
  const char* method;
  const char* experiments_pooled;
  const char* effect_ci;
  const char* prediction;
  const char* grade;
  const char* cost;
  const char* experiment;
  const char* area_design;
  const char* weight;
  const char* pooled;  // %s: model, %d: k
  const char* axis;    // %s: measure
  const char* worse;
  const char* better;
  const char* not_pooled;
  const char* no_outcomes;
  const char* conditions;
  const char* differs;  // %s: condition
  const char* no_diff;  // %s: condition
  const char* adjusted_p;
  const char* explains;  // %s: percent
  const char* not_tested;
  const char* level;
  const char* coefficient;
  const char* hypotheses;
  const char* hypothesis;
  const char* pre_registered;
  const char* verdict;
  const char* measured;
  const char* why;
  const char* yes;
  const char* no;
  const char* no_hypotheses;
  const char* lessons;
  const char* no_lessons;
  const char* iterations;
  const char* no_iterations;
  const char* no_outcome;
  const char* change_vs_previous;
  const char* changes;  // %s: since
  const char* no_changes;
  const char* before;
  const char* after;
  const char* change;
  const char* new_experiments;
  const char* nothing;
  const char* about;  // %s measure, %s better-direction phrase, %s model
  const char* supported;
  const char* refuted;
  const char* inconclusive;
  const char* not_measured;
  const char* too_small_to_matter;
  const char* certainty_very_low;
  const char* certainty_low;
  const char* certainty_moderate;
  const char* certainty_high;
  const char* certainty_note;
  const char* scale_up;
  const char* adapt;
  const char* stop;
  const char* designed;
  const char* running;
  const char* evaluating;
  const char* concluded;
  const char* withdrawn;
  const char* rct;
  const char* quasi;
  const char* pre_post;
  // The signed checkpoint under the report, and how to check it later.
  const char* checkpoint;  // %s: tree size
  const char* check_with;
  const char* post_only;
};

const Labels& LabelsFor(ReportLanguage language);

// Fills the one %s of a label (and turns its %% escapes into %).
std::string Printf(const char* format, const std::string& value);

// The effect measure in words ("standardised mean differences (Hedges' g)").
std::string MeasureName(v1::EffectMeasure measure, ReportLanguage language);
// The effect measure as an axis names it ("SMD", "log RR").
std::string MeasureShort(v1::EffectMeasure measure);
// "REML", "DerSimonian-Laird + Hartung-Knapp", ...
std::string ModelName(const v1::PooledResult& pooled);

// Enum values in the report's language ("" where it shows nothing).
const char* CertaintyName(v1::Certainty certainty, const Labels& l);
const char* DesignName(v1::StudyDesign design, const Labels& l);
const char* VerdictName(v1::Verdict verdict, const Labels& l);
const char* DecisionName(v1::Decision decision, const Labels& l);
const char* StatusName(v1::ExperimentStatus status, const Labels& l);

// A number with `digits` decimals and the language's decimal separator.
std::string Num(double value, int digits, const Labels& l);
// "0.312 [0.105, 0.519]".
std::string EffectWithCi(double estimate, double lower, double upper, const Labels& l);
// "p = 0.003", "p < 0.001".
std::string PText(double p, const Labels& l);
// Euro cents as whole euros, after the euro sign and a no-break space.
std::string Euros(int64_t cents, const Labels& l);

// A condition without its "context." prefix.
std::string ConditionName(const std::string& condition);
// An id for HTML anchors and file names: letters, digits, '-' and '_'.
std::string Slug(const std::string& id);
// The indicator's name (its id when it has none).
std::string IndicatorName(const ReportData& data);

}  // namespace leerlus::client::report_internal

#endif  // LEERLUS_CLIENT_REPORT_LABELS_H_
