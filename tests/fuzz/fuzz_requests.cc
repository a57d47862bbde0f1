// libFuzzer target over everything a request or a stored event can carry.
// The first byte picks a request type (or an event), the rest is its
// protobuf encoding. Requests go through the real commands, queries and
// analyses on a real EventStore (RocksDB on an in-memory Env), so
// validation, decisions, the projector and the personal-text sealing all
// see hostile input; events go through the projector and the revealer.
//
// Checked on every input, beyond "no crash, no sanitizer report": a refused
// change leaves the log head where it was (nothing half-written), and an
// accepted one moves it.
//
// LEERLUS_FUZZ_WRITE_SEEDS=DIR writes one valid input per type to DIR and
// exits (how tests/fuzz/corpus/requests was made).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "core/commands.h"
#include "core/insights.h"
#include "core/personal_data.h"
#include "core/queries.h"
#include "rocksdb/env.h"
#include "storage/event_store.h"
#include "core/model/experiment_state.h"
#include "core/model/families.h"
#include "core/model/projector.h"
#include "tests/sample_requests.h"

namespace leerlus::fuzz {
namespace {

enum Kind : uint8_t {
  kWorkMethod,
  kIndicator,
  kArea,
  kExperiment,
  kUpdate,
  kStart,
  kHypothesis,
  kOutcome,
  kRetract,
  kLesson,
  kConclude,
  kWithdraw,
  kErase,
  kToken,
  kListExperiments,
  kWhatWorks,
  kCompareConditions,
  kReadEvents,
  kEvent,
  kKindCount
};

class Harness {
 public:
  Harness() : env_(rocksdb::NewMemEnv(rocksdb::Env::Default())) {
    absl::StatusOr<std::unique_ptr<storage::EventStore>> store =
        model::OpenStore({.path = "/fuzz/db", .env = env_.get()});
    if (!store.ok()) Die(store.status());
    store_ = std::move(*store);
    commands_ = std::make_unique<core::Commands>(store_.get());
    queries_ = std::make_unique<core::Queries>(store_.get());
    insights_ = std::make_unique<core::Insights>(store_.get());
    for (const auto& [kind, bytes] : Seeds()) {
      // The seeds build the state the fuzzer starts from.
      Run(kind, bytes);
    }
  }

