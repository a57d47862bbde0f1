// The event store's promises, tested through the real commands on a real
// RocksDB directory: idempotency, optimistic concurrency, group commit,
// durability across reopen, the hash chain and rebuildable projections.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/errors.h"
#include "common/serialize.h"
#include "rocksdb/db.h"
#include "core/model/events.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "core/model/projector.h"
#include "core/model/streams.h"
#include "storage/log_keys.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

using EventStoreTest = StoreFixture;

std::map<std::string, std::string> AllRows(storage::KeyValueReader& reader,
                                           storage::ColumnFamily cf) {
  std::map<std::string, std::string> rows;
  EXPECT_OK(reader.Scan(cf, "", "", [&](absl::string_view key, absl::string_view value) {
    rows.emplace(key, value);
    return true;
  }));
  return rows;
}

// The schema's projection families, each with its name.
std::vector<std::pair<storage::ColumnFamily, std::string>> ProjectionFamilies() {
  std::vector<std::pair<storage::ColumnFamily, std::string>> families;
  const storage::LogSchema schema = model::Schema();
  for (size_t i = 0; i < schema.families.size(); ++i) {
    if (schema.families[i].projection) {
      families.emplace_back(storage::SchemaFamily(static_cast<int>(i)), schema.families[i].name);
    }
  }
  return families;
}

// Opens the store's RocksDB directly (the store closed) for `change`, to
// simulate damage or an older layout.
void WithRawDatabase(
    const std::string& path,
    const std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>&
        change) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (absl::string_view name : storage::kLogFamilyNames) {
    descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
  }
  for (const storage::FamilySpec& family : model::Schema().families) {
    descriptors.emplace_back(family.name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db).ok());
  change(db, handles);
  for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  delete db;
}

// The log writes an envelope and appends the body core decided; the bytes
// it stores are exactly a whole v1::Event serialized deterministically, as
// before the log was made generic, so hashes and old logs stay valid.
TEST_F(EventStoreTest, StoredBytesAreTheWholeEventSerializedDeterministically) {
  DefineCatalogue();
  ASSERT_OK(commands_->CreateExperiment(ExperimentRequest("e1"), caller_));
  absl::StatusOr<std::vector<storage::StoredEvent>> stored =
      store_->OpenReadView()->ReadEvents(1, 1000, "");
  ASSERT_OK(stored);
  ASSERT_FALSE(stored->empty());
  for (const storage::StoredEvent& event : *stored) {
    v1::Event parsed;
    ASSERT_TRUE(parsed.ParseFromString(event.bytes)) << event.position;
    EXPECT_EQ(parsed.position(), event.position);
    EXPECT_NE(parsed.payload_case(), v1::Event::PAYLOAD_NOT_SET);
    EXPECT_EQ(SerializeDeterministic(parsed), event.bytes) << "position " << event.position;
  }
}

TEST_F(EventStoreTest, RetryWithSameRequestIdReturnsOriginalAndAppendsNothing) {
  DefineCatalogue();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  absl::StatusOr<v1::CreateExperimentResponse> first =
      commands_->CreateExperiment(request, caller_);
  ASSERT_OK(first);
  const uint64_t head = store_->HeadPosition();
  absl::StatusOr<v1::CreateExperimentResponse> retry =
      commands_->CreateExperiment(request, caller_);
  ASSERT_OK(retry);
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(store_->HeadPosition(), head);
}

TEST_F(EventStoreTest, RetryAfterRestartStillDeduplicates) {
  DefineCatalogue();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  absl::StatusOr<v1::CreateExperimentResponse> first =
      commands_->CreateExperiment(request, caller_);
  ASSERT_OK(first);
  Reopen();
  const uint64_t head = store_->HeadPosition();
  absl::StatusOr<v1::CreateExperimentResponse> retry =
      commands_->CreateExperiment(request, caller_);
  ASSERT_OK(retry);
  EXPECT_EQ(retry->position(), first->position());
  EXPECT_EQ(store_->HeadPosition(), head);
}

