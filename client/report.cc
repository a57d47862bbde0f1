#include "client/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/svg_plot.h"
#include "google/protobuf/util/time_util.h"

namespace leerlus::client {
namespace {

// ------------------------------------------------------------------ labels

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
  const char* differs;     // %s: condition
  const char* no_diff;     // %s: condition
  const char* adjusted_p;
  const char* explains;    // %s: percent
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
  const char* post_only;
};

constexpr Labels kEnglish = {
    "en", '.', "What works for %s", "higher is better", "lower is better", "higher", "lower",
    "Unit",
    "Reflects log position %s", "appended", "Made", "Reproduce with", "Summary", "Work method",
    "Experiments", "Effect [95% CI]", "Prediction interval", "Evidence grade",
    "Cost per participant", "Experiment", "Area, design", "Weight", "Pooled (%s, k = %d)",
    "Effect (%s), positive = better", "worse", "better", "No pooled result",
    "No outcome has been recorded on this indicator yet.", "Conditions",
    "differs by %s", "no clear difference by %s", "adjusted p", "explains %s%% of the heterogeneity",
    "Not tested", "Level", "Coefficient", "Hypotheses", "Hypothesis", "Pre-registered", "Verdict",
    "Measured", "Why", "yes", "no", "No hypothesis on this indicator.", "Lessons",
    "No lessons recorded yet.", "Iterations",
    "No experiment of this method has a follow-up yet.", "no outcome yet", "vs. previous",
    "What changed since %s", "Nothing changed for this indicator.", "Before", "After", "Change",
    "New experiments", "none",
    "Effects are %s, oriented so that positive means better (%s). Each method is pooled with "
    "%s; squares are sized by weight, the diamond is the pooled effect with its 95%% confidence "
    "interval, the dashed line the 95%% prediction interval for a new experiment.",
    "supported", "refuted", "inconclusive", "not measured yet", "scale up", "adapt", "stop",
    "designed", "running", "evaluating", "concluded", "withdrawn", "RCT", "quasi-experimental",
    "pre/post", "post only"};

constexpr Labels kDutch = {
    "nl", ',', "Wat werkt voor %s", "hoger is beter", "lager is beter", "hoger", "lager",
    "Eenheid",
    "Stand van logpositie %s", "vastgelegd", "Gemaakt", "Opnieuw maken met", "Samenvatting",
    "Werkwijze", "Experimenten", "Effect [95%-BI]", "Voorspellingsinterval", "Bewijsniveau",
    "Kosten per deelnemer", "Experiment", "Gebied, opzet", "Gewicht", "Gepoold (%s, k = %d)",
    "Effect (%s), positief = beter", "slechter", "beter", "Geen gepoold resultaat",
    "Er is nog geen uitkomst op deze indicator vastgelegd.",
    "Omstandigheden", "verschilt naar %s", "geen duidelijk verschil naar %s", "gecorrigeerde p",
    "verklaart %s%% van de heterogeniteit", "Niet getoetst", "Niveau", "Co\u00ebffici\u00ebnt",
    "Hypothesen", "Hypothese", "Vooraf vastgelegd", "Oordeel", "Gemeten", "Waarom", "ja", "nee",
    "Geen hypothese op deze indicator.", "Lessen", "Nog geen lessen vastgelegd.", "Iteraties",
    "Nog geen experiment van deze werkwijze heeft een vervolg.", "nog geen uitkomst",
    "t.o.v. vorige", "Wat veranderde sinds %s", "Niets veranderd voor deze indicator.", "Voor",
    "Na", "Verschil", "Nieuwe experimenten", "geen",
    "Effecten zijn %s, zo gericht dat positief beter betekent (%s). Elke werkwijze is gepoold "
    "met %s; vierkantjes zijn naar gewicht geschaald, de ruit is het gepoolde effect met zijn "
    "95%%-betrouwbaarheidsinterval, de stippellijn het 95%%-voorspellingsinterval voor een nieuw "
    "experiment.",
    "ondersteund", "weerlegd", "onbeslist", "nog niet gemeten", "opschalen", "bijstellen",
    "stoppen", "ontworpen", "lopend", "in evaluatie", "afgerond", "ingetrokken", "RCT",
    "quasi-experimenteel", "voor-/nameting", "alleen nameting"};

const Labels& LabelsFor(ReportLanguage language) {
  return language == ReportLanguage::kDutch ? kDutch : kEnglish;
}

std::string Printf(const char* format, const std::string& value) {
  // The label formats hold one %s (and %% escapes); see Labels.
  return absl::StrReplaceAll(format, {{"%s", value}, {"%%", "%"}});
}

std::string MeasureName(v1::EffectMeasure measure, ReportLanguage language) {
  const bool nl = language == ReportLanguage::kDutch;
  switch (measure) {
    case v1::EFFECT_MEASURE_MD: return nl ? "gemiddelde verschillen" : "mean differences";
    case v1::EFFECT_MEASURE_RR: return nl ? "log-risicoratio's" : "log risk ratios";
    case v1::EFFECT_MEASURE_OR: return nl ? "log-oddsratio's" : "log odds ratios";
    case v1::EFFECT_MEASURE_RD: return nl ? "risicoverschillen" : "risk differences";
    case v1::EFFECT_MEASURE_SMCC:
      return nl ? "gestandaardiseerde voor-nameting-veranderingen"
                : "standardised mean changes";
    default:
      return nl ? "gestandaardiseerde gemiddelde verschillen (Hedges' g)"
                : "standardised mean differences (Hedges' g)";
  }
}

std::string MeasureShort(v1::EffectMeasure measure) {
  switch (measure) {
    case v1::EFFECT_MEASURE_MD: return "MD";
    case v1::EFFECT_MEASURE_RR: return "log RR";
    case v1::EFFECT_MEASURE_OR: return "log OR";
    case v1::EFFECT_MEASURE_RD: return "RD";
    case v1::EFFECT_MEASURE_SMCC: return "SMCC";
    default: return "SMD";
  }
}

std::string ModelName(v1::PoolingModel model, bool knapp_hartung) {
  std::string name = model == v1::POOLING_MODEL_DL   ? "DerSimonian-Laird"
                     : model == v1::POOLING_MODEL_FE ? "FE"
                                                     : "REML";
  return knapp_hartung ? name + " + Hartung-Knapp" : name;
}

const char* DesignName(v1::StudyDesign design, const Labels& l) {
  switch (design) {
    case v1::STUDY_DESIGN_RCT: return l.rct;
    case v1::STUDY_DESIGN_QUASI_EXPERIMENTAL: return l.quasi;
    case v1::STUDY_DESIGN_PRE_POST: return l.pre_post;
    case v1::STUDY_DESIGN_POST_ONLY: return l.post_only;
    default: return "";
  }
}

const char* VerdictName(v1::Verdict verdict, const Labels& l) {
  switch (verdict) {
    case v1::VERDICT_SUPPORTED: return l.supported;
    case v1::VERDICT_REFUTED: return l.refuted;
    case v1::VERDICT_INCONCLUSIVE: return l.inconclusive;
    default: return l.not_measured;
  }
}

const char* DecisionName(v1::Decision decision, const Labels& l) {
  switch (decision) {
    case v1::DECISION_SCALE_UP: return l.scale_up;
    case v1::DECISION_ADAPT: return l.adapt;
    case v1::DECISION_STOP: return l.stop;
    default: return "";
  }
}

const char* StatusName(v1::ExperimentStatus status, const Labels& l) {
  switch (status) {
    case v1::EXPERIMENT_STATUS_DESIGNED: return l.designed;
    case v1::EXPERIMENT_STATUS_RUNNING: return l.running;
    case v1::EXPERIMENT_STATUS_EVALUATING: return l.evaluating;
    case v1::EXPERIMENT_STATUS_CONCLUDED: return l.concluded;
    case v1::EXPERIMENT_STATUS_WITHDRAWN: return l.withdrawn;
    default: return "";
  }
}

// ----------------------------------------------------------------- numbers

std::string Num(double value, int digits, const Labels& l) {
  return FormatFixed(value, digits, l.decimal);
}

std::string EffectWithCi(double estimate, double lower, double upper, const Labels& l) {
  return absl::StrCat(Num(estimate, 3, l), " [", Num(lower, 3, l), ", ", Num(upper, 3, l), "]");
}

// "p = 0.003", "p < 0.001".
std::string PText(double p, const Labels& l) {
  if (p < 0.001) return absl::StrCat("p < ", Num(0.001, 3, l));
  return absl::StrCat("p = ", Num(p, p < 0.01 ? 3 : 2, l));
}

std::string Euros(int64_t cents, const Labels& l) {
  return absl::StrCat("\u20ac\u00a0", Num(static_cast<double>(cents) / 100, 0, l));
}

std::string ConditionName(const std::string& condition) {
  return absl::StartsWith(condition, "context.") ? condition.substr(8) : condition;
}

std::string H(absl::string_view text) { return XmlEscape(text); }

// An id for HTML anchors and file names: letters, digits, '-' and '_'.
std::string Slug(const std::string& id) {
  std::string slug;
  for (char c : id) {
    slug += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  }
  return slug;
}

// ------------------------------------------------------------------- plots

// The indicator's name (its id when it has none).
std::string IndicatorName(const ReportData& data) {
  return data.indicator.display_name().empty() ? data.indicator.id()
                                               : data.indicator.display_name();
}

// "better: Eenzaamheid lower" on the right of the axis, "worse: ... higher"
// on the left: the axis in the indicator's own terms.
void LabelSides(const ReportData& data, const Labels& l, ForestPlot& plot) {
  const bool lower_is_better =
      data.indicator.better_direction() == v1::BETTER_DIRECTION_LOWER;
  const std::string name = IndicatorName(data);
  plot.better_label = absl::StrCat(l.better, ": ", name, " ", lower_is_better ? l.lower : l.higher);
  plot.worse_label = absl::StrCat(l.worse, ": ", name, " ", lower_is_better ? l.higher : l.lower);
}

ForestPlot MethodForestPlot(const ReportData& data, const v1::MethodResult& method) {
  const Labels& l = LabelsFor(data.options.language);
  ForestPlot plot;
  plot.title = method.work_method_name().empty() ? method.work_method_id()
                                                 : method.work_method_name();
  plot.label_header = l.experiment;
  plot.detail_header = l.area_design;
  plot.estimate_header = l.effect_ci;
  plot.weight_header = l.weight;
  const v1::PooledResult& pooled = method.pooled();
  plot.axis_label = Printf(l.axis, MeasureShort(pooled.measure()));
  LabelSides(data, l, plot);
  plot.decimal_separator = l.decimal;
  for (const v1::StudyEffect& study : method.studies()) {
    ForestRow row;
    row.label = study.title().empty() ? study.experiment_id() : study.title();
    row.detail = absl::StrJoin(
        {study.area_code(), std::string(DesignName(study.design(), l))}, ", ");
    row.estimate = study.effect();
    row.ci_lower = study.ci_lower();
    row.ci_upper = study.ci_upper();
    row.weight_percent = study.weight_percent();
    row.data = {{"experiment", study.experiment_id()}, {"outcome", study.outcome_id()},
                {"effect", ExactNumber(study.effect())},
                {"variance", ExactNumber(study.variance())},
                {"ci-lower", ExactNumber(study.ci_lower())},
                {"ci-upper", ExactNumber(study.ci_upper())},
                {"weight", ExactNumber(study.weight_percent())}};
    plot.rows.push_back(std::move(row));
  }
  if (method.has_pooled()) {
    ForestRow row;
    row.label = absl::StrReplaceAll(
        l.pooled, {{"%s", ModelName(pooled.model(), pooled.knapp_hartung())},
                   {"%d", absl::StrCat(pooled.k())}});
    row.detail = absl::StrCat("I\u00b2 = ", Num(pooled.i2(), 1, l), "%");
    row.estimate = pooled.estimate();
    row.ci_lower = pooled.ci_lower();
    row.ci_upper = pooled.ci_upper();
    row.pooled = true;
    row.rule_above = true;
    row.has_prediction = pooled.model() != v1::POOLING_MODEL_FE;
    row.pi_lower = pooled.pi_lower();
    row.pi_upper = pooled.pi_upper();
    row.css_class = "pooled";
    row.data = {{"estimate", ExactNumber(pooled.estimate())},
                {"ci-lower", ExactNumber(pooled.ci_lower())},
                {"ci-upper", ExactNumber(pooled.ci_upper())},
                {"pi-lower", ExactNumber(pooled.pi_lower())},
                {"pi-upper", ExactNumber(pooled.pi_upper())},
                {"k", absl::StrCat(pooled.k())}};
    plot.rows.push_back(std::move(row));
  }
  return plot;
}

// Subgroup diamonds side by side, for a categorical condition.
ForestPlot SubgroupPlot(const ReportData& data, const std::string& method_name,
                        const std::string& condition,
                        const google::protobuf::RepeatedPtrField<v1::Subgroup>& subgroups) {
  const Labels& l = LabelsFor(data.options.language);
  ForestPlot plot;
  plot.title = absl::StrCat(method_name, ": ", ConditionName(condition));
  plot.label_header = l.level;
  plot.detail_header = l.experiments_pooled;
  plot.estimate_header = l.effect_ci;
  plot.axis_label = Printf(
      l.axis, MeasureShort(subgroups.empty() ? v1::EFFECT_MEASURE_SMD
                                             : subgroups.begin()->pooled().measure()));
  LabelSides(data, l, plot);
  plot.decimal_separator = l.decimal;
  for (const v1::Subgroup& subgroup : subgroups) {
    ForestRow row;
    row.label = subgroup.level();
    row.detail = absl::StrCat("k = ", subgroup.pooled().k());
    row.estimate = subgroup.pooled().estimate();
    row.ci_lower = subgroup.pooled().ci_lower();
    row.ci_upper = subgroup.pooled().ci_upper();
    row.pooled = true;
    row.css_class = "subgroup";
    row.data = {{"level", subgroup.level()},
                {"estimate", ExactNumber(subgroup.pooled().estimate())},
                {"ci-lower", ExactNumber(subgroup.pooled().ci_lower())},
                {"ci-upper", ExactNumber(subgroup.pooled().ci_upper())}};
    plot.rows.push_back(std::move(row));
  }
  return plot;
}

// The condition a method's conditions plot shows: the one asked for, or the
// top discovered categorical one. Null when there is none to draw.
struct ConditionsPlot {
  std::string condition;
  const google::protobuf::RepeatedPtrField<v1::Subgroup>* subgroups = nullptr;
};

ConditionsPlot ConditionsPlotFor(const ReportData& data, const std::string& method_id) {
  if (auto it = data.compared.find(method_id); it != data.compared.end()) {
    if (!it->second.numeric() && !it->second.subgroups().empty()) {
      return {it->second.condition(), &it->second.subgroups()};
    }
    return {};
  }
  if (auto it = data.discovered.find(method_id); it != data.discovered.end()) {
    for (const v1::DiscoveredCondition& found : it->second.conditions()) {
      if (!found.numeric() && !found.subgroups().empty()) {
        return {found.condition(), &found.subgroups()};
      }
    }
  }
  return {};
}

// "differs by gebied, p = 0.003, adjusted p = 0.02; explains 80% ..."
std::string ConditionSentence(const std::string& condition, const v1::ModeratorTest& test,
                              std::optional<double> adjusted_p, const Labels& l) {
  const double deciding_p = adjusted_p.value_or(test.qm_pvalue());
  std::string sentence =
      absl::StrCat(Printf(deciding_p < 0.05 ? l.differs : l.no_diff, ConditionName(condition)),
                   ", ", PText(test.qm_pvalue(), l));
  if (adjusted_p) {
    absl::StrAppend(&sentence, ", ", l.adjusted_p, " ",
                    PText(*adjusted_p, l).substr(2));  // "= 0.02" / "< 0.001"
  }
  absl::StrAppend(&sentence, "; ", Printf(l.explains, Num(test.r2(), 0, l)));
  return sentence;
}

// ------------------------------------------------------------------- HTML

constexpr char kStyle[] = R"(
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 21px; margin-top: 36px; border-bottom: 2px solid #1f5fa8; padding-bottom: 4px; }
h3 { font-size: 16px; margin-top: 22px; }
.meta { color: #555555; font-size: 13px; }
code { background: #f1f3f5; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border-bottom: 1px solid #dddddd; padding: 4px 10px 4px 0; text-align: left;
         vertical-align: top; }
th { font-weight: bold; }
td.num { text-align: right; white-space: nowrap; }
.grade { display: inline-block; background: #1f5fa8; color: #ffffff; border-radius: 10px;
         padding: 0 8px; font-weight: bold; }
.verdict-supported { color: #166534; } .verdict-refuted { color: #9a3412; }
ol.chain { list-style: none; padding: 0; display: flex; flex-wrap: wrap; align-items: stretch; }
ol.chain li { border: 1px solid #c8d3e0; border-radius: 6px; padding: 6px 10px; margin: 4px 28px 4px 0;
              max-width: 280px; font-size: 13px; position: relative; background: #f7f9fc; }
ol.chain li + li::before { content: "\2192"; position: absolute; left: -22px; top: 40%;
                           font-size: 16px; color: #1f5fa8; }
.decision { font-weight: bold; color: #1f5fa8; }
blockquote { margin: 8px 0; padding: 4px 12px; border-left: 4px solid #c8d3e0; }
.note { font-size: 12px; color: #555555; }
svg.forest { max-width: 100%; height: auto; }
@media print { section.method { break-before: page; } }
)";

struct Html {
  std::string out;
  template <typename... Parts>
  void Add(const Parts&... parts) {
    absl::StrAppend(&out, parts...);
  }
};

void AddSummary(const ReportData& data, const Labels& l, Html& html) {
  html.Add("<h2>", H(l.summary), "</h2>\n<table class=\"summary\"><tr><th>", H(l.method),
           "</th><th>", H(l.experiments_pooled), "</th><th>", H(l.effect_ci), "</th><th>", H(l.prediction),
           "</th><th>I\u00b2</th><th>", H(l.grade), "</th><th>", H(l.cost), "</th></tr>\n");
  for (const v1::MethodResult& method : data.what_works.methods()) {
    html.Add("<tr data-method=\"", H(method.work_method_id()), "\"><td><a href=\"#method-",
             Slug(method.work_method_id()), "\">", H(method.work_method_name()), "</a></td>");
    if (!method.has_pooled()) {
      html.Add("<td colspan=\"6\">", H(l.not_pooled), ": ", H(method.not_pooled_reason()),
               "</td></tr>\n");
      continue;
    }
    const v1::PooledResult& p = method.pooled();
    html.Add("<td class=\"num\">", p.k(), "</td><td class=\"num estimate\">",
             EffectWithCi(p.estimate(), p.ci_lower(), p.ci_upper(), l), "</td><td class=\"num\">[",
             Num(p.pi_lower(), 3, l), ", ", Num(p.pi_upper(), 3, l), "]</td><td class=\"num\">",
             Num(p.i2(), 1, l), "%</td><td><span class=\"grade\">", p.grade(), "</span> ",
             H(p.grade_label()), "</td><td>");
    if (p.cost_per_participant_cents() > 0) {
      html.Add(Euros(p.cost_per_participant_cents(), l), " (", H(p.cost_band()), ")");
    }
    html.Add("</td></tr>\n");
  }
  html.Add("</table>\n");
}

void AddConditions(const ReportData& data, const v1::MethodResult& method, const Labels& l,
                   Html& html) {
  const std::string& id = method.work_method_id();
  html.Add("<h3>", H(l.conditions), "</h3>\n");
  if (auto it = data.conditions_not_tested.find(id); it != data.conditions_not_tested.end()) {
    html.Add("<p>", H(l.not_tested), ": ", H(it->second), "</p>\n");
    return;
  }
  ConditionsPlot plot = ConditionsPlotFor(data, id);
  if (plot.subgroups != nullptr) {
    html.Add(RenderForestPlot(SubgroupPlot(data, method.work_method_name(), plot.condition,
                                           *plot.subgroups)));
  }
  html.Add("<ul class=\"condition-tests\">\n");
  auto add_coefficients = [&](const auto& coefficients) {
    if (coefficients.empty()) return;
    html.Add("<table><tr><th>", H(l.coefficient), "</th><th>", H(l.effect_ci),
             "</th><th>p</th></tr>");
    for (const v1::RegressionCoefficient& c : coefficients) {
      html.Add("<tr><td>", H(ConditionName(c.name())), "</td><td class=\"num\">",
               EffectWithCi(c.estimate(), c.ci_lower(), c.ci_upper(), l), "</td><td class=\"num\">",
               H(PText(c.p_value(), l)), "</td></tr>");
    }
    html.Add("</table>");
  };
  if (auto it = data.compared.find(id); it != data.compared.end()) {
    const v1::CompareConditionsResponse& compared = it->second;
    html.Add("<li>");
    if (compared.has_test()) {
      html.Add(H(ConditionSentence(compared.condition(), compared.test(), std::nullopt, l)));
    } else {
      html.Add(H(l.not_tested), ": ", H(compared.not_tested_reason()));
    }
    add_coefficients(compared.coefficients());
    html.Add("</li>\n");
  } else if (auto found = data.discovered.find(id); found != data.discovered.end()) {
    for (const v1::DiscoveredCondition& condition : found->second.conditions()) {
      html.Add("<li>",
               H(ConditionSentence(condition.condition(), condition.test(),
                                   condition.adjusted_p_value(), l)));
      add_coefficients(condition.coefficients());
      html.Add("</li>\n");
    }
    if (found->second.conditions().empty()) {
      html.Add("<li>", H(l.not_tested), ": ", H(l.nothing), "</li>\n");
    }
  }
  html.Add("</ul>\n");
}

void AddGrade(const v1::PooledResult& pooled, const Labels& l, Html& html) {
  html.Add("<h3>", H(l.grade), ": <span class=\"grade\">", pooled.grade(), "</span> ",
           H(pooled.grade_label()), "</h3>\n<ul class=\"grade-reasons\">\n");
  for (const std::string& reason : pooled.grade_reasons()) html.Add("<li>", H(reason), "</li>\n");
  html.Add("</ul>\n");
}

void AddScorecard(const ReportData& data, const std::string& method_id,
                  const std::map<std::string, const v1::Experiment*>& experiments, const Labels& l,
                  Html& html) {
  html.Add("<h3>", H(l.hypotheses), "</h3>\n");
  std::vector<const v1::HypothesisVerdict*> verdicts;
  for (const v1::MethodScorecard& card : data.scorecard.methods()) {
    if (card.work_method_id() != method_id) continue;
    for (const v1::HypothesisVerdict& verdict : card.hypotheses()) {
      if (verdict.indicator_id() == data.indicator.id()) verdicts.push_back(&verdict);
    }
  }
  if (verdicts.empty()) {
    html.Add("<p>", H(l.no_hypotheses), "</p>\n");
    return;
  }
  std::map<v1::Verdict, int> counts;
  for (const v1::HypothesisVerdict* verdict : verdicts) ++counts[verdict->verdict()];
  html.Add("<p class=\"scorecard-counts\">");
  std::vector<std::string> parts;
  for (v1::Verdict verdict : {v1::VERDICT_SUPPORTED, v1::VERDICT_REFUTED,
                              v1::VERDICT_INCONCLUSIVE, v1::VERDICT_NOT_MEASURED}) {
    parts.push_back(absl::StrCat(counts[verdict], " ", VerdictName(verdict, l)));
  }
  html.Add(H(absl::StrJoin(parts, " \u00b7 ")), "</p>\n<table class=\"scorecard\"><tr><th>",
           H(l.experiment), "</th><th>", H(l.hypothesis), "</th><th>", H(l.pre_registered),
           "</th><th>", H(l.verdict), "</th><th>", H(l.measured), "</th><th>", H(l.why),
           "</th></tr>\n");
  for (const v1::HypothesisVerdict* verdict : verdicts) {
    auto experiment = experiments.find(verdict->experiment_id());
    const std::string title = experiment == experiments.end() ? verdict->experiment_id()
                                                              : experiment->second->title();
    html.Add("<tr><td>", H(title), "</td><td>", H(verdict->statement()), "</td><td>",
             verdict->pre_registered() ? l.yes : l.no, "</td><td class=\"verdict-",
             verdict->verdict() == v1::VERDICT_SUPPORTED  ? "supported"
             : verdict->verdict() == v1::VERDICT_REFUTED ? "refuted"
                                                         : "open",
             "\">", H(VerdictName(verdict->verdict(), l)), "</td><td class=\"num\">");
    if (verdict->verdict() != v1::VERDICT_NOT_MEASURED) {
      html.Add(EffectWithCi(verdict->estimate(), verdict->ci_lower(), verdict->ci_upper(), l), " ",
               H(verdict->scale()));
    }
    html.Add("</td><td>", H(verdict->reason()), "</td></tr>\n");
  }
  html.Add("</table>\n");
}

void AddLessons(const std::vector<const v1::Experiment*>& experiments, const Labels& l,
                Html& html) {
  html.Add("<h3>", H(l.lessons), "</h3>\n");
  bool any = false;
  for (const v1::Experiment* experiment : experiments) {
    for (const v1::Lesson& lesson : experiment->lessons()) {
      any = true;
      html.Add("<blockquote class=\"lesson\">", H(lesson.text()), "<br/><span class=\"note\">\u2014 ",
               H(experiment->title()));
      if (!lesson.tags().empty()) {
        html.Add(" \u00b7 ", H(absl::StrJoin(lesson.tags(), ", ")));
      }
      html.Add("</span></blockquote>\n");
    }
  }
  if (!any) html.Add("<p>", H(l.no_lessons), "</p>\n");
}

// Each chain of experiments (parent -> child), with the decision taken at
// each step and how the effect on the indicator moved.
void AddTimeline(const v1::MethodResult& method,
                 const std::vector<const v1::Experiment*>& experiments, const Labels& l,
                 Html& html) {
  html.Add("<h3>", H(l.iterations), "</h3>\n");
  std::map<std::string, const v1::Experiment*> by_id;
  std::map<std::string, std::vector<const v1::Experiment*>> children;
  for (const v1::Experiment* experiment : experiments) by_id[experiment->id()] = experiment;
  for (const v1::Experiment* experiment : experiments) {
    if (by_id.count(experiment->parent_experiment_id())) {
      children[experiment->parent_experiment_id()].push_back(experiment);
    }
  }
  // The first effect on the indicator of each experiment (in outcome order).
  std::map<std::string, const v1::StudyEffect*> effect_of;
  for (const v1::StudyEffect& study : method.studies()) {
    effect_of.emplace(study.experiment_id(), &study);
  }
  // A chain per path from a root to a leaf.
  std::vector<std::vector<const v1::Experiment*>> chains;
  std::function<void(std::vector<const v1::Experiment*>)> walk =
      [&](std::vector<const v1::Experiment*> path) {
        auto next = children.find(path.back()->id());
        if (next == children.end()) {
          chains.push_back(std::move(path));
          return;
        }
        for (const v1::Experiment* child : next->second) {
          std::vector<const v1::Experiment*> longer = path;
          longer.push_back(child);
          walk(std::move(longer));
        }
      };
  for (const v1::Experiment* experiment : experiments) {
    const bool is_root = !by_id.count(experiment->parent_experiment_id());
    if (is_root && children.count(experiment->id())) walk({experiment});
  }
  if (chains.empty()) {
    html.Add("<p>", H(l.no_iterations), "</p>\n");
    return;
  }
  for (const auto& chain : chains) {
    html.Add("<ol class=\"chain\">\n");
    const v1::StudyEffect* previous = nullptr;
    for (const v1::Experiment* step : chain) {
      html.Add("<li data-experiment=\"", H(step->id()), "\"><strong>", H(step->title()),
               "</strong><br/><span class=\"note\">", H(step->planned_start()), " \u2013 ",
               H(step->planned_end()), " \u00b7 ", H(StatusName(step->status(), l)),
               "</span><br/>");
      auto effect = effect_of.find(step->id());
      if (effect == effect_of.end()) {
        html.Add(H(l.no_outcome));
      } else {
        const v1::StudyEffect& study = *effect->second;
        html.Add("effect ", EffectWithCi(study.effect(), study.ci_lower(), study.ci_upper(), l));
        if (previous != nullptr) {
          const double moved = study.effect() - previous->effect();
          html.Add(" (", moved >= 0 ? "+" : "", Num(moved, 3, l), " ", H(l.change_vs_previous),
                   ")");
        }
        previous = &study;
      }
      if (step->decision() != v1::DECISION_UNSPECIFIED) {
        html.Add("<br/><span class=\"decision\">", H(DecisionName(step->decision(), l)),
                 "</span>");
        if (!step->decision_rationale().empty()) {
          html.Add(": ", H(step->decision_rationale()));
        }
      }
      html.Add("</li>\n");
    }
    html.Add("</ol>\n");
  }
}

void AddChanges(const ReportData& data, const Labels& l, Html& html) {
  const v1::WhatChangedResponse& changes = *data.changes;
  const std::string since = data.options.since_date.empty()
                                ? absl::StrCat(changes.since_position())
                                : data.options.since_date;
  html.Add("<h2>", H(Printf(l.changes, since)), "</h2>\n");
  if (changes.changes().empty()) {
    html.Add("<p>", H(l.no_changes), "</p>\n");
    return;
  }
  html.Add("<table class=\"changes\"><tr><th>", H(l.method), "</th><th>", H(l.before),
           "</th><th>", H(l.after), "</th><th>", H(l.change), "</th><th>", H(l.new_experiments),
           "</th></tr>\n");
  auto pooled_text = [&](bool has, const v1::PooledResult& p) {
    if (!has) return std::string("\u2013");
    return absl::StrCat(EffectWithCi(p.estimate(), p.ci_lower(), p.ci_upper(), l), ", k = ",
                        p.k(), ", ", l.grade, " ", p.grade());
  };
  std::map<std::string, std::string> method_names;
  for (const v1::MethodResult& method : data.what_works.methods()) {
    method_names[method.work_method_id()] = method.work_method_name();
  }
  for (const v1::ResultChange& change : changes.changes()) {
    auto name = method_names.find(change.work_method_id());
    const std::string moved =
        change.has_before() && change.has_after()
            ? absl::StrCat(change.estimate_change() >= 0 ? "+" : "",
                           Num(change.estimate_change(), 3, l))
            : "\u2013";
    html.Add("<tr><td>",
             H(name == method_names.end() ? change.work_method_id() : name->second), "</td><td>",
             pooled_text(change.has_before(), change.before()), "</td><td>",
             pooled_text(change.has_after(), change.after()), "</td><td class=\"num\">", moved,
             "</td><td>",
             H(change.new_experiment_ids().empty() ? l.nothing
                                                   : absl::StrJoin(change.new_experiment_ids(),
                                                                   ", ")),
             "</td></tr>\n");
  }
  html.Add("</table>\n");
}

std::string ReproduceCommand(const ReportData& data) {
  std::string command =
      absl::StrCat("leerlus report --indicator ", data.indicator.id(), " --as-of ",
                   data.what_works.read_position());
  for (const std::string& method : data.options.work_method_ids) {
    absl::StrAppend(&command, " --method ", method);
  }
  if (!data.options.by.empty()) absl::StrAppend(&command, " --by ", data.options.by);
  if (data.options.language == ReportLanguage::kDutch) absl::StrAppend(&command, " --lang nl");
  absl::StrAppend(&command, " --out report.html");
  return command;
}

}  // namespace

std::string RenderReportHtml(const ReportData& data) {
  const Labels& l = LabelsFor(data.options.language);
  const v1::Indicator& indicator = data.indicator;
  const std::string title = Printf(l.title, IndicatorName(data));
  Html html;
  html.Add("<!DOCTYPE html>\n<html lang=\"", l.html_lang, "\">\n<head>\n<meta charset=\"utf-8\"/>\n",
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>",
           H(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n");
  const std::string better = indicator.better_direction() == v1::BETTER_DIRECTION_LOWER
                                 ? l.lower_better
                                 : l.higher_better;
  html.Add("<h1>", H(title), "</h1>\n<p class=\"meta\">", H(indicator.description()));
  if (!indicator.unit().empty()) html.Add(" ", H(l.unit), ": ", H(indicator.unit()), ".");
  html.Add(" <strong>", H(better), "</strong>.</p>\n");
  html.Add("<p class=\"meta\" id=\"position\" data-position=\"", data.what_works.read_position(),
           "\">", H(Printf(l.reflects, absl::StrCat(data.what_works.read_position()))));
  if (!data.position_time.empty()) html.Add(" (", H(l.appended_at), " ", H(data.position_time), ")");
  html.Add(". ", H(l.made_at), " ", H(data.generated_time), ". ", H(l.reproduce), " <code>",
           H(ReproduceCommand(data)), "</code></p>\n");

  if (data.what_works.methods().empty()) {
    html.Add("<p class=\"empty\">", H(l.no_outcomes), "</p>\n");
  } else {
    AddSummary(data, l, html);
  }
  if (data.changes) AddChanges(data, l, html);

  std::map<std::string, const v1::Experiment*> experiments_by_id;
  for (const v1::Experiment& experiment : data.experiments) {
    experiments_by_id[experiment.id()] = &experiment;
  }
  for (const v1::MethodResult& method : data.what_works.methods()) {
    std::vector<const v1::Experiment*> experiments;
    for (const v1::Experiment& experiment : data.experiments) {
      if (experiment.work_method_id() == method.work_method_id()) experiments.push_back(&experiment);
    }
    html.Add("<section class=\"method\" id=\"method-", Slug(method.work_method_id()),
             "\" data-method=\"", H(method.work_method_id()), "\">\n<h2>",
             H(method.work_method_name()), "</h2>\n");
    if (method.has_pooled()) {
      html.Add(RenderForestPlot(MethodForestPlot(data, method)));
      AddGrade(method.pooled(), l, html);
      AddConditions(data, method, l, html);
    } else {
      html.Add("<p>", H(l.not_pooled), ": ", H(method.not_pooled_reason()), "</p>\n");
    }
    AddScorecard(data, method.work_method_id(), experiments_by_id, l, html);
    AddLessons(experiments, l, html);
    AddTimeline(method, experiments, l, html);
    html.Add("</section>\n");
  }
  const v1::PooledResult* any_pooled = nullptr;
  for (const v1::MethodResult& method : data.what_works.methods()) {
    if (method.has_pooled()) any_pooled = &method.pooled();
  }
  if (any_pooled != nullptr) {
    std::string about = absl::StrReplaceAll(l.about, {{"%%", "%"}});
    // Three %s in order: measure, better direction, model.
    for (const std::string& value :
         {MeasureName(any_pooled->measure(), data.options.language), better,
          ModelName(any_pooled->model(), any_pooled->knapp_hartung())}) {
      about.replace(about.find("%s"), 2, value);
    }
    html.Add("<p class=\"note\">", H(about), "</p>\n");
  }
  html.Add("</body>\n</html>\n");
  return html.out;
}

std::map<std::string, std::string> RenderReportSvgs(const ReportData& data) {
  std::map<std::string, std::string> files;
  for (const v1::MethodResult& method : data.what_works.methods()) {
    if (!method.has_pooled()) continue;
    const std::string slug = Slug(method.work_method_id());
    files[absl::StrCat("forest-", slug, ".svg")] =
        absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                     RenderForestPlot(MethodForestPlot(data, method)));
    ConditionsPlot plot = ConditionsPlotFor(data, method.work_method_id());
    if (plot.subgroups != nullptr) {
      files[absl::StrCat("conditions-", slug, ".svg")] = absl::StrCat(
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
          RenderForestPlot(
              SubgroupPlot(data, method.work_method_name(), plot.condition, *plot.subgroups)));
    }
  }
  return files;
}

grpc::Status FetchReportData(Client& api, const ReportOptions& options, ReportData* data) {
  data->options = options;
  data->generated_time = absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());

  v1::GetIndicatorRequest indicator_request;
  indicator_request.set_id(options.indicator_id);
  v1::GetIndicatorResponse indicator_response;
  grpc::Status status = api.Call(&v1::CatalogService::Stub::GetIndicator, api.catalog(),
                                 indicator_request, &indicator_response);
  if (!status.ok()) return status;
  data->indicator = indicator_response.indicator();

  v1::WhatWorksRequest what_works;
  what_works.set_indicator_id(options.indicator_id);
  for (const std::string& method : options.work_method_ids) what_works.add_work_method_ids(method);
  what_works.set_as_of_position(options.as_of_position);
  what_works.set_as_of_date(options.as_of_date);
  status = api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), what_works,
                    &data->what_works);
  if (!status.ok()) return status;
  // Every later question is asked as of this position.
  const uint64_t position = data->what_works.read_position();

  for (const v1::MethodResult& method : data->what_works.methods()) {
    if (!method.has_pooled()) continue;
    const std::string& id = method.work_method_id();
    if (!options.by.empty()) {
      v1::CompareConditionsRequest request;
      request.set_indicator_id(options.indicator_id);
      request.set_work_method_id(id);
      request.set_condition(options.by);
      request.set_as_of_position(position);
      status = api.Call(&v1::InsightService::Stub::CompareConditions, api.insights(), request,
                        &data->compared[id]);
      if (!status.ok()) return status;
      continue;
    }
    v1::DiscoverConditionsRequest request;
    request.set_indicator_id(options.indicator_id);
    request.set_work_method_id(id);
    request.set_max_results(3);
    request.set_as_of_position(position);
    v1::DiscoverConditionsResponse discovered;
    status = api.Call(&v1::InsightService::Stub::DiscoverConditions, api.insights(), request,
                      &discovered);
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      // Too few experiments to test anything: say so in the report.
      data->conditions_not_tested[id] = status.error_message();
    } else if (!status.ok()) {
      return status;
    } else {
      data->discovered[id] = std::move(discovered);
    }
  }

  v1::ScorecardRequest scorecard;
  scorecard.set_as_of_position(position);
  status = api.Call(&v1::InsightService::Stub::Scorecard, api.insights(), scorecard,
                    &data->scorecard);
  if (!status.ok()) return status;

  // The methods' experiments (lessons, decisions, parents) as of the position.
  for (const v1::MethodResult& method : data->what_works.methods()) {
    v1::ListExperimentsRequest list;
    list.set_filter(absl::StrCat("method = \"", method.work_method_id(), "\""));
    list.set_page_size(1000);
    do {
      v1::ListExperimentsResponse page;
      status = api.Call(&v1::ExperimentService::Stub::ListExperiments, api.experiments(), list,
                        &page);
      if (!status.ok()) return status;
      for (const v1::Experiment& listed : page.experiments()) {
        v1::GetExperimentRequest get;
        get.set_id(listed.id());
        get.set_as_of_position(position);
        get.set_view(v1::EXPERIMENT_VIEW_BASIC);  // The report reads no outcomes from here.
        v1::GetExperimentResponse got;
        status = api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), get, &got);
        if (status.error_code() == grpc::StatusCode::NOT_FOUND) continue;  // Created later.
        if (!status.ok()) return status;
        data->experiments.push_back(std::move(*got.mutable_experiment()));
      }
      list.set_page_token(page.next_page_token());
    } while (!list.page_token().empty());
  }

  if (options.since_position != 0 || !options.since_date.empty()) {
    v1::WhatChangedRequest request;
    request.set_since_position(options.since_position);
    request.set_since_date(options.since_date);
    request.set_until_position(position);
    request.set_indicator_id(options.indicator_id);
    data->changes.emplace();
    status = api.Call(&v1::InsightService::Stub::WhatChanged, api.insights(), request,
                      &*data->changes);
    if (!status.ok()) return status;
  }

  // When the reflected position was written; only callers who may read the
  // log see it (the report says "made at" either way).
  v1::ReadEventsRequest events;
  events.set_from_position(position);
  events.set_page_size(1);
  v1::ReadEventsResponse read;
  if (position > 0 &&
      api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), events, &read).ok() &&
      !read.events().empty()) {
    data->position_time = absl::FormatTime(
        "%Y-%m-%d %H:%M:%S UTC",
        absl::FromUnixSeconds(read.events(0).time().seconds()), absl::UTCTimeZone());
  }
  return grpc::Status::OK;
}

}  // namespace leerlus::client
