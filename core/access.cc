#include "core/access.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "core/model/read_model.h"
#include "leerlus/v1/experiment_service.pb.h"

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
      {"ImportOutcomeBatch", Access::kRecord},
      {"ReadEvents", Access::kRead},
      {"Subscribe", Access::kRead},
      // What they reveal is sizes and hashes, never contents: proofs carry
      // hashes of subtrees (a leaf's hash too, next to the caller's own),
      // as each event's previous_hash already does. An inclusion proof is
      // asked for by position, so it is given only for an event the caller
      // may read (MayReadEvent): no one learns where another's events are.
      {"GetCheckpoint", Access::kLogProof},
      {"GetInclusionProof", Access::kLogProof},
      {"GetConsistencyProof", Access::kLogProof},
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

absl::Status Unauthenticated(absl::string_view why) {
  return WithErrorInfo(absl::UnauthenticatedError(absl::StrCat(
                           why, "; send `authorization: Bearer <token>` (leerlus --token)")),
                       "UNAUTHENTICATED");
}

// UNAUTHENTICATED unless the token exists, is not revoked and not expired.
absl::Status CheckTokenUsable(const std::optional<v1::Token>& token, absl::Time now) {
  if (!token.has_value()) return Unauthenticated("unknown token");
  if (token->revoked())
    return Unauthenticated(absl::StrCat("token '", token->id(), "' is revoked"));
  if (token->has_expire_time() && absl::FromUnixSeconds(token->expire_time().seconds()) <= now) {
    return Unauthenticated(absl::StrCat("token '", token->id(), "' has expired"));
  }
  return absl::OkStatus();
}

// Evaluators, readers and teams read every experiment.
bool ReadsEverything(const Caller& caller) {
  return caller.role == v1::ROLE_EVALUATOR || caller.role == v1::ROLE_READER ||
         caller.role == v1::ROLE_TEAM;
}

// The experiment record as the state holds it (its version and update time
// may be older; ownership and partners are current).
absl::StatusOr<std::optional<v1::Experiment>> ReadExperimentRecord(storage::KeyValueReader& state,
                                                                   absl::string_view id) {
  return model::ExperimentRecord(state, id);
}

}  // namespace

absl::StatusOr<Access> AccessOf(absl::string_view rpc) {
  auto it = Rules().find(rpc);
  if (it == Rules().end()) return absl::NotFoundError(absl::StrCat("no access rule for ", rpc));
  return it->second;
}

absl::StatusOr<Caller> Authenticate(storage::KeyValueReader& state, const Credentials& credentials,
                                    absl::Time now) {
  std::optional<std::string> token_id;
  if (!credentials.secret.empty()) {
    LEERLUS_ASSIGN_OR_RETURN(token_id,
                             model::FindTokenIdBySecretHash(state, Sha256Hex(credentials.secret)));
    if (!token_id.has_value()) return Unauthenticated("unknown token");
  } else if (!credentials.certificate_subject.empty()) {
    LEERLUS_ASSIGN_OR_RETURN(
        token_id, model::FindTokenIdByCertificate(state, credentials.certificate_subject));
    if (!token_id.has_value()) {
      return Unauthenticated(absl::StrCat("no bearer token, and no token is bound to certificate '",
                                          credentials.certificate_subject, "'"));
    }
  } else {
    return Unauthenticated("no bearer token");
  }
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Token> token,
      model::FindCatalogEntry<v1::Token>(state, model::CatalogKind::kToken, *token_id));
  LEERLUS_RETURN_IF_ERROR(CheckTokenUsable(token, now));
  Caller caller;
  caller.actor = token->display_name();
  caller.role = token->role();
  caller.team_ids.insert(token->team_ids().begin(), token->team_ids().end());
  caller.partner_id = token->partner_id();
  caller.token_id = token->id();
  return caller;
}

std::string ListScopeOf(const Caller& caller) {
  return caller.role == v1::ROLE_PARTNER ? caller.partner_id : "";
}

absl::Status CheckStillValid(const Caller& caller, storage::KeyValueReader& state, absl::Time now) {
  if (caller.token_id.empty()) return absl::OkStatus();
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<v1::Token> token,
      model::FindCatalogEntry<v1::Token>(state, model::CatalogKind::kToken, caller.token_id));
  return CheckTokenUsable(token, now);
}

