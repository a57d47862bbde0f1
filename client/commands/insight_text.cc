#include "client/commands/insight_text.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace leerlus::cli {
namespace {

// "  permutation p = 0.004 (exact, 924 arrangements)\n", or nothing when the
// server gave none.
std::string PermutationText(const v1::ModeratorTest& test) {
  if (test.permutations() == 0) return "";
  return absl::StrFormat(
      "  permutation p = %.4g (%s, %d arrangements%s)\n", test.permutation_p_value(),
      test.permutation_exact() ? "exact" : "random", test.permutations(),
      test.permutation_exact() ? "" : absl::StrCat(", seed ", test.permutation_seed()));
}

// "very low", "low", "moderate", "high" ("-" when the server gave none).
std::string CertaintyWord(v1::Certainty certainty) {
  if (certainty == v1::CERTAINTY_UNSPECIFIED) return "-";
  std::string word =
      absl::AsciiStrToLower(v1::Certainty_Name(certainty).substr(std::string("CERTAINTY_").size()));
  return absl::StrReplaceAll(word, {{"_", " "}});
}

// printf's "%.*f" (what the tables have always shown; FormatFixed of the
// report differs for -0 and NaN).
std::string Fixed(double value, int digits) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return std::string(buffer);
}

}  // namespace

void RenderWhatWorks(const v1::WhatWorksResponse& response, client::OutputFormat format,
                     bool show_studies, std::ostream& out) {
  if (format == client::OutputFormat::kJson) {
    out << client::ToJson(response, true) << "\n";
    return;
  }
  if (format == client::OutputFormat::kCsv) {
    out << "work_method_id,k,estimate,se,ci_lower,ci_upper,pi_lower,pi_upper,p_value,tau2,i2,q,"
           "q_pvalue,certainty,not_pooled_reason\n";
    for (const v1::MethodResult& method : response.methods()) {
      const v1::PooledResult& p = method.pooled();
      out << client::CsvField(method.work_method_id()) << "," << p.k() << ","
          << absl::StrCat(p.estimate()) << "," << absl::StrCat(p.se()) << ","
          << absl::StrCat(p.ci_lower()) << "," << absl::StrCat(p.ci_upper()) << ","
          << absl::StrCat(p.pi_lower()) << "," << absl::StrCat(p.pi_upper()) << ","
          << absl::StrCat(p.p_value()) << "," << absl::StrCat(p.tau2()) << ","
          << absl::StrCat(p.i2()) << "," << absl::StrCat(p.q()) << "," << absl::StrCat(p.q_pvalue())
          << "," << CertaintyWord(p.certainty()) << ","
          << client::CsvField(method.not_pooled_reason()) << "\n";
    }
    return;
  }
  std::string measure =
      v1::EffectMeasure_Name(response.methods_size() > 0 ? response.methods(0).pooled().measure()
                                                         : v1::EFFECT_MEASURE_SMD);
  out << "What works for '" << response.indicator_id() << "' (effect as "
      << measure.substr(std::string("EFFECT_MEASURE_").size())
      << ", positive = better; log position " << response.read_position() << ")\n";
  out << absl::StrFormat("%-22s %3s %9s  %-20s %-20s %7s %8s %9s  %s\n", "METHOD", "K", "EFFECT",
                         "95% CI", "PREDICTION", "I2 %", "TAU2", "P", "CERTAINTY");
  for (const v1::MethodResult& method : response.methods()) {
    if (!method.has_pooled()) {
      out << absl::StrFormat("%-22s %3d  %s\n", method.work_method_id(), 0,
                             method.not_pooled_reason());
      continue;
    }
    const v1::PooledResult& p = method.pooled();
    const bool has_pi = p.model() != v1::POOLING_MODEL_FE;
    out << absl::StrFormat(
        "%-22s %3d %9s  %-20s %-20s %7s %8s %9s  %s\n", method.work_method_id(), p.k(),
        Fixed(p.estimate(), 3),
        absl::StrCat("[", Fixed(p.ci_lower(), 3), ", ", Fixed(p.ci_upper(), 3), "]"),
        has_pi ? absl::StrCat("[", Fixed(p.pi_lower(), 3), ", ", Fixed(p.pi_upper(), 3), "]")
               : std::string("-"),
        Fixed(p.i2(), 1), Fixed(p.tau2(), 4),
        p.p_value() < 0.0001 ? std::string("<0.0001") : Fixed(p.p_value(), 4),
        CertaintyWord(p.certainty()));
    if (show_studies) {
      out << "    certainty " << CertaintyWord(p.certainty()) << ", " << p.grade_label() << ":\n";
      for (const v1::CertaintyDomain& domain : p.certainty_domains()) {
        out << "      " << domain.domain() << ": " << domain.judgement() << "\n";
      }
      for (const v1::StudyEffect& study : method.studies()) {
        out << absl::StrFormat("    %-30s %9s  [%s, %s]  weight %s%%\n", study.experiment_id(),
                               Fixed(study.effect(), 3), Fixed(study.ci_lower(), 3),
                               Fixed(study.ci_upper(), 3), Fixed(study.weight_percent(), 1));
      }
      for (const v1::ExcludedOutcome& excluded : method.excluded()) {
        out << "    left out " << excluded.experiment_id() << "/" << excluded.outcome_id() << ": "
            << excluded.reason() << "\n";
      }
    }
  }
}

