// Simulated power loss: writers append through the real commands while the
// store runs on PowerLossFileSystem; the power is cut at a random moment,
// everything not synced is dropped, and the store is reopened. Every
// acknowledged outcome must be there exactly once, nothing that was never
// sent, versions gap-free, the log verified and the projections equal to a
// rebuild. The negative control runs the same with syncing off and must
// lose acknowledged writes: proof that the harness can see a missing fsync.
//
// LEERLUS_POWER_LOSS_ROUNDS sets the rounds (default 10).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/commands.h"
#include "core/queries.h"
#include "rocksdb/env.h"
#include "core/model/families.h"
#include "storage/event_store.h"
#include "tests/power_loss_fs.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

const core::Caller kCaller{"writer", v1::ROLE_ADMIN, {}, "", ""};

struct RoundTotals {
  size_t acknowledged = 0;
  size_t lost = 0;
  uint64_t dropped_bytes = 0;  // Written but never synced: gone with the power.
};

class PowerLossTest : public ::testing::Test {
 protected:
  std::unique_ptr<storage::EventStore> Open(rocksdb::Env* env, bool sync) {
    absl::StatusOr<std::unique_ptr<storage::EventStore>> store =
        model::OpenStore({.path = dir_.File("db"), .sync = sync, .env = env});
    EXPECT_OK(store);
    return store.ok() ? std::move(*store) : nullptr;
  }

  // The store on a file system whose power can be cut (members in the order
  // they must outlive each other).
  struct PowerLossStore {
    std::shared_ptr<PowerLossFileSystem> fs;
    std::unique_ptr<rocksdb::Env> env;
    std::unique_ptr<storage::EventStore> store;
  };
  PowerLossStore OpenOnPowerLossFileSystem(bool sync) {
    PowerLossStore opened;
    opened.fs = std::make_shared<PowerLossFileSystem>(rocksdb::FileSystem::Default());
    opened.env = rocksdb::NewCompositeEnv(opened.fs);
    opened.store = Open(opened.env.get(), sync);
    return opened;
  }

  // Catalogue and a running experiment e1, on a plain file system.
  void Prepare() {
    std::unique_ptr<storage::EventStore> store = Open(nullptr, true);
    core::Commands commands(store.get());
    const v1::CreateWorkMethodRequest method = SampleWorkMethodRequest("m");
    ASSERT_OK(commands.CreateWorkMethod(method, kCaller));
    const v1::CreateIndicatorRequest indicator = SampleIndicatorRequest("i");
    ASSERT_OK(commands.CreateIndicator(indicator, kCaller));
    v1::CreateExperimentRequest experiment;
    v1::Experiment* e = experiment.mutable_experiment();
    e->set_id("e1");
    e->set_kind(v1::EXPERIMENT_KIND_PROJECT);
    e->set_title("E1");
    e->set_work_method_id("coach");
    e->set_line(v1::LINE_AREA_BASED);
    e->set_team_id("north");
    experiment.set_request_id("e");
    ASSERT_OK(commands.CreateExperiment(experiment, kCaller));
    v1::StartExperimentRequest start;
    start.set_id("e1");
    start.set_request_id("s");
    ASSERT_OK(commands.StartExperiment(start, kCaller));
  }

  // One round: writers append until the power is cut at a random moment;
  // then the unsynced bytes are dropped and the store reopened and checked.
  RoundTotals Round(int round, bool sync, std::mt19937& random) {
    PowerLossStore opened = OpenOnPowerLossFileSystem(sync);
    std::shared_ptr<PowerLossFileSystem>& fs = opened.fs;
    std::unique_ptr<storage::EventStore>& store = opened.store;
    if (store == nullptr) return {};
    core::Commands commands(store.get());
    std::mutex mutex;
    std::set<std::string> acknowledged;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 8; ++w) {
      writers.emplace_back([&, w] {
        for (int n = 0; !stop.load(); ++n) {
          const std::string id =
              "r" + std::to_string(round) + "w" + std::to_string(w) + "n" + std::to_string(n);
          v1::CreateOutcomeRequest request = SampleOutcomeRequest("e1", id);
          request.mutable_outcome()->set_id(id);
          if (commands.CreateOutcome(request, kCaller).ok()) {
            std::lock_guard<std::mutex> lock(mutex);
            acknowledged.insert(id);
          }
        }
      });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 150)(random)));
    fs->CutPower();
    stop = true;
    for (std::thread& writer : writers) writer.join();
    store.reset();  // Closing cannot write anything any more.
    const uint64_t dropped_bytes = fs->UnsyncedBytes();
    fs->DropUnsyncedData();

    store = Open(nullptr, true);
    if (store == nullptr) return {};
    core::Queries queries(store.get());
    v1::GetExperimentRequest get;
    get.set_id("e1");
    absl::StatusOr<v1::GetExperimentResponse> e1 = queries.GetExperiment(get, kCaller);
    EXPECT_OK(e1);
    if (!e1.ok()) return {};
    std::set<std::string> stored;
    for (const v1::Outcome& outcome : e1->experiment().outcomes()) {
      EXPECT_TRUE(stored.insert(outcome.id()).second) << "twice: " << outcome.id();
    }
    RoundTotals totals;
    totals.dropped_bytes = dropped_bytes;
    for (const std::string& id : acknowledged) {
      ++totals.acknowledged;
      if (stored.count(id) == 0) ++totals.lost;
    }
    // Every event is there once and in order: registered, started, then
    // one per stored outcome.
    EXPECT_EQ(e1->experiment().version(), 2 + stored.size());
    absl::StatusOr<uint64_t> verified = store->VerifyLog();
    EXPECT_OK(verified);
    absl::StatusOr<std::string> live = store->ProjectionDigest();
    EXPECT_OK(store->RebuildProjections());
    absl::StatusOr<std::string> rebuilt = store->ProjectionDigest();
    EXPECT_OK(live);
    EXPECT_OK(rebuilt);
    if (live.ok() && rebuilt.ok()) {
      EXPECT_EQ(*live, *rebuilt);
    }
    return totals;
  }

  // The outcome ids of e1, in recording order.
  static std::vector<std::string> OutcomeIds(core::Queries& queries) {
    v1::GetExperimentRequest get;
    get.set_id("e1");
    absl::StatusOr<v1::GetExperimentResponse> e1 = queries.GetExperiment(get, kCaller);
    EXPECT_OK(e1);
    std::vector<std::string> ids;
    if (e1.ok()) {
      for (const v1::Outcome& outcome : e1->experiment().outcomes()) ids.push_back(outcome.id());
    }
    return ids;
  }

  TempDir dir_;
};