TEST_F(EventStoreTest, RequestIdReusedForDifferentRequestIsAlreadyExists) {
  DefineCatalogue();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  ASSERT_OK(commands_->CreateExperiment(request, caller_));
  v1::CreateExperimentRequest other = ExperimentRequest("e2");
  other.set_request_id(request.request_id());
  absl::StatusOr<v1::CreateExperimentResponse> reused = commands_->CreateExperiment(other, caller_);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorReason(reused.status()), "REQUEST_ID_REUSED");
  v1::GetExperimentRequest get;
  get.set_id("e2");
  EXPECT_EQ(queries_->GetExperiment(get, caller_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EventStoreTest, WrongExpectedVersionIsAbortedWithCurrentVersion) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::StartExperimentRequest start;
  start.set_id("e1");
  start.set_request_id(NextId());
  start.set_expected_version(7);
  absl::StatusOr<v1::StartExperimentResponse> result = commands_->StartExperiment(start, caller_);
  ASSERT_EQ(result.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ErrorReason(result.status()), "VERSION_MISMATCH");
  auto payload = result.status().GetPayload(kErrorInfoUrl);
  ASSERT_TRUE(payload.has_value());
  google::rpc::ErrorInfo info;
  ASSERT_TRUE(info.ParseFromString(std::string(*payload)));
  EXPECT_EQ(info.metadata().at("current_version"), "1");
  start.set_expected_version(1);
  start.set_request_id(NextId());
  absl::StatusOr<v1::StartExperimentResponse> ok = commands_->StartExperiment(start, caller_);
  ASSERT_OK(ok);
  EXPECT_EQ(ok->experiment().version(), 2u);
}

