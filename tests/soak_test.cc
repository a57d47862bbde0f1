// Soak: mixed load against a real leerlusd for LEERLUS_SOAK_SECONDS (default
// 30; CI runs the default, longer runs by hand). Four writers record
// outcomes on experiments w0..w19; two readers alternate what-works, list
// and get over a fixed set (indicator "participation", experiments r0..r9),
// so their cost stays constant while the log grows; two subscribers follow
// the log. Every interval it prints the calls done and the server's resident
// memory. Checked: zero errors, the subscribers saw every event, and
// resident memory after the warm-up third stays within 64 MiB (RocksDB's
// block cache and memtable budget, 32 MiB each, still filling).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "client/client.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {
namespace {

// Resident memory of `pid` in KiB (VmRSS), 0 if unknown.
long ResidentKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

TEST(SoakTest, MixedLoadRunsWithoutErrorsAndFlatMemory) {
  const char* seconds_env = std::getenv("LEERLUS_SOAK_SECONDS");
  const int seconds = seconds_env != nullptr ? std::max(6, std::atoi(seconds_env)) : 30;
  TempDir dir;
  ServerProcess server(dir.File("data"));
  server.Start();
  for (std::vector<std::string> args :
       {std::vector<std::string>{"method", "define", "--id", "coach", "--name", "Coach"},
        {"indicator", "define", "--id", "loneliness", "--name", "Loneliness", "--better", "lower",
         "--domain", "social"},
        {"indicator", "define", "--id", "participation", "--name", "Participation", "--better",
         "higher", "--domain", "social"}}) {
    args.insert(args.begin(), {"--server", server.address()});
    ASSERT_EQ(RunCli(args).exit_code, 0);
  }
  // w0..w19 take the writes; r0..r9 each hold one participation outcome.
  client::Client setup(server.address());
  uint64_t setup_events = 3;
  for (const char* prefix : {"w", "r"}) {
    for (int e = 0; e < (*prefix == 'w' ? 20 : 10); ++e) {
      const std::string id = prefix + std::to_string(e);
      v1::CreateExperimentRequest create;
      v1::Experiment* experiment = create.mutable_experiment();
      experiment->set_id(id);
      experiment->set_kind(v1::EXPERIMENT_KIND_PROJECT);
      experiment->set_title("Soak " + id);
      experiment->set_work_method_id("coach");
      experiment->set_line(v1::LINE_AREA_BASED);
      experiment->set_team_id("north");
      (*experiment->mutable_context())["urbanity"].set_number_value(e % 5);
      create.set_request_id(client::NewRequestId());
      v1::CreateExperimentResponse created;
      ASSERT_TRUE(setup
                      .Call(&v1::ExperimentService::Stub::CreateExperiment, setup.experiments(),
                            create, &created)
                      .ok());
      v1::StartExperimentRequest start;
      start.set_id(id);
      start.set_request_id(client::NewRequestId());
      v1::StartExperimentResponse started;
      ASSERT_TRUE(setup
                      .Call(&v1::ExperimentService::Stub::StartExperiment, setup.experiments(),
                            start, &started)
                      .ok());
      setup_events += 2;
      if (*prefix == 'r') {
        v1::CreateOutcomeRequest outcome = SampleOutcomeRequest(id, client::NewRequestId());
        outcome.mutable_outcome()->set_indicator_id("participation");
        outcome.mutable_outcome()->mutable_two_group_continuous()->set_treatment_mean(5 + e * 0.1);
        v1::CreateOutcomeResponse recorded;
        ASSERT_TRUE(setup
                        .Call(&v1::ExperimentService::Stub::CreateOutcome, setup.experiments(),
                              outcome, &recorded)
                        .ok());
        ++setup_events;
      }
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0}, reads{0}, streamed{0}, errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      client::Client api(server.address());
      for (int n = 0; !stop.load(); ++n) {
        v1::CreateOutcomeRequest request =
            SampleOutcomeRequest("w" + std::to_string((w * 7 + n) % 20), client::NewRequestId());
        request.mutable_outcome()->mutable_two_group_continuous()->set_treatment_mean(
            3.5 + (n % 10) * 0.1);
        v1::CreateOutcomeResponse response;
        if (api.Call(&v1::ExperimentService::Stub::CreateOutcome, api.experiments(), request,
                     &response)
                .ok()) {
          ++writes;
        } else {
          ++errors;
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      client::Client api(server.address());
      for (int n = 0; !stop.load(); ++n) {
        bool ok = false;
        if (n % 3 == 0) {
          v1::WhatWorksRequest request;
          request.set_indicator_id("participation");
          v1::WhatWorksResponse response;
          ok = api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), request, &response)
                   .ok();
        } else if (n % 3 == 1) {
          v1::ListExperimentsRequest request;
          request.set_filter("id:\"r\" AND context.urbanity >= 2");
          v1::ListExperimentsResponse response;
          ok = api.Call(&v1::ExperimentService::Stub::ListExperiments, api.experiments(), request,
                        &response)
                   .ok();
        } else {
          v1::GetExperimentRequest request;
          request.set_id("r" + std::to_string(n % 10));
          v1::GetExperimentResponse response;
          ok = api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), request,
                        &response)
                   .ok();
        }
        ok ? ++reads : ++errors;
      }
    });
  }
  std::vector<uint64_t> last_seen(2, 0);
  for (int s = 0; s < 2; ++s) {
    threads.emplace_back([&, s] {
      client::Client api(server.address());
      grpc::ClientContext context;
      v1::SubscribeRequest request;
      request.set_from_position(1);
      auto reader = api.event_log()->Subscribe(&context, request);
      std::thread canceller([&] {
        while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::this_thread::sleep_for(std::chrono::seconds(2));  // Let it catch up.
        context.TryCancel();
      });
      v1::SubscribeResponse message;
      while (reader->Read(&message)) {
        if (message.event().position() != last_seen[s] + 1) ++errors;  // A gap or repeat.
        last_seen[s] = message.event().position();
        ++streamed;
      }
      reader->Finish();
      canceller.join();
    });
  }

  constexpr int kIntervals = 6;
  const auto interval = std::chrono::milliseconds(seconds * 1000 / kIntervals);
  long warm_kib = 0, peak_kib = 0;
  uint64_t last_writes = 0, last_reads = 0;
  std::printf("soak: %d s, 4 writers, 2 readers, 2 subscribers\n", seconds);
  for (int i = 1; i <= kIntervals; ++i) {
    std::this_thread::sleep_for(interval);
    const long rss = ResidentKib(server.pid());
    const double span = std::chrono::duration<double>(interval).count();
    std::printf("  t=%5.1fs  writes/s %7.0f  reads/s %7.0f  events streamed %9llu  rss %6ld MiB\n",
                span * i, (writes - last_writes) / span, (reads - last_reads) / span,
                static_cast<unsigned long long>(streamed.load()), rss / 1024);
    last_writes = writes;
    last_reads = reads;
    if (i == kIntervals / 3) warm_kib = rss;
    if (i > kIntervals / 3) peak_kib = std::max(peak_kib, rss);
  }
  stop = true;
  for (std::thread& thread : threads) thread.join();
  std::printf(
      "soak: %llu writes, %llu reads, %llu events streamed, %llu errors; rss %ld MiB "
      "after warm-up, %ld MiB at most after\n",
      static_cast<unsigned long long>(writes.load()), static_cast<unsigned long long>(reads.load()),
      static_cast<unsigned long long>(streamed.load()),
      static_cast<unsigned long long>(errors.load()), warm_kib / 1024, peak_kib / 1024);
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(writes.load(), 100u);
  EXPECT_GT(reads.load(), 10u);
  // The setup events plus one per write; both subscribers saw all of them.
  for (uint64_t seen : last_seen) EXPECT_EQ(seen, setup_events + writes.load());
  EXPECT_LE(peak_kib, warm_kib + 64 * 1024);
}

}  // namespace
}  // namespace leerlus::testing
