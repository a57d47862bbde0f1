// Who may do what, against the real leerlusd with tokens required.
#include <gtest/gtest.h>

#include <tuple>

#include "absl/strings/match.h"
#include "client/client.h"
#include "core/access.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "google/protobuf/descriptor.h"
#include "leerlus/v1/admin_service.pb.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/event_log_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"
#include "leerlus/v1/insight_service.pb.h"
#include "storage/event_store.h"
#include "tests/access_table.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

// Every RPC of every service has an access rule: adding an RPC without one
// fails here.
TEST(AccessRulesTest, EveryRpcHasARule) {
  int rpcs = 0;
  for (const google::protobuf::MethodDescriptor* rpc : AllRpcs()) {
    EXPECT_TRUE(core::AccessOf(rpc->name()).ok()) << rpc->full_name() << " has no access rule";
    ++rpcs;
  }
  EXPECT_EQ(rpcs, 40);  // 9 catalogue, 15 experiment, 5 log, 6 insight, 5 admin.
  EXPECT_FALSE(core::AccessOf("DropEverything").ok());
}

// Every role against every RPC (tests/access_table.h). An RPC missing
// from the table fails.
TEST(AccessRulesTest, EveryRoleAgainstEveryRpc) {
  storage::MemoryProjection state(2, 0);
  for (auto [id, team, partner] :
       {std::tuple{"north-1", "north", "ggd"}, std::tuple{"south-1", "south", ""}}) {
    v1::Experiment experiment;
    experiment.set_id(id);
    experiment.set_team_id(team);
    if (*partner != '\0') experiment.add_partner_ids(partner);
    storage::PutMessage(state.writer(), model::families::kExperiments, model::ExperimentKey(id),
                        experiment);
  }
  const std::map<std::string, core::Caller> callers = {
      {"admin", {"admin", v1::ROLE_ADMIN, {}, ""}},
      {"evaluator", {"evaluator", v1::ROLE_EVALUATOR, {}, ""}},
      {"team", {"team", v1::ROLE_TEAM, {"north"}, ""}},
      {"partner", {"partner", v1::ROLE_PARTNER, {}, "ggd"}},
      {"reader", {"reader", v1::ROLE_READER, {}, ""}},
  };
  int checked = 0;
  for (const google::protobuf::MethodDescriptor* method : AllRpcs()) {
    ASSERT_TRUE(AccessTable().contains(method->name()))
        << method->name() << " has no row in the table";
    // An import (stream or batch) is authorised row by row: each row is a
    // CreateOutcomeRequest, checked under ImportOutcomes.
    const bool row = method->name() == "ImportOutcomes" || method->name() == "ImportOutcomeBatch";
    const std::string rpc = row ? "ImportOutcomes" : method->name();
    for (const std::string experiment_id : {"north-1", "south-1"}) {
      std::unique_ptr<google::protobuf::Message> request = TableRequest(
          row ? v1::CreateOutcomeRequest::descriptor() : method->input_type(), rpc, experiment_id);
      for (const std::string& role : TableRoles()) {
        absl::Status status = core::CheckAccess(callers.at(role), rpc, *request, state);
        const bool allowed = AccessTableAllows(method->name(), experiment_id, role);
        EXPECT_EQ(status.ok(), allowed)
            << role << " -> " << method->name() << " (" << experiment_id << "): " << status;
        if (!allowed) {
          EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 40 * 2 * 5);
}

// ImportOutcomes is authorised under its own name: the stream by role when
// it opens, then each row (a CreateOutcomeRequest) as it comes, which must
// name its experiment like any change.
TEST(AccessRulesTest, AnImportIsAuthorisedUnderImportOutcomesRowByRow) {
  const core::Caller team{"team", v1::ROLE_TEAM, {"north"}, ""};
  const core::Caller reader{"reader", v1::ROLE_READER, {}, ""};
  EXPECT_TRUE(core::CheckRole(team, "ImportOutcomes", v1::ImportOutcomesRequest()).ok());
  const absl::Status reading =
      core::CheckRole(reader, "ImportOutcomes", v1::ImportOutcomesRequest());
  EXPECT_EQ(reading.code(), absl::StatusCode::kPermissionDenied) << reading;
  // A batch opens the same way; its rows are checked as a stream's are.
  EXPECT_TRUE(core::CheckRole(team, "ImportOutcomeBatch", v1::ImportOutcomeBatchRequest()).ok());
  EXPECT_EQ(core::CheckRole(reader, "ImportOutcomeBatch", v1::ImportOutcomeBatchRequest()).code(),
            absl::StatusCode::kPermissionDenied);
  v1::CreateOutcomeRequest row;  // Names no experiment.
  const absl::Status nameless = core::CheckRole(team, "ImportOutcomes", row);
  EXPECT_EQ(nameless.code(), absl::StatusCode::kPermissionDenied) << nameless;
  EXPECT_TRUE(absl::StrContains(nameless.message(), "may not call ImportOutcomes")) << nameless;
  row.set_experiment_id("north-1");
  EXPECT_TRUE(core::CheckRole(team, "ImportOutcomes", row).ok());
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.File("data"), std::vector<std::string>{},
                                              /*authenticated=*/true);
    server_->Start();
    admin_secret_ = ReadFile(server_->admin_token_file());
    while (!admin_secret_.empty() && admin_secret_.back() == '\n') admin_secret_.pop_back();
    ASSERT_EQ(admin_secret_.size(), 4u + 64u);  // "lls_" + 256 bits in hex.
    admin_ = Client(admin_secret_);
    // The catalogue and two experiments: north's (with partner ggd) and south's.
    const v1::CreateWorkMethodRequest method = SampleWorkMethodRequest("m");
    ASSERT_EQ(Code(*admin_, &v1::CatalogService::Stub::CreateWorkMethod, &client::Client::catalog,
                   method),
              0);
    const v1::CreateIndicatorRequest indicator = SampleIndicatorRequest("i");
    ASSERT_EQ(Code(*admin_, &v1::CatalogService::Stub::CreateIndicator, &client::Client::catalog,
                   indicator),
              0);
    for (auto [id, team] : {std::pair{"north-1", "north"}, std::pair{"south-1", "south"}}) {
      ASSERT_EQ(Code(*admin_, &v1::ExperimentService::Stub::CreateExperiment,
                     &client::Client::experiments, ExperimentRequest(id, team)),
                0);
      v1::StartExperimentRequest start;
      start.set_id(id);
      start.set_request_id(std::string("start-") + id);
      ASSERT_EQ(Code(*admin_, &v1::ExperimentService::Stub::StartExperiment,
                     &client::Client::experiments, start),
                0);
    }
    secrets_["team"] = CreateToken("team-north", v1::ROLE_TEAM, {"north"}, "");
    secrets_["partner"] = CreateToken("partner-ggd", v1::ROLE_PARTNER, {}, "ggd");
    secrets_["evaluator"] = CreateToken("evaluator", v1::ROLE_EVALUATOR, {}, "");
    secrets_["reader"] = CreateToken("reader", v1::ROLE_READER, {}, "");
  }

  std::unique_ptr<client::Client> Client(const std::string& secret) {
    client::ClientOptions options;
    options.token = secret;
    options.max_attempts = 1;
    return std::make_unique<client::Client>(server_->address(), options);
  }

  template <typename Stub, typename Request, typename Response>
  int Code(client::Client& api,
           grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
           Stub* (client::Client::*stub)(), const Request& request) {
    Response response;
    grpc::Status status = api.Call(method, (api.*stub)(), request, &response);
    last_message_ = status.error_message();
    return status.error_code();
  }

  static v1::CreateExperimentRequest ExperimentRequest(const std::string& id,
                                                       const std::string& team) {
    return SampleExperimentRequest(id, team, team == "north" ? "ggd" : "", "create-" + id);
  }

  std::string CreateToken(const std::string& id, v1::Role role, std::vector<std::string> teams,
                          const std::string& partner) {
    const v1::CreateTokenRequest request = SampleTokenRequest(id, role, teams, partner);
    v1::CreateTokenResponse response;
    grpc::Status status =
        admin_->Call(&v1::AdminService::Stub::CreateToken, admin_->admin(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.secret();
  }

  int Outcome(const std::string& who, const std::string& experiment) {
    auto api = Client(secrets_[who]);
    return Code(*api, &v1::ExperimentService::Stub::CreateOutcome, &client::Client::experiments,
                SampleOutcomeRequest(experiment, client::NewRequestId()));
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string admin_secret_;
  std::unique_ptr<client::Client> admin_;
  std::map<std::string, std::string> secrets_;
  std::string last_message_;
};

constexpr int kOk = 0;
constexpr int kDenied = static_cast<int>(grpc::StatusCode::PERMISSION_DENIED);
constexpr int kUnauthenticated = static_cast<int>(grpc::StatusCode::UNAUTHENTICATED);

TEST_F(AuthTest, EveryRoleAgainstTheRpcsThatMatter) {
  struct Case {
    std::string rpc;
    std::function<int(client::Client&)> call;
    std::map<std::string, int> expected;  // role -> code
  };
  v1::GetExperimentRequest get_north;
  get_north.set_id("north-1");
  v1::GetExperimentRequest get_south;
  get_south.set_id("south-1");
  v1::WhatWorksRequest what;
  what.set_indicator_id("loneliness");
  v1::ListExperimentsRequest list;
  v1::CreateWorkMethodRequest method;
  method.mutable_work_method()->set_id("other");
  method.mutable_work_method()->set_display_name("Other");
  v1::ListTokensRequest tokens;
  v1::CreateLessonRequest lesson_south;
  lesson_south.set_experiment_id("south-1");
  lesson_south.mutable_lesson()->set_text("x");
  v1::UpdateExperimentRequest amend_north;
  amend_north.mutable_experiment()->set_id("north-1");
  amend_north.mutable_experiment()->set_title("Renamed");
  amend_north.mutable_update_mask()->add_paths("title");
  v1::ErasePersonalDataRequest erase_north;
  erase_north.set_experiment_id("north-1");
  std::vector<Case> cases = {
      {"GetExperiment(north)",
       [&](client::Client& api) {
         return Code(api, &v1::ExperimentService::Stub::GetExperiment, &client::Client::experiments,
                     get_north);
       },
       {{"team", kOk}, {"partner", kOk}, {"evaluator", kOk}, {"reader", kOk}}},
      {"GetExperiment(south)",
       [&](client::Client& api) {
         return Code(api, &v1::ExperimentService::Stub::GetExperiment, &client::Client::experiments,
                     get_south);
       },
       {{"team", kOk}, {"partner", kDenied}, {"evaluator", kOk}, {"reader", kOk}}},
      {"ListExperiments",
       [&](client::Client& api) {
         return Code(api, &v1::ExperimentService::Stub::ListExperiments,
                     &client::Client::experiments, list);
       },
       {{"team", kOk}, {"partner", kOk}, {"evaluator", kOk}, {"reader", kOk}}},
      {"WhatWorks",
       [&](client::Client& api) {
         return Code(api, &v1::InsightService::Stub::WhatWorks, &client::Client::insights, what);
       },
       {{"team", kOk}, {"partner", kDenied}, {"evaluator", kOk}, {"reader", kOk}}},
      {"CreateWorkMethod",
       [&](client::Client& api) {
         method.set_request_id(client::NewRequestId());
         return Code(api, &v1::CatalogService::Stub::CreateWorkMethod, &client::Client::catalog,
                     method);
       },
       {{"team", kDenied}, {"partner", kDenied}, {"evaluator", kDenied}, {"reader", kDenied}}},
      {"ListTokens",
       [&](client::Client& api) {
         return Code(api, &v1::AdminService::Stub::ListTokens, &client::Client::admin, tokens);
       },
       {{"team", kDenied}, {"partner", kDenied}, {"evaluator", kDenied}, {"reader", kDenied}}},
      {"CreateLesson(south)",
       [&](client::Client& api) {
         lesson_south.set_request_id(client::NewRequestId());
         return Code(api, &v1::ExperimentService::Stub::CreateLesson, &client::Client::experiments,
                     lesson_south);
       },
       {{"team", kDenied}, {"partner", kDenied}, {"evaluator", kDenied}, {"reader", kDenied}}},
      {"UpdateExperiment(north)",
       [&](client::Client& api) {
         amend_north.set_request_id(client::NewRequestId());
         return Code(api, &v1::ExperimentService::Stub::UpdateExperiment,
                     &client::Client::experiments, amend_north);
       },
       {{"team", kOk}, {"partner", kDenied}, {"evaluator", kDenied}, {"reader", kDenied}}},
      {"ErasePersonalData(north)",
       [&](client::Client& api) {
         erase_north.set_request_id(client::NewRequestId());
         return Code(api, &v1::AdminService::Stub::ErasePersonalData, &client::Client::admin,
                     erase_north);
       },
       {{"team", kDenied}, {"partner", kDenied}, {"evaluator", kDenied}, {"reader", kDenied}}},
  };
  for (const Case& c : cases) {
    for (const auto& [role, expected] : c.expected) {
      auto api = Client(secrets_[role]);
      EXPECT_EQ(c.call(*api), expected) << role << " -> " << c.rpc << ": " << last_message_;
    }
    // The admin may do all of it.
    EXPECT_EQ(c.call(*admin_), kOk) << "admin -> " << c.rpc << ": " << last_message_;
  }
  // A partner's list holds only the experiments that list it, whatever
  // filter it sends (a filter cannot widen it).
  for (const std::string filter :
       {"", "id = \"south-1\" OR id = \"north-1\"", "NOT partner = \"ggd\""}) {
    v1::ListExperimentsRequest partner_list;
    partner_list.set_filter(filter);
    v1::ListExperimentsResponse listed;
    auto api = Client(secrets_["partner"]);
    ASSERT_TRUE(api->Call(&v1::ExperimentService::Stub::ListExperiments, api->experiments(),
                          partner_list, &listed)
                    .ok());
    std::vector<std::string> ids;
    for (const v1::Experiment& e : listed.experiments()) ids.push_back(e.id());
    EXPECT_EQ(ids, filter.rfind("NOT", 0) == 0 ? std::vector<std::string>{}
                                               : std::vector<std::string>{"north-1"})
        << filter;
  }
  // Outcomes: the owning team and the listed partner, nobody else.
  EXPECT_EQ(Outcome("team", "north-1"), kOk);
  EXPECT_EQ(Outcome("partner", "north-1"), kOk);
  EXPECT_EQ(Outcome("team", "south-1"), kDenied);
  EXPECT_NE(last_message_.find("belongs to team 'south'"), std::string::npos) << last_message_;
  EXPECT_EQ(Outcome("partner", "south-1"), kDenied);
  EXPECT_NE(last_message_.find("does not list partner 'ggd'"), std::string::npos) << last_message_;
  EXPECT_EQ(Outcome("evaluator", "north-1"), kDenied);
  EXPECT_EQ(Outcome("reader", "north-1"), kDenied);
  // A team cannot register an experiment for another team.
  auto team = Client(secrets_["team"]);
  EXPECT_EQ(Code(*team, &v1::ExperimentService::Stub::CreateExperiment,
                 &client::Client::experiments, ExperimentRequest("south-2", "south")),
            kDenied);
  EXPECT_EQ(Code(*team, &v1::ExperimentService::Stub::CreateExperiment,
                 &client::Client::experiments, ExperimentRequest("north-2", "north")),
            kOk);
}

// A row the role rule refuses is refused under ImportOutcomes, the RPC the
// caller made; the rows beside it are written.
TEST_F(AuthTest, AnImportRowIsRefusedUnderImportOutcomes) {
  auto team = Client(secrets_["team"]);
  grpc::ClientContext context;
  team->Authorize(context);
  v1::ImportOutcomesResponse response;
  auto writer = team->experiments()->ImportOutcomes(&context, &response);
  v1::ImportOutcomesRequest row;
  *row.mutable_row() = SampleOutcomeRequest("", client::NewRequestId());  // Names no experiment.
  ASSERT_TRUE(writer->Write(row));
  *row.mutable_row() = SampleOutcomeRequest("north-1", client::NewRequestId());
  ASSERT_TRUE(writer->Write(row));
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.written(), 1u);
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).row(), 0u);
  EXPECT_EQ(response.results(0).code(), kDenied);
  EXPECT_TRUE(absl::StrContains(response.results(0).message(), "may not call ImportOutcomes"))
      << response.results(0).message();
}

TEST_F(AuthTest, MissingWrongRevokedAndExpiredTokensAreUnauthenticated) {
  v1::ListWorkMethodsRequest list;
  auto nobody = Client("");
  EXPECT_EQ(
      Code(*nobody, &v1::CatalogService::Stub::ListWorkMethods, &client::Client::catalog, list),
      kUnauthenticated);
  EXPECT_NE(last_message_.find("no bearer token"), std::string::npos);
  auto wrong = Client("lls_" + std::string(64, '0'));
  EXPECT_EQ(
      Code(*wrong, &v1::CatalogService::Stub::ListWorkMethods, &client::Client::catalog, list),
      kUnauthenticated);
  // Revocation counts from the next call on.
  auto reader = Client(secrets_["reader"]);
  EXPECT_EQ(
      Code(*reader, &v1::CatalogService::Stub::ListWorkMethods, &client::Client::catalog, list),
      kOk);
  v1::RevokeTokenRequest revoke;
  revoke.set_id("reader");
  revoke.set_request_id("revoke-reader");
  EXPECT_EQ(Code(*admin_, &v1::AdminService::Stub::RevokeToken, &client::Client::admin, revoke),
            kOk);
  EXPECT_EQ(
      Code(*reader, &v1::CatalogService::Stub::ListWorkMethods, &client::Client::catalog, list),
      kUnauthenticated);
  EXPECT_NE(last_message_.find("revoked"), std::string::npos) << last_message_;
  // An expired token.
  v1::CreateTokenRequest expired;
  expired.mutable_token()->set_id("old");
  expired.mutable_token()->set_display_name("old");
  expired.mutable_token()->set_role(v1::ROLE_READER);
  expired.mutable_token()->mutable_expire_time()->set_seconds(1);  // 1970.
  expired.set_request_id("token-old");
  v1::CreateTokenResponse created;
  ASSERT_TRUE(
      admin_->Call(&v1::AdminService::Stub::CreateToken, admin_->admin(), expired, &created).ok());
  auto old = Client(created.secret());
  EXPECT_EQ(Code(*old, &v1::CatalogService::Stub::ListWorkMethods, &client::Client::catalog, list),
            kUnauthenticated);
  EXPECT_NE(last_message_.find("expired"), std::string::npos) << last_message_;
  // A retried creation returns the token without its secret.
  v1::CreateTokenResponse replay;
  ASSERT_TRUE(
      admin_->Call(&v1::AdminService::Stub::CreateToken, admin_->admin(), expired, &replay).ok());
  EXPECT_TRUE(replay.secret().empty());
  EXPECT_EQ(replay.token().id(), "old");
}

TEST_F(AuthTest, TheActorOfEveryEventIsTheAuthenticatedPrincipal) {
  ASSERT_EQ(Outcome("partner", "north-1"), kOk);
  v1::ReadEventsRequest read;
  read.set_experiment_id("north-1");
  v1::ReadEventsResponse events;
  ASSERT_TRUE(
      admin_->Call(&v1::EventLogService::Stub::ReadEvents, admin_->event_log(), read, &events)
          .ok());
  ASSERT_GE(events.events_size(), 3);
  EXPECT_EQ(events.events(0).actor(), "admin");
  EXPECT_EQ(events.events(events.events_size() - 1).actor(), "partner-ggd");
  // No token secret is stored anywhere in the log.
  v1::ReadEventsRequest all;
  all.set_page_size(1000);
  ASSERT_TRUE(
      admin_->Call(&v1::EventLogService::Stub::ReadEvents, admin_->event_log(), all, &events).ok());
  for (const v1::Event& event : events.events()) {
    EXPECT_EQ(event.SerializeAsString().find(secrets_["team"]), std::string::npos);
  }
}

TEST(InsecureDevTest, RefusesANonLoopbackAddress) {
  TempDir dir;
  const std::string command = std::string(LEERLUSD_PATH) +
                              " --insecure-dev --listen 0.0.0.0:0 --data-dir " + dir.File("data") +
                              " > " + dir.File("log") + " 2>&1";
  EXPECT_NE(std::system(command.c_str()), 0);
  EXPECT_NE(ReadFile(dir.File("log")).find("--insecure-dev refuses to listen on 0.0.0.0:0"),
            std::string::npos)
      << ReadFile(dir.File("log"));
}

}  // namespace
}  // namespace leerlus::testing

