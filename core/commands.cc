// The catalogue's and the tokens' commands; the experiment's are in
// experiment_commands.cc and record_commands.cc, what they share in
// command_support.h.
#include "core/commands.h"

#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "core/command_support.h"
#include "core/model/streams.h"
#include "core/validation.h"

namespace leerlus::core {

std::string HypothesisSeal(const v1::Hypothesis& hypothesis) {
  v1::Hypothesis content;
  content.set_id(hypothesis.id());
  content.set_statement(hypothesis.statement());
  content.set_indicator_id(hypothesis.indicator_id());
  content.set_expected_direction(hypothesis.expected_direction());
  content.set_smallest_effect_of_interest(hypothesis.smallest_effect_of_interest());
  return Sha256Hex(SerializeDeterministic(content));
}

// ------------------------------------------------------------------ catalogue

namespace {

// Defines a new catalogue entry (work method or indicator): refused if the
// id is taken, answered with the entry as stored.
template <typename Response, typename Entry>
absl::StatusOr<Response> CreateCatalogEntry(
    storage::EventStore* store, absl::string_view method, const google::protobuf::Message& request,
    const std::string& request_id, const Caller& caller, Entry entry, CatalogKind kind,
    std::string stream, absl::string_view what, absl::string_view field,
    std::function<void(v1::Event&, const Entry&)> set_payload,
    std::function<Entry*(Response&)> mutable_entry) {
  const std::string id = entry.id();
  return Run<Response>(
      store, method, request, std::move(stream), request_id, 0, caller,
      [entry, what, field,
       set_payload](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        if (context.stream_version != 0) {
          return WithErrorInfo(
              absl::AlreadyExistsError(absl::StrCat(what, " '", entry.id(), "' already exists")),
              "ALREADY_EXISTS", {{"field", std::string(field)}});
        }
        v1::Event event;
        set_payload(event, entry);
        return One(std::move(event));
      },
      [id, kind, what, field, mutable_entry](const Appended& appended,
                                             KeyValueReader& state) -> absl::StatusOr<Response> {
        Response response;
        LEERLUS_ASSIGN_OR_RETURN(*mutable_entry(response),
                                 LoadCatalog<Entry>(state, kind, id, what, field));
        response.set_position(appended.last_position);
        return response;
      });
}

}  // namespace

absl::StatusOr<v1::CreateWorkMethodResponse> Commands::CreateWorkMethod(
    const v1::CreateWorkMethodRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateWorkMethod(violations, "work_method", request.work_method());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::WorkMethod method = request.work_method();
  method.clear_update_position();
  return CreateCatalogEntry<v1::CreateWorkMethodResponse, v1::WorkMethod>(
      store_, "CreateWorkMethod", request, request.request_id(), caller, method,
      CatalogKind::kWorkMethod, model::WorkMethodStream(method.id()), "work method",
      "work_method.id",
      [](v1::Event& event, const v1::WorkMethod& entry) {
        *event.mutable_work_method_defined()->mutable_work_method() = entry;
      },
      [](v1::CreateWorkMethodResponse& response) { return response.mutable_work_method(); });
}

absl::StatusOr<v1::CreateIndicatorResponse> Commands::CreateIndicator(
    const v1::CreateIndicatorRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateIndicator(violations, "indicator", request.indicator());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Indicator indicator = request.indicator();
  indicator.clear_update_position();
  return CreateCatalogEntry<v1::CreateIndicatorResponse, v1::Indicator>(
      store_, "CreateIndicator", request, request.request_id(), caller, indicator,
      CatalogKind::kIndicator, model::IndicatorStream(indicator.id()), "indicator", "indicator.id",
      [](v1::Event& event, const v1::Indicator& entry) {
        *event.mutable_indicator_defined()->mutable_indicator() = entry;
      },
      [](v1::CreateIndicatorResponse& response) { return response.mutable_indicator(); });
}

absl::StatusOr<v1::PutAreaResponse> Commands::PutArea(const v1::PutAreaRequest& request,
                                                      const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  ValidateArea(violations, "area", request.area());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Area area = request.area();
  area.clear_update_position();
  v1::AreaLevel level;
  ParseAreaCode(area.code(), &level);
  area.set_level(level);
  const std::string code = area.code();
  return Run<v1::PutAreaResponse>(
      store_, "PutArea", request, model::AreaStream(code), request.request_id(), 0, caller,
      [area](const DecisionContext&) -> absl::StatusOr<std::vector<v1::Event>> {
        v1::Event event;
        *event.mutable_area_defined()->mutable_area() = area;
        return One(std::move(event));
      },
      [code](const Appended& appended,
             KeyValueReader& state) -> absl::StatusOr<v1::PutAreaResponse> {
        v1::PutAreaResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_area(),
            LoadCatalog<v1::Area>(state, CatalogKind::kArea, code, "area", "area.code"));
        response.set_position(appended.last_position);
        return response;
      });
}