TEST_F(EventStoreTest, RacingWritersWithExpectedVersionHaveExactlyOneWinnerPerVersion) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  // Every writer reads version 2 and tries to record with it; one wins.
  constexpr int kWriters = 16;
  std::atomic<int> won{0}, aborted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&] {
      v1::CreateOutcomeRequest request = OutcomeRequest("e1");
      request.set_expected_version(2);
      absl::StatusOr<v1::CreateOutcomeResponse> result = commands_->CreateOutcome(request, caller_);
      if (result.ok()) {
        ++won;
      } else if (result.status().code() == absl::StatusCode::kAborted) {
        ++aborted;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(aborted.load(), kWriters - 1);
}

TEST_F(EventStoreTest, ConcurrentAppendsAreAllDurableGapFreeAndChained) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!commands_->CreateOutcome(OutcomeRequest("e1"), caller_).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  Reopen();
  absl::StatusOr<uint64_t> events = store_->VerifyLog();
  ASSERT_OK(events);
  // 4 catalogue events, registration, start, and every outcome.
  EXPECT_EQ(*events, 4u + 2u + kThreads * kPerThread);
  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> experiment = queries_->GetExperiment(get, caller_);
  ASSERT_OK(experiment);
  EXPECT_EQ(experiment->experiment().outcomes_size(), kThreads * kPerThread);
  EXPECT_EQ(experiment->experiment().version(), 2u + kThreads * kPerThread);
  std::set<std::string> ids;
  for (const auto& outcome : experiment->experiment().outcomes()) ids.insert(outcome.id());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(EventStoreTest, RebuiltProjectionsAreByteIdenticalToLiveOnes) {
  DefineCatalogue();
  // A mixed workload touching every projection.
  for (int i = 0; i < 5; ++i) CreateExperiment("e" + std::to_string(i));
  for (int i = 0; i < 4; ++i) Start("e" + std::to_string(i));
  const std::vector<std::string> outcome_ids = RecordOutcomes(12, 4);
  ASSERT_EQ(outcome_ids.size(), 12u);
  Retract("e0", outcome_ids[0], "typo in the control mean");
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e1");
  lesson.mutable_lesson()->set_text("Coaches need a local base");
  lesson.mutable_lesson()->add_tags("housing");
  lesson.set_request_id(NextId());
  ASSERT_OK(commands_->CreateLesson(lesson, caller_));
  v1::UpdateExperimentRequest amend;
  amend.mutable_experiment()->set_id("e2");
  amend.mutable_experiment()->set_title("Renamed");
  amend.mutable_update_mask()->add_paths("title");
  amend.set_request_id(NextId());
  ASSERT_OK(commands_->UpdateExperiment(amend, caller_));

  absl::StatusOr<std::string> live = store_->ProjectionDigest();
  ASSERT_OK(live);
  ASSERT_OK(store_->RebuildProjections());
  absl::StatusOr<std::string> rebuilt = store_->ProjectionDigest();
  ASSERT_OK(rebuilt);
  EXPECT_EQ(*live, *rebuilt);
  ASSERT_OK(store_->RebuildProjections());
  absl::StatusOr<std::string> twice = store_->ProjectionDigest();
  ASSERT_OK(twice);
  EXPECT_EQ(*live, *twice);
}

TEST_F(EventStoreTest, RandomWorkloadProjectionsEqualRebuildAndFold) {
  DefineCatalogue();
  std::mt19937 random(20191231);  // Fixed seed: a failure is reproducible.
  std::vector<std::string> experiments;
  std::map<std::string, std::vector<std::string>> outcomes;
  auto pick = [&](const std::vector<std::string>& items) {
    return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(random)];
  };
  int succeeded = 0;
  for (int step = 0; step < 400; ++step) {
    const int op = experiments.empty() ? 0 : std::uniform_int_distribution<int>(0, 9)(random);
    absl::Status status;
    if (op == 0) {
      const std::string id = "e" + std::to_string(experiments.size());
      v1::CreateExperimentRequest request = ExperimentRequest(id);
      if (random() % 2) request.mutable_experiment()->mutable_area()->set_code("GM0855");
      if (!experiments.empty() && random() % 3 == 0) {
        request.mutable_experiment()->set_parent_experiment_id(pick(experiments));
      }
      status = commands_->CreateExperiment(request, caller_).status();
      if (status.ok()) experiments.push_back(id);
    } else if (op == 1) {
      v1::StartExperimentRequest request;
      request.set_id(pick(experiments));
      request.set_request_id(NextId());
      status = commands_->StartExperiment(request, caller_).status();
    } else if (op == 2) {
      v1::EvaluateExperimentRequest request;
      request.set_id(pick(experiments));
      request.set_request_id(NextId());
      status = commands_->EvaluateExperiment(request, caller_).status();
    } else if (op == 3) {
      v1::ConcludeExperimentRequest request;
      request.set_id(pick(experiments));
      request.set_decision(static_cast<v1::Decision>(1 + random() % 3));
      request.set_rationale("step " + std::to_string(step));
      request.set_request_id(NextId());
      status = commands_->ConcludeExperiment(request, caller_).status();
    } else if (op == 4 && random() % 4 == 0) {
      v1::WithdrawExperimentRequest request;
      request.set_id(pick(experiments));
      request.set_reason("step " + std::to_string(step));
      request.set_request_id(NextId());
      status = commands_->WithdrawExperiment(request, caller_).status();
    } else if (op == 5) {
      v1::CreateHypothesisRequest request;
      request.set_experiment_id(pick(experiments));
      request.mutable_hypothesis()->set_statement("h at step " + std::to_string(step));
      request.mutable_hypothesis()->set_indicator_id(random() % 2 ? "loneliness" : "participation");
      request.mutable_hypothesis()->set_expected_direction(v1::EXPECTED_DIRECTION_DECREASE);
      request.set_request_id(NextId());
      status = commands_->CreateHypothesis(request, caller_).status();
    } else if (op == 6 || op == 7) {
      const std::string id = pick(experiments);
      absl::StatusOr<v1::CreateOutcomeResponse> outcome =
          commands_->CreateOutcome(OutcomeRequest(id), caller_);
      status = outcome.status();
      if (outcome.ok()) outcomes[id].push_back(outcome->outcome().id());
    } else if (op == 8 && !outcomes.empty()) {
      auto it = std::next(outcomes.begin(),
                          std::uniform_int_distribution<size_t>(0, outcomes.size() - 1)(random));
      v1::RetractOutcomeRequest request;
      request.set_experiment_id(it->first);
      request.set_outcome_id(pick(it->second));
      request.set_reason("step " + std::to_string(step));
      request.set_request_id(NextId());
      status = commands_->RetractOutcome(request, caller_).status();
    } else {
      v1::CreateLessonRequest request;
      request.set_experiment_id(pick(experiments));
      request.mutable_lesson()->set_text("lesson at step " + std::to_string(step));
      request.set_request_id(NextId());
      status = commands_->CreateLesson(request, caller_).status();
    }
    // Refusals (illegal transitions, double retractions) are part of the mix.
    if (status.ok()) ++succeeded;
  }
  ASSERT_GT(succeeded, 150);

  // Every experiment read from the projections equals the fold of its events.
  for (const std::string& id : experiments) {
    v1::GetExperimentRequest get;
    get.set_id(id);
    absl::StatusOr<v1::GetExperimentResponse> projected = queries_->GetExperiment(get, caller_);
    ASSERT_OK(projected);
    get.set_as_of_position(projected->read_position());
    absl::StatusOr<v1::GetExperimentResponse> folded = queries_->GetExperiment(get, caller_);
    ASSERT_OK(folded);
    EXPECT_EQ(SerializeDeterministic(projected->experiment()),
              SerializeDeterministic(folded->experiment()))
        << id;
  }
  // A projector that keeps rows between events, flushed at odd moments and
  // with a cache small enough to be emptied many times, leaves the same
  // rows as applying one event at a time.
  absl::StatusOr<std::vector<v1::Event>> log = model::ReadEvents(*store_->OpenReadView(), 1, 100000, "");
  ASSERT_OK(log);
  storage::MemoryProjection one_by_one(log->size(), 0);
  storage::MemoryProjection cached(log->size(), 0);
  model::Projector projector(cached.writer(), /*max_cached_rows=*/3);
  for (size_t i = 0; i < log->size(); ++i) {
    ASSERT_OK(model::ApplyEvent((*log)[i], one_by_one.writer()));
    ASSERT_OK(projector.Apply((*log)[i]));
    if (i % 7 == 6) projector.Flush();
  }
  projector.Flush();
  for (const auto& [cf, name] : ProjectionFamilies()) {
    EXPECT_EQ(AllRows(one_by_one, cf), AllRows(cached, cf)) << name;
  }
  EXPECT_FALSE(AllRows(cached, model::families::kAnalysis).empty());

  absl::StatusOr<std::string> live = store_->ProjectionDigest();
  ASSERT_OK(live);
  Reopen();
  ASSERT_OK(store_->RebuildProjections());
  absl::StatusOr<std::string> rebuilt = store_->ProjectionDigest();
  ASSERT_OK(rebuilt);
  EXPECT_EQ(*live, *rebuilt);
  ASSERT_OK(store_->VerifyLog());
}

