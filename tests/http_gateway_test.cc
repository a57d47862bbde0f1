// leerlusd over HTTP (the Connect protocol): the real server, real sockets,
// the same services and rules as over gRPC.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "google/rpc/error_details.pb.h"
#include "leerlus/v1/admin_service.grpc.pb.h"
#include "leerlus/v1/catalog_service.grpc.pb.h"
#include "leerlus/v1/event_log_service.grpc.pb.h"
#include "leerlus/v1/experiment_service.grpc.pb.h"
#include "leerlus/v1/insight_service.grpc.pb.h"
#include "tests/access_table.h"
#include "tests/http_client.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

using google::protobuf::Struct;

constexpr char kCreateWorkMethod[] = "/leerlus.v1.CatalogService/CreateWorkMethod";
constexpr char kGetWorkMethod[] = "/leerlus.v1.CatalogService/GetWorkMethod";
constexpr char kReadEvents[] = "/leerlus.v1.EventLogService/ReadEvents";
constexpr char kSubscribe[] = "/leerlus.v1.EventLogService/Subscribe";

Struct ParseJson(const std::string& json) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// The id of the first experiment of a ListExperiments answer.
std::string FirstExperimentId(const Struct& listed) {
  const auto& experiments = listed.fields().at("experiments").list_value();
  if (experiments.values_size() == 0) return "";
  return experiments.values(0).struct_value().fields().at("id").string_value();
}

// The Connect code in a stream's end message ("" if it ended well).
std::string EndCode(const Envelope& end) {
  Struct message = ParseJson(end.payload);
  if (!message.fields().contains("error")) return "";
  return message.fields().at("error").struct_value().fields().at("code").string_value();
}

// A server with tokens and the HTTP gateway on, seeded over gRPC: the
// catalogue, and experiments north-1 (team north, partner ggd) and
// south-1 (team south), both running.
class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(std::vector<std::string> extra_args, const std::string& name = "data",
                   bool seed = true) {
    http_port_file_ = dir_.File(name + ".http-port");
    extra_args.insert(extra_args.end(),
                      {"--http-listen", "127.0.0.1:0", "--http-port-file", http_port_file_});
    server_ = std::make_unique<ServerProcess>(dir_.File(name), extra_args, /*authenticated=*/true);
    server_->Start();
    http_port_ = std::stoi(ReadFile(http_port_file_));
    admin_ = ReadFile(server_->admin_token_file());
    while (!admin_.empty() && admin_.back() == '\n') admin_.pop_back();
    if (seed) Seed();
  }

  void Seed() {
    auto api = Grpc(admin_);
    v1::CreateWorkMethodResponse method;
    ASSERT_TRUE(api->Call(&v1::CatalogService::Stub::CreateWorkMethod, api->catalog(),
                          SampleWorkMethodRequest("m"), &method)
                    .ok());
    v1::CreateIndicatorResponse indicator;
    ASSERT_TRUE(api->Call(&v1::CatalogService::Stub::CreateIndicator, api->catalog(),
                          SampleIndicatorRequest("i"), &indicator)
                    .ok());
    for (auto [id, team] : {std::pair{"north-1", "north"}, std::pair{"south-1", "south"}}) {
      v1::CreateExperimentResponse created;
      ASSERT_TRUE(
          api->Call(&v1::ExperimentService::Stub::CreateExperiment, api->experiments(),
                    SampleExperimentRequest(id, team, team == std::string("north") ? "ggd" : "",
                                            std::string("create-") + id),
                    &created)
              .ok());
      v1::StartExperimentRequest start;
      start.set_id(id);
      start.set_request_id(std::string("start-") + id);
      v1::StartExperimentResponse started;
      ASSERT_TRUE(api->Call(&v1::ExperimentService::Stub::StartExperiment, api->experiments(),
                            start, &started)
                      .ok());
    }
    tokens_["admin"] = admin_;
    tokens_["evaluator"] = CreateToken("evaluator", v1::ROLE_EVALUATOR, {}, "");
    tokens_["team"] = CreateToken("team-north", v1::ROLE_TEAM, {"north"}, "");
    tokens_["partner"] = CreateToken("partner-ggd", v1::ROLE_PARTNER, {}, "ggd");
    tokens_["reader"] = CreateToken("reader", v1::ROLE_READER, {}, "");
  }

  std::unique_ptr<client::Client> Grpc(const std::string& token) {
    client::ClientOptions options;
    options.token = token;
    options.max_attempts = 1;
    return std::make_unique<client::Client>(server_->address(), options);
  }

  std::string CreateToken(const std::string& id, v1::Role role, std::vector<std::string> teams,
                          const std::string& partner) {
    const v1::CreateTokenRequest request = SampleTokenRequest(id, role, teams, partner);
    v1::CreateTokenResponse response;
    auto api = Grpc(admin_);
    EXPECT_TRUE(
        api->Call(&v1::AdminService::Stub::CreateToken, api->admin(), request, &response).ok());
    return response.secret();
  }

  // The log's last position, read over gRPC.
  uint64_t Head() {
    auto api = Grpc(admin_);
    v1::ReadEventsRequest request;
    request.set_page_size(1);
    v1::ReadEventsResponse response;
    EXPECT_TRUE(
        api->Call(&v1::EventLogService::Stub::ReadEvents, api->event_log(), request, &response)
            .ok());
    return response.head_position();
  }

  HttpAnswer Json(const std::string& path, const std::string& body,
                  const std::string& role = "admin",
                  const std::map<std::string, std::string>& headers = {}) {
    return ConnectCall(http_port_, path, "application/json", body,
                       role.empty() ? "" : tokens_[role], headers);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string http_port_file_;
  int http_port_ = 0;
  std::string admin_;
  std::map<std::string, std::string> tokens_;
};

