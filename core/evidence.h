// The evidence grade of a pooled result: transparent rules, each reported
// met or not, so a reader can see why a method scores what it scores. The
// rules are published in the README ("Evidence grade").
#ifndef LEERLUS_CORE_EVIDENCE_H_
#define LEERLUS_CORE_EVIDENCE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace leerlus::core {

struct EvidenceInput {
  int k = 0;                          // Outcomes pooled.
  int experiments = 0;                // Distinct experiments.
  int64_t participants = 0;           // Over the pooled outcomes.
  int controlled_outcomes = 0;        // RCT or quasi-experimental.
  double i2 = 0;                      // Percent.
  int preregistered_experiments = 0;  // With a pre-registered hypothesis on the indicator.
  std::string newest_measurement;     // YYYY-MM-DD.
  std::string answer_date;            // YYYY-MM-DD the answer reflects.
  double ci_lower = 0;                // Pooled 95% CI (positive = better).
  double ci_upper = 0;
};

struct EvidenceGrade {
  int grade = 0;  // 0-5.
  std::vector<std::string> reasons;
  std::string label;  // Advisory, Dutch recognition vocabulary.
};

EvidenceGrade GradeEvidence(const EvidenceInput& input);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_EVIDENCE_H_