TEST_F(EventStoreTest, ProjectionDigestSeesADifference) {
  // Negative control: the digest is not blind.
  DefineCatalogue();
  absl::StatusOr<std::string> before = store_->ProjectionDigest();
  ASSERT_OK(before);
  CreateExperiment("e1");
  absl::StatusOr<std::string> after = store_->ProjectionDigest();
  ASSERT_OK(after);
  EXPECT_NE(*before, *after);
}

TEST_F(EventStoreTest, VerifyLogDetectsATamperedEvent) {
  DefineCatalogue();
  CreateExperiment("e1");
  ASSERT_OK(store_->VerifyLog());
  Close();
  // Rewrite event 2 in place with a different display name.
  WithRawDatabase(dir_.File("db"), [](rocksdb::DB* db, const auto& handles) {
    auto* events = handles[static_cast<size_t>(storage::ColumnFamily::kEvents)];
    std::string bytes;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), events, storage::EventKey(2), &bytes).ok());
    v1::Event event;
    ASSERT_TRUE(event.ParseFromString(bytes));
    event.mutable_indicator_defined()->mutable_indicator()->set_display_name("forged");
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), events, storage::EventKey(2), event.SerializeAsString())
            .ok());
  });
  Open();
  absl::StatusOr<uint64_t> verified = store_->VerifyLog();
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(verified.status().message().find("hash chain broken at position 3"), std::string::npos)
      << verified.status();
}