TEST_F(GatewayTest, AWriteAndReadsInJsonAndBinaryWithSecurityHeaders) {
  // Proto field names and JSON names are both accepted.
  HttpAnswer created = Json(kCreateWorkMethod,
                            R"({"work_method": {"id": "buurtcoach", "displayName": "Buurtcoach"},
                                "requestId": "http-create-1"})");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_EQ(created.header("content-type"), "application/json");
  Struct answer = ParseJson(created.body);
  EXPECT_EQ(answer.fields().at("workMethod").struct_value().fields().at("id").string_value(),
            "buurtcoach");
  // A write's answer carries its receipt, as over gRPC.
  EXPECT_FALSE(
      answer.fields().at("receipt").struct_value().fields().at("leafHash").string_value().empty());
  // Every answer carries the security headers; API answers are not cached.
  EXPECT_EQ(created.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(created.header("referrer-policy"), "no-referrer");
  EXPECT_TRUE(
      absl::StrContains(created.header("content-security-policy"), "frame-ancestors 'none'"));
  EXPECT_EQ(created.header("cache-control"), "no-store");
  EXPECT_EQ(created.header("set-cookie"), "");

  // The same record read over gRPC, in JSON and in binary over HTTP.
  auto api = Grpc(admin_);
  v1::GetWorkMethodRequest get;
  get.set_id("buurtcoach");
  v1::GetWorkMethodResponse over_grpc;
  ASSERT_TRUE(
      api->Call(&v1::CatalogService::Stub::GetWorkMethod, api->catalog(), get, &over_grpc).ok());
  v1::GetWorkMethodResponse over_http;
  ASSERT_TRUE(ConnectProtoCall(http_port_, kGetWorkMethod, get, &over_http, admin_).ok());
  EXPECT_EQ(over_http.SerializeAsString(), over_grpc.SerializeAsString());
  HttpAnswer json = Json(kGetWorkMethod, R"({"id": "buurtcoach"})");
  ASSERT_EQ(json.status, 200) << json.body;
  v1::GetWorkMethodResponse from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.body, &from_json).ok());
  EXPECT_EQ(from_json.SerializeAsString(), over_grpc.SerializeAsString());
}

TEST_F(GatewayTest, ErrorsCarryTheirCodeStatusAndDetails) {
  // NOT_FOUND: 404, with the ErrorInfo the service gave.
  HttpAnswer missing = Json(kGetWorkMethod, R"({"id": "nothing"})");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/json");
  Struct error = ParseJson(missing.body);
  EXPECT_EQ(error.fields().at("code").string_value(), "not_found");
  EXPECT_TRUE(absl::StrContains(error.fields().at("message").string_value(), "nothing"));

  // INVALID_ARGUMENT: 400, the field named in a BadRequest detail whose
  // value is the detail's bytes in base64.
  HttpAnswer invalid =
      Json(kCreateWorkMethod, R"({"workMethod": {"id": "x"}, "requestId": "http-invalid"})");
  EXPECT_EQ(invalid.status, 400);
  error = ParseJson(invalid.body);
  EXPECT_EQ(error.fields().at("code").string_value(), "invalid_argument");
  const auto& details = error.fields().at("details").list_value().values();
  ASSERT_GE(details.size(), 2);
  const auto& bad_request = details[0].struct_value().fields();
  EXPECT_EQ(bad_request.at("type").string_value(), "google.rpc.BadRequest");
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(bad_request.at("value").string_value(), &bytes));
  google::rpc::BadRequest decoded;
  ASSERT_TRUE(decoded.ParseFromString(bytes));
  ASSERT_GE(decoded.field_violations_size(), 1);
  EXPECT_EQ(decoded.field_violations(0).field(), "work_method.display_name");
  EXPECT_EQ(details[1].struct_value().fields().at("type").string_value(), "google.rpc.ErrorInfo");

  // No token: 401; a role that may not: 403.
  EXPECT_EQ(Json(kGetWorkMethod, R"({"id": "coach"})", "").status, 401);
  HttpAnswer denied =
      Json(kCreateWorkMethod,
           R"({"workMethod": {"id": "y", "displayName": "Y"}, "requestId": "r"})", "reader");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(ParseJson(denied.body).fields().at("code").string_value(), "permission_denied");
  // A wrong token is as good as none.
  EXPECT_EQ(ConnectCall(http_port_, kGetWorkMethod, "application/json", R"({"id": "coach"})",
                        "lls_" + std::string(64, '0'))
                .status,
            401);
}

