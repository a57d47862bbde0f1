#include "core/evidence.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace leerlus::core {
namespace {

// Whole years between two dates (0 if either is missing or unreadable).
int YearsBetween(const std::string& from, const std::string& to) {
  absl::CivilDay a, b;
  if (!absl::ParseCivilTime(from, &a) || !absl::ParseCivilTime(to, &b)) return 0;
  return static_cast<int>((b - a) / 365);
}

}  // namespace

EvidenceGrade GradeEvidence(const EvidenceInput& in) {
  EvidenceGrade out;
  int points = 0;
  auto rule = [&](bool met, const std::string& text) {
    if (met) ++points;
    out.reasons.push_back(absl::StrCat(met ? "+1 " : " 0 ", text));
  };
  rule(in.experiments >= 3, absl::StrCat("at least 3 experiments (", in.experiments, ")"));
  rule(in.experiments >= 10, absl::StrCat("at least 10 experiments (", in.experiments, ")"));
  rule(in.participants >= 500, absl::StrCat("at least 500 participants (", in.participants, ")"));
  rule(in.k > 0 && 2 * in.controlled_outcomes >= in.k,
       absl::StrCat(
           "at least half the outcomes from controlled designs, RCT or quasi-experimental (",
           in.controlled_outcomes, " of ", in.k, ")"));
  if (in.k >= 2) {
    rule(in.i2 < 50, absl::StrFormat("consistent results, I2 below 50%% (%.1f%%)", in.i2));
  } else {
    rule(false, "consistency cannot be judged from one outcome");
  }
  rule(in.experiments > 0 && 2 * in.preregistered_experiments >= in.experiments,
       absl::StrCat("at least half the experiments pre-registered a hypothesis on this indicator (",
                    in.preregistered_experiments, " of ", in.experiments, ")"));
  const int age = YearsBetween(in.newest_measurement, in.answer_date);
  if (age > 5) {
    --points;
    out.reasons.push_back(
        absl::StrCat("-1 newest measurement is ", age, " years old (", in.newest_measurement, ")"));
  }
  out.grade = std::clamp(points, 0, 5);
  // The label speaks of effectiveness: a result whose CI includes no
  // benefit gives no indication, whatever the quality of the evidence.
  const bool beneficial = in.ci_lower > 0;
  if (!beneficial || out.grade <= 1) {
    out.label = "nog geen aanwijzingen voor effectiviteit (advisory)";
  } else if (out.grade == 2) {
    out.label = "eerste aanwijzingen voor effectiviteit (advisory)";
  } else if (out.grade <= 4) {
    out.label = "goede aanwijzingen voor effectiviteit (advisory)";
  } else {
    out.label = "sterke aanwijzingen voor effectiviteit (advisory)";
  }
  if (!beneficial) {
    out.reasons.push_back("the 95% CI of the pooled effect includes no benefit");
  }
  return out;
}

}  // namespace leerlus::core
