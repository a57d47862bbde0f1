#include "client/report/labels.h"

#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/report/svg_plot.h"

namespace leerlus::client::report_internal {
namespace {

constexpr Labels kEnglish = {
    "en",
    '.',
    "What works for %s",
    "higher is better",
    "lower is better",
    "higher",
    "lower",
    "Unit",
    "Reflects log position %s",
    "appended",
    "Made",
    "Reproduce with",
    "Summary",
    "Work method",
    "Experiments",
    "Effect [95% CI]",
    "Prediction interval",
    "Certainty of evidence",
    "Cost per treated participant",
    "Experiment",
    "Area, design",
    "Weight",
    "Pooled (%s, k = %d)",
    "Effect (%s), positive = better",
    "worse",
    "better",
    "No pooled result",
    "No outcome has been recorded on this indicator yet.",
    "Conditions",
    "differs by %s",
    "no clear difference by %s",
    "adjusted p",
    "explains %s%% of the heterogeneity",
    "Not tested",
    "Level",
    "Coefficient",
    "Hypotheses",
    "Hypothesis",
    "Pre-registered",
    "Verdict",
    "Measured",
    "Why",
    "yes",
    "no",
    "No hypothesis on this indicator.",
    "Lessons",
    "No lessons recorded yet.",
    "Iterations",
    "No experiment of this method has a follow-up yet.",
    "no outcome yet",
    "vs. previous",
    "What changed since %s",
    "Nothing changed for this indicator.",
    "Before",
    "After",
    "Change",
    "New experiments",
    "none",
    "Effects are %s, oriented so that positive means better (%s). Each method is pooled with "
    "%s; squares are sized by weight, the diamond is the pooled effect with its 95%% confidence "
    "interval, the dashed line the 95%% prediction interval for a new experiment.",
    "supported",
    "refuted",
    "inconclusive",
    "not measured yet",
    "too small to matter",
    "very low",
    "low",
    "moderate",
    "high",
    "Rated in the manner of GRADE: a start by design, then rated down for risk of bias, "
    "inconsistency, imprecision, reporting bias and indirectness. The Dutch label is indicative: "
    "recognising an intervention is the task of the Erkenningscommissie Interventies, not of "
    "leerlus.",
    "scale up",
    "adapt",
    "stop",
    "designed",
    "running",
    "evaluating",
    "concluded",
    "withdrawn",
    "RCT",
    "quasi-experimental",
    "pre/post",
    "post only",
    "This report's log position lies in the server's signed checkpoint of %s events below. "
    "Whoever keeps it can check, with the log's verifier key alone, that the log still holds "
    "what this report was made from:",
    "Check with"};

constexpr Labels kDutch = {
    "nl",
    ',',
    "Wat werkt voor %s",
    "hoger is beter",
    "lager is beter",
    "hoger",
    "lager",
    "Eenheid",
    "Stand van logpositie %s",
    "vastgelegd",
    "Gemaakt",
    "Opnieuw maken met",
    "Samenvatting",
    "Werkwijze",
    "Experimenten",
    "Effect [95%-BI]",
    "Voorspellingsinterval",
    "Zekerheid van het bewijs",
    "Kosten per behandelde deelnemer",
    "Experiment",
    "Gebied, opzet",
    "Gewicht",
    "Gepoold (%s, k = %d)",
    "Effect (%s), positief = beter",
    "slechter",
    "beter",
    "Geen gepoold resultaat",
    "Er is nog geen uitkomst op deze indicator vastgelegd.",
    "Omstandigheden",
    "verschilt naar %s",
    "geen duidelijk verschil naar %s",
    "gecorrigeerde p",
    "verklaart %s%% van de heterogeniteit",
    "Niet getoetst",
    "Niveau",
    "Co\u00ebffici\u00ebnt",
    "Hypothesen",
    "Hypothese",
    "Vooraf vastgelegd",
    "Oordeel",
    "Gemeten",
    "Waarom",
    "ja",
    "nee",
    "Geen hypothese op deze indicator.",
    "Lessen",
    "Nog geen lessen vastgelegd.",
    "Iteraties",
    "Nog geen experiment van deze werkwijze heeft een vervolg.",
    "nog geen uitkomst",
    "t.o.v. vorige",
    "Wat veranderde sinds %s",
    "Niets veranderd voor deze indicator.",
    "Voor",
    "Na",
    "Verschil",
    "Nieuwe experimenten",
    "geen",
    "Effecten zijn %s, zo gericht dat positief beter betekent (%s). Elke werkwijze is gepoold "
    "met %s; vierkantjes zijn naar gewicht geschaald, de ruit is het gepoolde effect met zijn "
    "95%%-betrouwbaarheidsinterval, de stippellijn het 95%%-voorspellingsinterval voor een nieuw "
    "experiment.",
    "ondersteund",
    "weerlegd",
    "onbeslist",
    "nog niet gemeten",
    "te klein om ertoe te doen",
    "zeer laag",
    "laag",
    "redelijk",
    "hoog",
    "Beoordeeld naar GRADE: een start naar onderzoeksopzet, dan lager voor risico op "
    "vertekening, inconsistentie, onnauwkeurigheid, publicatiebias en indirectheid. Het label is "
    "indicatief: een interventie erkennen is aan de Erkenningscommissie Interventies, niet aan "
    "leerlus.",
    "opschalen",
    "bijstellen",
    "stoppen",
    "ontworpen",
    "lopend",
    "in evaluatie",
    "afgerond",
    "ingetrokken",
    "RCT",
    "quasi-experimenteel",
    "voor-/nameting",
    "alleen nameting",
    "De logpositie van dit rapport valt in het ondertekende controlepunt van %s gebeurtenissen "
    "hieronder. Wie het bewaart, kan met alleen de verificatiesleutel van het log nagaan dat het "
    "log nog bevat waarop dit rapport steunt:",
    "Controleer met"};

}  // namespace

const Labels& LabelsFor(ReportLanguage language) {
  return language == ReportLanguage::kDutch ? kDutch : kEnglish;
}

std::string Printf(const char* format, const std::string& value) {
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

std::string ModelName(const v1::PooledResult& pooled) {
  std::string name = pooled.model() == v1::POOLING_MODEL_DL   ? "DerSimonian-Laird"
                     : pooled.model() == v1::POOLING_MODEL_FE ? "FE"
                                                              : "REML";
  switch (pooled.test()) {
    case v1::POOLING_TEST_ADHOC:
      return name + " + Hartung-Knapp (ad hoc)";
    case v1::POOLING_TEST_KNHA:
      return name + " + Hartung-Knapp";
    default:
      // A server before the `test` field said only whether t was used.
      return pooled.knapp_hartung() ? name + " + Hartung-Knapp" : name;
  }
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

const char* CertaintyName(v1::Certainty certainty, const Labels& l) {
  switch (certainty) {
    case v1::CERTAINTY_VERY_LOW:
      return l.certainty_very_low;
    case v1::CERTAINTY_LOW:
      return l.certainty_low;
    case v1::CERTAINTY_MODERATE:
      return l.certainty_moderate;
    case v1::CERTAINTY_HIGH:
      return l.certainty_high;
    default:
      return "";
  }
}

const char* VerdictName(v1::Verdict verdict, const Labels& l) {
  switch (verdict) {
    case v1::VERDICT_SUPPORTED: return l.supported;
    case v1::VERDICT_REFUTED: return l.refuted;
    case v1::VERDICT_INCONCLUSIVE: return l.inconclusive;
    case v1::VERDICT_TOO_SMALL_TO_MATTER:
      return l.too_small_to_matter;
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

std::string Num(double value, int digits, const Labels& l) {
  return FormatFixed(value, digits, l.decimal);
}

std::string EffectWithCi(double estimate, double lower, double upper, const Labels& l) {
  return absl::StrCat(Num(estimate, 3, l), " [", Num(lower, 3, l), ", ", Num(upper, 3, l), "]");
}

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

std::string Slug(const std::string& id) {
  std::string slug;
  for (char c : id) {
    slug += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  }
  return slug;
}

std::string IndicatorName(const ReportData& data) {
  return data.indicator.display_name().empty() ? data.indicator.id()
                                               : data.indicator.display_name();
}

}  // namespace leerlus::client::report_internal
