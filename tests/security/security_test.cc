// The attacker's suite: a real leerlusd with tokens required, driven the way
// a hostile team, a hostile partner or a curious reader would drive it. Each
// test asserts the refusal, not only the grant.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "leerlus/v1/admin_service.grpc.pb.h"
#include "leerlus/v1/catalog_service.grpc.pb.h"
#include "leerlus/v1/event_log_service.grpc.pb.h"
#include "leerlus/v1/experiment_service.grpc.pb.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

using grpc::StatusCode;

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::atoi(value) : fallback;
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.File("data"), ServerArgs(),
                                              /*authenticated=*/true);
    server_->Start();
    std::string secret = ReadFile(server_->admin_token_file());
    while (!secret.empty() && secret.back() == '\n') secret.pop_back();
    admin_ = Client(secret);
    v1::CreateWorkMethodResponse method;
    ASSERT_TRUE(admin_
                    ->Call(&v1::CatalogService::Stub::CreateWorkMethod, admin_->catalog(),
                           SampleWorkMethodRequest("m"), &method)
                    .ok());
    v1::CreateIndicatorResponse indicator;
    ASSERT_TRUE(admin_
                    ->Call(&v1::CatalogService::Stub::CreateIndicator, admin_->catalog(),
                           SampleIndicatorRequest("i"), &indicator)
                    .ok());
    north_ = Client(CreateToken("team-north", v1::ROLE_TEAM, "north", ""));
    south_ = Client(CreateToken("team-south", v1::ROLE_TEAM, "south", ""));
    partner_ = Client(CreateToken("partner-ggd", v1::ROLE_PARTNER, "", "ggd"));
    evaluator_ = Client(CreateToken("evaluator", v1::ROLE_EVALUATOR, "", ""));
  }

  virtual std::vector<std::string> ServerArgs() const { return {}; }

  std::unique_ptr<client::Client> Client(const std::string& secret) {
    client::ClientOptions options;
    options.token = secret;
    options.max_attempts = 1;
    return std::make_unique<client::Client>(server_->address(), options);
  }

  std::string CreateToken(const std::string& id, v1::Role role, const std::string& team,
                          const std::string& partner, int64_t expire_seconds = 0) {
    v1::CreateTokenRequest request = SampleTokenRequest(
        id, role, team.empty() ? std::vector<std::string>{} : std::vector<std::string>{team},
        partner);
    if (expire_seconds != 0)
      request.mutable_token()->mutable_expire_time()->set_seconds(expire_seconds);
    v1::CreateTokenResponse response;
    grpc::Status status =
        admin_->Call(&v1::AdminService::Stub::CreateToken, admin_->admin(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.secret();
  }

  static v1::CreateExperimentRequest Experiment(const std::string& id, const std::string& team,
                                                const std::string& partner = "") {
    return SampleExperimentRequest(id, team, partner, client::NewRequestId());
  }

  grpc::Status Create(client::Client& api, const v1::CreateExperimentRequest& request) {
    v1::CreateExperimentResponse response;
    return api.Call(&v1::ExperimentService::Stub::CreateExperiment, api.experiments(), request,
                    &response);
  }

  grpc::Status Start(client::Client& api, const std::string& experiment) {
    v1::StartExperimentRequest request;
    request.set_id(experiment);
    request.set_request_id(client::NewRequestId());
    v1::StartExperimentResponse response;
    return api.Call(&v1::ExperimentService::Stub::StartExperiment, api.experiments(), request,
                    &response);
  }

  grpc::Status Lesson(client::Client& api, const std::string& experiment, const std::string& text) {
    v1::CreateLessonRequest request;
    request.set_experiment_id(experiment);
    request.mutable_lesson()->set_text(text);
    request.set_request_id(client::NewRequestId());
    v1::CreateLessonResponse response;
    return api.Call(&v1::ExperimentService::Stub::CreateLesson, api.experiments(), request,
                    &response);
  }

  // Every event of an experiment's stream, read as the admin.
  std::vector<v1::Event> History(const std::string& experiment) {
    v1::ReadEventsRequest request;
    request.set_experiment_id(experiment);
    request.set_page_size(1000);
    v1::ReadEventsResponse response;
    grpc::Status status = admin_->Call(&v1::EventLogService::Stub::ReadEvents, admin_->event_log(),
                                       request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.events().begin(), response.events().end()};
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> admin_, north_, south_, partner_, evaluator_;
};

// Item 1: a team that fires changes at ids another team is registering at
// that very moment must never change them. Ownership is decided inside the
// decision that writes, on the same state, so no interleaving passes.
TEST_F(SecurityTest, TwoTeamsRacingOnFreshIdsNeverChangeEachOthersExperiments) {
  const int rounds = EnvInt("LEERLUS_SECURITY_RACE_ROUNDS", 300);
  std::atomic<int> round{0};
  std::atomic<bool> done{false};
  std::atomic<int> attacks{0};
  // Two attacker threads of team north cycle through the four changes at
  // the id south registers in the current round.
  auto attack = [&](int seed) {
    auto api = Client(north_->options().token);
    int turn = seed;
    while (!done.load()) {
      const std::string id = absl::StrCat("race-", round.load());
      switch (turn++ % 4) {
        case 0: {
          v1::UpdateExperimentRequest amend;
          amend.mutable_experiment()->set_id(id);
          amend.mutable_experiment()->add_partner_ids("ggd");
          amend.mutable_update_mask()->add_paths("partner_ids");
          amend.set_request_id(client::NewRequestId());
          v1::UpdateExperimentResponse response;
          (void)api->Call(&v1::ExperimentService::Stub::UpdateExperiment, api->experiments(), amend,
                          &response);
          break;
        }
        case 1: {
          v1::WithdrawExperimentRequest withdraw;
          withdraw.set_id(id);
          withdraw.set_reason("taken over");
          withdraw.set_request_id(client::NewRequestId());
          v1::WithdrawExperimentResponse response;
          (void)api->Call(&v1::ExperimentService::Stub::WithdrawExperiment, api->experiments(),
                          withdraw, &response);
          break;
        }
        case 2: {
          v1::CreateHypothesisRequest hypothesis;
          hypothesis.set_experiment_id(id);
          hypothesis.mutable_hypothesis()->set_indicator_id("loneliness");
          hypothesis.mutable_hypothesis()->set_statement("planted");
          hypothesis.mutable_hypothesis()->set_expected_direction(v1::EXPECTED_DIRECTION_DECREASE);
          hypothesis.set_request_id(client::NewRequestId());
          v1::CreateHypothesisResponse response;
          (void)api->Call(&v1::ExperimentService::Stub::CreateHypothesis, api->experiments(),
                          hypothesis, &response);
          break;
        }
        default:
          (void)Lesson(*api, id, "planted");
      }
      ++attacks;
    }
  };
  std::thread first(attack, 0), second(attack, 2);
  for (int r = 0; r < rounds; ++r) {
    round.store(r);
    // Let the attackers aim at the new id before it exists.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    ASSERT_TRUE(Create(*south_, Experiment(absl::StrCat("race-", r), "south")).ok());
  }
  done.store(true);
  first.join();
  second.join();
  int foreign = 0;
  for (int r = 0; r < rounds; ++r) {
    for (const v1::Event& event : History(absl::StrCat("race-", r))) {
      if (event.actor() != "team-south") {
        ++foreign;
        ADD_FAILURE() << "race-" << r << " was changed by " << event.actor() << " at position "
                      << event.position();
      }
    }
  }
  EXPECT_EQ(foreign, 0) << "after " << attacks.load() << " attacks in " << rounds << " rounds";
  EXPECT_GT(attacks.load(), rounds);  // The attackers did fire throughout.
}

// Reads a stream until it ends; returns its final status and the events seen.
struct StreamEnd {
  grpc::Status status;
  std::vector<v1::Event> events;
};

class Subscription {
 public:
  Subscription(client::Client& api, v1::SubscribeRequest request) {
    api.Authorize(context_);
    reader_ = api.event_log()->Subscribe(&context_, request);
    thread_ = std::thread([this] {
      v1::SubscribeResponse message;
      while (reader_->Read(&message)) {
        absl::MutexLock lock(&mutex_);
        if (message.has_event()) end_.events.push_back(message.event());
        if (message.has_caught_up()) caught_up_ = true;
      }
      grpc::Status status = reader_->Finish();
      absl::MutexLock lock(&mutex_);
      end_.status = status;
      ended_ = true;
    });
  }
  ~Subscription() {
    context_.TryCancel();
    thread_.join();
  }
  // Waits up to `timeout` for the stream to end.
  bool WaitForEnd(absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    return mutex_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }
  bool WaitForCatchUp(absl::Duration timeout) {
    absl::MutexLock lock(&mutex_);
    return mutex_.AwaitWithTimeout(absl::Condition(&caught_up_), timeout);
  }
  StreamEnd end() {
    absl::MutexLock lock(&mutex_);
    return end_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  std::thread thread_;
  absl::Mutex mutex_;
  StreamEnd end_;
  bool ended_ = false;
  bool caught_up_ = false;
};

bool Mentions(const std::vector<v1::Event>& events, const std::string& lesson_text) {
  for (const v1::Event& event : events) {
    if (event.has_lesson_recorded() && event.lesson_recorded().lesson().text() == lesson_text) {
      return true;
    }
  }
  return false;
}

v1::SubscribeRequest Follow(const std::string& experiment = "") {
  v1::SubscribeRequest request;
  request.set_experiment_id(experiment);
  request.set_mark_caught_up(true);
  return request;
}

// Item 2: a revoked token's open stream ends with UNAUTHENTICATED at once
// and carries nothing written after the revocation.
TEST_F(SecurityTest, ARevokedTokensOpenStreamEndsAtOnce) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north")).ok());
  auto reader = Client(CreateToken("curious", v1::ROLE_READER, "", ""));
  Subscription stream(*reader, Follow());
  ASSERT_TRUE(stream.WaitForCatchUp(absl::Seconds(10)));
  v1::RevokeTokenRequest revoke;
  revoke.set_id("curious");
  revoke.set_request_id(client::NewRequestId());
  v1::RevokeTokenResponse revoked;
  ASSERT_TRUE(
      admin_->Call(&v1::AdminService::Stub::RevokeToken, admin_->admin(), revoke, &revoked).ok());
  ASSERT_TRUE(Lesson(*north_, "n-1", "after the revocation").ok());
  ASSERT_TRUE(stream.WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(stream.end().status.error_code(), StatusCode::UNAUTHENTICATED)
      << stream.end().status.error_message();
  EXPECT_FALSE(Mentions(stream.end().events, "after the revocation"));
}

// Item 2: a token that expires while its stream is open ends it.
TEST_F(SecurityTest, AnExpiringTokensOpenStreamEndsWhenItExpires) {
  const int64_t soon = absl::ToUnixSeconds(absl::Now()) + 2;
  auto reader = Client(CreateToken("brief", v1::ROLE_READER, "", "", soon));
  Subscription stream(*reader, Follow());
  ASSERT_TRUE(stream.WaitForCatchUp(absl::Seconds(10)));
  ASSERT_TRUE(stream.WaitForEnd(absl::Seconds(6)));
  EXPECT_EQ(stream.end().status.error_code(), StatusCode::UNAUTHENTICATED)
      << stream.end().status.error_message();
}

// Item 2: a partner taken off an experiment gets nothing more of it: its
// stream ends with PERMISSION_DENIED before the next event.
TEST_F(SecurityTest, APartnerTakenOffAnExperimentGetsNothingMoreOfIt) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north", "ggd")).ok());
  ASSERT_TRUE(Lesson(*north_, "n-1", "while listed").ok());
  Subscription stream(*partner_, Follow("n-1"));
  ASSERT_TRUE(stream.WaitForCatchUp(absl::Seconds(10)));
  v1::UpdateExperimentRequest amend;
  amend.mutable_experiment()->set_id("n-1");
  amend.mutable_update_mask()->add_paths("partner_ids");
  amend.set_request_id(client::NewRequestId());
  v1::UpdateExperimentResponse amended;
  ASSERT_TRUE(north_
                  ->Call(&v1::ExperimentService::Stub::UpdateExperiment, north_->experiments(),
                         amend, &amended)
                  .ok());
  ASSERT_TRUE(Lesson(*north_, "n-1", "after the partner left").ok());
  ASSERT_TRUE(stream.WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(stream.end().status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Mentions(stream.end().events, "while listed"));
  EXPECT_FALSE(Mentions(stream.end().events, "after the partner left"));
  for (const v1::Event& event : stream.end().events) {
    EXPECT_FALSE(event.has_experiment_amended()) << "the event that removed it is not its";
  }
}

// Item 2 and 21: a partner cannot subscribe ahead to an id another team will
// register, and gets the same answer for a missing experiment as for a
// foreign one; readers get NOT_FOUND for a missing one, on a read and on a
// stream alike.
TEST_F(SecurityTest, NobodySubscribesToAnExperimentTheyCannotReadOrThatDoesNotExist) {
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  Subscription ahead(*partner_, Follow("future-1"));
  ASSERT_TRUE(ahead.WaitForEnd(absl::Seconds(5)));
  const grpc::Status missing = ahead.end().status;
  EXPECT_EQ(missing.error_code(), StatusCode::PERMISSION_DENIED);
  Subscription foreign(*partner_, Follow("s-1"));
  ASSERT_TRUE(foreign.WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(foreign.end().status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(absl::StrReplaceAll(foreign.end().status.error_message(), {{"s-1", "X"}}),
            absl::StrReplaceAll(missing.error_message(), {{"future-1", "X"}}));
  // The experiment appears later, listing the partner: the refused stream
  // never saw it.
  ASSERT_TRUE(Create(*north_, Experiment("future-1", "north", "ggd")).ok());
  EXPECT_TRUE(ahead.end().events.empty());

  Subscription unknown(*evaluator_, Follow("nowhere-1"));
  ASSERT_TRUE(unknown.WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(unknown.end().status.error_code(), StatusCode::NOT_FOUND);
  v1::ReadEventsRequest read;
  read.set_experiment_id("nowhere-1");
  v1::ReadEventsResponse events;
  EXPECT_EQ(
      evaluator_
          ->Call(&v1::EventLogService::Stub::ReadEvents, evaluator_->event_log(), read, &events)
          .error_code(),
      StatusCode::NOT_FOUND);
  read.set_experiment_id("s-1");
  const grpc::Status foreign_read =
      partner_->Call(&v1::EventLogService::Stub::ReadEvents, partner_->event_log(), read, &events);
  read.set_experiment_id("nowhere-1");
  const grpc::Status missing_read =
      partner_->Call(&v1::EventLogService::Stub::ReadEvents, partner_->event_log(), read, &events);
  EXPECT_EQ(foreign_read.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(missing_read.error_code(), StatusCode::PERMISSION_DENIED);
  v1::GetExperimentRequest get;
  get.set_id("nowhere-1");
  v1::GetExperimentResponse got;
  EXPECT_EQ(
      partner_
          ->Call(&v1::ExperimentService::Stub::GetExperiment, partner_->experiments(), get, &got)
          .error_code(),
      StatusCode::PERMISSION_DENIED);
}

// Item 14: token events (ids, roles, bindings, secret hashes) are the
// admins' business, on every path that shows the log.
TEST_F(SecurityTest, TokenEventsAreShownToAdminsOnly) {
  auto count_token_events = [](const std::vector<v1::Event>& events) {
    int tokens = 0;
    for (const v1::Event& event : events) {
      tokens += event.has_token_created() || event.has_token_revoked();
    }
    return tokens;
  };
  for (client::Client* api : {evaluator_.get(), north_.get()}) {
    v1::ReadEventsRequest read;
    read.set_page_size(1000);
    v1::ReadEventsResponse page;
    ASSERT_TRUE(
        api->Call(&v1::EventLogService::Stub::ReadEvents, api->event_log(), read, &page).ok());
    EXPECT_EQ(count_token_events({page.events().begin(), page.events().end()}), 0);
    EXPECT_GT(page.next_position(), page.head_position());  // Paging still reaches the end.
    Subscription stream(*api, Follow());
    ASSERT_TRUE(stream.WaitForCatchUp(absl::Seconds(10)));
    EXPECT_EQ(count_token_events(stream.end().events), 0);
  }
  Subscription stream(*admin_, Follow());
  ASSERT_TRUE(stream.WaitForCatchUp(absl::Seconds(10)));
  EXPECT_EQ(count_token_events(stream.end().events), 5);  // admin + the four of SetUp.
}

// An inclusion proof names an event's leaf hash: only for an event the
// caller may read, by the rule of ReadEvents, decided when asked. Sizes and
// roots (consistency proofs) are every role's.
TEST_F(SecurityTest, InclusionProofsAreGivenOnlyForEventsTheCallerMayRead) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north", "ggd")).ok());
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  const uint64_t ours = History("n-1").front().position();
  const uint64_t theirs = History("s-1").front().position();
  uint64_t token = 0;
  v1::ReadEventsRequest all;
  all.set_page_size(1000);
  v1::ReadEventsResponse log;
  ASSERT_TRUE(
      admin_->Call(&v1::EventLogService::Stub::ReadEvents, admin_->event_log(), all, &log).ok());
  for (const v1::Event& event : log.events()) {
    if (event.has_token_created() && token == 0) token = event.position();
  }
  ASSERT_NE(token, 0u);
  auto prove = [&](client::Client& api, uint64_t position) {
    v1::GetInclusionProofRequest request;
    request.set_position(position);
    request.set_tree_size(theirs);
    v1::GetInclusionProofResponse response;
    return api.Call(&v1::EventLogService::Stub::GetInclusionProof, api.event_log(), request,
                    &response);
  };
  EXPECT_EQ(prove(*partner_, ours).error_code(), StatusCode::OK);
  EXPECT_EQ(prove(*partner_, theirs).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(prove(*partner_, token).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(prove(*evaluator_, token).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(prove(*evaluator_, theirs).error_code(), StatusCode::OK);
  EXPECT_EQ(prove(*admin_, token).error_code(), StatusCode::OK);
  EXPECT_EQ(History("s-1").size(), 1u);  // nothing written by the refusals

  v1::GetConsistencyProofRequest consistency;
  consistency.set_from_tree_size(ours);
  consistency.set_to_tree_size(theirs);
  v1::GetConsistencyProofResponse proof;
  EXPECT_TRUE(partner_
                  ->Call(&v1::EventLogService::Stub::GetConsistencyProof, partner_->event_log(),
                         consistency, &proof)
                  .ok());
  // This server was started without a log key: it signs nothing.
  v1::GetCheckpointResponse checkpoint;
  EXPECT_EQ(partner_
                ->Call(&v1::EventLogService::Stub::GetCheckpoint, partner_->event_log(),
                       v1::GetCheckpointRequest(), &checkpoint)
                .error_code(),
            StatusCode::FAILED_PRECONDITION);
}

// Item 13: a partner records outcomes on its experiments and may retract
// only those it recorded, never the team's.
TEST_F(SecurityTest, APartnerRetractsOnlyWhatItRecorded) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north", "ggd")).ok());
  ASSERT_TRUE(Start(*north_, "n-1").ok());
  auto record = [&](client::Client& api) {
    v1::CreateOutcomeResponse response;
    EXPECT_TRUE(api.Call(&v1::ExperimentService::Stub::CreateOutcome, api.experiments(),
                         SampleOutcomeRequest("n-1", client::NewRequestId()), &response)
                    .ok());
    return response.outcome().id();
  };
  const std::string teams = record(*north_);
  const std::string partners = record(*partner_);
  auto retract = [&](client::Client& api, const std::string& outcome) {
    v1::RetractOutcomeRequest request;
    request.set_experiment_id("n-1");
    request.set_outcome_id(outcome);
    request.set_reason("not ours to keep");
    request.set_request_id(client::NewRequestId());
    v1::RetractOutcomeResponse response;
    return api
        .Call(&v1::ExperimentService::Stub::RetractOutcome, api.experiments(), request, &response)
        .error_code();
  };
  EXPECT_EQ(retract(*partner_, teams), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(retract(*partner_, partners), StatusCode::OK);
  EXPECT_EQ(retract(*north_, teams), StatusCode::OK);
}

// Item 15: a team links its experiment as the next iteration of its own
// experiments only.
TEST_F(SecurityTest, ATeamCannotAttachItsExperimentToAnotherTeamsIteration) {
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  v1::CreateExperimentRequest child = Experiment("n-2", "north");
  child.mutable_experiment()->set_parent_experiment_id("s-1");
  EXPECT_EQ(Create(*north_, child).error_code(), StatusCode::PERMISSION_DENIED);
  child.mutable_experiment()->set_parent_experiment_id("");
  child.set_request_id(client::NewRequestId());
  ASSERT_TRUE(Create(*north_, child).ok());
  v1::CreateExperimentRequest own = Experiment("n-3", "north");
  own.mutable_experiment()->set_parent_experiment_id("n-2");
  EXPECT_TRUE(Create(*north_, own).ok());
  v1::CreateExperimentRequest linked = Experiment("n-4", "north");
  linked.mutable_experiment()->set_parent_experiment_id("s-1");
  EXPECT_TRUE(Create(*admin_, linked).ok());  // An admin may link across teams.
}

// Item 20: the CLI reads its token from a file, so the secret never shows in
// `ps`.
TEST_F(SecurityTest, TheCliTakesItsTokenFromAFile) {
  CommandResult listed = RunCli({"--server", server_->address(), "--token-file",
                                 server_->admin_token_file(), "token", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("team-north"), std::string::npos) << listed.out;
  CommandResult without = RunCli({"--server", server_->address(), "token", "list"});
  EXPECT_EQ(without.exit_code, 9) << without.err;  // UNAUTHENTICATED.
  CommandResult missing = RunCli(
      {"--server", server_->address(), "--token-file", dir_.File("no-such-file"), "token", "list"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no-such-file"), std::string::npos) << missing.err;
}

// Item 7: the first admin token's file is created owner-only from the
// start, never over an existing file or through a link, and no token is
// stored when it cannot be written (the next start tries again).
TEST(BootstrapTokenFileTest, IsCreatedSafelyOrNotAtAll) {
  TempDir dir;
  const std::string token_file = dir.File("data.admin-token");
  // A link to another file: refused, the other file untouched, no token.
  WriteFile(dir.File("victim"), "precious\n");
  ASSERT_EQ(::symlink(dir.File("victim").c_str(), token_file.c_str()), 0);
  {
    ServerProcess server(dir.File("data"), {}, /*authenticated=*/true);
    EXPECT_NE(server.StartAndWaitForExit(), 0);
  }
  EXPECT_EQ(ReadFile(dir.File("victim")), "precious\n");
  ASSERT_EQ(::unlink(token_file.c_str()), 0);
  // An existing file: refused, untouched.
  WriteFile(token_file, "old\n");
  {
    ServerProcess server(dir.File("data"), {}, /*authenticated=*/true);
    EXPECT_NE(server.StartAndWaitForExit(), 0);
  }
  EXPECT_EQ(ReadFile(token_file), "old\n");
  ASSERT_EQ(::unlink(token_file.c_str()), 0);
  // Now it can be created: mode 0600 whatever the umask, and it works.
  const mode_t umask_before = ::umask(0);
  ServerProcess server(dir.File("data"), {}, /*authenticated=*/true);
  server.Start();
  ::umask(umask_before);
  struct stat info;
  ASSERT_EQ(::stat(token_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::string secret = ReadFile(token_file);
  EXPECT_EQ(secret.size(), 4u + 64u + 1u);
  CommandResult listed =
      RunCli({"--server", server.address(), "--token-file", token_file, "token", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
}

// The server's peak resident memory since the last ResetPeakMemory, in MiB.
double PeakResidentMiB(pid_t pid) {
  const std::string status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  const size_t at = status.find("VmHWM:");
  if (at == std::string::npos) return -1;
  return std::atof(status.c_str() + at + 6) / 1024.0;  // kB
}
void ResetPeakMemory(pid_t pid) { WriteFile(absl::StrCat("/proc/", pid, "/clear_refs"), "5"); }

// Item 3: every answer is bounded while it is built. An experiment with
// 150,000 outcomes, asked for whole (with history, as of a position, the
// full view) by 32 readers at once: each is refused or answered, and the
// server stays within its 256 MiB memory budget throughout.
TEST_F(SecurityTest, ThirtyTwoHugeAnswersAtOnceStayWithinTheMemoryBudget) {
  const int outcomes = EnvInt("LEERLUS_SECURITY_HUGE_OUTCOMES", 150000);
  ASSERT_TRUE(Create(*north_, Experiment("huge-1", "north")).ok());
  ASSERT_TRUE(Start(*north_, "huge-1").ok());
  {
    grpc::ClientContext context;
    north_->Authorize(context);
    v1::ImportOutcomesResponse imported;
    auto writer = north_->experiments()->ImportOutcomes(&context, &imported);
    v1::ImportOutcomesRequest row;
    for (int i = 0; i < outcomes; ++i) {
      *row.mutable_row() = SampleOutcomeRequest("huge-1", absl::StrCat("huge-row-", i));
      ASSERT_TRUE(writer->Write(row));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(imported.written(), static_cast<uint64_t>(outcomes));
  }
  const pid_t pid = server_->pid();
  ResetPeakMemory(pid);
  const double before = PeakResidentMiB(pid);
  std::vector<std::thread> readers;
  std::atomic<int> refused{0}, answered{0}, other{0};
  for (int i = 0; i < 32; ++i) {
    readers.emplace_back([&, i] {
      auto api = Client(evaluator_->options().token);
      v1::GetExperimentRequest get;
      get.set_id("huge-1");
      get.set_view(v1::EXPERIMENT_VIEW_FULL);
      if (i % 4 == 1) get.set_include_history(true);
      if (i % 4 == 2) get.set_as_of_position(outcomes / 2);
      if (i % 4 == 3) {
        get.set_as_of_position(outcomes);
        get.set_include_history(true);
      }
      v1::GetExperimentResponse response;
      grpc::Status status = api->Call(&v1::ExperimentService::Stub::GetExperiment,
                                      api->experiments(), get, &response);
      if (status.ok()) {
        ++answered;
      } else if (status.error_code() == StatusCode::RESOURCE_EXHAUSTED) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << status.error_message();
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  const double peak = PeakResidentMiB(pid);
  std::cout << "32 huge GetExperiment calls: " << answered.load() << " answered, " << refused.load()
            << " refused; server peak RSS " << before << " -> " << peak << " MiB\n";
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(refused.load(), 0);  // The whole experiment is over the message limit.
  EXPECT_LE(peak, 256.0);
  // A bounded question still answers.
  v1::GetExperimentRequest basic;
  basic.set_id("huge-1");
  basic.set_view(v1::EXPERIMENT_VIEW_BASIC);
  v1::GetExperimentResponse response;
  EXPECT_TRUE(evaluator_
                  ->Call(&v1::ExperimentService::Stub::GetExperiment, evaluator_->experiments(),
                         basic, &response)
                  .ok());
}

// Every file and directory under `root` that others may read or enter.
std::vector<std::string> OpenToOthers(const std::string& root) {
  std::vector<std::string> open;
  auto check = [&](const std::filesystem::path& path) {
    struct stat info;
    if (::lstat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
      open.push_back(absl::StrCat(path.string(), " ", absl::Hex(info.st_mode & 0777)));
    }
  };
  check(root);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) check(entry.path());
  return open;
}

// Item 10: the data directory, everything in it and every backup are the
// server's alone, whatever the umask it was started with; a directory that
// was open to others before is closed.
TEST(DataDirectoryTest, DataAndBackupsAreOwnerOnlyWhateverTheUmask) {
  TempDir dir;
  const std::string data = dir.File("data");
  ASSERT_TRUE(std::filesystem::create_directory(data));
  std::filesystem::permissions(data, std::filesystem::perms(0755));
  const mode_t umask_before = ::umask(0022);
  ServerProcess server(data, {}, /*authenticated=*/true);
  server.Start();
  ::umask(umask_before);
  const std::string token_file = server.admin_token_file();
  ASSERT_EQ(RunCli({"--server", server.address(), "--token-file", token_file, "method", "define",
                    "--id", "coach", "--name", "Coach"})
                .exit_code,
            0);
  const std::string backup = dir.File("backup");
  CommandResult backed_up = RunCli({"--server", server.address(), "--token-file", token_file,
                                    "admin", "backup", "--to", backup});
  ASSERT_EQ(backed_up.exit_code, 0) << backed_up.err;
  EXPECT_EQ(OpenToOthers(data), std::vector<std::string>{});
  EXPECT_EQ(OpenToOthers(backup), std::vector<std::string>{});
}

class SubscriptionQuotaTest : public SecurityTest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--max-subscribers-per-principal", "3"};
  }
};

// Item 6: one principal cannot take every subscription slot: past its
// quota it gets RESOURCE_EXHAUSTED with RetryInfo, and the others still
// subscribe.
TEST_F(SubscriptionQuotaTest, OnePartnerFillingItsQuotaLeavesTheEvaluatorsSubscriptionWorking) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north", "ggd")).ok());
  std::vector<std::unique_ptr<Subscription>> partners;
  for (int i = 0; i < 3; ++i) {
    partners.push_back(std::make_unique<Subscription>(*partner_, Follow("n-1")));
    ASSERT_TRUE(partners.back()->WaitForCatchUp(absl::Seconds(10)));
  }
  Subscription one_too_many(*partner_, Follow("n-1"));
  ASSERT_TRUE(one_too_many.WaitForEnd(absl::Seconds(5)));
  const grpc::Status refused = one_too_many.end().status;
  EXPECT_EQ(refused.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(client::ErrorReason(refused), "TOO_MANY_SUBSCRIPTIONS_OF_PRINCIPAL");
  EXPECT_NE(refused.error_details().find("RetryInfo"), std::string::npos);
  Subscription evaluator(*evaluator_, Follow());
  EXPECT_TRUE(evaluator.WaitForCatchUp(absl::Seconds(10)));
  // A slot given back is free again.
  partners.pop_back();
  bool resubscribed = false;
  for (int attempt = 0; attempt < 50 && !resubscribed; ++attempt) {
    Subscription again(*partner_, Follow("n-1"));
    resubscribed = again.WaitForCatchUp(absl::Milliseconds(200));
  }
  EXPECT_TRUE(resubscribed);
}

// Item 8: what a caller sends never floods or forges the log: request ids
// are validated before they are logged, and every value is cut and
// escaped, in both log formats.
TEST(LogTest, ClientValuesCannotFloodOrForgeTheLog) {
  for (const std::string format : {"text", "json"}) {
    TempDir dir;
    ServerProcess server(dir.File("data"), {"--log-format", format}, /*authenticated=*/true);
    server.Start();
    client::ClientOptions options;
    options.token = "lls_not-a-token";
    options.max_attempts = 1;
    client::Client anonymous(server.address(), options);
    const size_t before = ReadFile(dir.File("data.log")).size();
    for (int i = 0; i < 5; ++i) {
      v1::CreateWorkMethodRequest flood = SampleWorkMethodRequest(std::string(10 << 20, 'A'));
      v1::CreateWorkMethodResponse response;
      EXPECT_EQ(anonymous
                    .Call(&v1::CatalogService::Stub::CreateWorkMethod, anonymous.catalog(), flood,
                          &response)
                    .error_code(),
                StatusCode::UNAUTHENTICATED);
    }
    v1::CreateWorkMethodRequest forged = SampleWorkMethodRequest(
        "x\n2026-01-01T00:00:00.000Z info call rpc=ErasePersonalData status=OK principal=admin");
    v1::CreateWorkMethodResponse response;
    (void)anonymous.Call(&v1::CatalogService::Stub::CreateWorkMethod, anonymous.catalog(), forged,
                         &response);
    server.Stop();
    const std::string log = ReadFile(dir.File("data.log"));
    EXPECT_LT(log.size() - before, 16u << 10) << format;
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      EXPECT_FALSE(absl::StrContains(line, "rpc=ErasePersonalData")) << format << ": " << line;
      EXPECT_FALSE(absl::StartsWith(line, "2026-01-01")) << format << ": " << line;
      if (format == "json" && !line.empty()) {
        EXPECT_TRUE(absl::StartsWith(line, "{") && absl::EndsWith(line, "}")) << line;
      }
    }
  }
}

// Item 16: a one-line field cannot carry what would spoof a table (line
// breaks, carriage returns, C1 controls, bidi overrides, invisible
// characters): refused at the server, naming the field. Item 22: an id the
// server generates never collides with one a caller chose.
TEST_F(SecurityTest, TitlesCannotSpoofTablesAndGeneratedIdsNeverCollide) {
  for (const std::string title : {"Coach\r\nfake-row  RUNNING", "Coach\xc2\x85next",
                                  "Coach \xe2\x80\xae"
                                  "evil",
                                  "Co\xe2\x80\x8b"
                                  "ach"}) {
    v1::CreateExperimentRequest spoof = Experiment("spoof-1", "north");
    spoof.mutable_experiment()->set_title(title);
    const grpc::Status refused = Create(*north_, spoof);
    EXPECT_EQ(refused.error_code(), StatusCode::INVALID_ARGUMENT) << title;
    EXPECT_NE(refused.error_message().find("experiment.title"), std::string::npos);
  }
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north")).ok());  // Version 1.
  // Long texts may hold line breaks; the CLI shows them escaped, one line
  // per field.
  WriteFile(dir_.File("north.token"), north_->options().token);
  CommandResult amended = RunCli({"--server", server_->address(), "--token-file",
                                  dir_.File("north.token"), "experiment", "amend", "n-1",
                                  "--description", "first\nexperiment.status  CONCLUDED"});
  ASSERT_EQ(amended.exit_code, 0) << amended.err;
  for (absl::string_view line : absl::StrSplit(amended.out, '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, "experiment.status  CONCLUDED")) << amended.out;
  }
  EXPECT_NE(amended.out.find("first\\nexperiment.status"), std::string::npos) << amended.out;
  ASSERT_TRUE(Start(*north_, "n-1").ok());
  // The caller takes the id the server would give the outcome after it.
  v1::CreateOutcomeRequest chosen = SampleOutcomeRequest("n-1", client::NewRequestId());
  chosen.mutable_outcome()->set_id("o5");
  v1::CreateOutcomeResponse first, second;
  ASSERT_TRUE(
      north_
          ->Call(&v1::ExperimentService::Stub::CreateOutcome, north_->experiments(), chosen, &first)
          .ok());
  ASSERT_TRUE(north_
                  ->Call(&v1::ExperimentService::Stub::CreateOutcome, north_->experiments(),
                         SampleOutcomeRequest("n-1", client::NewRequestId()), &second)
                  .ok());
  EXPECT_EQ(first.outcome().id(), "o5");
  EXPECT_EQ(second.outcome().id(), "o5-1");
}

// The google.rpc.ErrorInfo details of an error: how many, and the first.
std::pair<int, google::rpc::ErrorInfo> ErrorInfos(const grpc::Status& status) {
  google::rpc::Status details;
  std::pair<int, google::rpc::ErrorInfo> found{0, {}};
  if (!details.ParseFromString(status.error_details())) return found;
  for (const google::protobuf::Any& any : details.details()) {
    if (any.Is<google::rpc::ErrorInfo>() && found.first++ == 0) any.UnpackTo(&found.second);
  }
  return found;
}

// Item 23: every error carries exactly one ErrorInfo with a reason and the
// domain (AIP-193), INVALID_ARGUMENT included; a direct effect's measure is
// the EffectMeasure enum, and the older text is still read in any case.
TEST_F(SecurityTest, EveryErrorCarriesOneErrorInfoAndMeasuresAreAnEnum) {
  v1::CreateExperimentRequest invalid = Experiment("n-1", "north");
  invalid.mutable_experiment()->set_title("");
  ASSERT_TRUE(Create(*north_, Experiment("n-2", "north")).ok());
  v1::CreateExperimentRequest taken = Experiment("n-2", "north");
  v1::GetExperimentRequest missing;
  missing.set_id("nowhere-1");
  v1::GetExperimentResponse got;
  auto anonymous = Client("lls_unknown");
  const std::vector<std::pair<grpc::Status, std::string>> errors = {
      {Create(*north_, invalid), "INVALID_ARGUMENT"},
      {Create(*north_, taken), "ALREADY_EXISTS"},
      {Create(*south_, Experiment("n-3", "north")), "PERMISSION_DENIED"},
      {evaluator_->Call(&v1::ExperimentService::Stub::GetExperiment, evaluator_->experiments(),
                        missing, &got),
       "NOT_FOUND"},
      {Create(*anonymous, Experiment("n-4", "north")), "UNAUTHENTICATED"},
  };
  for (const auto& [status, reason] : errors) {
    const auto [count, info] = ErrorInfos(status);
    EXPECT_EQ(count, 1) << reason << ": " << status.error_message();
    EXPECT_EQ(info.reason(), reason) << status.error_message();
    EXPECT_EQ(info.domain(), "leerlus.v1");
  }

  ASSERT_TRUE(Create(*north_, Experiment("n-5", "north")).ok());
  ASSERT_TRUE(Start(*north_, "n-5").ok());
  auto direct = [&](const std::string& text, v1::EffectMeasure measure) {
    v1::CreateOutcomeRequest request = SampleOutcomeRequest("n-5", client::NewRequestId());
    v1::DirectEffect* effect = request.mutable_outcome()->mutable_direct_effect();
    effect->set_measure(text);
    effect->set_effect_measure(measure);
    effect->set_effect(0.3);
    effect->set_variance(0.02);
    v1::CreateOutcomeResponse response;
    grpc::Status status = north_->Call(&v1::ExperimentService::Stub::CreateOutcome,
                                       north_->experiments(), request, &response);
    return std::pair{status, response.outcome().direct_effect()};
  };
  auto [by_enum, stored] = direct("", v1::EFFECT_MEASURE_SMD);
  ASSERT_TRUE(by_enum.ok()) << by_enum.error_message();
  EXPECT_EQ(stored.effect_measure(), v1::EFFECT_MEASURE_SMD);
  EXPECT_EQ(stored.measure(), "SMD");
  auto [by_text, stored_text] = direct("rr", v1::EFFECT_MEASURE_UNSPECIFIED);
  ASSERT_TRUE(by_text.ok()) << by_text.error_message();
  EXPECT_EQ(stored_text.effect_measure(), v1::EFFECT_MEASURE_RR);
  EXPECT_EQ(stored_text.measure(), "RR");
  auto [disagree, unused] = direct("OR", v1::EFFECT_MEASURE_SMD);
  EXPECT_EQ(disagree.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(disagree.error_message().find("outcome.direct_effect.measure"), std::string::npos)
      << disagree.error_message();
  auto [neither, unused2] = direct("", v1::EFFECT_MEASURE_UNSPECIFIED);
  EXPECT_NE(neither.error_message().find("outcome.direct_effect.effect_measure"), std::string::npos)
      << neither.error_message();
}

// Item 11: a backup is an independent, checksummed copy: damage to it never
// reaches the live server, and a damaged backup is refused at restore.
TEST_F(SecurityTest, ABackupSharesNoFileWithTheLiveStoreAndADamagedOneIsRefused) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north")).ok());
  ASSERT_TRUE(Lesson(*north_, "n-1", "kept safe").ok());
  const std::string backup = dir_.File("backup");
  v1::BackupRequest request;
  request.set_directory(backup);
  v1::BackupResponse backed_up;
  ASSERT_TRUE(
      admin_->Call(&v1::AdminService::Stub::Backup, admin_->admin(), request, &backed_up).ok());
  // No inode of the backup is one of the live store's.
  std::set<ino_t> live;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.File("data"))) {
    struct stat info;
    if (entry.is_regular_file() && ::stat(entry.path().c_str(), &info) == 0) {
      live.insert(info.st_ino);
    }
  }
  std::vector<std::string> tables;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(backup)) {
    if (!entry.is_regular_file()) continue;
    struct stat info;
    ASSERT_EQ(::stat(entry.path().c_str(), &info), 0);
    EXPECT_EQ(live.count(info.st_ino), 0u) << entry.path() << " is a live store's file";
    if (entry.path().extension() == ".sst") tables.push_back(entry.path());
  }
  ASSERT_FALSE(tables.empty());
  // Damage one byte of every table of the backup.
  for (const std::string& table : tables) {
    std::string bytes = ReadFile(table);
    bytes[bytes.size() / 2] ^= 0x5a;
    WriteFile(table, bytes);
  }
  // The live server reads on as before.
  v1::GetExperimentRequest get;
  get.set_id("n-1");
  v1::GetExperimentResponse got;
  EXPECT_TRUE(
      evaluator_
          ->Call(&v1::ExperimentService::Stub::GetExperiment, evaluator_->experiments(), get, &got)
          .ok());
  EXPECT_EQ(got.experiment().lessons_size(), 1);
  // The damaged backup restores nothing.
  ServerProcess restore(dir_.File("restored"), {"--restore-from", backup});
  EXPECT_NE(restore.StartAndWaitForExit(), 0);
  EXPECT_NE(ReadFile(dir_.File("restored.log")).find("damaged"), std::string::npos)
      << ReadFile(dir_.File("restored.log"));
}

class ImportLogTest : public SecurityTest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--metrics-listen", absl::StrCat("127.0.0.1:", metrics_port_), "--log-format", "json"};
  }
  const int metrics_port_ = FreePort();
};

// Item 18: rows an import refuses leave a trace: the stream's log line is a
// warning naming how many rows were refused with which code, and
// leerlus_import_rows_total counts them by code.
TEST_F(ImportLogTest, RefusedImportRowsAreLoggedAndCountedByCode) {
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  {
    grpc::ClientContext context;
    partner_->Authorize(context);
    v1::ImportOutcomesResponse imported;
    auto writer = partner_->experiments()->ImportOutcomes(&context, &imported);
    v1::ImportOutcomesRequest row;
    for (int i = 0; i < 250; ++i) {
      *row.mutable_row() = SampleOutcomeRequest("s-1", absl::StrCat("refused-", i));
      ASSERT_TRUE(writer->Write(row));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(imported.failed(), 250u);
  }
  const std::string metrics = HttpGet(metrics_port_, "/metrics");
  EXPECT_NE(metrics.find("leerlus_import_rows_total{code=\"PERMISSION_DENIED\"} 250"),
            std::string::npos)
      << metrics;
  server_->Stop();
  bool logged = false;
  for (absl::string_view line : absl::StrSplit(ReadFile(dir_.File("data.log")), '\n')) {
    if (absl::StrContains(line, "\"rpc\":\"ImportOutcomes\"")) {
      logged = absl::StrContains(line, "\"refused_PERMISSION_DENIED\":\"250\"") &&
               absl::StrContains(line, "\"level\":\"warn\"");
    }
  }
  EXPECT_TRUE(logged) << ReadFile(dir_.File("data.log"));
}

using StreamTelemetryTest = ImportLogTest;

// Waits up to 5 s for /metrics to show `series`: a stream is counted when
// its handler returns, which may be after its client saw it end.
bool MetricsShow(int port, const std::string& series) {
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains(HttpGet(port, "/metrics"), series)) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

std::string CallsSeries(const std::string& rpc, const std::string& code, int count) {
  return absl::StrCat("leerlus_rpc_requests_total{code=\"", code, "\",rpc=\"", rpc, "\"} ", count,
                      "\n");
}

// Every end of a Subscribe stream is counted with its code: refused as it
// opens, ended by the server (a revoked token) or by its client.
TEST_F(StreamTelemetryTest, EveryEndOfASubscriptionIsCounted) {
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  {
    Subscription foreign(*partner_, Follow("s-1"));
    ASSERT_TRUE(foreign.WaitForEnd(absl::Seconds(5)));
    EXPECT_EQ(foreign.end().status.error_code(), StatusCode::PERMISSION_DENIED);
    v1::SubscribeRequest bad = Follow();
    bad.set_heartbeat_seconds(-1);
    Subscription invalid(*evaluator_, bad);
    ASSERT_TRUE(invalid.WaitForEnd(absl::Seconds(5)));
    EXPECT_EQ(invalid.end().status.error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    auto reader = Client(CreateToken("curious", v1::ROLE_READER, "", ""));
    Subscription revoked(*reader, Follow());
    ASSERT_TRUE(revoked.WaitForCatchUp(absl::Seconds(10)));
    v1::RevokeTokenRequest revoke;
    revoke.set_id("curious");
    revoke.set_request_id(client::NewRequestId());
    v1::RevokeTokenResponse response;
    ASSERT_TRUE(
        admin_->Call(&v1::AdminService::Stub::RevokeToken, admin_->admin(), revoke, &response)
            .ok());
    ASSERT_TRUE(revoked.WaitForEnd(absl::Seconds(5)));
    EXPECT_EQ(revoked.end().status.error_code(), StatusCode::UNAUTHENTICATED);
  }
  {
    Subscription left(*evaluator_, Follow());
    ASSERT_TRUE(left.WaitForCatchUp(absl::Seconds(10)));
  }  // Its client cancels it.
  for (const char* code :
       {"PERMISSION_DENIED", "INVALID_ARGUMENT", "UNAUTHENTICATED", "CANCELLED"}) {
    const std::string series = CallsSeries("Subscribe", code, 1);
    EXPECT_TRUE(MetricsShow(metrics_port_, series)) << series << HttpGet(metrics_port_, "/metrics");
  }
  // A subscriber leaving is how a stream normally ends: no warning.
  server_->Stop();
  bool logged = false;
  for (absl::string_view line : absl::StrSplit(ReadFile(dir_.File("data.log")), '\n')) {
    if (absl::StrContains(line, "\"rpc\":\"Subscribe\"") &&
        absl::StrContains(line, "\"status\":\"CANCELLED\"")) {
      logged = absl::StrContains(line, "\"level\":\"info\"");
    }
  }
  EXPECT_TRUE(logged) << ReadFile(dir_.File("data.log"));
}

// Every end of an ImportOutcomes stream is counted with its code: refused
// as it opens, done, and cut off by its client.
TEST_F(StreamTelemetryTest, EveryEndOfAnImportIsCounted) {
  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north")).ok());
  ASSERT_TRUE(Start(*north_, "n-1").ok());
  auto outcomes = [&] {
    v1::GetExperimentRequest get;
    get.set_id("n-1");
    v1::GetExperimentResponse got;
    EXPECT_TRUE(
        north_->Call(&v1::ExperimentService::Stub::GetExperiment, north_->experiments(), get, &got)
            .ok());
    return got.experiment().outcomes_size();
  };
  // Sends `rows` rows; `cut_off`: then cancels once they are in.
  auto import = [&](client::Client& api, int rows, bool cut_off) {
    grpc::ClientContext context;
    api.Authorize(context);
    v1::ImportOutcomesResponse imported;
    auto writer = api.experiments()->ImportOutcomes(&context, &imported);
    const int before = outcomes();
    v1::ImportOutcomesRequest row;
    for (int i = 0; i < rows; ++i) {
      *row.mutable_row() = SampleOutcomeRequest("n-1", client::NewRequestId());
      if (!writer->Write(row)) break;  // Refused already.
    }
    if (cut_off) {
      const absl::Time give_up = absl::Now() + absl::Seconds(5);
      while (outcomes() < before + rows && absl::Now() < give_up) {
        absl::SleepFor(absl::Milliseconds(20));
      }
      context.TryCancel();
    } else {
      writer->WritesDone();
    }
    return writer->Finish().error_code();
  };
  EXPECT_EQ(import(*evaluator_, 1, false), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(import(*north_, 3, false), StatusCode::OK);
  EXPECT_EQ(import(*north_, 3, true), StatusCode::CANCELLED);
  for (const char* code : {"PERMISSION_DENIED", "OK", "CANCELLED"}) {
    const std::string series = CallsSeries("ImportOutcomes", code, 1);
    EXPECT_TRUE(MetricsShow(metrics_port_, series)) << series << HttpGet(metrics_port_, "/metrics");
  }
}

// Item 24: a quiet stream says it is alive: heartbeats after the catch-up
// marker, each naming the log's head.
TEST_F(SecurityTest, AQuietStreamSendsHeartbeats) {
  v1::SubscribeRequest request = Follow();
  request.set_heartbeat_seconds(1);
  grpc::ClientContext context;
  evaluator_->Authorize(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto reader = evaluator_->event_log()->Subscribe(&context, request);
  v1::SubscribeResponse message;
  int events = 0, caught_up = 0, heartbeats = 0;
  uint64_t head = 0;
  absl::Time marked = absl::InfiniteFuture();
  while (heartbeats < 2 && reader->Read(&message)) {
    if (message.has_event()) ++events;
    if (message.has_caught_up()) {
      ++caught_up;
      marked = absl::Now();
      head = message.caught_up().head_position();
      EXPECT_EQ(heartbeats, 0);  // The marker comes before any heartbeat.
    }
    if (message.has_heartbeat()) {
      ++heartbeats;
      EXPECT_EQ(message.heartbeat().head_position(), head);
    }
  }
  context.TryCancel();
  EXPECT_EQ(caught_up, 1);
  EXPECT_EQ(heartbeats, 2);
  EXPECT_GT(events, 0);
  // Two heartbeats one second apart after the marker, not back to back
  // (the margin is for delivery delays between the two clocks' readings).
  EXPECT_GE(absl::Now() - marked, absl::Milliseconds(1500));
  v1::SubscribeRequest bad = Follow();
  bad.set_heartbeat_seconds(-1);
  Subscription refused(*evaluator_, bad);
  ASSERT_TRUE(refused.WaitForEnd(absl::Seconds(5)));
  EXPECT_EQ(refused.end().status.error_code(), StatusCode::INVALID_ARGUMENT);
}

// A change is authorised before anything else about it is looked at: a
// partner probing a foreign experiment with an expected version or another
// principal's request id learns nothing (the same PERMISSION_DENIED as for
// an experiment that does not exist), and a huge standard error is refused.
TEST_F(SecurityTest, AChangeToAForeignExperimentRevealsNothingOfIt) {
  ASSERT_TRUE(Create(*south_, Experiment("s-1", "south")).ok());
  ASSERT_TRUE(Lesson(*south_, "s-1", "only south's").ok());
  auto probe = [&](const std::string& experiment, const std::string& request_id) {
    v1::CreateLessonRequest request;
    request.set_experiment_id(experiment);
    request.mutable_lesson()->set_text("probe");
    request.set_expected_version(999);
    request.set_request_id(request_id);
    v1::CreateLessonResponse response;
    grpc::Status status = partner_->Call(&v1::ExperimentService::Stub::CreateLesson,
                                         partner_->experiments(), request, &response);
    return std::pair{status.error_code(),
                     absl::StrReplaceAll(status.error_message(), {{experiment, "X"}})};
  };
  const auto foreign = probe("s-1", client::NewRequestId());
  const auto missing = probe("nowhere-1", client::NewRequestId());
  EXPECT_EQ(foreign.first, StatusCode::PERMISSION_DENIED) << foreign.second;
  EXPECT_EQ(foreign, missing);

  ASSERT_TRUE(Create(*north_, Experiment("n-1", "north")).ok());
  ASSERT_TRUE(Start(*north_, "n-1").ok());
  v1::CreateOutcomeRequest huge = SampleOutcomeRequest("n-1", client::NewRequestId());
  v1::DirectEffect* effect = huge.mutable_outcome()->mutable_direct_effect();
  effect->set_effect_measure(v1::EFFECT_MEASURE_SMD);
  effect->set_effect(0.2);
  effect->set_standard_error(1e200);
  v1::CreateOutcomeResponse response;
  const grpc::Status refused = north_->Call(&v1::ExperimentService::Stub::CreateOutcome,
                                            north_->experiments(), huge, &response);
  EXPECT_EQ(refused.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(refused.error_message().find("outcome.direct_effect.standard_error"), std::string::npos)
      << refused.error_message();
}

}  // namespace
}  // namespace leerlus::testing