// ---------------------------------------------------------------- tokens

absl::StatusOr<v1::CreateTokenResponse> Commands::CreateToken(const v1::CreateTokenRequest& request,
                                                              const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  const v1::Token& given = request.token();
  CheckId(violations, "token.id", given.id());
  CheckLine(violations, "token.display_name", given.display_name(), 1, kMaxNameLength);
  if (given.role() == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(given.role())) {
    violations.Add("token.role", "must be ADMIN, EVALUATOR, TEAM, PARTNER or READER");
  }
  CheckIdList(violations, "token.team_ids", given.team_ids());
  if (given.role() == v1::ROLE_TEAM && given.team_ids_size() == 0) {
    violations.Add("token.team_ids", "a TEAM token needs at least one team");
  }
  if (given.role() != v1::ROLE_TEAM && given.team_ids_size() > 0) {
    violations.Add("token.team_ids", "only TEAM tokens act for teams");
  }
  if (given.role() == v1::ROLE_PARTNER) {
    CheckId(violations, "token.partner_id", given.partner_id());
  } else if (!given.partner_id().empty()) {
    violations.Add("token.partner_id", "only PARTNER tokens act for a partner");
  }
  CheckText(violations, "token.certificate_subject", given.certificate_subject(), 0,
            kMaxCertificateSubjectLength);
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  v1::Token token = given;
  token.clear_revoked();
  token.clear_create_position();
  // A certificate-bound token has no secret: the certificate is the proof.
  const std::string secret = token.certificate_subject().empty() ? NewTokenSecret() : "";
  const std::string id = token.id();
  auto fresh = std::make_shared<bool>(false);
  absl::StatusOr<v1::CreateTokenResponse> response = Run<v1::CreateTokenResponse>(
      store_, "CreateToken", request, model::TokenStream(id), request.request_id(), 0, caller,
      [token, secret](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        if (context.stream_version != 0) {
          return WithErrorInfo(
              absl::AlreadyExistsError(absl::StrCat("token '", token.id(), "' already exists")),
              "ALREADY_EXISTS", {{"field", "token.id"}});
        }
        if (!token.certificate_subject().empty()) {
          LEERLUS_ASSIGN_OR_RETURN(
              std::optional<std::string> holder,
              model::FindTokenIdByCertificate(context.state, token.certificate_subject()));
          if (holder.has_value()) {
            return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                                     "token '", *holder, "' already has certificate subject '",
                                     token.certificate_subject(), "'")),
                                 "ALREADY_EXISTS", {{"field", "token.certificate_subject"}});
          }
        }
        v1::Event event;
        *event.mutable_token_created()->mutable_token() = token;
        if (!secret.empty()) event.mutable_token_created()->set_secret_sha256(Sha256Hex(secret));
        return One(std::move(event));
      },
      [id, fresh](const Appended& appended,
                  KeyValueReader& state) -> absl::StatusOr<v1::CreateTokenResponse> {
        *fresh = true;
        v1::CreateTokenResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_token(),
            LoadCatalog<v1::Token>(state, CatalogKind::kToken, id, "token", "token.id"));
        response.set_position(appended.last_position);
        return response;  // Stored without the secret.
      });
  if (response.ok() && *fresh && !secret.empty()) response->set_secret(secret);
  return response;
}

absl::StatusOr<v1::RevokeTokenResponse> Commands::RevokeToken(const v1::RevokeTokenRequest& request,
                                                              const Caller& caller) {
  FieldViolations violations;
  CheckRequestId(violations, request.request_id());
  CheckId(violations, "id", request.id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string id = request.id();
  return Run<v1::RevokeTokenResponse>(
      store_, "RevokeToken", request, model::TokenStream(id), request.request_id(), 0, caller,
      [id](const DecisionContext& context) -> absl::StatusOr<std::vector<v1::Event>> {
        LEERLUS_ASSIGN_OR_RETURN(
            v1::Token token,
            LoadCatalog<v1::Token>(context.state, CatalogKind::kToken, id, "token", "id"));
        if (token.revoked()) {
          return PreconditionError("TOKEN", absl::StrCat("tokens/", id),
                                   absl::StrCat("token '", id, "' is already revoked"));
        }
        v1::Event event;
        event.mutable_token_revoked()->set_token_id(id);
        return One(std::move(event));
      },
      [id](const Appended& appended,
           KeyValueReader& state) -> absl::StatusOr<v1::RevokeTokenResponse> {
        v1::RevokeTokenResponse response;
        LEERLUS_ASSIGN_OR_RETURN(
            *response.mutable_token(),
            LoadCatalog<v1::Token>(state, CatalogKind::kToken, id, "token", "id"));
        response.set_position(appended.last_position);
        return response;
      });
}

std::string NewTokenSecret() {
  unsigned char bytes[32];                                  // 256 bits.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // No entropy: do not issue tokens.
  return absl::StrCat("lls_", absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

}  // namespace leerlus::core
