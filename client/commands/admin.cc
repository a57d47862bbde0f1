// admin, health, token: operator tasks and access.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "client/health.h"

namespace leerlus::cli {
namespace {

void AddBackupAndErase(CLI::App& app, CommandContext& ctx) {
  auto* admin = app.add_subcommand("admin", "operator tasks")->require_subcommand(1);
  auto* backup =
      admin->add_subcommand("backup", "write a consistent backup while the server keeps serving");
  auto request = std::make_shared<v1::BackupRequest>();
  backup
      ->add_option("--to", *request->mutable_directory(),
                   "new directory on the server's machine (absolute path)")
      ->required();
  ctx.OnRun(backup, [&ctx, request](client::Client& api) {
    return CallAndRender(api, ctx.format(), &v1::AdminService::Stub::Backup, api.admin(), *request);
  });

  auto* erase = admin->add_subcommand("erase",
                                      "erase an experiment's personal texts (lessons, rationale, "
                                      "reasons) for good; numbers stay");
  auto erase_request = std::make_shared<v1::ErasePersonalDataRequest>();
  erase->add_option("--experiment", *erase_request->mutable_experiment_id(), "experiment id")
      ->required();
  ctx.OnRun(erase, [&ctx, erase_request](client::Client& api) {
    erase_request->set_request_id(ctx.RequestId());
    erase_request->set_expected_version(ctx.globals.expected_version);
    return CallAndRender(api, ctx.format(), &v1::AdminService::Stub::ErasePersonalData, api.admin(),
                         *erase_request);
  });
}

void AddHealthCommand(CLI::App& app, CommandContext& ctx) {
  auto* health =
      app.add_subcommand("health", "ask the standard gRPC health service; exit 0 when SERVING");
  ctx.OnRun(health, [](client::Client& api) {
    client::ServingStatus serving = client::ServingStatus::kUnknown;
    grpc::Status status = client::CheckHealth(api, &serving);
    if (!status.ok()) return PrintError(status);
    const bool is_serving = serving == client::ServingStatus::kServing;
    std::cout << (is_serving ? "SERVING" : "NOT_SERVING") << std::endl;
    return is_serving ? 0 : 1;
  });
}

void AddCreateToken(CLI::App* token, CommandContext& ctx) {
  auto* create = token->add_subcommand("create", "create a token; its secret is shown once");
  auto request = std::make_shared<v1::CreateTokenRequest>();
  auto role = std::make_shared<std::string>();
  auto expires_days = std::make_shared<int>(0);
  auto* t = request->mutable_token();
  create->add_option("--id", *t->mutable_id(), "stable id")->required();
  create
      ->add_option("--name", *t->mutable_display_name(), "who holds it (the actor of its changes)")
      ->required();
  create->add_option("--role", *role, "admin, evaluator, team, partner or reader")->required();
  create->add_option_function<std::vector<std::string>>(
      "--team",
      [t](const std::vector<std::string>& v) {
        for (const auto& id : v) t->add_team_ids(id);
      },
      "team the token acts for (role team; repeatable)");
  create->add_option("--partner", *t->mutable_partner_id(),
                     "partner the token acts for (role partner)");
  create->add_option("--expires-days", *expires_days, "refuse the token after this many days");
  create->add_option("--cert-subject", *t->mutable_certificate_subject(),
                     "bind to a client certificate instead of a secret (mutual TLS), e.g. "
                     "'CN=ggd-hvb,O=GGD'");
  ctx.OnRun(create, [&ctx, request, role, expires_days](client::Client& api) {
    request->mutable_token()->set_role(RequireEnum("--role", *role, "ROLE_", &v1::Role_Parse,
                                                   "admin, evaluator, team, partner, reader"));
    if (*expires_days > 0) {
      request->mutable_token()->mutable_expire_time()->set_seconds(
          absl::ToUnixSeconds(absl::Now() + absl::Hours(24) * *expires_days));
    }
    request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::AdminService::Stub::CreateToken, api.admin(),
                         *request);
  });
}

void AddTokenCommands(CLI::App& app, CommandContext& ctx) {
  auto* token = app.add_subcommand("token", "access tokens (admin)")->require_subcommand(1);
  AddCreateToken(token, ctx);
  auto* list = token->add_subcommand("list", "list tokens (never their secrets)");
  ctx.OnRun(list, [&ctx](client::Client& api) {
    return CallAndRender(api, ctx.format(), &v1::AdminService::Stub::ListTokens, api.admin(),
                         v1::ListTokensRequest());
  });
  auto* revoke = token->add_subcommand("revoke", "revoke a token from the next call on");
  auto revoke_request = std::make_shared<v1::RevokeTokenRequest>();
  revoke->add_option("id", *revoke_request->mutable_id())->required();
  ctx.OnRun(revoke, [&ctx, revoke_request](client::Client& api) {
    revoke_request->set_request_id(ctx.RequestId());
    return CallAndRender(api, ctx.format(), &v1::AdminService::Stub::RevokeToken, api.admin(),
                         *revoke_request);
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, CommandContext& ctx) {
  AddBackupAndErase(app, ctx);
  AddHealthCommand(app, ctx);
  AddTokenCommands(app, ctx);
}

}  // namespace leerlus::cli
