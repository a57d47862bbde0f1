#include "analysis/effect_size.h"

#include <cmath>
#include <numbers>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "analysis/distributions.h"

namespace leerlus::analysis {
namespace {

absl::Status CheckGroup(const GroupSummary& group, const char* name) {
  if (!std::isfinite(group.mean) || !std::isfinite(group.sd) || group.sd <= 0 || group.n < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " needs a finite mean, an SD > 0 and at least 2 participants"));
  }
  return absl::OkStatus();
}

absl::Status CheckCounts(const GroupCounts& group, const char* name) {
  if (group.total < 1 || group.events < 0 || group.events > group.total) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " needs 0 <= events <= total and total >= 1"));
  }
  return absl::OkStatus();
}

struct Table {
  double a, b, c, d;
};

absl::StatusOr<Table> CorrectedTable(const GroupCounts& treatment, const GroupCounts& control,
                                     const TableOptions& options) {
  if (absl::Status s = CheckCounts(treatment, "the treatment group"); !s.ok()) return s;
  if (absl::Status s = CheckCounts(control, "the control group"); !s.ok()) return s;
  Table t{static_cast<double>(treatment.events),
          static_cast<double>(treatment.total - treatment.events),
          static_cast<double>(control.events), static_cast<double>(control.total - control.events)};
  if (options.exclude_double_zero && ((t.a == 0 && t.c == 0) || (t.b == 0 && t.d == 0))) {
    return absl::FailedPreconditionError(
        t.a == 0 ? "no events in either group: the study says nothing about a ratio"
                 : "only events in both groups: the study says nothing about a ratio");
  }
  if (t.a == 0 || t.b == 0 || t.c == 0 || t.d == 0) {
    t.a += options.zero_cell_correction;
    t.b += options.zero_cell_correction;
    t.c += options.zero_cell_correction;
    t.d += options.zero_cell_correction;
  }
  if (t.a == 0 || t.b == 0 || t.c == 0 || t.d == 0) {
    return absl::FailedPreconditionError("a zero cell and no correction: the ratio is infinite");
  }
  return t;
}

}  // namespace

double HedgesCorrection(double m) {
  if (m <= 1) return std::numeric_limits<double>::quiet_NaN();
  return std::exp(std::lgamma(m / 2) - std::log(std::sqrt(m / 2)) - std::lgamma((m - 1) / 2));
}

absl::StatusOr<Effect> StandardizedMeanDifference(const GroupSummary& treatment,
                                                  const GroupSummary& control) {
  if (absl::Status s = CheckGroup(treatment, "the treatment group"); !s.ok()) return s;
  if (absl::Status s = CheckGroup(control, "the control group"); !s.ok()) return s;
  const double n1 = static_cast<double>(treatment.n);
  const double n2 = static_cast<double>(control.n);
  const double m = n1 + n2 - 2;
  const double pooled_sd =
      std::sqrt(((n1 - 1) * treatment.sd * treatment.sd + (n2 - 1) * control.sd * control.sd) / m);
  const double g = HedgesCorrection(m) * (treatment.mean - control.mean) / pooled_sd;
  return Effect{g, 1 / n1 + 1 / n2 + g * g / (2 * (n1 + n2))};
}

absl::StatusOr<Effect> MeanDifference(const GroupSummary& treatment, const GroupSummary& control) {
  if (absl::Status s = CheckGroup(treatment, "the treatment group"); !s.ok()) return s;
  if (absl::Status s = CheckGroup(control, "the control group"); !s.ok()) return s;
  return Effect{treatment.mean - control.mean,
                treatment.sd * treatment.sd / static_cast<double>(treatment.n) +
                    control.sd * control.sd / static_cast<double>(control.n)};
}

absl::StatusOr<Effect> LogRiskRatio(const GroupCounts& treatment, const GroupCounts& control,
                                    const TableOptions& options) {
  absl::StatusOr<Table> t = CorrectedTable(treatment, control, options);
  if (!t.ok()) return t.status();
  const double n1 = t->a + t->b;
  const double n2 = t->c + t->d;
  return Effect{std::log(t->a / n1) - std::log(t->c / n2), 1 / t->a - 1 / n1 + 1 / t->c - 1 / n2};
}

absl::StatusOr<Effect> LogOddsRatio(const GroupCounts& treatment, const GroupCounts& control,
                                    const TableOptions& options) {
  absl::StatusOr<Table> t = CorrectedTable(treatment, control, options);
  if (!t.ok()) return t.status();
  return Effect{std::log((t->a * t->d) / (t->b * t->c)), 1 / t->a + 1 / t->b + 1 / t->c + 1 / t->d};
}

