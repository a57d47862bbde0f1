// The report as one HTML document: RenderReportHtml and its sections.
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "client/report/labels.h"
#include "client/report/plots.h"
#include "client/report/report.h"
#include "client/report/svg_plot.h"

namespace leerlus::client {
namespace report_internal {
namespace {

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

std::string H(absl::string_view text) { return XmlEscape(text); }

// The document being written.
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
             Num(p.i2(), 1, l), "%</td><td><span class=\"grade\">",
             H(CertaintyName(p.certainty(), l)), "</span> ", H(p.grade_label()), "</td><td>");
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
  html.Add("<h3>", H(l.grade), ": <span class=\"grade\">", H(CertaintyName(pooled.certainty(), l)),
           "</span> ", H(pooled.grade_label()), "</h3>\n<ul class=\"grade-reasons\">\n");
  for (const v1::CertaintyDomain& domain : pooled.certainty_domains()) {
    html.Add("<li>", H(domain.domain()), ": ", H(domain.judgement()), "</li>\n");
  }
  html.Add("</ul>\n<p class=\"note\">", H(l.certainty_note), "</p>\n");
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
  for (v1::Verdict verdict :
       {v1::VERDICT_SUPPORTED, v1::VERDICT_REFUTED, v1::VERDICT_TOO_SMALL_TO_MATTER,
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
    return absl::StrCat(EffectWithCi(p.estimate(), p.ci_lower(), p.ci_upper(), l), ", k = ", p.k(),
                        ", ", l.grade, " ", CertaintyName(p.certainty(), l));
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

// The title, what the indicator measures, and the position the report
// reflects with the command that makes it again.
void AddHeading(const ReportData& data, const std::string& title, const std::string& better,
                const Labels& l, Html& html) {
  const v1::Indicator& indicator = data.indicator;
  html.Add("<h1>", H(title), "</h1>\n<p class=\"meta\">", H(indicator.description()));
  if (!indicator.unit().empty()) html.Add(" ", H(l.unit), ": ", H(indicator.unit()), ".");
  html.Add(" <strong>", H(better), "</strong>.</p>\n");
  html.Add("<p class=\"meta\" id=\"position\" data-position=\"", data.what_works.read_position(),
           "\">", H(Printf(l.reflects, absl::StrCat(data.what_works.read_position()))));
  if (!data.position_time.empty())
    html.Add(" (", H(l.appended_at), " ", H(data.position_time), ")");
  html.Add(". ", H(l.made_at), " ", H(data.generated_time), ". ", H(l.reproduce), " <code>",
           H(ReproduceCommand(data)), "</code></p>\n");
}

// The signed checkpoint the report's position lies in, as signed, and the
// command that checks it (the note goes into a file as it stands here).
void AddCheckpoint(const ReportData& data, const Labels& l, Html& html) {
  if (!data.checkpoint.has_value()) return;
  html.Add("<section id=\"checkpoint\" data-tree-size=\"", data.checkpoint->tree_size(),
           "\">\n<p class=\"meta\">",
           H(Printf(l.checkpoint, absl::StrCat(data.checkpoint->tree_size()))),
           "</p>\n<pre class=\"checkpoint\">", H(data.checkpoint->signed_note()), "</pre>\n",
           "<p class=\"meta\">", H(l.check_with),
           " <code>leerlus audit --public-key &lt;log.vkey&gt; --checkpoint &lt;checkpoint.txt&gt;"
           "</code></p>\n</section>\n");
}

// One work method: its forest plot, grade and conditions (when pooled), its
// hypotheses, lessons and iterations.
void AddMethodSection(const ReportData& data, const v1::MethodResult& method,
                      const std::map<std::string, const v1::Experiment*>& experiments_by_id,
                      const Labels& l, Html& html) {
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

// How to read the effects: measure, direction and model (of the last
// pooled method), when any method was pooled.
void AddReadingNote(const ReportData& data, const std::string& better, const Labels& l,
                    Html& html) {
  const v1::PooledResult* any_pooled = nullptr;
  for (const v1::MethodResult& method : data.what_works.methods()) {
    if (method.has_pooled()) any_pooled = &method.pooled();
  }
  if (any_pooled == nullptr) return;
  std::string about = absl::StrReplaceAll(l.about, {{"%%", "%"}});
  // Three %s in order: measure, better direction, model.
  for (const std::string& value : {MeasureName(any_pooled->measure(), data.options.language),
                                   better, ModelName(*any_pooled)}) {
    about.replace(about.find("%s"), 2, value);
  }
  html.Add("<p class=\"note\">", H(about), "</p>\n");
}

}  // namespace
}  // namespace report_internal

std::string RenderReportHtml(const ReportData& data) {
  using namespace report_internal;  // NOLINT(build/namespaces): the report's own helpers.
  const Labels& l = LabelsFor(data.options.language);
  const std::string title = Printf(l.title, IndicatorName(data));
  const std::string better = data.indicator.better_direction() == v1::BETTER_DIRECTION_LOWER
                                 ? l.lower_better
                                 : l.higher_better;
  Html html;
  html.Add("<!DOCTYPE html>\n<html lang=\"", l.html_lang,
           "\">\n<head>\n<meta charset=\"utf-8\"/>\n",
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>",
           H(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n");
  // Every part of the page in a landmark, so that a screen reader's user
  // can move between them (WCAG 2.1, 1.3.1 and 2.4.1).
  html.Add("<header>\n");
  AddHeading(data, title, better, l, html);
  html.Add("</header>\n<main>\n");
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
    AddMethodSection(data, method, experiments_by_id, l, html);
  }
  AddReadingNote(data, better, l, html);
  html.Add("</main>\n<footer>\n");
  AddCheckpoint(data, l, html);
  html.Add("</footer>\n</body>\n</html>\n");
  return html.out;
}

}  // namespace leerlus::client