  // One well-formed input per kind; run in this order they build the state
  // every fuzz input starts from (an area, a running experiment, ...).
  static std::vector<std::pair<Kind, std::string>> Seeds() {
    std::vector<std::pair<Kind, std::string>> seeds;
    auto add = [&](Kind kind, const google::protobuf::Message& message) {
      seeds.emplace_back(kind, message.SerializeAsString());
    };
    const v1::CreateWorkMethodRequest method = testing::SampleWorkMethodRequest("s1");
    add(kWorkMethod, method);
    const v1::CreateIndicatorRequest indicator = testing::SampleIndicatorRequest("s2");
    add(kIndicator, indicator);
    v1::PutAreaRequest area;
    area.mutable_area()->set_code("GM0855");
    area.mutable_area()->set_display_name("Tilburg");
    (*area.mutable_area()->mutable_attributes())["urbanity"].set_number_value(2);
    area.set_request_id("s3");
    add(kArea, area);
    v1::CreateExperimentRequest experiment;
    v1::Experiment* e = experiment.mutable_experiment();
    e->set_id("e1");
    e->set_kind(v1::EXPERIMENT_KIND_PROJECT);
    e->set_title("Coach");
    e->set_work_method_id("coach");
    e->set_line(v1::LINE_AREA_BASED);
    e->set_team_id("north");
    e->mutable_area()->set_code("GM0855");
    (*e->mutable_context())["target_group"].set_text_value("elderly");
    experiment.set_request_id("s4");
    add(kExperiment, experiment);
    v1::CreateHypothesisRequest hypothesis;
    hypothesis.set_experiment_id("e1");
    hypothesis.mutable_hypothesis()->set_statement("Loneliness falls");
    hypothesis.mutable_hypothesis()->set_indicator_id("loneliness");
    hypothesis.mutable_hypothesis()->set_expected_direction(v1::EXPECTED_DIRECTION_DECREASE);
    hypothesis.set_request_id("s5");
    add(kHypothesis, hypothesis);
    v1::UpdateExperimentRequest update;
    update.mutable_experiment()->set_id("e1");
    update.mutable_experiment()->set_title("Coach, renamed");
    update.mutable_update_mask()->add_paths("title");
    update.set_request_id("s6");
    add(kUpdate, update);
    v1::StartExperimentRequest start;
    start.set_id("e1");
    start.set_request_id("s7");
    add(kStart, start);
    v1::CreateOutcomeRequest outcome = testing::SampleOutcomeRequest("e1", "s8");
    outcome.mutable_outcome()->set_id("o1");
    add(kOutcome, outcome);
    v1::CreateLessonRequest lesson;
    lesson.set_experiment_id("e1");
    lesson.mutable_lesson()->set_text("Talk to the neighbours first");
    lesson.mutable_lesson()->add_tags("outreach");
    lesson.set_request_id("s9");
    add(kLesson, lesson);
    v1::RetractOutcomeRequest retract;
    retract.set_experiment_id("e1");
    retract.set_outcome_id("o1");
    retract.set_reason("entered twice");
    retract.set_request_id("s10");
    add(kRetract, retract);
    v1::ConcludeExperimentRequest conclude;
    conclude.set_id("e1");
    conclude.set_decision(v1::DECISION_ADAPT);
    conclude.set_rationale("works in part");
    conclude.set_request_id("s11");
    add(kConclude, conclude);
    v1::WithdrawExperimentRequest withdraw;
    withdraw.set_id("e1");
    withdraw.set_reason("no longer funded");
    withdraw.set_request_id("s12");
    add(kWithdraw, withdraw);
    v1::ErasePersonalDataRequest erase;
    erase.set_experiment_id("e1");
    erase.set_request_id("s13");
    add(kErase, erase);
    v1::CreateTokenRequest token;
    token.mutable_token()->set_id("ggd");
    token.mutable_token()->set_display_name("GGD");
    token.mutable_token()->set_role(v1::ROLE_PARTNER);
    token.mutable_token()->set_partner_id("ggd");
    token.set_request_id("s14");
    add(kToken, token);
    v1::ListExperimentsRequest list;
    list.set_filter("context.target_group = \"elderly\" AND NOT status IN (WITHDRAWN)");
    add(kListExperiments, list);
    v1::WhatWorksRequest what;
    what.set_indicator_id("loneliness");
    add(kWhatWorks, what);
    v1::CompareConditionsRequest compare;
    compare.set_indicator_id("loneliness");
    compare.set_work_method_id("coach");
    compare.set_condition("context.urbanity");
    add(kCompareConditions, compare);
    v1::ReadEventsRequest read;
    read.set_from_position(1);
    add(kReadEvents, read);
    v1::Event event;
    event.set_position(9);
    event.set_stream("experiments/e1");
    event.set_stream_version(3);
    event.mutable_lesson_recorded()->mutable_lesson()->set_text("\x01lls1:e1:0:AAAA");
    add(kEvent, event);
    return seeds;
  }

  void Run(Kind kind, const std::string& bytes) {
    switch (kind) {
      case kWorkMethod:
        return Change<v1::CreateWorkMethodRequest>(
            bytes, [&](const auto& r) { return commands_->CreateWorkMethod(r, caller_); });
      case kIndicator:
        return Change<v1::CreateIndicatorRequest>(
            bytes, [&](const auto& r) { return commands_->CreateIndicator(r, caller_); });
      case kArea:
        return Change<v1::PutAreaRequest>(
            bytes, [&](const auto& r) { return commands_->PutArea(r, caller_); });
      case kExperiment:
        return Change<v1::CreateExperimentRequest>(
            bytes, [&](const auto& r) { return commands_->CreateExperiment(r, caller_); });
      case kUpdate:
        return Change<v1::UpdateExperimentRequest>(
            bytes, [&](const auto& r) { return commands_->UpdateExperiment(r, caller_); });
      case kStart:
        return Change<v1::StartExperimentRequest>(
            bytes, [&](const auto& r) { return commands_->StartExperiment(r, caller_); });
      case kHypothesis:
        return Change<v1::CreateHypothesisRequest>(
            bytes, [&](const auto& r) { return commands_->CreateHypothesis(r, caller_); });
      case kOutcome:
        return Change<v1::CreateOutcomeRequest>(
            bytes, [&](const auto& r) { return commands_->CreateOutcome(r, caller_); });
      case kRetract:
        return Change<v1::RetractOutcomeRequest>(
            bytes, [&](const auto& r) { return commands_->RetractOutcome(r, caller_); });
      case kLesson:
        return Change<v1::CreateLessonRequest>(
            bytes, [&](const auto& r) { return commands_->CreateLesson(r, caller_); });
      case kConclude:
        return Change<v1::ConcludeExperimentRequest>(
            bytes, [&](const auto& r) { return commands_->ConcludeExperiment(r, caller_); });
      case kWithdraw:
        return Change<v1::WithdrawExperimentRequest>(
            bytes, [&](const auto& r) { return commands_->WithdrawExperiment(r, caller_); });
      case kErase:
        return Change<v1::ErasePersonalDataRequest>(
            bytes, [&](const auto& r) { return commands_->ErasePersonalData(r, caller_); });
      case kToken:
        return Change<v1::CreateTokenRequest>(
            bytes, [&](const auto& r) { return commands_->CreateToken(r, caller_); });
      case kListExperiments:
        return Read<v1::ListExperimentsRequest>(
            bytes, [&](const auto& r) { return queries_->ListExperiments(r); });
      case kWhatWorks:
        return Read<v1::WhatWorksRequest>(bytes,
                                          [&](const auto& r) { return insights_->WhatWorks(r); });
      case kCompareConditions:
        return Read<v1::CompareConditionsRequest>(
            bytes, [&](const auto& r) { return insights_->CompareConditions(r); });
      case kReadEvents:
        return Read<v1::ReadEventsRequest>(bytes,
                                           [&](const auto& r) { return queries_->ReadEvents(r, caller_); });
      case kEvent:
        return DecodeEvent(bytes);
      case kKindCount:
        return;
    }
  }

