// Authorisation: every handler's first call. The caller it returns is the
// only source of an event's actor.
//
// gRPC 1.51 cannot fail a call with a chosen status from a server
// interceptor, so the check is this one call in every handler instead.
// Today's implementation admits every caller and names it after its peer;
// token and role checks replace it without touching the handlers.
#ifndef LEERLUS_SERVER_AUTHORIZER_H_
#define LEERLUS_SERVER_AUTHORIZER_H_

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/caller.h"

namespace leerlus::server {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // Who calls `method` (the short RPC name, e.g. "CreateExperiment"), or
  // UNAUTHENTICATED / PERMISSION_DENIED.
  virtual absl::StatusOr<core::Caller> Authorize(const grpc::ServerContext& context,
                                                 absl::string_view method) const = 0;
};

// Admits every caller (development and single-user installations).
class OpenAuthorizer : public Authorizer {
 public:
  absl::StatusOr<core::Caller> Authorize(const grpc::ServerContext& context,
                                         absl::string_view method) const override;
};

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_AUTHORIZER_H_