// A log that cannot be read stops a rebuild and a replay with DATA_LOSS
// (and their read-ahead thread with them), instead of half-projecting it.
// Past projections asked for at once, more of them than may replay
// together, each hold exactly the events up to their position applied one
// at a time; a position asked again while kept, or while it is replayed,
// is not replayed again.
TEST_F(EventStoreTest, PastProjectionsEqualTheEventsUpToTheirPosition) {
  DefineCatalogue();
  for (int i = 0; i < 4; ++i) {
    CreateExperiment("e" + std::to_string(i));
    Start("e" + std::to_string(i));
  }
  const std::vector<std::string> outcome_ids = RecordOutcomes(20, 4);
  ASSERT_EQ(outcome_ids.size(), 20u);
  Retract("e1", outcome_ids[1], "measured twice");
  absl::StatusOr<std::vector<v1::Event>> log = model::ReadEvents(*store_->OpenReadView(), 1, 100000, "");
  ASSERT_OK(log);

  const uint64_t head = store_->HeadPosition();
  const std::vector<uint64_t> positions = {head / 4, head / 2, 3 * head / 4, head};
  ASSERT_GT(positions.size(), static_cast<size_t>(storage::EventStore::kConcurrentReplays));
  std::vector<absl::StatusOr<std::unique_ptr<storage::ProjectionReader>>> pasts;
  for (size_t i = 0; i < positions.size(); ++i) pasts.emplace_back(absl::UnknownError("not asked"));
  {
    std::vector<std::thread> askers;
    for (size_t i = 0; i < positions.size(); ++i) {
      askers.emplace_back([&, i] { pasts[i] = store_->ProjectAsOf(positions[i]); });
    }
    for (std::thread& asker : askers) asker.join();
  }
  EXPECT_EQ(store_->Stats().replays_as_of, positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    ASSERT_OK(pasts[i]);
    EXPECT_EQ((*pasts[i])->head_position(), positions[i]);
    storage::MemoryProjection expected(positions[i], 0);
    for (const v1::Event& event : *log) {
      if (event.position() <= positions[i])
        ASSERT_OK(model::ApplyEvent(event, expected.writer()));
    }
    for (const auto& [cf, name] : ProjectionFamilies()) {
      EXPECT_EQ(AllRows(**pasts[i], cf), AllRows(expected, cf))
          << "as of " << positions[i] << ", " << name;
    }
  }
  // A new position asked twice: the second question reads the first's.
  const uint64_t replays = store_->Stats().replays_as_of;
  ASSERT_OK(store_->ProjectAsOf(head - 1));
  ASSERT_OK(store_->ProjectAsOf(head - 1));
  EXPECT_EQ(store_->Stats().replays_as_of, replays + 1);
  // Three questions about another new position at once: one replay, which
  // the other two wait for and then read.
  {
    std::vector<std::thread> askers;
    for (int i = 0; i < 3; ++i) {
      askers.emplace_back([&] {
        absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> past =
            store_->ProjectAsOf(head - 2);
        EXPECT_OK(past);
        if (past.ok()) {
          EXPECT_EQ((*past)->head_position(), head - 2);
        }
      });
    }
    for (std::thread& asker : askers) asker.join();
  }
  EXPECT_EQ(store_->Stats().replays_as_of, replays + 2);
  EXPECT_EQ(store_->ProjectAsOf(head + 1).status().code(), absl::StatusCode::kInvalidArgument);
}

// A replay still running at its caller's deadline stops: nobody would read
// it. Nothing is kept and its scratch directory goes; the same question
// with time left replays then.
TEST_F(EventStoreTest, AReplayStopsAtItsCallersDeadline) {
  DefineCatalogue();
  CreateExperiment("e0");
  Start("e0");
  ASSERT_EQ(RecordOutcomes(5, 1).size(), 5u);
  const uint64_t position = store_->HeadPosition() - 1;
  const uint64_t replays = store_->Stats().replays_as_of;
  absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> late =
      store_->ProjectAsOf(position, absl::Now() - absl::Seconds(1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  const std::filesystem::path scratch = dir_.File("db") + "/scratch";
  EXPECT_TRUE(!std::filesystem::exists(scratch) || std::filesystem::is_empty(scratch));

  absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> in_time =
      store_->ProjectAsOf(position, absl::Now() + absl::Seconds(60));
  ASSERT_OK(in_time);
  EXPECT_EQ((*in_time)->head_position(), position);
  EXPECT_EQ(store_->Stats().replays_as_of, replays + 2) << "the stopped replay was kept";
}

TEST_F(EventStoreTest, AnUnreadableEventStopsRebuildAndReplay) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  Close();
  WithRawDatabase(dir_.File("db"), [](rocksdb::DB* db, const auto& handles) {
    auto* events = handles[static_cast<size_t>(storage::ColumnFamily::kEvents)];
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), events, storage::EventKey(3), "\xff\xff not an event")
            .ok());
  });
  Open();
  absl::StatusOr<std::unique_ptr<storage::ProjectionReader>> replayed =
      store_->ProjectAsOf(store_->HeadPosition());
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kDataLoss) << replayed.status();
  absl::Status rebuilt = store_->RebuildProjections();
  EXPECT_EQ(rebuilt.code(), absl::StatusCode::kDataLoss) << rebuilt;
}

