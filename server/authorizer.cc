#include "server/authorizer.h"

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "core/access.h"

namespace leerlus::server {

absl::StatusOr<core::Caller> DevelopmentAuthorizer::Authorize(
    const grpc::ServerContext& /*context*/, absl::string_view method,
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
    const grpc::ServerContext& context, absl::string_view method,
    const google::protobuf::Message& request) const {
  std::string secret;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::StartsWithIgnoreCase(value, "bearer ")) secret = std::string(value.substr(7));
  }
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  absl::StatusOr<core::Caller> caller = core::Authenticate(*view, secret, absl::Now());
  if (!caller.ok()) return caller.status();
  absl::Status allowed = core::CheckAccess(*caller, method, request, *view);
  if (!allowed.ok()) return allowed;
  return caller;
}

}  // namespace leerlus::server