void RenderConditions(const v1::CompareConditionsResponse& response, const std::string& method,
                      client::OutputFormat format, std::ostream& out) {
  if (format == client::OutputFormat::kJson) {
    out << client::ToJson(response, true) << "\n";
    return;
  }
  auto p_text = [](double p) { return p < 0.0001 ? std::string("< 0.0001") : "= " + Fixed(p, 4); };
  if (format == client::OutputFormat::kCsv) {
    out << "work_method_id,condition,level,experiments,k,estimate,ci_lower,ci_upper,i2,qm,qm_df,"
           "qm_pvalue\n";
    for (const v1::Subgroup& subgroup : response.subgroups()) {
      const v1::PooledResult& p = subgroup.pooled();
      out << client::CsvField(method) << "," << client::CsvField(response.condition()) << ","
          << client::CsvField(subgroup.level()) << "," << subgroup.experiments() << "," << p.k()
          << "," << absl::StrCat(p.estimate()) << "," << absl::StrCat(p.ci_lower()) << ","
          << absl::StrCat(p.ci_upper()) << "," << absl::StrCat(p.i2()) << ","
          << absl::StrCat(response.test().qm()) << "," << absl::StrCat(response.test().qm_df())
          << "," << absl::StrCat(response.test().qm_pvalue()) << "\n";
    }
    return;
  }
  out << "By " << response.condition() << (method.empty() ? "" : " for " + method)
      << " (log position " << response.read_position() << ")\n";
  if (response.numeric()) {
    for (const v1::RegressionCoefficient& c : response.coefficients()) {
      out << absl::StrFormat("  %-28s %9s  [%s, %s]  p %s\n", c.name(), Fixed(c.estimate(), 4),
                             Fixed(c.ci_lower(), 4), Fixed(c.ci_upper(), 4), p_text(c.p_value()));
    }
  } else {
    out << absl::StrFormat("  %-24s %5s %4s %9s  %-20s %7s\n", "LEVEL", "EXPER", "K", "EFFECT",
                           "95% CI", "I2 %");
    for (const v1::Subgroup& subgroup : response.subgroups()) {
      const v1::PooledResult& p = subgroup.pooled();
      out << absl::StrFormat(
          "  %-24s %5d %4d %9s  %-20s %7s\n", subgroup.level(), subgroup.experiments(), p.k(),
          Fixed(p.estimate(), 3),
          absl::StrCat("[", Fixed(p.ci_lower(), 3), ", ", Fixed(p.ci_upper(), 3), "]"),
          Fixed(p.i2(), 1));
    }
    for (const v1::SkippedLevel& skipped : response.skipped_levels()) {
      out << "  left out " << skipped.level() << ": " << skipped.reason() << "\n";
    }
  }
  if (response.has_test()) {
    const v1::ModeratorTest& t = response.test();
    out << "  " << (response.numeric() ? "Moderator test" : "Test for subgroup differences")
        << ": QM = " << Fixed(t.qm(), 2) << " on " << t.qm_df() << " df, p "
        << p_text(t.qm_pvalue()) << "; explains " << Fixed(t.r2(), 1)
        << "% of the heterogeneity; residual QE = " << Fixed(t.qe(), 2) << " on " << t.qe_df()
        << " df, p " << p_text(t.qe_pvalue()) << "\n"
        << PermutationText(t);
  } else {
    out << "  no test: " << response.not_tested_reason() << "\n";
  }
}

void RenderScorecard(const v1::ScorecardResponse& response, client::OutputFormat format,
                     bool details, std::ostream& out) {
  if (format != client::OutputFormat::kTable) {
    client::Render(response, format, out);
    return;
  }
  out << absl::StrFormat("%-24s %9s %8s %9s %12s %12s\n", "METHOD", "SUPPORTED", "REFUTED",
                         "TOO SMALL", "INCONCLUSIVE", "NOT MEASURED");
  for (const v1::MethodScorecard& card : response.methods()) {
    out << absl::StrFormat("%-24s %9d %8d %9d %12d %12d\n", card.work_method_id(), card.supported(),
                           card.refuted(), card.too_small_to_matter(), card.inconclusive(),
                           card.not_measured());
    if (!details) continue;
    for (const v1::HypothesisVerdict& v : card.hypotheses()) {
      std::string verdict = v1::Verdict_Name(v.verdict()).substr(std::string("VERDICT_").size());
      out << "    " << v.experiment_id() << "/" << v.hypothesis_id() << " " << verdict
          << (v.pre_registered() ? "" : " (post-hoc)") << ": " << v.statement() << "\n      "
          << v.reason() << "\n";
    }
  }
}

