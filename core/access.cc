#include "core/access.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace leerlus::core {
namespace {

const std::map<std::string, Access, std::less<>>& Rules() {
  static const auto* rules = new std::map<std::string, Access, std::less<>>{
      {"CreateWorkMethod", Access::kCatalogWrite},
      {"GetWorkMethod", Access::kRead},
      {"ListWorkMethods", Access::kRead},
      {"CreateIndicator", Access::kCatalogWrite},
      {"GetIndicator", Access::kRead},
      {"ListIndicators", Access::kRead},
      {"PutArea", Access::kCatalogWrite},
      {"GetArea", Access::kRead},
      {"ListAreas", Access::kRead},
      {"CreateExperiment", Access::kExperimentWrite},
      {"GetExperiment", Access::kRead},
      {"ListOutcomes", Access::kRead},
      {"ListExperiments", Access::kRead},
      {"UpdateExperiment", Access::kExperimentWrite},
      {"StartExperiment", Access::kExperimentWrite},
      {"EvaluateExperiment", Access::kExperimentWrite},
      {"ConcludeExperiment", Access::kExperimentWrite},
      {"WithdrawExperiment", Access::kExperimentWrite},
      {"CreateHypothesis", Access::kExperimentWrite},
      {"CreateOutcome", Access::kRecord},
      {"RetractOutcome", Access::kRecord},
      {"CreateLesson", Access::kRecord},
      {"ImportOutcomes", Access::kRecord},
      {"ReadEvents", Access::kRead},
      {"Subscribe", Access::kRead},
      {"WhatWorks", Access::kAnalyse},
      {"CompareConditions", Access::kAnalyse},
      {"Scorecard", Access::kAnalyse},
      {"WhatChanged", Access::kAnalyse},
      {"DiscoverConditions", Access::kAnalyse},
      {"Contribution", Access::kAnalyse},
      {"Backup", Access::kAdmin},
      {"CreateToken", Access::kAdmin},
      {"ListTokens", Access::kAdmin},
      {"RevokeToken", Access::kAdmin},
      {"ErasePersonalData", Access::kAdmin},
  };
  return *rules;
}

std::string RoleName(v1::Role role) {
  std::string name = v1::Role_Name(role);
  return name.substr(std::string("ROLE_").size());
}

absl::Status Denied(const Caller& caller, absl::string_view rpc, std::string missing) {
  return WithErrorInfo(
      absl::PermissionDeniedError(absl::StrCat("'", caller.actor, "' (", RoleName(caller.role),
                                               ") may not call ", rpc, ": ", missing)),
      "PERMISSION_DENIED", {{"rpc", std::string(rpc)}, {"role", RoleName(caller.role)}});
}

// The experiment a request is about, "" if none: `experiment_id`, or `id`
// for experiment RPCs, or `experiment.id`.
std::string ExperimentIdOf(absl::string_view rpc, const google::protobuf::Message& request) {
  const auto* descriptor = request.GetDescriptor();
  const auto* reflection = request.GetReflection();
  if (const auto* field = descriptor->FindFieldByName("experiment_id");
      field != nullptr && field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
    return reflection->GetString(request, field);
  }
  if (const auto* field = descriptor->FindFieldByName("experiment");
      field != nullptr && field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
    const auto& experiment =
        static_cast<const v1::Experiment&>(reflection->GetMessage(request, field));
    return experiment.id();
  }
  if (absl::EndsWith(rpc, "Experiment")) {
    if (const auto* field = descriptor->FindFieldByName("id"); field != nullptr) {
      return reflection->GetString(request, field);
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<Access> AccessOf(absl::string_view rpc) {
  auto it = Rules().find(rpc);
  if (it == Rules().end()) return absl::NotFoundError(absl::StrCat("no access rule for ", rpc));
  return it->second;
}

absl::StatusOr<Caller> Authenticate(storage::KeyValueReader& state, const Credentials& credentials,
                                    absl::Time now) {
  auto unauthenticated = [](absl::string_view why) {
    return WithErrorInfo(absl::UnauthenticatedError(absl::StrCat(
                             why, "; send `authorization: Bearer <token>` (leerlus --token)")),
                         "UNAUTHENTICATED");
  };
  std::optional<std::string> token_id;
  if (!credentials.secret.empty()) {
    LEERLUS_ASSIGN_OR_RETURN(token_id,
                             state.Get(storage::ColumnFamily::kCatalog,
                                       storage::CatalogKey(storage::CatalogKind::kTokenSecret,
                                                           Sha256Hex(credentials.secret))));
    if (!token_id.has_value()) return unauthenticated("unknown token");
  } else if (!credentials.certificate_subject.empty()) {
    LEERLUS_ASSIGN_OR_RETURN(token_id,
                             state.Get(storage::ColumnFamily::kCatalog,
                                       storage::CatalogKey(storage::CatalogKind::kTokenCertificate,
                                                           credentials.certificate_subject)));
    if (!token_id.has_value()) {
      return unauthenticated(absl::StrCat("no bearer token, and no token is bound to certificate '",
                                          credentials.certificate_subject, "'"));
    }
  } else {
    return unauthenticated("no bearer token");
  }
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Token> token,
      storage::GetMessage<v1::Token>(state, storage::ColumnFamily::kCatalog,
                                     storage::CatalogKey(storage::CatalogKind::kToken, *token_id)));
  if (!token.has_value()) return unauthenticated("unknown token");
  if (token->revoked())
    return unauthenticated(absl::StrCat("token '", token->id(), "' is revoked"));
  if (token->has_expire_time() && absl::FromUnixSeconds(token->expire_time().seconds()) <= now) {
    return unauthenticated(absl::StrCat("token '", token->id(), "' has expired"));
  }
  Caller caller;
  caller.actor = token->display_name();
  caller.role = token->role();
  caller.team_ids.insert(token->team_ids().begin(), token->team_ids().end());
  caller.partner_id = token->partner_id();
  return caller;
}

std::string ListScopeOf(const Caller& caller) {
  return caller.role == v1::ROLE_PARTNER ? caller.partner_id : "";
}

absl::Status CheckAccess(const Caller& caller, absl::string_view rpc,
                         const google::protobuf::Message& request, storage::KeyValueReader& state) {
  LEERLUS_ASSIGN_OR_RETURN(Access access, AccessOf(rpc));
  if (caller.role == v1::ROLE_ADMIN) return absl::OkStatus();
  const bool reader_like = caller.role == v1::ROLE_EVALUATOR || caller.role == v1::ROLE_READER ||
                           caller.role == v1::ROLE_TEAM;
  switch (access) {
    case Access::kAdmin:
      return Denied(caller, rpc, "this needs the admin role");
    case Access::kCatalogWrite:
      return Denied(caller, rpc, "the catalogue is kept by admins");
    case Access::kAnalyse:
      if (reader_like) return absl::OkStatus();
      return Denied(caller, rpc, "analyses need the evaluator, reader or team role");
    case Access::kRead:
    case Access::kExperimentWrite:
    case Access::kRecord:
      break;
  }
  if (access == Access::kRead && reader_like) return absl::OkStatus();
  if (access == Access::kExperimentWrite && caller.role != v1::ROLE_TEAM) {
    return Denied(caller, rpc, "changing experiments needs the team role");
  }
  if (caller.role != v1::ROLE_TEAM && caller.role != v1::ROLE_PARTNER) {
    return Denied(caller, rpc, "this role cannot write");
  }
  // Team or partner: it depends on the experiment.
  const std::string experiment_id = ExperimentIdOf(rpc, request);
  if (experiment_id.empty()) {
    if (caller.role == v1::ROLE_PARTNER && access == Access::kRead && rpc != "ReadEvents" &&
        rpc != "Subscribe") {
      return absl::OkStatus();  // The catalogue, and lists narrowed by ListScopeOf.
    }
    return Denied(caller, rpc,
                  caller.role == v1::ROLE_PARTNER
                      ? "a partner reads one experiment at a time (name experiment_id)"
                      : "the request names no experiment");
  }
  std::string team_id;
  std::vector<std::string> partners;
  if (rpc == "CreateExperiment") {
    const auto* field = request.GetDescriptor()->FindFieldByName("experiment");
    const auto& experiment =
        static_cast<const v1::Experiment&>(request.GetReflection()->GetMessage(request, field));
    team_id = experiment.team_id();
  } else {
    LEERLUS_ASSIGN_OR_RETURN(
        std::optional<v1::Experiment> experiment,
        storage::GetMessage<v1::Experiment>(state, storage::ColumnFamily::kExperiments,
                                            storage::ExperimentKey(experiment_id)));
    // An unknown experiment: let the command say NOT_FOUND (to callers who
    // may write at all).
    if (!experiment.has_value()) return absl::OkStatus();
    team_id = experiment->team_id();
    partners.assign(experiment->partner_ids().begin(), experiment->partner_ids().end());
  }
  if (caller.role == v1::ROLE_TEAM) {
    if (caller.team_ids.count(team_id)) return absl::OkStatus();
    return Denied(caller, rpc,
                  absl::StrCat("experiment '", experiment_id, "' belongs to team '", team_id,
                               "', not to ", absl::StrJoin(caller.team_ids, ", ")));
  }
  // Partner: reads and records on experiments that list it.
  if (std::find(partners.begin(), partners.end(), caller.partner_id) == partners.end()) {
    return Denied(caller, rpc,
                  absl::StrCat("experiment '", experiment_id, "' does not list partner '",
                               caller.partner_id, "'"));
  }
  if (access == Access::kRead || access == Access::kRecord) return absl::OkStatus();
  return Denied(caller, rpc, "partners record outcomes and lessons only");
}

}  // namespace leerlus::core
