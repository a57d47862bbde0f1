#include "server/authorizer.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "core/access.h"

namespace leerlus::server {

absl::StatusOr<core::Caller> DevelopmentAuthorizer::Authorize(
    const grpc::ServerContextBase& /*context*/, absl::string_view method,
    const google::protobuf::Message& /*request*/) const {
  // Still refuse RPCs without a rule, as the token authorizer does.
  absl::StatusOr<core::Access> access = core::AccessOf(method);
  if (!access.ok()) return absl::PermissionDeniedError(access.status().message());
  core::Caller caller;
  caller.actor = "dev";
  caller.role = v1::ROLE_ADMIN;
  return caller;
}

absl::StatusOr<core::Caller> TokenAuthorizer::Authorize(
    const grpc::ServerContextBase& context, absl::string_view method,
    const google::protobuf::Message& request) const {
  std::string secret;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::StartsWithIgnoreCase(value, "bearer ")) secret = std::string(value.substr(7));
  }
  // Set only by a mutual-TLS handshake that verified the client's
  // certificate against --tls-client-ca.
  std::string certificate_subject;
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
      auth != nullptr && auth->IsPeerAuthenticated()) {
    std::vector<grpc::string_ref> subjects =
        auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
    if (!subjects.empty()) certificate_subject.assign(subjects[0].data(), subjects[0].size());
  }
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  absl::StatusOr<core::Caller> caller = core::Authenticate(
      *view, core::Credentials{std::move(secret), std::move(certificate_subject)}, absl::Now());
  if (!caller.ok()) return caller.status();
  // What depends on an experiment is decided where the call acts: inside
  // a change's decision, on a read's view (core/access.h).
  absl::Status allowed = core::CheckRole(*caller, method, request);
  if (!allowed.ok()) return allowed;
  return caller;
}

}  // namespace leerlus::server
