#include "bench/scenarios.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/floors.h"
#include "bench/workloads.h"

namespace leerlus::bench {

Bench::Bench(std::string leerlusd, std::string echo, std::string work, bool quick,
             std::vector<int> concurrencies)
    : leerlusd_(std::move(leerlusd)),
      echo_(std::move(echo)),
      work_(std::move(work)),
      quick_(quick),
      concurrencies_(std::move(concurrencies)) {}

void Bench::Run(const std::string& only) {
  if (only.empty() || only == "rocksdb") RocksDbAlone();
  if (only.empty() || only == "appends") Unary();
  if (only.empty() || only == "gateway") Gateway();
  if (only.empty() || only == "scaling") Scaling();
  if (only.empty() || only == "store") StoreScenarios(/*import_only=*/false);
  if (only == "import") StoreScenarios(/*import_only=*/true);
}

Bench::StoreSize Bench::store_size() const {
  return quick_ ? StoreSize{10, 500, 50000} : StoreSize{50, 10000, 1000000};
}

// Synced single writes and 100-write batches, RocksDB on this disk alone;
// then the writes of an outcome alone, in the groups appends and imports
// form.
void Bench::RocksDbAlone() {
  const std::vector<int> batch_sizes = {1, 100};
  const std::vector<int> group_sizes = {32, 1000};
  for (int rep = 0; rep < reps(); ++rep) {
    const std::vector<double> writes =
        SyncedWritesAlone(absl::StrCat(work_, "/rocksdb-", rep), batch_sizes, span() / 2);
    for (size_t i = 0; i < batch_sizes.size(); ++i) {
      Add("rocksdb alone", absl::StrCat("synced writes/s, batches of ", batch_sizes[i]), "writes/s")
          .samples.push_back(writes[i]);
    }
    const std::vector<OutcomeWriteRate> outcomes =
        OutcomeWritesAlone(absl::StrCat(work_, "/outcome-writes-", rep), group_sizes, span() / 2);
    for (size_t i = 0; i < group_sizes.size(); ++i) {
      const std::string what =
          absl::StrCat("an outcome's 6 writes, synced groups of ", group_sizes[i]);
      Add("rocksdb alone", absl::StrCat(what, ": outcomes/s"), "outcomes/s")
          .samples.push_back(outcomes[i].outcomes_per_second);
      Add("rocksdb alone", absl::StrCat(what, ": CPU us per outcome"), "us")
          .samples.push_back(outcomes[i].cpu_us_per_outcome);
    }
  }
}

// Unary calls at each concurrency: echo, then durable appends.
void Bench::Unary() {
  for (int rep = 0; rep < reps(); ++rep) {
    Process echo = StartEcho(echo_, work_);
    Process server = StartServer(leerlusd_, absl::StrCat(work_, "/unary-", rep));
    client::Client setup(server.address(), NoRetries());
    CreateCatalogue(setup, 1, kAppendExperiments);
    for (int concurrency : concurrencies_) UnaryAt(concurrency, echo, server);
    Add("durable appends", "peak server RSS MiB", "MiB").samples.push_back(server.PeakRssMib());
  }
}

void Bench::UnaryAt(int concurrency, const Process& echo, const Process& server) {
  // The appends are reported under the echo's metric names: each compares
  // with its ceiling.
  const std::string calls_metric = absl::StrCat("unary calls/s, concurrency ", concurrency);
  const std::string cpu_metric = absl::StrCat("server CPU us per call, concurrency ", concurrency);
  const std::string client_cpu_metric =
      absl::StrCat("client CPU us per call, concurrency ", concurrency);
  const double echo_cpu = echo.CpuSeconds();
  const Load ceiling = EchoUnaryLoad(echo, concurrency, span());
  Add("echo ceiling", calls_metric, "calls/s").samples.push_back(ceiling.calls_per_second);
  Add("echo ceiling", cpu_metric, "us")
      .samples.push_back((echo.CpuSeconds() - echo_cpu) * 1e6 / ceiling.calls);
  Add("echo ceiling", client_cpu_metric, "us").samples.push_back(ceiling.client_cpu_us);

  const double server_cpu = server.CpuSeconds();
  const Load appends = AppendOutcomes(server.address(), concurrency, span(), sequence_);
  const std::string scenario = "durable appends";
  Add(scenario, calls_metric, "calls/s", "echo ceiling/" + calls_metric)
      .samples.push_back(appends.calls_per_second);
  Add(scenario, absl::StrCat("p50 latency ms, concurrency ", concurrency), "ms")
      .samples.push_back(appends.p50_ms);
  Add(scenario, absl::StrCat("p99 latency ms, concurrency ", concurrency), "ms")
      .samples.push_back(appends.p99_ms);
  Add(scenario, "errors", "calls").samples.push_back(appends.errors);
  Add(scenario, cpu_metric, "us")
      .samples.push_back((server.CpuSeconds() - server_cpu) * 1e6 / appends.calls);
  Add(scenario, client_cpu_metric, "us").samples.push_back(appends.client_cpu_us);
}

// The same two RPCs over native gRPC and over the HTTP gateway (Connect
// JSON), on one server, at 16 and 64 callers: calls/s and server CPU per
// call, the gateway's as ratios of gRPC's.
void Bench::Gateway() {
  for (int rep = 0; rep < reps(); ++rep) {
    const std::string data = absl::StrCat(work_, "/gateway-", rep);
    Process server = StartServer(leerlusd_, data, /*http=*/true);
    const int http_port = HttpPortOf(data);
    client::Client setup(server.address(), NoRetries());
    CreateCatalogue(setup, 1, kAppendExperiments);
    for (const auto& [call, name] : {std::pair{GatewayCall::kGetExperiment, "GetExperiment"},
                                     std::pair{GatewayCall::kCreateOutcome, "CreateOutcome"}}) {
      for (int concurrency : {16, 64}) {
        const std::string calls_metric = absl::StrCat(name, " calls/s, concurrency ", concurrency);
        const std::string cpu_metric =
            absl::StrCat(name, " server CPU us per call, concurrency ", concurrency);
        for (const bool http : {false, true}) {
          const std::string scenario = http ? "gateway (HTTP JSON)" : "gateway (gRPC)";
          const std::string baseline = http ? "gateway (gRPC)/" : "";
          const double cpu = server.CpuSeconds();
          const Load load = CallOverTransport(server.address(), http ? http_port : 0, call,
                                              concurrency, span(), sequence_);
          Add(scenario, calls_metric, "calls/s", baseline.empty() ? "" : baseline + calls_metric)
              .samples.push_back(load.calls_per_second);
          Add(scenario, cpu_metric, "us", baseline.empty() ? "" : baseline + cpu_metric)
              .samples.push_back((server.CpuSeconds() - cpu) * 1e6 /
                                 std::max<uint64_t>(load.calls, 1));
          Add(scenario, "errors", "calls").samples.push_back(load.errors);
        }
      }
    }
  }
}

std::string Bench::ScalingMetric(uint64_t outcomes, int experiments) {
  return absl::StrFormat("REML p50 ms, %d outcomes, %d experiments", outcomes, experiments);
}

// What-works on smaller stores of the same shape (100 outcomes per
// experiment, the same methods), beside the big store's figure: how its
// cost grows with the size of the store.
void Bench::Scaling() {
  const std::vector<uint64_t> sizes =
      quick_ ? std::vector<uint64_t>{5000} : std::vector<uint64_t>{10000, 100000};
  for (int rep = 0; rep < reps(); ++rep) {
    for (uint64_t outcomes : sizes) {
      const int experiments = static_cast<int>(outcomes / 100);
      Process server = StartServer(leerlusd_, absl::StrCat(work_, "/scale-", outcomes, "-", rep));
      client::Client api(server.address());
      CreateCatalogue(api, store_size().methods, experiments);
      ImportOutcomes(api, experiments, outcomes, rep, sequence_);
      const double p50 = WhatWorks(api, "scaling");
      Add("what-works scaling", ScalingMetric(outcomes, experiments), "ms").samples.push_back(p50);
    }
  }
}

// Streaming import into a new store, then what-works on it (warm, and cold
// after a restart), the restart itself and a rebuild of the projections.
void Bench::StoreScenarios(bool import_only) {
  for (int rep = 0; rep < reps(); ++rep) {
    const std::string data = absl::StrCat(work_, "/store-", rep);
    const double import_rss = ImportIntoNewStore(data, rep);
    if (import_only) continue;
    const double restart_rss = RestartAndAsk(data);
    Add("store", "peak server RSS MiB", "MiB").samples.push_back(std::max(import_rss, restart_rss));
    Rebuild(data);
  }
}

// The echo's streaming ceiling for as many messages as the import's
// outcomes, then the import into a new store at `data` and warm questions
// on it. Returns the server's peak resident memory, MiB.
double Bench::ImportIntoNewStore(const std::string& data, int rep) {
  const StoreSize size = store_size();
  Process echo = StartEcho(echo_, work_);
  const double echo_seconds = EchoStreamSeconds(echo, size.outcomes);
  Add("echo ceiling", "streamed messages/s", "messages/s")
      .samples.push_back(size.outcomes / echo_seconds);

  Process server = StartServer(leerlusd_, data);
  client::Client api(server.address());
  CreateCatalogue(api, size.methods, size.experiments);
  const double server_cpu = server.CpuSeconds();
  const double import_seconds =
      ImportOutcomes(api, size.experiments, size.outcomes, rep, sequence_);
  Add("streaming import", "outcomes/s until durable", "outcomes/s",
      "echo ceiling/streamed messages/s")
      .samples.push_back(size.outcomes / import_seconds);
  Add("streaming import", "server CPU us per outcome", "us")
      .samples.push_back((server.CpuSeconds() - server_cpu) * 1e6 / size.outcomes);
  const double warm = WhatWorks(api, "warm");
  Add("what-works scaling", ScalingMetric(size.outcomes, size.experiments), "ms")
      .samples.push_back(warm);
  Proofs(api);
  return server.PeakRssMib();
}

// Restart: from exec to a served answer, the projections kept. Then the
// first (cold) questions and questions about the past. Returns the server's
// peak resident memory, MiB.
double Bench::RestartAndAsk(const std::string& data) {
  Process restarted = StartServer(leerlusd_, data);
  client::Client api(restarted.address());
  WaitUntilServing(api);
  Add("restart", "seconds to serving", "s")
      .samples.push_back(Seconds(Clock::now() - restarted.started()));
  WhatWorks(api, "cold");
  AsOf(api, store_size().outcomes);
  return restarted.PeakRssMib();
}

// Rebuild every projection from the log. leerlusd times the rebuild
// itself; the command also checks the log first and digests after.
void Bench::Rebuild(const std::string& data) {
  const RebuildTimes times =
      RebuildProjections(leerlusd_, data, absl::StrCat(work_, "/rebuild.out"));
  Add("rebuild", "events/s, projections from the log", "events/s")
      .samples.push_back(times.events / times.rebuild_seconds);
  Add("rebuild", "events/s, with log check and digest", "events/s")
      .samples.push_back(times.events / times.command_seconds);
  Add("rebuild", "peak RSS MiB, the whole command", "MiB").samples.push_back(times.peak_rss_mib);
}

// What-works (REML, every method) and the subgroup split by the 6-level
// condition; `kind` warm, cold (the first calls after a restart) or
// scaling (not recorded here). Returns the p50 of what-works in ms.
double Bench::WhatWorks(client::Client& api, const std::string& kind) {
  const int calls = kind == "cold" ? 1 : (quick_ ? 10 : 30);
  const QuestionTimes times = AskWhatWorks(api, calls);
  const double p50 = Percentile(times.what_works_ms, 0.5);
  if (kind == "scaling") return p50;
  Add("what-works", "REML every method p50 ms, " + kind, "ms").samples.push_back(p50);
  Add("what-works", "subgroups by 6 levels p50 ms, " + kind, "ms")
      .samples.push_back(Percentile(times.subgroups_ms, 0.5));
  if (kind == "warm") {
    Add("what-works", "REML every method p99 ms, warm", "ms")
        .samples.push_back(Percentile(times.what_works_ms, 0.99));
  }
  return p50;
}

// Inclusion and consistency proofs against the whole log's tree.
void Bench::Proofs(client::Client& api) {
  v1::ReadEventsRequest request;
  request.set_page_size(1);
  v1::ReadEventsResponse response;
  if (!api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), request, &response).ok()) {
    std::fprintf(stderr, "reading the log's head failed\n");
    std::exit(1);
  }
  const ProofTimes times = AskProofs(api, response.head_position(), quick_ ? 200 : 1000);
  if (times.inclusion_ms.empty()) return;
  Add("proofs", "inclusion proof p50 ms, whole log", "ms")
      .samples.push_back(Percentile(times.inclusion_ms, 0.5));
  Add("proofs", "consistency proof p50 ms, whole log", "ms")
      .samples.push_back(Percentile(times.consistency_ms, 0.5));
}

// What-works as of the middle of the log: the first question replays the
// log up to there, a second one reads what that replay kept.
void Bench::AsOf(client::Client& api, uint64_t outcomes) {
  const AsOfTimes times = AskWhatWorksAsOf(api, outcomes / 2);
  Add("what-works", "REML ms, as of mid-log, replayed", "ms").samples.push_back(times.replayed_ms);
  Add("what-works", "REML ms, as of mid-log, kept", "ms").samples.push_back(times.kept_ms);
}

}  // namespace leerlus::bench