TEST_F(PowerLossTest, NothingAcknowledgedIsLostWhenThePowerGoes) {
  Prepare();
  const char* rounds_env = std::getenv("LEERLUS_POWER_LOSS_ROUNDS");
  const int rounds = rounds_env != nullptr ? std::max(1, std::atoi(rounds_env)) : 10;
  std::mt19937 random(7);
  RoundTotals all;
  for (int round = 0; round < rounds; ++round) {
    RoundTotals totals = Round(round, /*sync=*/true, random);
    EXPECT_EQ(totals.lost, 0u) << "round " << round;
    all.acknowledged += totals.acknowledged;
    all.lost += totals.lost;
    all.dropped_bytes += totals.dropped_bytes;
  }
  std::printf("power-loss rounds: %d, acknowledged: %zu, lost: %zu, unsynced bytes dropped: %llu\n",
              rounds, all.acknowledged, all.lost,
              static_cast<unsigned long long>(all.dropped_bytes));
  EXPECT_GT(all.acknowledged, 100u);
}

// The negative control: without fsync, acknowledged writes vanish with the
// power. If this ever passes with zero loss, the harness is blind.
TEST_F(PowerLossTest, WithoutSyncAcknowledgedWritesAreLost) {
  Prepare();
  std::mt19937 random(11);
  RoundTotals all;
  for (int round = 0; round < 3; ++round) {
    RoundTotals totals = Round(round, /*sync=*/false, random);
    all.acknowledged += totals.acknowledged;
    all.lost += totals.lost;
  }
  std::printf("negative control (sync off): acknowledged: %zu, lost: %zu\n", all.acknowledged,
              all.lost);
  EXPECT_GT(all.lost, 0u);
}

}  // namespace
}  // namespace leerlus::testing

namespace leerlus::testing {
namespace {

// The newest write-ahead log file after a power cut, "" if none.
std::string NewestWal(const std::string& directory) {
  std::string newest;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() == ".log" && entry.path().string() > newest) {
      newest = entry.path().string();
    }
  }
  return newest;
}

// A torn write at the end of the WAL (a record half on disk when the power
// went): recovery drops the torn record and keeps every synced change.
TEST_F(PowerLossTest, ATornWalTailKeepsEverySyncedChange) {
  Prepare();
  PowerLossStore opened = OpenOnPowerLossFileSystem(true);
  std::shared_ptr<PowerLossFileSystem>& fs = opened.fs;
  std::unique_ptr<storage::EventStore>& store = opened.store;
  ASSERT_NE(store, nullptr);
  core::Commands commands(store.get());
  for (int n = 0; n < 20; ++n) {
    v1::CreateOutcomeRequest request = SampleOutcomeRequest("e1", "t" + std::to_string(n));
    ASSERT_OK(commands.CreateOutcome(request, kCaller));
  }
  fs->CutPower();
  store.reset();
  fs->DropUnsyncedData();
  const std::string wal = NewestWal(dir_.File("db"));
  ASSERT_FALSE(wal.empty());
  {
    std::ofstream torn(wal, std::ios::binary | std::ios::app);
    torn << std::string("\x12\x34\x56\x78\x01\x00half a record", 21);
  }
  store = Open(nullptr, true);
  ASSERT_NE(store, nullptr);
  core::Queries queries(store.get());
  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> e1 = queries.GetExperiment(get, kCaller);
  ASSERT_OK(e1);
  EXPECT_EQ(e1->experiment().outcomes_size(), 20);
  EXPECT_OK(store->VerifyLog());
}

