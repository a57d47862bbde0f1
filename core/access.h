// Who may do what: bearer tokens with roles, checked on every call.
//
// The rules (also in the README):
//   admin      everything
//   evaluator  every read and analysis
//   reader     every read and analysis
//   team       every read and analysis; creates and changes the experiments
//              of its teams, with their hypotheses, outcomes and lessons
//   partner    reads the catalogue and the experiments that list it as
//              partner (and their events); records outcomes and lessons on
//              them, and retracts the outcomes it recorded; nothing else
// Token events are shown to admins only.
#ifndef LEERLUS_CORE_ACCESS_H_
#define LEERLUS_CORE_ACCESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/caller.h"
#include "google/protobuf/message.h"
#include "leerlus/v1/events.pb.h"
#include "leerlus/v1/resources.pb.h"
#include "storage/key_value.h"

namespace leerlus::core {

// What an RPC needs.
enum class Access {
  kRead,             // Catalogue and experiment reads, the event log.
  kAnalyse,          // What works and its friends.
  kCatalogWrite,     // Work methods, indicators, areas.
  kExperimentWrite,  // Register, amend, lifecycle, hypotheses.
  kRecord,           // Outcomes and lessons.
  kAdmin,            // Tokens and backups.
  kLogProof,         // Checkpoints and proofs of the log's tree: every role.
};

// The rule of every RPC, by its short name; NOT_FOUND for an RPC without a
// rule (a test walks every service to make sure there is none).
absl::StatusOr<Access> AccessOf(absl::string_view rpc);

// How a call proves who it is.
struct Credentials {
  // The bearer token's secret ("" if none was sent).
  std::string secret;
  // The subject of the client certificate the TLS handshake verified (""
  // without mutual TLS).
  std::string certificate_subject;
};

// The caller the credentials belong to: a bearer token when one is sent,
// else the token bound to the client certificate's subject.
// UNAUTHENTICATED if unknown, revoked or expired.
absl::StatusOr<Caller> Authenticate(storage::KeyValueReader& state, const Credentials& credentials,
                                    absl::Time now);

// The partner whose experiments alone `caller` may list ("" for every
// other role: they may list all).
std::string ListScopeOf(const Caller& caller);

// The one rule of who may do what, in three parts:
//   CheckRole    what needs no state (the role against the RPC); every
//                handler checks it first.
//   CheckAccess  the whole rule: CheckRole, then the experiment the request
//                names, as `state` holds it. Changes check it inside their
//                decision on the writer's state, reads on the view they
//                answer from, so no interleaving can separate the check
//                from what it allows.
//   MayReadEvent the same rule for each event a log read or a stream sends.
// Each is PERMISSION_DENIED naming what is missing. A partner gets the same
// answer for an experiment that does not exist as for one that does not
// list it (AIP-211).
absl::Status CheckRole(const Caller& caller, absl::string_view rpc,
                       const google::protobuf::Message& request);
absl::Status CheckAccess(const Caller& caller, absl::string_view rpc,
                         const google::protobuf::Message& request, storage::KeyValueReader& state);
absl::StatusOr<bool> MayReadEvent(const Caller& caller, const v1::Event& event,
                                  storage::KeyValueReader& state);

// What of a request the experiment-level rule looks at, taken from it up
// front so that a decision made later needs no copy of the request.
struct AccessTarget {
  // The experiment the request is about ("" if none).
  std::string experiment_id;
  // CreateExperiment: the new experiment's team and parent iteration.
  std::string new_team_id;
  std::string parent_id;
  // RetractOutcome: the outcome taken back.
  std::string outcome_id;
};
AccessTarget TargetOf(absl::string_view rpc, const google::protobuf::Message& request);

// CheckAccess's state-dependent half, for a target taken earlier with
// TargetOf: the caller's token still valid (CheckStillValid), then the
// experiment-level rule (CheckExperimentAccess). A change runs it first in
// its decision, before its request record or stream version is looked at.
absl::Status AuthorizeOnState(const Caller& caller, absl::string_view rpc,
                              const AccessTarget& target, storage::KeyValueReader& state);
absl::Status CheckExperimentAccess(const Caller& caller, absl::string_view rpc,
                                   const AccessTarget& target, storage::KeyValueReader& state);

// UNAUTHENTICATED if the caller's token is, in `state`, revoked, expired or
// gone: a change re-checks it inside its decision, a stream before each
// batch it sends.
absl::Status CheckStillValid(const Caller& caller, storage::KeyValueReader& state, absl::Time now);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_ACCESS_H_