void RenderWhatChanged(const v1::WhatChangedResponse& response, client::OutputFormat format,
                       std::ostream& out) {
  if (format != client::OutputFormat::kTable) {
    client::Render(response, format, out);
    return;
  }
  out << "Changes between log positions " << response.since_position() << " and "
      << response.until_position() << ":\n";
  if (response.changes_size() == 0) out << "  nothing moved\n";
  auto describe = [](const v1::PooledResult& p, bool present) {
    return present
               ? absl::StrFormat("%.3f [%.3f, %.3f], k=%d, certainty %s", p.estimate(),
                                 p.ci_lower(), p.ci_upper(), p.k(), CertaintyWord(p.certainty()))
               : std::string("no pooled result");
  };
  for (const v1::ResultChange& change : response.changes()) {
    out << "  " << change.indicator_id() << " / " << change.work_method_id() << ": "
        << describe(change.before(), change.has_before()) << "  ->  "
        << describe(change.after(), change.has_after()) << "\n";
    if (change.new_experiment_ids_size() > 0) {
      out << "      now counting: " << absl::StrJoin(change.new_experiment_ids(), ", ") << "\n";
    }
    if (change.dropped_experiment_ids_size() > 0) {
      out << "      no longer counting: " << absl::StrJoin(change.dropped_experiment_ids(), ", ")
          << "\n";
    }
  }
}

void RenderDiscoveredConditions(const v1::DiscoverConditionsRequest& request,
                                const v1::DiscoverConditionsResponse& response,
                                client::OutputFormat format, std::ostream& out) {
  if (format != client::OutputFormat::kTable) {
    client::Render(response, format, out);
    return;
  }
  out << "Conditions that moderate '" << request.work_method_id() << "' on '"
      << request.indicator_id() << "' (" << response.conditions_tested() << " tested; log position "
      << response.read_position() << ")\n";
  for (const v1::DiscoveredCondition& c : response.conditions()) {
    out << absl::StrFormat("  %-28s QM %7.2f on %g df, p %.4g, adjusted p %.4g, explains %.0f%%\n",
                           c.condition(), c.test().qm(), c.test().qm_df(), c.test().qm_pvalue(),
                           c.adjusted_p_value(), c.test().r2());
    if (const std::string permuted = PermutationText(c.test()); !permuted.empty()) {
      out << "  " << permuted;
    }
    for (const v1::Subgroup& g : c.subgroups()) {
      out << absl::StrFormat("      %-22s %9.3f [%.3f, %.3f]  %d experiments\n", g.level(),
                             g.pooled().estimate(), g.pooled().ci_lower(), g.pooled().ci_upper(),
                             g.experiments());
    }
    for (const v1::RegressionCoefficient& k : c.coefficients()) {
      out << absl::StrFormat("      %-22s %9.4f [%.4f, %.4f]\n", k.name(), k.estimate(),
                             k.ci_lower(), k.ci_upper());
    }
  }
  for (const v1::UntestedCondition& u : response.untested()) {
    out << "  not tested " << u.condition() << ": " << u.reason() << "\n";
  }
}

void RenderContribution(const v1::ContributionResponse& response, client::OutputFormat format,
                        std::ostream& out) {
  if (format != client::OutputFormat::kTable) {
    client::Render(response, format, out);
    return;
  }
  for (const v1::DomainContribution& domain : response.domains()) {
    out << v1::ResourceDomain_Name(domain.domain()).substr(std::string("RESOURCE_DOMAIN_").size())
        << " resources\n";
    for (const v1::MethodContribution& m : domain.methods()) {
      const v1::PooledResult& p = m.pooled();
      out << absl::StrFormat(
          "  %-3s %-18s on %-16s SMD %6.3f [%.3f, %.3f]  certainty %s  EUR %s per treated "
          "participant "
          "(%s)%s\n",
          m.moves_it() ? "yes" : "-", m.work_method_id(), m.indicator_id(), p.estimate(),
          p.ci_lower(), p.ci_upper(), CertaintyWord(p.certainty()),
          absl::StrFormat("%.0f", p.cost_per_participant_cents() / 100.0),
          p.cost_band().empty() ? "unknown" : p.cost_band(),
          p.euros_per_participant_per_unit_effect() > 0
              ? absl::StrFormat(", EUR %.0f per unit of effect",
                                p.euros_per_participant_per_unit_effect())
              : std::string());
    }
  }
}

}  // namespace leerlus::cli