namespace leerlus::testing {
namespace {

// Throwaway certificates: a CA, a server certificate for 127.0.0.1, a client
// certificate, and a second CA that signed nothing of ours.
void MakeCertificates(const std::string& dir) {
  const std::string script = R"(set -e
cd ")" + dir + R"("
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=leerlus-test-ca 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 1 -subj /CN=other-ca 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile san.ext 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=partner-ggd 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj /CN=stranger/O=Elsewhere 2>/dev/null
openssl x509 -req -in stranger.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out stranger.pem -days 1 2>/dev/null
)";
  WriteFile(dir + "/make.sh", script);
  ASSERT_EQ(std::system(("bash " + dir + "/make.sh").c_str()), 0);
}

// A leerlusd that requires client certificates signed by the test CA.
class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeCertificates(dir.path());
    server = std::make_unique<ServerProcess>(
        dir.File("data"),
        std::vector<std::string>{"--tls-cert", dir.File("server.pem"), "--tls-key",
                                 dir.File("server.key"), "--tls-client-ca", dir.File("ca.pem")},
        /*authenticated=*/true);
    server->Start();
    secret = ReadFile(server->admin_token_file());
    while (!secret.empty() && secret.back() == '\n') secret.pop_back();
  }

  // The CLI as the admin, over mutual TLS with the client certificate.
  CommandResult AdminCli(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--server", server->address(), "--token", secret, "--tls-ca", dir.File("ca.pem"),
                 "--tls-cert", dir.File("client.pem"), "--tls-key", dir.File("client.key")});
    return RunCli(args);
  }

  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::string secret;
};