// The stream index is checked against the log: an entry pointing at
// another event, a missing entry and a wrong stream head are each found.
TEST_F(EventStoreTest, VerifyLogDetectsADamagedStreamIndex) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  ASSERT_OK(store_->VerifyLog());
  const std::string stream = model::ExperimentStream("e1");
  struct Damage {
    std::string what;
    std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)> apply;
    std::string expected;
  };
  const std::vector<Damage> damages = {
      {"an entry points at another event",
       [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* streams) {
         ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), streams, storage::StreamEventKey(stream, 2),
                             storage::EncodeFixed64BigEndian(1))
                         .ok());
       },
       "index entry 2 is wrong"},
      {"an entry is missing",
       [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* streams) {
         ASSERT_TRUE(
             db->Delete(rocksdb::WriteOptions(), streams, storage::StreamEventKey(stream, 1)).ok());
       },
       "index has 1 entries, log has 2"},
      {"the head is behind",
       [&](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* streams) {
         ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), streams, storage::StreamHeadKey(stream),
                             storage::EncodeFixed64BigEndian(1))
                         .ok());
       },
       "head says 1, log has 2"},
  };
  for (const Damage& damage : damages) {
    Close();
    std::map<std::string, std::string> intact;
    WithRawDatabase(dir_.File("db"), [&](rocksdb::DB* db, const auto& handles) {
      auto* streams = handles[static_cast<size_t>(storage::ColumnFamily::kStreams)];
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), streams));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        intact.emplace(it->key().ToString(), it->value().ToString());
      }
      damage.apply(db, streams);
    });
    Open();
    absl::StatusOr<uint64_t> verified = store_->VerifyLog();
    EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss) << damage.what;
    EXPECT_NE(verified.status().message().find(damage.expected), std::string::npos)
        << damage.what << ": " << verified.status();
    // Put the index back for the next damage.
    Close();
    WithRawDatabase(dir_.File("db"), [&](rocksdb::DB* db, const auto& handles) {
      auto* streams = handles[static_cast<size_t>(storage::ColumnFamily::kStreams)];
      for (const auto& [key, value] : intact) {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), streams, key, value).ok());
      }
    });
    Open();
    ASSERT_TRUE(store_->VerifyLog().ok()) << "after repairing: " << damage.what;
  }
}

// A store whose projections were written in an older layout (here: the
// per-outcome analysis rows of format 1), or whose rebuild was interrupted
// (both leave no current format marker), rebuilds them from the log when it
// opens, and says so; a current store opens without rebuilding.
TEST_F(EventStoreTest, ProjectionsInAnOlderLayoutAreRebuiltAtOpen) {
  DefineCatalogue();
  CreateExperiment("e1");
  Reopen();
  EXPECT_FALSE(store_->projections_rebuilt_at_open());
  Close();
  const std::string stale_key = std::string("loneliness\0coach\0e1\0o1", 23);
  WithRawDatabase(dir_.File("db"), [&](rocksdb::DB* db, const auto& handles) {
    auto* meta = handles[static_cast<size_t>(storage::ColumnFamily::kMeta)];
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), meta,
                           std::string(storage::kProjectionFormatKey))
                    .ok());
    auto* analysis = handles[static_cast<size_t>(model::families::kAnalysis)];
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), analysis, stale_key, "old").ok());
  });
  Open();
  EXPECT_TRUE(store_->projections_rebuilt_at_open());
  {
    std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
    absl::StatusOr<std::optional<std::string>> stale =
        view->Get(model::families::kAnalysis, stale_key);
    ASSERT_OK(stale);
    EXPECT_FALSE(stale->has_value());  // Dropped with the old layout.
    absl::StatusOr<std::optional<std::string>> format =
        view->Get(storage::ColumnFamily::kMeta, storage::kProjectionFormatKey);
    ASSERT_OK(format);
    EXPECT_EQ(format->value_or(""), model::kProjectionFormat);
  }
  v1::GetExperimentRequest get;
  get.set_id("e1");
  EXPECT_OK(queries_->GetExperiment(get, caller_));  // The rebuilt projections serve.
  Reopen();
  EXPECT_FALSE(store_->projections_rebuilt_at_open());
}

