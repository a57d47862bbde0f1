// Authorisation: every handler's first call. The caller it returns is the
// only source of an event's actor.
//
// gRPC 1.51 cannot fail a call with a chosen status from a server
// interceptor, so the check is this one call in every handler instead.
#ifndef LEERLUS_SERVER_AUTHORIZER_H_
#define LEERLUS_SERVER_AUTHORIZER_H_

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/caller.h"
#include "google/protobuf/message.h"
#include "storage/event_store.h"

namespace leerlus::server {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Who calls `method` (the short RPC name, e.g. "CreateExperiment") with
  // `request`, or UNAUTHENTICATED / PERMISSION_DENIED by its role
  // (core::CheckRole); the experiment-level rule is the core's, checked on
  // the state the call acts on.
  virtual absl::StatusOr<core::Caller> Authorize(
      const grpc::ServerContextBase& context, absl::string_view method,
      const google::protobuf::Message& request) const = 0;
};

// Local development only (`leerlusd --insecure-dev`, loopback addresses):
// every caller is an admin named "dev".
class DevelopmentAuthorizer : public Authorizer {
 public:
  absl::StatusOr<core::Caller> Authorize(const grpc::ServerContextBase& context,
                                         absl::string_view method,
                                         const google::protobuf::Message& request) const override;
};

// Bearer tokens (`authorization: Bearer <secret>`) checked against the
// store on every call, so a revocation counts from the next call on.
class TokenAuthorizer : public Authorizer {
 public:
  explicit TokenAuthorizer(storage::EventStore* store) : store_(store) {}
  absl::StatusOr<core::Caller> Authorize(const grpc::ServerContextBase& context,
                                         absl::string_view method,
                                         const google::protobuf::Message& request) const override;

 private:
  storage::EventStore* store_;
};

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_AUTHORIZER_H_