absl::Status CheckRole(const Caller& caller, absl::string_view rpc,
                       const google::protobuf::Message& request) {
  LEERLUS_ASSIGN_OR_RETURN(Access access, AccessOf(rpc));
  if (caller.role == v1::ROLE_ADMIN) return absl::OkStatus();
  switch (access) {
    case Access::kLogProof:
      return absl::OkStatus();
    case Access::kAdmin:
      return Denied(caller, rpc, "this needs the admin role");
    case Access::kCatalogWrite:
      return Denied(caller, rpc, "the catalogue is kept by admins");
    case Access::kAnalyse:
      if (ReadsEverything(caller)) return absl::OkStatus();
      return Denied(caller, rpc, "analyses need the evaluator, reader or team role");
    case Access::kRead:
      if (ReadsEverything(caller)) return absl::OkStatus();
      break;
    case Access::kExperimentWrite:
      if (caller.role != v1::ROLE_TEAM) {
        return Denied(caller, rpc, "changing experiments needs the team role");
      }
      break;
    case Access::kRecord:
      if (caller.role != v1::ROLE_TEAM && caller.role != v1::ROLE_PARTNER) {
        return Denied(caller, rpc, "this role cannot write");
      }
      break;
  }
  if (caller.role != v1::ROLE_TEAM && caller.role != v1::ROLE_PARTNER) {
    return Denied(caller, rpc, "this role cannot read experiments");
  }
  // Team or partner: the rest depends on the experiment, decided by
  // CheckAccess on the state the call acts on. An import stream opens
  // before its rows; each row (a CreateOutcomeRequest) is then checked
  // under ImportOutcomes as it comes, as a change of its own experiment.
  if ((rpc == "ImportOutcomes" &&
       request.GetDescriptor() == v1::ImportOutcomesRequest::descriptor()) ||
      (rpc == "ImportOutcomeBatch" &&
       request.GetDescriptor() == v1::ImportOutcomeBatchRequest::descriptor())) {
    return absl::OkStatus();
  }
  if (ExperimentIdOf(rpc, request).empty()) {
    if (caller.role == v1::ROLE_PARTNER && access == Access::kRead && rpc != "ReadEvents" &&
        rpc != "Subscribe") {
      return absl::OkStatus();  // The catalogue, and lists narrowed by ListScopeOf.
    }
    return Denied(caller, rpc,
                  caller.role == v1::ROLE_PARTNER
                      ? "a partner reads one experiment at a time (name experiment_id)"
                      : "the request names no experiment");
  }
  return absl::OkStatus();
}

absl::Status CheckAccess(const Caller& caller, absl::string_view rpc,
                         const google::protobuf::Message& request, storage::KeyValueReader& state) {
  LEERLUS_RETURN_IF_ERROR(CheckRole(caller, rpc, request));
  return AuthorizeOnState(caller, rpc, TargetOf(rpc, request), state);
}

absl::Status AuthorizeOnState(const Caller& caller, absl::string_view rpc,
                              const AccessTarget& target, storage::KeyValueReader& state) {
  LEERLUS_RETURN_IF_ERROR(CheckStillValid(caller, state, absl::Now()));
  return CheckExperimentAccess(caller, rpc, target, state);
}

AccessTarget TargetOf(absl::string_view rpc, const google::protobuf::Message& request) {
  AccessTarget target;
  target.experiment_id = ExperimentIdOf(rpc, request);
  if (request.GetDescriptor() == v1::CreateExperimentRequest::descriptor()) {
    const auto& experiment = static_cast<const v1::CreateExperimentRequest&>(request).experiment();
    target.new_team_id = experiment.team_id();
    target.parent_id = experiment.parent_experiment_id();
  }
  if (request.GetDescriptor() == v1::RetractOutcomeRequest::descriptor()) {
    target.outcome_id = static_cast<const v1::RetractOutcomeRequest&>(request).outcome_id();
  }
  return target;
}