absl::StatusOr<Effect> RiskDifference(const GroupCounts& treatment, const GroupCounts& control) {
  if (absl::Status s = CheckCounts(treatment, "the treatment group"); !s.ok()) return s;
  if (absl::Status s = CheckCounts(control, "the control group"); !s.ok()) return s;
  const double n1 = static_cast<double>(treatment.total);
  const double n2 = static_cast<double>(control.total);
  const double p1 = treatment.events / n1;
  const double p2 = control.events / n2;
  const double variance = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2;
  if (variance <= 0) {
    return absl::FailedPreconditionError(
        "both groups are all-or-nothing: the risk difference has no sampling variance");
  }
  return Effect{p1 - p2, variance};
}

absl::StatusOr<Effect> StandardizedMeanChange(const GroupSummary& pre, const GroupSummary& post,
                                              double correlation) {
  if (absl::Status s = CheckGroup(pre, "the pre measurement"); !s.ok()) return s;
  if (absl::Status s = CheckGroup(post, "the post measurement"); !s.ok()) return s;
  if (pre.n != post.n) {
    return absl::InvalidArgumentError("pre and post must measure the same participants");
  }
  if (!(correlation >= -1 && correlation <= 1)) {
    return absl::InvalidArgumentError("the pre-post correlation must be in [-1, 1]");
  }
  const double n = static_cast<double>(pre.n);
  const double sd_change =
      std::sqrt(pre.sd * pre.sd + post.sd * post.sd - 2 * correlation * pre.sd * post.sd);
  if (!(sd_change > 0)) {
    return absl::FailedPreconditionError("the change scores have no spread (SD 0)");
  }
  const double y = HedgesCorrection(n - 1) * (post.mean - pre.mean) / sd_change;
  return Effect{y, 1 / n + y * y / (2 * n)};
}

absl::StatusOr<Effect> PrePostControlDifference(const GroupSummary& treatment_pre,
                                                const GroupSummary& treatment_post,
                                                const GroupSummary& control_pre,
                                                const GroupSummary& control_post,
                                                double correlation) {
  if (absl::Status s = CheckGroup(treatment_pre, "the treatment group's pre measurement"); !s.ok())
    return s;
  if (absl::Status s = CheckGroup(treatment_post, "the treatment group's post measurement");
      !s.ok())
    return s;
  if (absl::Status s = CheckGroup(control_pre, "the control group's pre measurement"); !s.ok())
    return s;
  if (absl::Status s = CheckGroup(control_post, "the control group's post measurement"); !s.ok())
    return s;
  if (treatment_pre.n != treatment_post.n || control_pre.n != control_post.n) {
    return absl::InvalidArgumentError(
        "each group's pre and post must measure the same participants");
  }
  // The small-sample correction J(n - 1) needs n - 1 > 1.
  if (treatment_pre.n < 3 || control_pre.n < 3) {
    return absl::InvalidArgumentError("each group needs at least 3 participants");
  }
  if (!(correlation > -1 && correlation < 1)) {
    return absl::InvalidArgumentError("the pre-post correlation must be in (-1, 1)");
  }
  const double n_treatment = static_cast<double>(treatment_pre.n);
  const double n_control = static_cast<double>(control_pre.n);
  const double sd_pre_pooled = std::sqrt(((n_treatment - 1) * treatment_pre.sd * treatment_pre.sd +
                                          (n_control - 1) * control_pre.sd * control_pre.sd) /
                                         (n_treatment + n_control - 2));
  auto change = [&](const GroupSummary& pre, const GroupSummary& post, double n) {
    const double y = HedgesCorrection(n - 1) * (post.mean - pre.mean) / sd_pre_pooled;
    return Effect{y, 2 * (1 - correlation) / n + y * y / (2 * n)};
  };
  const Effect treated = change(treatment_pre, treatment_post, n_treatment);
  const Effect control = change(control_pre, control_post, n_control);
  return Effect{treated.value - control.value, treated.variance + control.variance};
}

double VarianceFromStandardError(double se) { return se * se; }

double VarianceFromConfidenceInterval(double lower, double upper) {
  const double se = (upper - lower) / (2 * NormalCritical95());
  return se * se;
}

Effect LogOddsRatioToSmd(const Effect& log_odds_ratio) {
  const double factor = std::sqrt(3.0) / std::numbers::pi;
  return Effect{log_odds_ratio.value * factor, log_odds_ratio.variance * factor * factor};
}

Effect SmdToLogOddsRatio(const Effect& smd) {
  const double factor = std::numbers::pi / std::sqrt(3.0);
  return Effect{smd.value * factor, smd.variance * factor * factor};
}

Effect Orient(const Effect& effect, bool lower_is_better) {
  return lower_is_better ? Effect{-effect.value, effect.variance} : effect;
}

}  // namespace leerlus::analysis