// A full disk: appends fail with UNAVAILABLE and are not acknowledged, reads
// keep working, and writing resumes once space returns; none of the refused
// appends shows up, not even after a restart.
TEST_F(PowerLossTest, AFullDiskRefusesWritesKeepsReadsAndRecovers) {
  Prepare();
  PowerLossStore opened = OpenOnPowerLossFileSystem(true);
  std::shared_ptr<PowerLossFileSystem>& fs = opened.fs;
  std::unique_ptr<storage::EventStore>& store = opened.store;
  ASSERT_NE(store, nullptr);
  core::Commands commands(store.get());
  core::Queries queries(store.get());
  auto record = [&](const std::string& id) {
    v1::CreateOutcomeRequest request = SampleOutcomeRequest("e1", id);
    request.mutable_outcome()->set_id(id);
    return commands.CreateOutcome(request, kCaller).status();
  };
  auto outcome_ids = [&] { return OutcomeIds(queries); };
  ASSERT_OK(record("before"));

  fs->SetDiskFull(true);
  for (const char* id : {"full-1", "full-2"}) {
    absl::Status refused = record(id);
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  }
  EXPECT_EQ(outcome_ids(), std::vector<std::string>{"before"});  // Reads still work.

  // Space returns. RocksDB notices within seconds (its SstFileManager polls
  // for free space); until then appends stay UNAVAILABLE, and a retry with
  // the same request id goes through once it has.
  fs->SetDiskFull(false);
  absl::Status after = record("after");
  for (int attempt = 0; !after.ok() && attempt < 300; ++attempt) {
    EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable) << after;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = record("after");
  }
  ASSERT_OK(after);
  EXPECT_EQ(outcome_ids(), (std::vector<std::string>{"before", "after"}));
  ASSERT_OK(store->VerifyLog());

  store.reset();
  store = Open(nullptr, true);
  ASSERT_NE(store, nullptr);
  core::Queries reopened(store.get());
  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> e1 = reopened.GetExperiment(get, kCaller);
  ASSERT_OK(e1);
  std::vector<std::string> ids;
  for (const v1::Outcome& outcome : e1->experiment().outcomes()) ids.push_back(outcome.id());
  EXPECT_EQ(ids, (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(e1->experiment().version(), 4u);
  ASSERT_OK(store->VerifyLog());
}

// Concurrent writers while the disk fills and empties again: the writer
// decides groups on top of ones still being written, so a failed write
// must take the groups decided after it down too. Exactly the acknowledged
// outcomes are stored (the refused ones were told nothing was stored), in a
// gap-free log whose projections equal a rebuild.
TEST_F(PowerLossTest, AFullDiskUnderConcurrentWritersStoresExactlyTheAcknowledged) {
  Prepare();
  PowerLossStore opened = OpenOnPowerLossFileSystem(true);
  ASSERT_NE(opened.store, nullptr);
  storage::EventStore& store = *opened.store;
  core::Commands commands(&store);
  std::mutex mutex;
  std::set<std::string> acknowledged;
  std::atomic<int> refused{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      for (int n = 0; !stop.load(); ++n) {
        const std::string id = absl::StrCat("w", w, "n", n);
        v1::CreateOutcomeRequest request = SampleOutcomeRequest("e1", id);
        request.mutable_outcome()->set_id(id);
        absl::Status status = commands.CreateOutcome(request, kCaller).status();
        if (status.ok()) {
          std::lock_guard<std::mutex> lock(mutex);
          acknowledged.insert(id);
        } else {
          EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
          ++refused;
          // A full disk refuses fast; the others get a turn meanwhile.
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
    });
  }
  auto acknowledged_count = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return acknowledged.size();
  };
  auto wait_for_acknowledged = [&](size_t count) {
    for (int i = 0; i < 3000 && acknowledged_count() < count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  wait_for_acknowledged(200);
  opened.fs->SetDiskFull(true);
  for (int i = 0; i < 3000 && refused.load() < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const size_t before_recovery = acknowledged_count();
  opened.fs->SetDiskFull(false);
  wait_for_acknowledged(before_recovery + 200);
  stop = true;
  for (std::thread& writer : writers) writer.join();
  EXPECT_GE(refused.load(), 50);
  EXPECT_GE(acknowledged.size(), before_recovery + 200) << "writing did not resume";

  core::Queries queries(&store);
  std::vector<std::string> ids = OutcomeIds(queries);
  std::set<std::string> stored(ids.begin(), ids.end());
  EXPECT_EQ(stored.size(), ids.size()) << "an outcome is stored twice";
  EXPECT_EQ(stored, acknowledged);
  ASSERT_OK(store.VerifyLog());
  absl::StatusOr<std::string> live = store.ProjectionDigest();
  ASSERT_OK(live);
  ASSERT_OK(store.RebuildProjections());
  EXPECT_EQ(store.ProjectionDigest().value_or(""), *live);
}

}  // namespace
}  // namespace leerlus::testing