absl::Status CheckExperimentAccess(const Caller& caller, absl::string_view rpc,
                                   const AccessTarget& target, storage::KeyValueReader& state) {
  if (caller.role == v1::ROLE_ADMIN || target.experiment_id.empty()) return absl::OkStatus();
  LEERLUS_ASSIGN_OR_RETURN(Access access, AccessOf(rpc));
  if (access == Access::kRead && ReadsEverything(caller)) return absl::OkStatus();
  if (caller.role == v1::ROLE_TEAM && rpc == "CreateExperiment") {
    if (!caller.team_ids.count(target.new_team_id)) {
      return Denied(
          caller, rpc,
          absl::StrCat("experiment '", target.experiment_id, "' would belong to team '",
                       target.new_team_id, "', not to ", absl::StrJoin(caller.team_ids, ", ")));
    }
    if (target.parent_id.empty()) return absl::OkStatus();
    // The next iteration of an experiment of the same team only: linking
    // across teams is an admin's call.
    LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> parent,
                             ReadExperimentRecord(state, target.parent_id));
    if (parent.has_value() && !caller.team_ids.count(parent->team_id())) {
      return Denied(
          caller, rpc,
          absl::StrCat("the parent experiment '", target.parent_id, "' belongs to team '",
                       parent->team_id(), "'; only an admin links iterations across teams"));
    }
    return absl::OkStatus();  // A missing parent: the command says NOT_FOUND.
  }
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                           ReadExperimentRecord(state, target.experiment_id));
  if (caller.role == v1::ROLE_TEAM) {
    // Teams read every experiment, so its existence is no secret: an
    // unknown one is the command's NOT_FOUND, decided on this same state.
    if (!experiment.has_value() || caller.team_ids.count(experiment->team_id())) {
      return absl::OkStatus();
    }
    return Denied(
        caller, rpc,
        absl::StrCat("experiment '", target.experiment_id, "' belongs to team '",
                     experiment->team_id(), "', not to ", absl::StrJoin(caller.team_ids, ", ")));
  }
  if (caller.role != v1::ROLE_PARTNER) return Denied(caller, rpc, "this role cannot write");
  // A partner sees only the experiments that list it, and learns nothing of
  // the others, not even whether they exist (AIP-211): one answer for both.
  const bool listed = experiment.has_value() &&
                      std::find(experiment->partner_ids().begin(), experiment->partner_ids().end(),
                                caller.partner_id) != experiment->partner_ids().end();
  if (!listed) {
    return Denied(
        caller, rpc,
        absl::StrCat("experiment '", target.experiment_id,
                     "' does not exist or does not list partner '", caller.partner_id, "'"));
  }
  if (access == Access::kRead) return absl::OkStatus();
  if (access != Access::kRecord)
    return Denied(caller, rpc, "partners record outcomes and lessons only");
  if (!target.outcome_id.empty()) {
    // A partner takes back only what it recorded itself.
    LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> outcome,
                             model::FindOutcome(state, target.experiment_id, target.outcome_id));
    if (outcome.has_value() && outcome->recorded_by_partner_id() != caller.partner_id) {
      return Denied(caller, rpc,
                    absl::StrCat("outcome '", target.outcome_id, "' was not recorded by partner '",
                                 caller.partner_id, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> MayReadEvent(const Caller& caller, const v1::Event& event,
                                  storage::KeyValueReader& state) {
  if (caller.role == v1::ROLE_ADMIN) return true;
  // Tokens are the admins' business (ListTokens is admin-only too).
  if (event.has_token_created() || event.has_token_revoked()) return false;
  if (ReadsEverything(caller)) return true;
  if (caller.role != v1::ROLE_PARTNER) return false;
  constexpr absl::string_view kExperimentStreams = "experiments/";
  if (!absl::StartsWith(event.stream(), kExperimentStreams)) return true;  // The catalogue.
  AccessTarget target;
  target.experiment_id = event.stream().substr(kExperimentStreams.size());
  absl::Status allowed = CheckExperimentAccess(caller, "ReadEvents", target, state);
  if (allowed.ok()) return true;
  if (absl::IsPermissionDenied(allowed)) return false;
  return allowed;
}

}  // namespace leerlus::core
