// Commands: every change to leerlus. Each command validates the request,
// then lets the event store decide the events against the current state
// (serialized with all other appends), so lifecycle rules and catalogue
// references are checked against exactly the state the events apply to.
//
//   Commands commands(store);
//   absl::StatusOr<v1::StartExperimentResponse> started =
//       commands.StartExperiment(request, caller);
#ifndef LEERLUS_CORE_COMMANDS_H_
#define LEERLUS_CORE_COMMANDS_H_

#include <future>
#include <utility>

#include "absl/status/statusor.h"
#include "core/caller.h"
#include "core/personal_data.h"
#include "leerlus/v1/admin_service.pb.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

// A command's answer from the store's: the response it stored, with its
// personal texts revealed (core/personal_data.h).
template <typename Response>
absl::StatusOr<Response> ResponseOf(storage::EventStore& store,
                                    const absl::StatusOr<storage::AppendResult>& result) {
  if (!result.ok()) return result.status();
  Response response;
  if (!response.ParseFromString(result->response)) {
    return absl::DataLossError("cannot parse a stored response");
  }
  return Revealed<Response>(store, std::move(response));
}

// A change handed to the store whose answer is still to come.
template <typename Response>
class Pending {
 public:
  // Refused before it reached the store (the request was invalid).
  explicit Pending(absl::Status refused) : refused_(std::move(refused)) {}
  Pending(storage::EventStore* store, std::future<absl::StatusOr<storage::AppendResult>> append)
      : store_(store), append_(std::move(append)) {}

  // Blocks until the change is durable or refused; call once.
  absl::StatusOr<Response> Wait() {
    if (!refused_.ok()) return refused_;
    return ResponseOf<Response>(*store_, append_.get());
  }

 private:
  absl::Status refused_;
  storage::EventStore* store_ = nullptr;
  std::future<absl::StatusOr<storage::AppendResult>> append_;
};

class Commands {
 public:
  explicit Commands(storage::EventStore* store) : store_(store) {}

  absl::StatusOr<v1::CreateWorkMethodResponse> CreateWorkMethod(
      const v1::CreateWorkMethodRequest& request, const Caller& caller);
  absl::StatusOr<v1::CreateIndicatorResponse> CreateIndicator(
      const v1::CreateIndicatorRequest& request, const Caller& caller);
  absl::StatusOr<v1::PutAreaResponse> PutArea(const v1::PutAreaRequest& request,
                                              const Caller& caller);

  absl::StatusOr<v1::CreateExperimentResponse> CreateExperiment(
      const v1::CreateExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::UpdateExperimentResponse> UpdateExperiment(
      const v1::UpdateExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::StartExperimentResponse> StartExperiment(
      const v1::StartExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::EvaluateExperimentResponse> EvaluateExperiment(
      const v1::EvaluateExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::ConcludeExperimentResponse> ConcludeExperiment(
      const v1::ConcludeExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::WithdrawExperimentResponse> WithdrawExperiment(
      const v1::WithdrawExperimentRequest& request, const Caller& caller);
  absl::StatusOr<v1::CreateHypothesisResponse> CreateHypothesis(
      const v1::CreateHypothesisRequest& request, const Caller& caller);
  absl::StatusOr<v1::CreateOutcomeResponse> CreateOutcome(const v1::CreateOutcomeRequest& request,
                                                          const Caller& caller);
  // CreateOutcome without waiting: an import keeps many rows in flight.
  Pending<v1::CreateOutcomeResponse> StartCreateOutcome(const v1::CreateOutcomeRequest& request,
                                                        const Caller& caller);
  // CreateOutcome without holding a thread: `done` gets the answer, on the
  // store's committer thread (see EventStore::Submit).
  void CreateOutcome(const v1::CreateOutcomeRequest& request, const Caller& caller,
                     std::function<void(absl::StatusOr<v1::CreateOutcomeResponse>)> done);
  absl::StatusOr<v1::RetractOutcomeResponse> RetractOutcome(
      const v1::RetractOutcomeRequest& request, const Caller& caller);
  absl::StatusOr<v1::CreateLessonResponse> CreateLesson(const v1::CreateLessonRequest& request,
                                                        const Caller& caller);

  // Destroys the experiment's current data key (its personal texts so far
  // read "[erased]" from then on) and purges it from disk.
  absl::StatusOr<v1::ErasePersonalDataResponse> ErasePersonalData(
      const v1::ErasePersonalDataRequest& request, const Caller& caller);

  // Tokens. The secret is in the first response only: a retry with the
  // same request id returns the token without it.
  absl::StatusOr<v1::CreateTokenResponse> CreateToken(const v1::CreateTokenRequest& request,
                                                      const Caller& caller);
  absl::StatusOr<v1::RevokeTokenResponse> RevokeToken(const v1::RevokeTokenRequest& request,
                                                      const Caller& caller);

 private:
  storage::EventStore* store_;
};

// A fresh token secret: "lls_" and 256 random bits in hex.
std::string NewTokenSecret();

// Hex SHA-256 of the hypothesis content that is sealed at start.
std::string HypothesisSeal(const v1::Hypothesis& hypothesis);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_COMMANDS_H_
