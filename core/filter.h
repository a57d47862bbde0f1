// The AIP-160 style filter language of ListExperiments.
//
//   absl::StatusOr<ExperimentFilter> filter = ExperimentFilter::Parse(
//       "method = \"buurtcoach\" AND (line = AREA_BASED OR context.urbanity >= 4)");
//   absl::StatusOr<bool> keep = filter->Matches(experiment);
//
// Grammar (case-sensitive keywords AND, OR, NOT, IN):
//   expr       := and_expr { OR and_expr }
//   and_expr   := unary { AND unary }
//   unary      := NOT unary | '-' unary | primary
//   primary    := '(' expr ')' | field op value | field IN '(' value {',' value} ')'
//   op         := '=' | '!=' | '<' | '<=' | '>' | '>=' | ':'
//   value      := "text" | number | true | false | bare-word | '*'
// Fields (core/experiment_fields.h): id, title, method, line, status, kind,
// area, area_level, team, partner, societal_task, parent, budget,
// context.<attr>. `field:*` tests presence; `partner:x` tests membership.
// Enum fields take short names (status = RUNNING) and only = != IN. A
// context attribute compared with a value of another type is
// INVALID_ARGUMENT at match time; a missing one matches nothing (except
// under NOT).
#ifndef LEERLUS_CORE_FILTER_H_
#define LEERLUS_CORE_FILTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

class ExperimentFilter {
 public:
  struct Node;

  // Parses `text`; an empty filter matches everything. Errors are
  // INVALID_ARGUMENT naming the field `filter` and the offending position.
  static absl::StatusOr<ExperimentFilter> Parse(absl::string_view text);

  absl::StatusOr<bool> Matches(const v1::Experiment& experiment) const;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_FILTER_H_