 private:
  [[noreturn]] static void Die(const absl::Status& status) {
    std::fprintf(stderr, "fuzz harness: %s\n", status.ToString().c_str());
    std::abort();
  }

  template <typename Request, typename Fn>
  void Change(const std::string& bytes, Fn&& run) {
    Request request;
    if (!request.ParseFromString(bytes)) return;
    const uint64_t head = store_->HeadPosition();
    auto result = run(request);
    if (!result.ok()) {
      if (result.status().code() == absl::StatusCode::kInternal ||
          result.status().code() == absl::StatusCode::kDataLoss) {
        Die(result.status());  // Hostile input must never look like corruption.
      }
      if (store_->HeadPosition() != head) {
        std::fprintf(stderr, "a refused change moved the log head from %llu to %llu\n",
                     static_cast<unsigned long long>(head),
                     static_cast<unsigned long long>(store_->HeadPosition()));
        std::abort();
      }
      return;
    }
    Reveal(*result);
  }

  template <typename Request, typename Fn>
  void Read(const std::string& bytes, Fn&& run) {
    Request request;
    if (!request.ParseFromString(bytes)) return;
    auto result = run(request);
    if (!result.ok()) {
      if (result.status().code() == absl::StatusCode::kInternal) Die(result.status());
      return;
    }
    Reveal(*result);
  }

  void Reveal(google::protobuf::Message& message) {
    absl::Status status = core::RevealPersonalTexts(*store_, message);
    if (!status.ok()) Die(status);
  }

  // A stored event of any shape: the projector and the fold must refuse
  // what they cannot apply, never crash; the revealer must refuse forged
  // sealed texts.
  void DecodeEvent(const std::string& bytes) {
    v1::Event event;
    if (!event.ParseFromString(bytes)) return;
    storage::MemoryProjection projection(event.position(), 0);
    (void)model::ApplyEvent(event, projection.writer());
    v1::Experiment experiment;
    (void)model::FoldExperimentEvent(event, experiment);
    (void)core::RevealPersonalTexts(*store_, event);
  }

  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<storage::EventStore> store_;
  std::unique_ptr<core::Commands> commands_;
  std::unique_ptr<core::Queries> queries_;
  std::unique_ptr<core::Insights> insights_;
  core::Caller caller_{"fuzzer", v1::ROLE_ADMIN, {}, "", ""};
};

void WriteSeeds(const std::string& directory) {
  for (const auto& [kind, bytes] : Harness::Seeds()) {
    std::ofstream file(directory + "/seed-" + std::to_string(kind), std::ios::binary);
    file.put(static_cast<char>(kind));
    file << bytes;
  }
}

}  // namespace
}  // namespace leerlus::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* directory = std::getenv("LEERLUS_FUZZ_WRITE_SEEDS")) {
    leerlus::fuzz::WriteSeeds(directory);
    std::exit(0);
  }
  return 0;
}

namespace {

// Closed at exit, which waits for RocksDB's background work: a flush or
// compaction still queued would otherwise leave its job behind for the leak
// checker to report.
leerlus::fuzz::Harness* harness = nullptr;
void CloseHarness() {
  delete harness;
  harness = nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (harness == nullptr) {
    harness = new leerlus::fuzz::Harness();
    std::atexit(CloseHarness);
  }
  if (size == 0) return 0;
  const auto kind = static_cast<leerlus::fuzz::Kind>(data[0] % leerlus::fuzz::kKindCount);
  harness->Run(kind, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