TEST_F(MutualTlsTest, ServesOnlyClientsWithTheRightCertificates) {
  auto call = [&](client::ClientOptions options) {
    options.token = secret;
    options.max_attempts = 1;
    options.timeout = std::chrono::milliseconds(3000);
    client::Client api(server->address(), options);
    v1::ListWorkMethodsResponse response;
    return api.Call(&v1::CatalogService::Stub::ListWorkMethods, api.catalog(),
                    v1::ListWorkMethodsRequest(), &response);
  };
  client::ClientOptions good;
  good.tls_ca_pem = ReadFile(dir.File("ca.pem"));
  good.tls_cert_pem = ReadFile(dir.File("client.pem"));
  good.tls_key_pem = ReadFile(dir.File("client.key"));
  grpc::Status ok = call(good);
  EXPECT_TRUE(ok.ok()) << ok.error_message();

  client::ClientOptions no_client_cert = good;
  no_client_cert.tls_cert_pem.clear();
  no_client_cert.tls_key_pem.clear();
  EXPECT_EQ(call(no_client_cert).error_code(), grpc::StatusCode::UNAVAILABLE);

  client::ClientOptions wrong_ca = good;
  wrong_ca.tls_ca_pem = ReadFile(dir.File("other-ca.pem"));
  EXPECT_EQ(call(wrong_ca).error_code(), grpc::StatusCode::UNAVAILABLE);

  client::ClientOptions plaintext;
  EXPECT_EQ(call(plaintext).error_code(), grpc::StatusCode::UNAVAILABLE);

  // The CLI speaks TLS too.
  CommandResult cli = AdminCli({"method", "list"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
}

// Over mutual TLS a partner system can be identified by its certificate:
// a token bound to the certificate's subject, with no secret to store.
TEST_F(MutualTlsTest, APartnerIsIdentifiedByItsCertificateSubject) {
  auto admin = [&](std::vector<std::string> args) {
    CommandResult result = AdminCli(std::move(args));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  };
  admin({"method", "define", "--id", "coach", "--name", "Coach"});
  admin({"experiment", "create", "--id", "north-1", "--kind", "project", "--title", "North",
         "--method", "coach", "--line", "area-based", "--team", "north", "--partner", "ggd"});
  admin({"experiment", "create", "--id", "south-1", "--kind", "project", "--title", "South",
         "--method", "coach", "--line", "area-based", "--team", "south"});
  const std::string created =
      admin({"token", "create", "--id", "ggd-system", "--name", "GGD system", "--role", "partner",
             "--partner", "ggd", "--cert-subject", "CN=partner-ggd", "-o", "json"});
  EXPECT_EQ(created.find("\"secret\""), std::string::npos) << "no secret for a certificate token";
  // A second token for the same subject would make the holder ambiguous.
  CommandResult twice = AdminCli({"token", "create", "--id", "ggd-again", "--name", "Again",
                                  "--role", "reader", "--cert-subject", "CN=partner-ggd"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("already has certificate subject"), std::string::npos) << twice.err;

  auto connect = [&](const std::string& name, const std::string& token) {
    client::ClientOptions options;
    options.token = token;
    options.max_attempts = 1;
    options.tls_ca_pem = ReadFile(dir.File("ca.pem"));
    options.tls_cert_pem = ReadFile(dir.File(name + ".pem"));
    options.tls_key_pem = ReadFile(dir.File(name + ".key"));
    return std::make_unique<client::Client>(server->address(), options);
  };
  auto get = [](client::Client& api, const std::string& id) {
    v1::GetExperimentRequest request;
    request.set_id(id);
    v1::GetExperimentResponse response;
    return api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), request,
                    &response);
  };
  auto partner = connect("client", "");
  EXPECT_TRUE(get(*partner, "north-1").ok());
  EXPECT_EQ(get(*partner, "south-1").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("north-1");
  lesson.mutable_lesson()->set_text("Reached through the GGD's own system");
  lesson.set_request_id("lesson-1");
  v1::CreateLessonResponse recorded;
  grpc::Status status = partner->Call(&v1::ExperimentService::Stub::CreateLesson,
                                      partner->experiments(), lesson, &recorded);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::ReadEventsRequest read;
  read.set_experiment_id("north-1");  // A partner reads the log one experiment at a time.
  read.set_from_position(recorded.position());
  v1::ReadEventsResponse events;
  ASSERT_TRUE(
      partner->Call(&v1::EventLogService::Stub::ReadEvents, partner->event_log(), read, &events)
          .ok());
  ASSERT_GE(events.events_size(), 1);
  EXPECT_EQ(events.events(0).actor(), "GGD system");

  // A verified certificate nobody registered is not enough.
  auto stranger = connect("stranger", "");
  grpc::Status refused = get(*stranger, "north-1");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(refused.error_message().find("CN=stranger"), std::string::npos)
      << refused.error_message();
  // A bearer token wins over the certificate.
  auto admin_with_cert = connect("client", secret);
  EXPECT_TRUE(get(*admin_with_cert, "south-1").ok());
  // Revoking the token shuts the certificate out from the next call on.
  admin({"token", "revoke", "ggd-system"});
  EXPECT_EQ(get(*partner, "north-1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TlsTest, PlaintextOnANetworkAddressIsRefusedUnlessAllowed) {
  TempDir dir;
  const std::string command = std::string(LEERLUSD_PATH) + " --listen 0.0.0.0:0 --data-dir " +
                              dir.File("data") + " > " + dir.File("log") + " 2>&1";
  EXPECT_NE(std::system(command.c_str()), 0);
  EXPECT_NE(ReadFile(dir.File("log")).find("refusing to serve tokens in plaintext"),
            std::string::npos)
      << ReadFile(dir.File("log"));
}

}  // namespace
}  // namespace leerlus::testing
