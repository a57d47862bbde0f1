// Insights: the what-works questions, answered from the projections with
// the pure statistics of analysis/. Includes core/effects.h: OutcomeEffect
// and OutcomeParticipants.
//
//   Insights insights(store);
//   absl::StatusOr<v1::WhatWorksResponse> answer = insights.WhatWorks(request);
//
// Where the parts live: what a question reads from the projections in
// evidence_collection.{h,cc}; outcome to effect in effects.{h,cc}; pooling,
// grade and cost in pooling.{h,cc}; the field names a condition may use in
// experiment_fields.{h,cc}. The use cases: what works, what changed,
// contribution and scorecard in insights.cc; compare and discover
// conditions in insights_conditions.cc.
#ifndef LEERLUS_CORE_INSIGHTS_H_
#define LEERLUS_CORE_INSIGHTS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/effects.h"
#include "leerlus/v1/insight_service.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

// Judges one hypothesis against an outcome on its indicator (see Verdict in
// insight_service.proto); fills verdict, reason, estimate, CI and scale.
void JudgeHypothesis(const v1::Hypothesis& hypothesis, const v1::Outcome& outcome,
                     v1::HypothesisVerdict* verdict);

// A question asked as of an earlier moment may replay the log; its
// `deadline` (the call's) stops that replay.
class Insights {
 public:
  // Model fits the permutation tests of one conditions question may spend
  // in all (about 20 us each): a call without a deadline is bounded too.
  static constexpr int64_t kPermutationFitsPerQuestion = 200000;

  explicit Insights(storage::EventStore* store,
                    int64_t permutation_fits_per_question = kPermutationFitsPerQuestion)
      : store_(store), permutation_fits_per_question_(permutation_fits_per_question) {}

  // Pooled effect per work method, with the rows of a forest plot.
  absl::StatusOr<v1::WhatWorksResponse> WhatWorks(const v1::WhatWorksRequest& request,
                                                  absl::Time deadline = absl::InfiniteFuture());

  // Subgroups (categorical condition, with the test for subgroup
  // differences) or meta-regression (numeric condition).
  absl::StatusOr<v1::CompareConditionsResponse> CompareConditions(
      const v1::CompareConditionsRequest& request, absl::Time deadline = absl::InfiniteFuture());

  // Hypothesis verdicts per work method.
  absl::StatusOr<v1::ScorecardResponse> Scorecard(const v1::ScorecardRequest& request,
                                                  absl::Time deadline = absl::InfiniteFuture());

  // The answers that moved between two moments.
  absl::StatusOr<v1::WhatChangedResponse> WhatChanged(const v1::WhatChangedRequest& request,
                                                      absl::Time deadline = absl::InfiniteFuture());

  // Every condition as a moderator for one method, ranked.
  absl::StatusOr<v1::DiscoverConditionsResponse> DiscoverConditions(
      const v1::DiscoverConditionsRequest& request, absl::Time deadline = absl::InfiniteFuture());

  // Per resource domain, the methods that move its indicators.
  absl::StatusOr<v1::ContributionResponse> Contribution(
      const v1::ContributionRequest& request, absl::Time deadline = absl::InfiniteFuture());

 private:
  // The live projections, or a replay to the position (or date) asked for,
  // which stops at `deadline`.
  absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> OpenSnapshot(
      uint64_t as_of_position, const std::string& as_of_date, absl::Time deadline);

  storage::EventStore* store_;
  int64_t permutation_fits_per_question_;
};

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_INSIGHTS_H_
