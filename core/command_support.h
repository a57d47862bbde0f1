// What the files implementing Commands share: how a command becomes an
// append (authorised, fingerprinted, decided and answered on the writer),
// and the lookups and answers their decisions have in common. Not for use
// outside the commands.
#ifndef LEERLUS_CORE_COMMAND_SUPPORT_H_
#define LEERLUS_CORE_COMMAND_SUPPORT_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/hashing.h"
#include "common/serialize.h"
#include "common/status_macros.h"
#include "core/access.h"
#include "core/caller.h"
#include "core/commands.h"
#include "core/model/events.h"
#include "core/model/experiment_state.h"
#include "core/model/keys.h"
#include "core/model/read_model.h"
#include "core/personal_data.h"
#include "storage/event_store.h"

namespace leerlus::core {

using model::CatalogKind;
using storage::Appended;
using storage::DecisionContext;
using storage::KeyValueReader;
using DecideFn = std::function<absl::StatusOr<std::vector<v1::Event>>(const DecisionContext&)>;

// What a request's fingerprint covers: its method and content without
// request_id.
std::string FingerprintContent(absl::string_view method, const google::protobuf::Message& request);

// The changes whose requests carry a personal text (sealed in the event):
// their fingerprint is keyed by the experiment's data key.
bool CarriesPersonalText(absl::string_view method);

// The append a command hands to the store.
template <typename Response>
storage::AppendRequest MakeAppend(
    absl::string_view method, const google::protobuf::Message& request, std::string stream,
    const std::string& request_id, uint64_t expected_version, const Caller& caller, DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  storage::AppendRequest append;
  append.stream = std::move(stream);
  append.request_id = request_id;
  // Request ids are the caller's own: scoped to its token (or, without
  // one, its name).
  append.principal = PrincipalOf(caller);
  const AccessTarget target = TargetOf(method, request);
  if (CarriesPersonalText(method)) {
    // Not a plain hash of the plaintext: after an erasure nothing stored
    // may confirm a guessed text.
    append.keyed_fingerprint = [experiment_id = target.experiment_id,
                                content =
                                    FingerprintContent(method, request)](KeyValueReader& state) {
      return PersonalTextFingerprint(state, experiment_id, content);
    };
  } else {
    append.fingerprint = Sha256Hex(FingerprintContent(method, request));
  }
  append.expected_version = expected_version;
  append.actor = caller.actor;
  // Who may make the change is decided with the change, on the state it
  // applies to: no other append can slip in between the check and the
  // events (say, a registration of the same id by another team).
  append.authorize = [caller, rpc = std::string(method), target](KeyValueReader& state) {
    return AuthorizeOnState(caller, rpc, target, state);
  };
  append.decide = [decide = std::move(decide)](
                      const DecisionContext& context) -> absl::StatusOr<std::vector<std::string>> {
    LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events, decide(context));
    return model::EncodeBodies(events);
  };
  append.respond = [respond = std::move(respond)](
                       const Appended& appended,
                       KeyValueReader& state) -> absl::StatusOr<std::string> {
    LEERLUS_ASSIGN_OR_RETURN(Response response, respond(appended, state));
    return SerializeDeterministic(response);
  };
  return append;
}

// Hands the append to the store; its answer comes with Pending::Wait().
template <typename Response>
Pending<Response> Start(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    std::string stream, const std::string& request_id, uint64_t expected_version,
    const Caller& caller, DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  return Pending<Response>(
      store, store->Submit(MakeAppend<Response>(method, request, std::move(stream), request_id,
                                                expected_version, caller, std::move(decide),
                                                std::move(respond))));
}

template <typename Response>
absl::StatusOr<Response> Run(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    std::string stream, const std::string& request_id, uint64_t expected_version,
    const Caller& caller, DecideFn decide,
    std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> respond) {
  return Start<Response>(store, method, request, std::move(stream), request_id, expected_version,
                         caller, std::move(decide), std::move(respond))
      .Wait();
}

absl::Status NotFound(absl::string_view what, absl::string_view id, absl::string_view field);

// For decisions. Its version and update time may be those of an earlier
// event (see model::ReadExperiment); decisions use the stream's version.
absl::StatusOr<v1::Experiment> LoadExperiment(KeyValueReader& state, absl::string_view id,
                                              absl::string_view field);

template <typename Message>
absl::StatusOr<Message> LoadCatalog(KeyValueReader& state, CatalogKind kind, absl::string_view id,
                                    absl::string_view what, absl::string_view field) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<Message> entry,
                           model::FindCatalogEntry<Message>(state, kind, id));
  if (!entry.has_value()) return NotFound(what, id, field);
  return std::move(*entry);
}

// FAILED_PRECONDITION naming the experiment's current state.
absl::Status WrongState(const v1::Experiment& experiment, absl::string_view action,
                        absl::string_view allowed);

bool IsOpen(v1::ExperimentStatus status);

absl::StatusOr<std::vector<v1::Event>> One(v1::Event event);

// For the experiment-level responses: the experiment after the events.
template <typename Response>
std::function<absl::StatusOr<Response>(const Appended&, KeyValueReader&)> RespondWithExperiment(
    std::string id) {
  return [id = std::move(id)](const Appended& appended,
                              KeyValueReader& state) -> absl::StatusOr<Response> {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                             model::ReadExperiment(state, id));
    if (!experiment.has_value()) return absl::InternalError("changed experiment not projected");
    Response response;
    *response.mutable_experiment() = std::move(*experiment);
    response.set_position(appended.last_position);
    return response;
  };
}

// The id of a new outcome, lesson or hypothesis: the caller's, or one the
// server makes, `prefix` and the stream's next version, with a suffix when
// a caller chose that id earlier, so that a generated id never collides.
absl::StatusOr<std::string> ChildId(
    absl::string_view given, absl::string_view prefix, uint64_t next_version,
    const std::function<absl::StatusOr<bool>(const std::string&)>& taken);

// Whether experiment `experiment_id` has an outcome or lesson `id`.
absl::StatusOr<bool> OutcomeExists(KeyValueReader& state, absl::string_view experiment_id,
                                   const std::string& id);

absl::StatusOr<bool> LessonExists(KeyValueReader& state, absl::string_view experiment_id,
                                  const std::string& id);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_COMMAND_SUPPORT_H_
