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
//              them; nothing else
#ifndef LEERLUS_CORE_ACCESS_H_
#define LEERLUS_CORE_ACCESS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/caller.h"
#include "google/protobuf/message.h"
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

// PERMISSION_DENIED (naming what is missing) unless `caller` may call `rpc`
// with `request`; reads the experiment the request names where ownership
// or partnership matters.
absl::Status CheckAccess(const Caller& caller, absl::string_view rpc,
                         const google::protobuf::Message& request, storage::KeyValueReader& state);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_ACCESS_H_