// Flips one byte a third of the way into the largest data file of the log's `family`
// (the store closed); fails the test if the family has no file to damage.
void FlipAByteInTheLargestFileOf(const std::string& path, storage::ColumnFamily family) {
  std::string largest;
  uint64_t largest_size = 0;
  WithRawDatabase(path, [&](rocksdb::DB* db, const auto&) {
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    for (const rocksdb::LiveFileMetaData& file : files) {
      if (file.column_family_name == storage::kLogFamilyNames[static_cast<size_t>(family)] &&
          file.size > largest_size) {
        largest = file.db_path + file.name;
        largest_size = file.size;
      }
    }
  });
  ASSERT_GT(largest_size, 4096u) << "no file of " << storage::kLogFamilyNames[static_cast<size_t>(family)];
  std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(largest_size / 3));
  char byte = 0;
  file.read(&byte, 1);
  file.seekp(static_cast<std::streamoff>(largest_size / 3));
  byte = static_cast<char>(byte ^ 0x5a);
  file.write(&byte, 1);
  ASSERT_TRUE(file.good()) << "could not damage " << largest;
}

// A flipped byte in a file of the log (with the server stopped) is reported
// as DATA_LOSS by the open, the log check or the projection check, never
// served as if it were data.
TEST_F(EventStoreTest, AFlippedByteInAnSstFileIsReportedNotServed) {
  DefineCatalogue();
  for (int i = 0; i < 200; ++i) CreateExperiment("e" + std::to_string(i));
  ASSERT_OK(store_->PurgeDeleted(model::families::kDataKeys));  // Flushes everything.
  Close();
  FlipAByteInTheLargestFileOf(dir_.File("db"), storage::ColumnFamily::kEvents);
  absl::StatusOr<std::unique_ptr<storage::EventStore>> reopened =
      model::OpenStore({.path = dir_.File("db")});
  absl::Status found;
  if (!reopened.ok()) {
    found = reopened.status();
  } else {
    absl::StatusOr<uint64_t> log = (*reopened)->VerifyLog();
    absl::StatusOr<std::string> projections = (*reopened)->ProjectionDigest();
    found = !log.ok() ? log.status() : projections.status();
  }
  EXPECT_EQ(found.code(), absl::StatusCode::kDataLoss) << found;
}

// Request records are read only when a request is retried, so neither the
// log check nor the projection check sees damage to them: the file check,
// which `leerlusd --verify` runs first, does.
TEST_F(EventStoreTest, TheFileCheckFindsDamageTheLogAndProjectionChecksCannotSee) {
  DefineCatalogue();
  for (int i = 0; i < 200; ++i) CreateExperiment("e" + std::to_string(i));
  ASSERT_OK(store_->PurgeDeleted(model::families::kDataKeys));  // Flushes everything.
  ASSERT_OK(store_->VerifyFiles());
  Close();
  FlipAByteInTheLargestFileOf(dir_.File("db"), storage::ColumnFamily::kRequests);
  absl::StatusOr<std::unique_ptr<storage::EventStore>> reopened =
      model::OpenStore({.path = dir_.File("db")});
  ASSERT_OK(reopened);
  EXPECT_OK((*reopened)->VerifyLog());
  EXPECT_OK((*reopened)->ProjectionDigest());
  absl::Status files = (*reopened)->VerifyFiles();
  EXPECT_EQ(files.code(), absl::StatusCode::kDataLoss) << files;
}

// Outcomes, retractions and lessons leave the stored experiment record as
// the last other event wrote it (one row fewer per outcome), yet every read
// of the experiment shows the stream's version and its last event's time.
TEST_F(EventStoreTest, ExperimentReadsShowTheLastEventThoughOutcomesLeaveTheRecord) {
  DefineCatalogue();
  CreateExperiment("e0");
  Start("e0");                                                     // version 2
  const std::vector<std::string> outcomes = RecordOutcomes(2, 1);  // versions 3 and 4
  ASSERT_EQ(outcomes.size(), 2u);
  Retract("e0", outcomes[0], "entered twice");  // version 5
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e0");
  lesson.mutable_lesson()->set_text("Coaches need a quiet room.");
  lesson.set_request_id(NextId());
  ASSERT_OK(commands_->CreateLesson(lesson, caller_));  // version 6

  v1::GetExperimentRequest get;
  get.set_id("e0");
  get.set_include_history(true);
  absl::StatusOr<v1::GetExperimentResponse> got = queries_->GetExperiment(get, caller_);
  ASSERT_OK(got);
  ASSERT_EQ(got->history_size(), 6);
  const v1::Event& last = got->history(5);
  ASSERT_TRUE(last.has_lesson_recorded());
  EXPECT_EQ(got->experiment().version(), 6u);
  EXPECT_EQ(got->experiment().update_time().seconds(), last.time().seconds());
  EXPECT_EQ(got->experiment().update_time().nanos(), last.time().nanos());
  EXPECT_EQ(got->experiment().outcomes_size(), 2);
  EXPECT_EQ(got->experiment().lessons_size(), 1);

  absl::StatusOr<v1::ListExperimentsResponse> listed =
      queries_->ListExperiments(v1::ListExperimentsRequest());
  ASSERT_OK(listed);
  ASSERT_EQ(listed->experiments_size(), 1);
  EXPECT_EQ(listed->experiments(0).version(), 6u);
  EXPECT_EQ(listed->experiments(0).update_time().nanos(), last.time().nanos());

  // The stored record is still the one the start wrote.
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  absl::StatusOr<std::optional<v1::Experiment>> stored = storage::GetMessage<v1::Experiment>(
      *view, model::families::kExperiments, model::ExperimentKey("e0"));
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->version(), 2u);
  EXPECT_EQ((*stored)->status(), v1::EXPERIMENT_STATUS_RUNNING);
}