TEST_F(GatewayTest, BadRequestsAreRefusedWithTheRightCodeAndWriteNothing) {
  const uint64_t head = Head();
  const std::string valid =
      R"({"workMethod": {"id": "z", "displayName": "Z"}, "requestId": "r-z"})";
  struct Case {
    std::string name;
    HttpAnswer answer;
    int status;
    std::string code;   // Connect code in the body ("" : not checked)
    std::string names;  // the field or header the message names
  };
  std::map<std::string, std::string> admin = {{"Authorization", "Bearer " + admin_}};
  std::vector<Case> cases;
  cases.push_back({"malformed JSON", Json(kCreateWorkMethod, R"({"workMethod": )"), 400,
                   "invalid_argument", "body"});
  cases.push_back({"unknown field",
                   Json(kCreateWorkMethod, R"({"workMethod": {"id": "z"}, "colour": "red"})"), 400,
                   "invalid_argument", "colour"});
  cases.push_back({"a wrong type", Json(kCreateWorkMethod, R"({"workMethod": 7})"), 400,
                   "invalid_argument", "work_method"});
  cases.push_back({"binary that is not the message",
                   ConnectCall(http_port_, kCreateWorkMethod, "application/proto",
                               std::string("\xff\xff\xff", 3), admin_),
                   400, "invalid_argument", "body"});
  cases.push_back({"wrong content type",
                   ConnectCall(http_port_, kCreateWorkMethod, "text/plain", valid, admin_), 415,
                   "invalid_argument", "Content-Type"});
  cases.push_back(
      {"a streaming content type on a unary RPC",
       ConnectCall(http_port_, kCreateWorkMethod, "application/connect+json", valid, admin_), 415,
       "invalid_argument", "Content-Type"});
  cases.push_back({"unknown RPC", Json("/leerlus.v1.CatalogService/DropEverything", "{}"), 404,
                   "unimplemented", "DropEverything"});
  cases.push_back(
      {"GET on an RPC", HttpRequest(http_port_, "GET", kCreateWorkMethod, admin), 405, "", ""});
  cases.push_back(
      {"DELETE", HttpRequest(http_port_, "DELETE", kCreateWorkMethod, admin), 405, "", ""});
  cases.push_back({"a bad timeout",
                   Json(kCreateWorkMethod, valid, "admin", {{"Connect-Timeout-Ms", "soon"}}), 400,
                   "invalid_argument", "Connect-Timeout-Ms"});
  cases.push_back({"another protocol version",
                   Json(kCreateWorkMethod, valid, "admin", {{"Connect-Protocol-Version", "2"}}),
                   400, "invalid_argument", "Connect-Protocol-Version"});
  cases.push_back({"compression",
                   Json(kCreateWorkMethod, valid, "admin", {{"Content-Encoding", "gzip"}}), 501,
                   "unimplemented", "gzip"});
  // Over the body limit (--max-message-mb 1 below is not set: 16 MiB).
  cases.push_back({"an oversized body", Json(kCreateWorkMethod, std::string(17 << 20, ' ')), 413,
                   "resource_exhausted", "body"});
  cases.push_back(
      {"an oversized header",
       Json(kCreateWorkMethod, valid, "admin", {{"X-Padding", std::string(20000, 'a')}}), 431,
       "resource_exhausted", "header"});
  for (const Case& c : cases) {
    EXPECT_EQ(c.answer.status, c.status) << c.name << ": " << c.answer.body;
    EXPECT_EQ(c.answer.header("x-content-type-options"), "nosniff") << c.name;
    if (c.code.empty() || c.answer.status == 0) continue;
    Struct error = ParseJson(c.answer.body);
    ASSERT_TRUE(error.fields().contains("code")) << c.name << ": " << c.answer.body;
    EXPECT_EQ(error.fields().at("code").string_value(), c.code) << c.name;
    EXPECT_TRUE(absl::StrContains(error.fields().at("message").string_value(), c.names))
        << c.name << ": " << c.answer.body;
  }
  // Only calls carry a body.
  HttpAnswer get_with_body = HttpRequest(http_port_, "GET", "/", admin, "{}");
  EXPECT_EQ(get_with_body.status, 400) << get_with_body.body;
  // A request addressed to another name than the loopback it came to (a
  // page whose name was pointed at 127.0.0.1): 421, whatever its Origin.
  HttpAnswer rebound = Json(kCreateWorkMethod, valid, "admin",
                            {{"Host", absl::StrCat("evil.example:", http_port_)},
                             {"Origin", absl::StrCat("http://evil.example:", http_port_)}});
  EXPECT_EQ(rebound.status, 421) << rebound.body;
  // HEAD gets headers only, errors included.
  const std::string head_answer = RawExchange(
      http_port_, "HEAD /missing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      std::chrono::seconds(10));
  EXPECT_EQ(FirstLine(head_answer), "HTTP/1.1 421 Misdirected Request\r") << head_answer;
  EXPECT_TRUE(absl::EndsWith(head_answer, "\r\n\r\n")) << head_answer;
  // Bytes that are not HTTP.
  const std::string garbage =
      RawExchange(http_port_, "HELLO\x01\x02 there\r\n\r\n", std::chrono::seconds(10));
  EXPECT_TRUE(absl::StartsWith(garbage, "HTTP/1.1 400")) << garbage;
  EXPECT_EQ(Head(), head);
}

// What Node's and Go's HTTP/1.1 clients send: a body in chunks, no length.
TEST_F(GatewayTest, AChunkedBodyIsReadWithinTheBudget) {
  const std::string body = R"({"id": "coach"})";
  const std::string answer = RawExchange(
      http_port_,
      absl::StrCat("POST ", kGetWorkMethod, " HTTP/1.1\r\nHost: 127.0.0.1:", http_port_,
                   "\r\nContent-Type: application/json\r\nConnection: close\r\nAuthorization: "
                   "Bearer ",
                   admin_, "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", body.substr(0, 5), "\r\n",
                   absl::Hex(body.size() - 5), "\r\n", body.substr(5), "\r\n0\r\n\r\n"),
      std::chrono::seconds(10));
  EXPECT_EQ(FirstLine(answer), "HTTP/1.1 200 OK\r") << answer;
  EXPECT_TRUE(absl::StrContains(answer, R"("id":"coach")")) << answer;
  // Chunks past the body limit are refused as a long body is.
  std::string huge =
      absl::StrCat("POST ", kGetWorkMethod, " HTTP/1.1\r\nHost: 127.0.0.1:", http_port_,
                   "\r\nContent-Type: application/json\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n");
  const std::string piece(1 << 20, ' ');
  for (int i = 0; i < 17; ++i) {
    absl::StrAppend(&huge, absl::Hex(piece.size()), "\r\n", piece, "\r\n");
  }
  absl::StrAppend(&huge, "0\r\n\r\n");
  EXPECT_EQ(FirstLine(RawExchange(http_port_, huge, std::chrono::seconds(20))),
            "HTTP/1.1 413 Payload Too Large\r");
}

// Bodies are charged to the budget (4 x 16 MiB here) as they arrive: five
// clients that declare the largest body and send none of it block nobody.
TEST_F(GatewayTest, DeclaredButUnsentBodiesHoldNoBudget) {
  std::vector<std::future<std::string>> stalled;
  for (int i = 0; i < 5; ++i) {
    stalled.push_back(std::async(std::launch::async, [&] {
      return RawExchange(
          http_port_,
          absl::StrCat("POST ", kGetWorkMethod, " HTTP/1.1\r\nHost: 127.0.0.1:", http_port_,
                       "\r\nContent-Type: application/json\r\nContent-Length: ", 16 << 20,
                       "\r\n\r\n{"),
          std::chrono::seconds(3));
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  HttpAnswer answer = Json(kGetWorkMethod, R"({"id": "coach"})");
  EXPECT_EQ(answer.status, 200) << answer.body;
  for (auto& connection : stalled) connection.get();
}

TEST_F(GatewayTest, RetriesExpectedVersionsAndPagingWorkAsOverGrpc) {
  const std::string create =
      R"({"workMethod": {"id": "retry", "displayName": "Retry"}, "requestId": "http-retry"})";
  HttpAnswer first = Json(kCreateWorkMethod, create);
  HttpAnswer again = Json(kCreateWorkMethod, create);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(ParseJson(first.body).fields().at("position").string_value(),
            ParseJson(again.body).fields().at("position").string_value());
  // The same request id for another request: 409 already_exists.
  HttpAnswer reused =
      Json(kCreateWorkMethod,
           R"({"workMethod": {"id": "other", "displayName": "Other"}, "requestId": "http-retry"})");
  EXPECT_EQ(reused.status, 409);
  EXPECT_EQ(ParseJson(reused.body).fields().at("code").string_value(), "already_exists");

  // A stale expected_version: 409 aborted, nothing written.
  const uint64_t head = Head();
  HttpAnswer stale = Json("/leerlus.v1.ExperimentService/CreateLesson",
                          R"({"experimentId": "north-1", "lesson": {"text": "Werkt"},
                              "requestId": "lesson-1", "expectedVersion": "1"})",
                          "team");
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(ParseJson(stale.body).fields().at("code").string_value(), "aborted");
  EXPECT_EQ(Head(), head);

  // Paging: one experiment a page, then the next.
  HttpAnswer page = Json("/leerlus.v1.ExperimentService/ListExperiments", R"({"pageSize": 1})");
  ASSERT_EQ(page.status, 200) << page.body;
  Struct listed = ParseJson(page.body);
  ASSERT_EQ(listed.fields().at("experiments").list_value().values_size(), 1);
  const std::string token = listed.fields().at("nextPageToken").string_value();
  ASSERT_FALSE(token.empty());
  HttpAnswer next = Json("/leerlus.v1.ExperimentService/ListExperiments",
                         absl::StrCat(R"({"pageSize": 1, "pageToken": ")", token, R"("})"));
  ASSERT_EQ(next.status, 200) << next.body;
  Struct second = ParseJson(next.body);
  EXPECT_NE(FirstExperimentId(second), FirstExperimentId(listed));
  // A deadline already passed: 504 deadline_exceeded.
  HttpAnswer late = Json("/leerlus.v1.InsightService/WhatWorks", R"({"indicatorId": "loneliness"})",
                         "admin", {{"Connect-Timeout-Ms", "0"}});
  EXPECT_EQ(late.status, 504) << late.body;
}

TEST_F(GatewayTest, TheStreamCatchesUpGoesLiveAndEndsWithItsStatus) {
  const uint64_t head = Head();
  // An outcome appended while the stream is open.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    auto api = Grpc(tokens_["team"]);
    v1::CreateOutcomeResponse written;
    EXPECT_TRUE(api->Call(&v1::ExperimentService::Stub::CreateOutcome, api->experiments(),
                          SampleOutcomeRequest("north-1", "live-1"), &written)
                    .ok());
  });
  HttpAnswer stream = ConnectCall(http_port_, kSubscribe, "application/connect+json",
                                  MakeEnvelope(0, R"({"markCaughtUp": true})"), tokens_["team"],
                                  {{"Connect-Timeout-Ms", "3000"}});
  writer.join();
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_EQ(stream.header("content-type"), "application/connect+json");
  std::vector<Envelope> envelopes = SplitEnvelopes(stream.body);
  ASSERT_GE(envelopes.size(), 3u) << stream.body;
  size_t caught_up = envelopes.size();
  std::vector<uint64_t> positions;
  for (size_t i = 0; i + 1 < envelopes.size(); ++i) {
    ASSERT_EQ(envelopes[i].flags, 0);
    v1::SubscribeResponse message;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(envelopes[i].payload, &message).ok())
        << envelopes[i].payload;
    if (message.has_caught_up()) caught_up = i;
    if (message.has_event()) positions.push_back(message.event().position());
  }
  // The team sees its experiment's events and the catalogue up to the head,
  // then the mark, then the live outcome.
  ASSERT_LT(caught_up, envelopes.size());
  ASSERT_FALSE(positions.empty());
  EXPECT_EQ(positions.back(), head + 1);
  // The end carries the call's status: the deadline passed.
  const Envelope& end = envelopes.back();
  EXPECT_EQ(end.flags, 2);
  Struct end_message = ParseJson(end.payload);
  EXPECT_EQ(end_message.fields().at("error").struct_value().fields().at("code").string_value(),
            "deadline_exceeded");

  // Binary, for a partner the experiment does not list: the end says
  // permission_denied.
  v1::SubscribeRequest south;
  south.set_experiment_id("south-1");
  HttpAnswer refused = ConnectCall(http_port_, kSubscribe, "application/connect+proto",
                                   MakeEnvelope(0, south.SerializeAsString()), tokens_["partner"],
                                   {{"Connect-Timeout-Ms", "3000"}});
  ASSERT_EQ(refused.status, 200);
  envelopes = SplitEnvelopes(refused.body);
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(ParseJson(envelopes[0].payload)
                .fields()
                .at("error")
                .struct_value()
                .fields()
                .at("code")
                .string_value(),
            "permission_denied");

  // A request that does not parse: the stream's end says so, with 200, as
  // Connect's streaming clients read it.
  HttpAnswer garbled = ConnectCall(http_port_, kSubscribe, "application/connect+json",
                                   MakeEnvelope(0, "{not json"), tokens_["team"]);
  ASSERT_EQ(garbled.status, 200);
  envelopes = SplitEnvelopes(garbled.body);
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].flags, 2);
  EXPECT_EQ(EndCode(envelopes[0]), "invalid_argument");

  // A client that stays connected after its stream ended is let go.
  const auto start = std::chrono::steady_clock::now();
  const std::string ended = RawExchange(
      http_port_,
      absl::StrCat("POST ", kSubscribe, " HTTP/1.1\r\nHost: 127.0.0.1:", http_port_,
                   "\r\nContent-Type: application/connect+proto\r\nConnect-Timeout-Ms: "
                   "300\r\nAuthorization: Bearer ",
                   tokens_["team"], "\r\nContent-Length: 5\r\n\r\n", MakeEnvelope(0, "")),
      std::chrono::seconds(30));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_TRUE(absl::StrContains(ended, "deadline_exceeded")) << ended;
}

