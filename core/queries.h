// Queries: every read. Each answers from one consistent snapshot and says
// which log position it reflects.
#ifndef LEERLUS_CORE_QUERIES_H_
#define LEERLUS_CORE_QUERIES_H_

#include "absl/status/statusor.h"
#include "core/answer_budget.h"
#include "core/caller.h"
#include "leerlus/v1/admin_service.pb.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/event_log_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

class Queries {
 public:
  // `answer_memory` bounds the answers while they are built (null: no
  // bound, for tools and tests of the core alone).
  explicit Queries(storage::EventStore* store, AnswerMemory* answer_memory = nullptr)
      : store_(store), answer_memory_(answer_memory) {}

  absl::StatusOr<v1::GetWorkMethodResponse> GetWorkMethod(const v1::GetWorkMethodRequest& request);
  absl::StatusOr<v1::ListWorkMethodsResponse> ListWorkMethods(
      const v1::ListWorkMethodsRequest& request);
  absl::StatusOr<v1::GetIndicatorResponse> GetIndicator(const v1::GetIndicatorRequest& request);
  absl::StatusOr<v1::ListIndicatorsResponse> ListIndicators(
      const v1::ListIndicatorsRequest& request);
  absl::StatusOr<v1::GetAreaResponse> GetArea(const v1::GetAreaRequest& request);
  absl::StatusOr<v1::ListAreasResponse> ListAreas(const v1::ListAreasRequest& request);

  // The reads of one experiment and of the log check `caller` against the
  // view they answer from (core/access.h), so the answer and the check see
  // one state; events the caller may not see are left out. These reads, and
  // ListExperiments, answer with personal texts revealed (Revealed in
  // core/personal_data.h).
  absl::StatusOr<v1::GetExperimentResponse> GetExperiment(const v1::GetExperimentRequest& request,
                                                          const Caller& caller);
  absl::StatusOr<v1::ListOutcomesResponse> ListOutcomes(const v1::ListOutcomesRequest& request,
                                                        const Caller& caller);
  // `only_partner` non-empty: only experiments that list this partner (what
  // a partner may see), applied on top of the request's filter.
  absl::StatusOr<v1::ListExperimentsResponse> ListExperiments(
      const v1::ListExperimentsRequest& request, absl::string_view only_partner = "");

  absl::StatusOr<v1::ReadEventsResponse> ReadEvents(const v1::ReadEventsRequest& request,
                                                    const Caller& caller);

  absl::StatusOr<v1::ListTokensResponse> ListTokens(const v1::ListTokensRequest& request);

  // Whether any token exists (a fresh store needs a first admin token).
  absl::StatusOr<bool> AnyToken();

 private:
  // The reads above that may hold personal texts, with the texts as stored
  // (sealed); the public ones reveal them.
  absl::StatusOr<v1::GetExperimentResponse> GetExperimentSealed(
      const v1::GetExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::ListOutcomesResponse> ListOutcomesSealed(
      const v1::ListOutcomesRequest& request, const Caller& caller);
  absl::StatusOr<v1::ListExperimentsResponse> ListExperimentsSealed(
      const v1::ListExperimentsRequest& request, absl::string_view only_partner);
  absl::StatusOr<v1::ReadEventsResponse> ReadEventsSealed(const v1::ReadEventsRequest& request,
                                                          const Caller& caller);

  storage::EventStore* store_;
  AnswerMemory* answer_memory_;
};

// Validates a Subscribe request; returns the stream to follow ("" for all).
absl::StatusOr<std::string> SubscriptionStream(const v1::SubscribeRequest& request);

// Whether `caller` may follow what `request` asks for in `view`: the
// access rule, and NOT_FOUND for an experiment with no events. A stream
// checks it when it opens and before every batch.
absl::Status CheckSubscription(const Caller& caller, const v1::SubscribeRequest& request,
                               storage::ReadView& view);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_QUERIES_H_