TEST_F(EventStoreTest, FailedDecisionWritesNothing) {
  DefineCatalogue();
  const uint64_t head = store_->HeadPosition();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  request.mutable_experiment()->set_work_method_id("unknown-method");
  absl::StatusOr<v1::CreateExperimentResponse> result =
      commands_->CreateExperiment(request, caller_);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->HeadPosition(), head);
  // The request id is not consumed by a refused request: fixing it works.
  request.mutable_experiment()->set_work_method_id("coach");
  EXPECT_OK(commands_->CreateExperiment(request, caller_));
}

// The callback form of a command answers exactly once: with the durable
// result, with the refusal, and, once the store shuts down, with
// UNAVAILABLE (SHUTTING_DOWN) instead of never.
TEST_F(EventStoreTest, CallbackAppendsAnswerOnceDurableOrRefused) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  struct Answers {
    absl::Mutex mutex;
    std::vector<absl::StatusOr<v1::CreateOutcomeResponse>> received ABSL_GUARDED_BY(mutex);
  };
  auto answers = std::make_shared<Answers>();
  auto record = [answers](absl::StatusOr<v1::CreateOutcomeResponse> answer) {
    absl::MutexLock lock(&answers->mutex);
    answers->received.push_back(std::move(answer));
  };
  auto wait_for = [answers](size_t count) {
    absl::MutexLock lock(&answers->mutex);
    auto arrived = [&] { return answers->received.size() >= count; };
    answers->mutex.AwaitWithTimeout(absl::Condition(&arrived), absl::Seconds(10));
    return answers->received.size();
  };
  commands_->CreateOutcome(OutcomeRequest("e1"), caller_, record);
  ASSERT_EQ(wait_for(1), 1u);
  {
    absl::MutexLock lock(&answers->mutex);
    ASSERT_OK(answers->received[0]);
    // Durable before the answer: the position is already the head.
    EXPECT_EQ(answers->received[0]->position(), store_->HeadPosition());
  }
  commands_->CreateOutcome(OutcomeRequest("no-such-experiment"), caller_, record);
  ASSERT_EQ(wait_for(2), 2u);
  store_->Shutdown();
  commands_->CreateOutcome(OutcomeRequest("e1"), caller_, record);
  ASSERT_EQ(wait_for(3), 3u);
  absl::MutexLock lock(&answers->mutex);
  EXPECT_EQ(answers->received[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(answers->received[2].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(answers->received[2].status().message().find("shutting down"), std::string::npos);
  EXPECT_EQ(answers->received.size(), 3u);
}

TEST_F(EventStoreTest, ReadViewReportsTheSnapshotPositionDespiteLaterWrites) {
  DefineCatalogue();
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  const uint64_t position = view->head_position();
  CreateExperiment("e1");
  EXPECT_EQ(view->head_position(), position);
  absl::StatusOr<std::optional<std::string>> missing =
      view->Get(model::families::kExperiments, model::ExperimentKey("e1"));
  ASSERT_OK(missing);
  EXPECT_FALSE(missing->has_value());
  EXPECT_GT(store_->HeadPosition(), position);
}

TEST_F(EventStoreTest, SecondOpenOfTheSameDataDirIsRefusedClearly) {
  absl::StatusOr<std::unique_ptr<storage::EventStore>> second =
      model::OpenStore({.path = dir_.File("db")});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another leerlusd"), std::string::npos);
}

}  // namespace
}  // namespace leerlus::testing