TEST_F(GatewayTest, ABatchImportWritesRowsAndRefusesEachBadOneOnItsOwn) {
  v1::ImportOutcomeBatchRequest batch;
  *batch.add_rows() = SampleOutcomeRequest("north-1", "batch-1");
  *batch.add_rows() = SampleOutcomeRequest("south-1", "batch-2");  // Not team north's.
  *batch.add_rows() = SampleOutcomeRequest("north-1", "batch-3");
  // A partner's rows: refused for an experiment that does not list it.
  v1::ImportOutcomeBatchRequest partner_batch;
  *partner_batch.add_rows() = SampleOutcomeRequest("south-1", "partner-1");
  *partner_batch.add_rows() = SampleOutcomeRequest("north-1", "partner-2");
  v1::ImportOutcomeBatchResponse partner_imported;
  ASSERT_TRUE(ConnectProtoCall(http_port_, "/leerlus.v1.ExperimentService/ImportOutcomeBatch",
                               partner_batch, &partner_imported, tokens_["partner"])
                  .ok());
  EXPECT_EQ(partner_imported.written(), 1u);
  ASSERT_EQ(partner_imported.results_size(), 1);
  EXPECT_EQ(partner_imported.results(0).row(), 0u);
  EXPECT_EQ(partner_imported.results(0).code(),
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  v1::ImportOutcomeBatchResponse imported;
  grpc::Status status =
      ConnectProtoCall(http_port_, "/leerlus.v1.ExperimentService/ImportOutcomeBatch", batch,
                       &imported, tokens_["team"]);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(imported.written(), 2u);
  EXPECT_EQ(imported.failed(), 1u);
  ASSERT_EQ(imported.results_size(), 1);
  EXPECT_EQ(imported.results(0).row(), 1u);
  EXPECT_EQ(imported.results(0).code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(imported.receipt().position(), imported.position());
  EXPECT_EQ(imported.receipt().leaf_hash().size(), 32u);
  // Over the row limit: refused whole, naming the field.
  v1::ImportOutcomeBatchRequest huge;
  for (int i = 0; i < 10'001; ++i) *huge.add_rows() = SampleOutcomeRequest("north-1", "h");
  const uint64_t head = Head();
  status = ConnectProtoCall(http_port_, "/leerlus.v1.ExperimentService/ImportOutcomeBatch", huge,
                            nullptr, tokens_["team"]);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "rows")) << status.error_message();
  EXPECT_EQ(Head(), head);
}

// The gateway's rules are the server's: each role's call over HTTP gets the
// answer the same call gets over gRPC. Two servers seeded alike take the
// same calls in the same order, one over each transport; every answer's
// code must match, and the refusals of the access table are refusals.
TEST_F(GatewayTest, EveryRoleAgainstEveryRpcAnswersAlikeOverBothTransports) {
  std::map<std::string, std::string> grpc_tokens = tokens_;
  std::unique_ptr<ServerProcess> grpc_server = std::move(server_);
  StartServer({}, "data-http");
  std::map<std::string, std::string> http_tokens = tokens_;
  int compared = 0;
  for (const google::protobuf::MethodDescriptor* method : AllRpcs()) {
    if (method->client_streaming()) continue;  // ImportOutcomeBatch is its HTTP twin.
    for (const std::string experiment_id : {"north-1", "south-1"}) {
      for (const std::string& role : TableRoles()) {
        std::unique_ptr<google::protobuf::Message> request =
            TableRequest(method->input_type(), method->name(), experiment_id,
                         absl::StrCat("table-", method->name(), "-", experiment_id, "-", role));
        const std::string path =
            absl::StrCat("/", method->service()->full_name(), "/", method->name());
        // Over gRPC, as bytes through a generic stub.
        grpc::StatusCode over_grpc;
        {
          auto channel =
              grpc::CreateChannel(grpc_server->address(), grpc::InsecureChannelCredentials());
          grpc::GenericStub stub(channel);
          grpc::ClientContext context;
          context.AddMetadata("authorization", "Bearer " + grpc_tokens[role]);
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
          if (method->server_streaming()) {
            grpc::CompletionQueue queue;
            auto call = stub.PrepareCall(&context, path, &queue);
            void* tag;
            bool ok;
            call->StartCall(reinterpret_cast<void*>(1));
            queue.Next(&tag, &ok);
            grpc::Slice slice(request->SerializeAsString());
            grpc::ByteBuffer bytes(&slice, 1);
            call->WriteLast(bytes, grpc::WriteOptions(), reinterpret_cast<void*>(2));
            queue.Next(&tag, &ok);
            grpc::ByteBuffer incoming;
            do {
              call->Read(&incoming, reinterpret_cast<void*>(3));
              queue.Next(&tag, &ok);
            } while (ok);
            grpc::Status status;
            call->Finish(&status, reinterpret_cast<void*>(4));
            queue.Next(&tag, &ok);
            over_grpc = status.error_code();
            queue.Shutdown();
            while (queue.Next(&tag, &ok)) {
            }
          } else {
            grpc::Slice slice(request->SerializeAsString());
            grpc::ByteBuffer bytes(&slice, 1);
            grpc::ByteBuffer response;
            std::promise<grpc::Status> done;
            stub.UnaryCall(&context, path, grpc::StubOptions(), &bytes, &response,
                           [&done](grpc::Status status) { done.set_value(status); });
            over_grpc = done.get_future().get().error_code();
          }
        }
        // Over HTTP, in binary.
        grpc::StatusCode over_http;
        if (method->server_streaming()) {
          HttpAnswer answer = ConnectCall(http_port_, path, "application/connect+proto",
                                          MakeEnvelope(0, request->SerializeAsString()),
                                          http_tokens[role], {{"Connect-Timeout-Ms", "500"}});
          std::vector<Envelope> envelopes = SplitEnvelopes(answer.body);
          ASSERT_FALSE(envelopes.empty()) << path;
          Struct end = ParseJson(envelopes.back().payload);
          HttpAnswer as_unary;
          as_unary.status = end.fields().contains("error") ? 500 : 200;
          if (end.fields().contains("error")) {
            std::string error;
            (void)google::protobuf::util::MessageToJsonString(
                end.fields().at("error").struct_value(), &error);
            as_unary.body = error;
          }
          over_http = StatusOfConnectAnswer(as_unary).error_code();
        } else {
          over_http =
              ConnectProtoCall(http_port_, path, *request, nullptr, http_tokens[role]).error_code();
        }
        EXPECT_EQ(over_http, over_grpc) << role << " -> " << path << " (" << experiment_id << ")";
        // A batch's rows are refused one by one, in its answer (the batch
        // test); the call itself is allowed.
        const bool batch = method->name() == "ImportOutcomeBatch";
        const bool allowed =
            AccessTableAllows(method->name(), batch ? "north-1" : experiment_id, role);
        if (!allowed) {
          EXPECT_NE(over_http, grpc::StatusCode::OK) << role << " -> " << path;
        } else {
          EXPECT_NE(over_http, grpc::StatusCode::PERMISSION_DENIED) << role << " -> " << path;
          EXPECT_NE(over_http, grpc::StatusCode::UNAUTHENTICATED) << role << " -> " << path;
        }
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 39 * 2 * 5);
}

// Browsers: the server's own origin and the named ones, nobody else.
TEST_F(GatewayTest, OnlyNamedOriginsMayCallFromABrowser) {
  server_.reset();
  StartServer({"--http-allowed-origin", "https://app.example.nl"}, "data-cors");
  const std::string read = R"({"id": "coach"})";
  HttpAnswer foreign = Json(kGetWorkMethod, read, "admin", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign.status, 403) << foreign.body;
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");
  HttpAnswer named = Json(kGetWorkMethod, read, "admin", {{"Origin", "https://app.example.nl"}});
  EXPECT_EQ(named.status, 200) << named.body;
  EXPECT_EQ(named.header("access-control-allow-origin"), "https://app.example.nl");
  EXPECT_EQ(named.header("access-control-allow-credentials"), "");
  HttpAnswer own = Json(kGetWorkMethod, read, "admin",
                        {{"Origin", absl::StrCat("http://127.0.0.1:", http_port_)}});
  EXPECT_EQ(own.status, 200) << own.body;
  HttpAnswer preflight = HttpRequest(http_port_, "OPTIONS", kGetWorkMethod,
                                     {{"Origin", "https://app.example.nl"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {"Access-Control-Request-Headers", "authorization"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_TRUE(absl::StrContains(preflight.header("access-control-allow-headers"), "Authorization"));
  EXPECT_EQ(
      HttpRequest(http_port_, "OPTIONS", kGetWorkMethod,
                  {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}})
          .status,
      403);
  // A wildcard is no origin.
  TempDir other;
  ServerProcess wildcard(other.File("data"),
                         {"--http-listen", "127.0.0.1:0", "--http-allowed-origin", "*"}, true);
  EXPECT_NE(wildcard.StartAndWaitForExit(), 0);
  EXPECT_TRUE(absl::StrContains(wildcard.log(), "--http-allowed-origin")) << wildcard.log();
}

TEST_F(GatewayTest, SlowClientsAndTooManyConnectionsAreBounded) {
  server_.reset();
  StartServer({"--http-request-timeout-seconds", "2", "--http-max-connections", "4"}, "data-slow");
  // A header that never ends: the connection is closed once the time is up.
  const auto start = std::chrono::steady_clock::now();
  const std::string answer = RawExchange(
      http_port_, "POST /leerlus.v1.CatalogService/GetWorkMethod HTTP/1.1\r\nHost: x\r\nX-Slow: ",
      std::chrono::seconds(20));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(15)) << "a slow client held its connection";
  EXPECT_EQ(answer, "");
  // A body that stops halfway: the same.
  const std::string half = RawExchange(
      http_port_,
      absl::StrCat("POST ", kGetWorkMethod,
                   " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                   "100\r\n\r\n{\"id\""),
      std::chrono::seconds(20));
  EXPECT_EQ(half, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  // Four connections held open; the fifth is closed at once, and calls work
  // again once they go.
  {
    std::vector<std::future<std::string>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::async(std::launch::async, [&] {
        return RawExchange(http_port_,
                           "GET / HTTP/1.1\r\nHost: x\r\nX-Wait: ", std::chrono::seconds(20));
      }));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(HttpRequest(http_port_, "POST", kGetWorkMethod,
                          {{"Content-Type", "application/json"}}, R"({"id": "coach"})")
                  .status,
              0);
    for (auto& connection : held) connection.get();
  }
  EXPECT_EQ(Json(kGetWorkMethod, R"({"id": "coach"})").status, 200);
}

TEST_F(GatewayTest, TheWebRootServesTheAppAndNothingOutsideIt) {
  server_.reset();
  const std::string root = dir_.File("web");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/assets").c_str(), 0755), 0);
  std::ofstream(root + "/index.html") << "<!doctype html><title>leerlus</title>";
  std::ofstream(root + "/assets/app.js") << "console.log('leerlus');";
  std::ofstream(dir_.File("secret.txt")) << "not for the web";
  // Files that exist, so that only the rules keep them out.
  std::ofstream(root + "/.env") << "not for the web";
  ASSERT_EQ(mkdir((root + "/%2e%2e").c_str(), 0755), 0);
  std::ofstream(root + "/%2e%2e/secret.txt") << "not for the web";
  ASSERT_EQ(symlink(dir_.File("secret.txt").c_str(), (root + "/leak.txt").c_str()), 0);
  StartServer({"--web-root", root}, "data-web");
  HttpAnswer index = HttpRequest(http_port_, "GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<!doctype html><title>leerlus</title>");
  EXPECT_EQ(index.header("content-type"), "text/html; charset=utf-8");
  EXPECT_TRUE(absl::StrContains(index.header("content-security-policy"), "script-src 'self'"));
  EXPECT_EQ(index.header("x-frame-options"), "DENY");
  HttpAnswer script = HttpRequest(http_port_, "GET", "/assets/app.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.header("content-type"), "text/javascript; charset=utf-8");
  // A deep link gets the app; a missing file does not.
  EXPECT_EQ(HttpRequest(http_port_, "GET", "/experimenten/north-1?as_of=2019").body, index.body);
  EXPECT_EQ(HttpRequest(http_port_, "GET", "/assets/missing.js").status, 404);
  // Nothing outside the root: parent steps, encoded ones, hidden files, links.
  for (const std::string target :
       {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/leak.txt", "/.env"}) {
    HttpAnswer outside = HttpRequest(http_port_, "GET", target);
    EXPECT_FALSE(absl::StrContains(outside.body, "not for the web")) << target;
    EXPECT_NE(outside.status, 200) << target;
  }
}

TEST_F(GatewayTest, PlaintextOffLoopbackIsRefusedAndTlsServes) {
  TempDir other;
  ServerProcess plaintext(other.File("data"), {"--http-listen", "0.0.0.0:0"}, true);
  EXPECT_NE(plaintext.StartAndWaitForExit(), 0);
  EXPECT_TRUE(
      absl::StrContains(plaintext.log(), "refusing to serve tokens in plaintext on 0.0.0.0"))
      << plaintext.log();

  // With the gRPC listener's certificate, HTTPS; plain HTTP gets no answer.
  const std::string make_certificates = absl::StrCat(
      "cd ", other.path(), " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > san.ext && ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
      "-subj /CN=test-ca 2>/dev/null && ",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost "
      "2>/dev/null && ",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 1 -extfile san.ext 2>/dev/null");
  ASSERT_EQ(system(make_certificates.c_str()), 0);
  server_.reset();
  StartServer({"--tls-cert", other.File("server.pem"), "--tls-key", other.File("server.key")},
              "data-tls", /*seed=*/false);
  const std::string script = absl::StrCat(
      "import ssl, urllib.request\n"
      "context = ssl.create_default_context(cafile='",
      other.File("ca.pem"), "')\n",
      "request = urllib.request.Request('https://127.0.0.1:", http_port_,
      "/leerlus.v1.CatalogService/ListWorkMethods', data=b'{}', headers={'Content-Type': "
      "'application/json', "
      "'Authorization': 'Bearer ",
      admin_, "'})\n",
      "answer = urllib.request.urlopen(request, context=context)\n"
      "print(answer.status, answer.headers['Strict-Transport-Security'])\n");
  CommandResult https = RunProgram("/usr/bin/python3", {"-c", script});
  EXPECT_EQ(https.exit_code, 0) << https.err;
  EXPECT_EQ(https.out, "200 max-age=31536000\n") << https.err;
  EXPECT_EQ(HttpRequest(http_port_, "POST", kGetWorkMethod, {{"Content-Type", "application/json"}},
                        R"({"id": "coach"})", std::chrono::seconds(5))
                .status,
            0);
}

}  // namespace
}  // namespace leerlus::testing
