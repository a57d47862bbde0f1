// leerlus-bench: leerlus against the ceilings of this machine, in one run.
//
// Every figure is the median (with min and max) of several repetitions, and
// leerlus's figures are reported as ratios of a baseline measured in the
// same run: the gRPC echo server (same stack, threading and message size,
// no work) for appends and imports, RocksDB alone for the cost of a synced
// write. Prints a table and writes JSON.
//
//   leerlus-bench --leerlusd build/server/leerlusd
//       --echo build/bench/leerlus-bench-echo --json bench/results.json [--quick]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "leerlus/bench/echo.grpc.pb.h"
#include "rocksdb/db.h"
#include "storage/column_families.h"
#include "core/model/families.h"
#include "core/model/keys.h"
#include "core/model/streams.h"
#include "storage/log_keys.h"

namespace leerlus::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Runs `argv` to its end, its output (both streams) into `output`; exits
// the benchmark if it fails. Returns its peak resident memory, MiB.
double RunToEnd(std::vector<std::string> argv, const std::string& output) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (std::string& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    if (freopen(output.c_str(), "w", stdout) == nullptr || dup2(fileno(stdout), 2) < 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed; its output is in %s\n", argv[0].c_str(), output.c_str());
    std::exit(1);
  }
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux.
}

// A child process started with a port file; killed when destroyed.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& port_file) : port_file_(port_file) {
    std::filesystem::remove(port_file_);
    started_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (std::string& arg : argv) args.push_back(arg.data());
      args.push_back(nullptr);
      freopen("/dev/null", "w", stderr);
      execv(args[0], args.data());
      _exit(127);
    }
    for (int i = 0; i < 3000 && port_ == 0; ++i) {
      std::ifstream in(port_file_);
      in >> port_;
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (port_ == 0) {
      std::fprintf(stderr, "%s did not start\n", argv[0].c_str());
      std::exit(1);
    }
  }
  ~Process() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  pid_t pid() const { return pid_; }
  Clock::time_point started() const { return started_; }
  // User plus system CPU time the process has used so far, in seconds.
  double CpuSeconds() const {
    std::ifstream stat(absl::StrCat("/proc/", pid_, "/stat"));
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th of them.
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 1; i <= 13 && fields >> field; ++i) {
      if (i >= 12) ticks += std::atof(field.c_str());
    }
    return ticks / sysconf(_SC_CLK_TCK);
  }
  // Peak resident memory so far, MiB (VmHWM).
  double PeakRssMib() const {
    std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024;
    }
    return 0;
  }

 private:
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
  Clock::time_point started_;
};

struct Figure {
  std::string scenario;
  std::string metric;
  std::string unit;
  std::vector<double> samples;
  std::string baseline;  // "scenario/metric" of the figure this is a ratio of.

  double Median() const {
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    return sorted.empty() ? 0 : sorted[sorted.size() / 2];
  }
  double Min() const { return *std::min_element(samples.begin(), samples.end()); }
  double Max() const { return *std::max_element(samples.begin(), samples.end()); }
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// User plus system CPU time this process (the load generator) has used.
double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Load {
  uint64_t calls = 0;
  // CPU the load generator spent per call, microseconds.
  double client_cpu_us = 0;
  double calls_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t errors = 0;
};

// `threads` callers, each calling `call` back to back for `duration`.
Load RunClosedLoop(int threads, std::chrono::milliseconds duration,
                   const std::function<std::function<bool()>(int)>& make_caller) {
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const Clock::time_point start = Clock::now();
  const double cpu_start = OwnCpuSeconds();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::function<bool()> call = make_caller(t);
      while (!stop.load()) {
        const Clock::time_point begin = Clock::now();
        if (!call()) ++errors;
        latencies[t].push_back(Seconds(Clock::now() - begin) * 1000);
      }
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (std::thread& worker : workers) worker.join();
  const double elapsed = Seconds(Clock::now() - start);
  std::vector<double> all;
  for (const auto& list : latencies) all.insert(all.end(), list.begin(), list.end());
  const double cpu = OwnCpuSeconds() - cpu_start;
  return Load{all.size(), cpu * 1e6 / std::max<size_t>(all.size(), 1), all.size() / elapsed,
              Percentile(all, 0.5), Percentile(all, 0.99), errors.load()};
}

std::string Payload() { return std::string(300, 'x'); }

v1::CreateOutcomeRequest Outcome(const std::string& experiment, std::mt19937& random,
                                 uint64_t sequence, int thread) {
  v1::CreateOutcomeRequest request;
  request.set_experiment_id(experiment);
  request.set_request_id(absl::StrFormat("bench-%d-%d-%d", getpid(), thread, sequence));
  v1::Outcome* o = request.mutable_outcome();
  o->set_indicator_id("loneliness");
  o->set_measured_on("2019-06-01");
  o->set_design(v1::STUDY_DESIGN_RCT);
  std::normal_distribution<double> effect(-0.3, 0.4);
  auto* s = o->mutable_two_group_continuous();
  s->set_treatment_mean(4.5 + effect(random));
  s->set_treatment_sd(1.2);
  s->set_treatment_n(40 + static_cast<int>(random() % 60));
  s->set_control_mean(4.8);
  s->set_control_sd(1.3);
  s->set_control_n(40 + static_cast<int>(random() % 60));
  return request;
}

class Bench {
 public:
  Bench(std::string leerlusd, std::string echo, std::string work, bool quick,
        std::vector<int> concurrencies)
      : leerlusd_(std::move(leerlusd)),
        echo_(std::move(echo)),
        work_(std::move(work)),
        quick_(quick),
        concurrencies_(std::move(concurrencies)) {}

  // Runs every scenario, or only `only` (rocksdb, appends, scaling, store,
  // or import: the store scenario's import and nothing after it).
  void Run(const std::string& only) {
    if (only.empty() || only == "rocksdb") RocksDbAlone();
    if (only.empty() || only == "appends") Unary();
    if (only.empty() || only == "scaling") Scaling();
    if (only.empty() || only == "store") StoreScenarios(/*import_only=*/false);
    if (only == "import") StoreScenarios(/*import_only=*/true);
  }

  const std::vector<Figure>& figures() const { return figures_; }

 private:
  Figure& Add(const std::string& scenario, const std::string& metric, const std::string& unit,
              const std::string& baseline = "") {
    for (Figure& figure : figures_) {
      if (figure.scenario == scenario && figure.metric == metric) return figure;
    }
    figures_.push_back(Figure{scenario, metric, unit, {}, baseline});
    return figures_.back();
  }

  int reps() const { return 3; }
  std::chrono::milliseconds span() const { return std::chrono::milliseconds(quick_ ? 1500 : 8000); }

  // Synced single writes and 100-write batches, RocksDB on this disk alone.
  void RocksDbAlone() {
    for (int rep = 0; rep < reps(); ++rep) {
      const std::string path = absl::StrCat(work_, "/rocksdb-", rep);
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      if (!rocksdb::DB::Open(options, path, &raw).ok()) std::exit(1);
      std::unique_ptr<rocksdb::DB> db(raw);
      rocksdb::WriteOptions synced;
      synced.sync = true;
      const std::string value = Payload();
      for (int batch_size : {1, 100}) {
        uint64_t writes = 0;
        const Clock::time_point start = Clock::now();
        while (Clock::now() - start < span() / 2) {
          rocksdb::WriteBatch batch;
          for (int i = 0; i < batch_size; ++i) batch.Put(absl::StrCat("k", writes++), value);
          db->Write(synced, &batch);
        }
        Add("rocksdb alone", absl::StrCat("synced writes/s, batches of ", batch_size), "writes/s")
            .samples.push_back(writes / Seconds(Clock::now() - start));
      }
      db.reset();
      OutcomeWritesAlone(absl::StrCat(work_, "/outcome-writes-", rep));
    }
  }

  // The writes one durable outcome makes, with leerlus's key layout (its own
  // key encoders) and value sizes but none of its work (no decision, no
  // hashing, no gRPC): the floor of RocksDB's cost under any append. Groups
  // of 32 are what concurrent unary appends form at concurrency 64; groups
  // of 1,000 what an import forms. CPU includes RocksDB's own flush and compaction threads. The
  // options are RocksDB's defaults, whose memtables are larger than leerlus's
  // bounded budget: if anything, this floor is generous.
  void OutcomeWritesAlone(const std::string& path) {
    using storage::ColumnFamily;
    constexpr int kExperiments = 10000;
    const ColumnFamily families[] = {ColumnFamily::kMeta,         ColumnFamily::kEvents,
                                     ColumnFamily::kStreams,      ColumnFamily::kRequests,
                                     model::families::kOutcomes, model::families::kAnalysis};
    const storage::LogSchema schema = model::Schema();
    auto name_of = [&](ColumnFamily family) {
      const size_t index = static_cast<size_t>(family);
      return index < storage::kLogFamilyCount
                 ? std::string(storage::kLogFamilyNames[index])
                 : schema.families[index - storage::kLogFamilyCount].name;
    };
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (ColumnFamily family : families) descriptors.push_back({name_of(family), options});
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::Open(options, path, descriptors, &handles, &raw).ok()) std::exit(1);
    std::unique_ptr<rocksdb::DB> db(raw);
    auto handle = [&](ColumnFamily family) {
      return handles[std::find(std::begin(families), std::end(families), family) -
                     std::begin(families)];
    };
    auto value = [](size_t bytes) { return std::string(bytes, 'v'); };
    const std::string event = value(450), request = value(360), outcome = value(300);
    std::vector<uint64_t> versions(kExperiments, 0);
    std::mt19937 random(7);
    uint64_t position = 0;
    rocksdb::WriteOptions synced;
    synced.sync = true;
    for (int group_size : {32, 1000}) {
      uint64_t written = 0;
      const double cpu_start = OwnCpuSeconds();
      const Clock::time_point start = Clock::now();
      while (Clock::now() - start < span() / 2) {
        rocksdb::WriteBatch batch;
        for (int i = 0; i < group_size; ++i, ++written) {
          const int e = static_cast<int>(random() % kExperiments);
          const std::string id = absl::StrCat("x", e);
          const std::string stream = model::ExperimentStream(id);
          const uint64_t version = ++versions[e];
          const std::string stored_at = storage::EncodeFixed64BigEndian(++position);
          batch.Put(handle(ColumnFamily::kEvents), storage::EventKey(position), event);
          batch.Put(handle(ColumnFamily::kStreams), storage::StreamEventKey(stream, version),
                    stored_at);
          batch.Put(handle(ColumnFamily::kStreams), storage::StreamHeadKey(stream),
                    storage::EncodeFixed64BigEndian(version));
          batch.Put(handle(ColumnFamily::kRequests), absl::StrCat("req-", random(), "-", random()),
                    request);
          batch.Put(handle(model::families::kOutcomes),
                    model::ExperimentChildKey(id, absl::StrCat("o", version)), outcome);
          batch.Put(handle(model::families::kAnalysis),
                    model::AnalysisKey("loneliness", absl::StrCat("m", e % 50), id), outcome);
        }
        batch.Put(handle(ColumnFamily::kMeta), std::string(storage::kHeadPositionKey),
                  storage::EncodeFixed64BigEndian(position));
        if (!db->Write(synced, &batch).ok()) std::exit(1);
      }
      const std::string what = absl::StrCat("an outcome's 6 writes, synced groups of ", group_size);
      Add("rocksdb alone", absl::StrCat(what, ": outcomes/s"), "outcomes/s")
          .samples.push_back(written / Seconds(Clock::now() - start));
      Add("rocksdb alone", absl::StrCat(what, ": CPU us per outcome"), "us")
          .samples.push_back((OwnCpuSeconds() - cpu_start) * 1e6 / written);
    }
    for (rocksdb::ColumnFamilyHandle* opened : handles) db->DestroyColumnFamilyHandle(opened);
  }

  // Unary calls at concurrency 1, 16 and 64: echo, then durable appends.
  void Unary() {
    for (int rep = 0; rep < reps(); ++rep) {
      Process echo({echo_, "--port-file", work_ + "/echo.port"}, work_ + "/echo.port");
      Process server = StartServer(absl::StrCat(work_, "/unary-", rep));
      client::ClientOptions once;
      once.max_attempts = 1;
      client::Client setup(server.address(), once);
      Catalogue(setup, 1, 64);
      for (int concurrency : concurrencies_) {
        const std::string echo_metric = absl::StrCat("unary calls/s, concurrency ", concurrency);
        const double echo_cpu = echo.CpuSeconds();
        Load ceiling = RunClosedLoop(concurrency, span(), [&](int) {
          auto channel = grpc::CreateChannel(echo.address(), grpc::InsecureChannelCredentials());
          auto stub = std::make_shared<EchoService::Stub>(channel);
          EchoMessage message;
          message.set_payload(Payload());
          return [stub, message]() {
            grpc::ClientContext context;
            EchoMessage answer;
            return stub->Unary(&context, message, &answer).ok();
          };
        });
        Add("echo ceiling", echo_metric, "calls/s").samples.push_back(ceiling.calls_per_second);
        const std::string cpu_metric =
            absl::StrCat("server CPU us per call, concurrency ", concurrency);
        Add("echo ceiling", cpu_metric, "us")
            .samples.push_back((echo.CpuSeconds() - echo_cpu) * 1e6 / ceiling.calls);
        const std::string client_cpu_metric =
            absl::StrCat("client CPU us per call, concurrency ", concurrency);
        Add("echo ceiling", client_cpu_metric, "us").samples.push_back(ceiling.client_cpu_us);
        const double server_cpu = server.CpuSeconds();
        Load appends = RunClosedLoop(concurrency, span(), [&](int thread) {
          auto api = std::make_shared<client::Client>(server.address(), once);
          auto random = std::make_shared<std::mt19937>(thread);
          return [&, api, random, thread]() {
            const uint64_t sequence = ++sequence_;
            v1::CreateOutcomeRequest request =
                Outcome(absl::StrCat("x", sequence % 64), *random, sequence, thread);
            v1::CreateOutcomeResponse response;
            return api
                ->Call(&v1::ExperimentService::Stub::CreateOutcome, api->experiments(), request,
                       &response)
                .ok();
          };
        });
        const std::string scenario = "durable appends";
        Add(scenario, echo_metric, "calls/s", "echo ceiling/" + echo_metric)
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
      Add("durable appends", "peak server RSS MiB", "MiB").samples.push_back(server.PeakRssMib());
    }
  }

  Process StartServer(const std::string& data_dir) {
    return Process({leerlusd_, "--data-dir", data_dir, "--listen", "127.0.0.1:0", "--port-file",
                    data_dir + ".port", "--insecure-dev", "--log-calls", "false"},
                   data_dir + ".port");
  }

  // One indicator, `methods` work methods, `experiments` running experiments
  // x0.. spread over the methods, with a 6-level condition.
  void Catalogue(client::Client& api, int methods, int experiments) {
    v1::CreateIndicatorRequest indicator;
    indicator.mutable_indicator()->set_id("loneliness");
    indicator.mutable_indicator()->set_display_name("Loneliness");
    indicator.mutable_indicator()->set_better_direction(v1::BETTER_DIRECTION_LOWER);
    indicator.mutable_indicator()->set_domain(v1::RESOURCE_DOMAIN_SOCIAL);
    indicator.set_request_id("indicator");
    v1::CreateIndicatorResponse created_indicator;
    api.Call(&v1::CatalogService::Stub::CreateIndicator, api.catalog(), indicator,
             &created_indicator);
    for (int m = 0; m < methods; ++m) {
      v1::CreateWorkMethodRequest method;
      method.mutable_work_method()->set_id(absl::StrCat("m", m));
      method.mutable_work_method()->set_display_name(absl::StrCat("Method ", m));
      method.set_request_id(absl::StrCat("method-", m));
      v1::CreateWorkMethodResponse created;
      api.Call(&v1::CatalogService::Stub::CreateWorkMethod, api.catalog(), method, &created);
    }
    std::atomic<int> next{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 16; ++t) {
      workers.emplace_back([&] {
        for (int e = next++; e < experiments; e = next++) {
          v1::CreateExperimentRequest create;
          v1::Experiment* x = create.mutable_experiment();
          x->set_id(absl::StrCat("x", e));
          x->set_kind(v1::EXPERIMENT_KIND_PROJECT);
          x->set_title(absl::StrCat("Experiment ", e));
          x->set_work_method_id(absl::StrCat("m", e % methods));
          x->set_line(v1::LINE_AREA_BASED);
          x->set_team_id("bench");
          (*x->mutable_context())["urbanity"].set_number_value(e % 6);
          (*x->mutable_context())["region"].set_text_value(absl::StrCat("region-", e % 6));
          create.set_request_id(absl::StrCat("create-", e));
          v1::CreateExperimentResponse created;
          api.Call(&v1::ExperimentService::Stub::CreateExperiment, api.experiments(), create,
                   &created);
          v1::StartExperimentRequest start;
          start.set_id(x->id());
          start.set_request_id(absl::StrCat("start-", e));
          v1::StartExperimentResponse started;
          api.Call(&v1::ExperimentService::Stub::StartExperiment, api.experiments(), start,
                   &started);
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
  }

  // Streaming import into a store of `experiments` experiments and
  // `methods` methods, then what-works on it (warm, and cold after a
  // restart), the restart itself and a rebuild of the projections.
  void StoreScenarios(bool import_only) {
    const int methods = quick_ ? 10 : 50;
    const int experiments = quick_ ? 500 : 10000;
    const uint64_t outcomes = quick_ ? 50000 : 1000000;
    for (int rep = 0; rep < reps(); ++rep) {
      const std::string data = absl::StrCat(work_, "/store-", rep);
      double peak_rss = 0;
      {
        Process echo({echo_, "--port-file", work_ + "/echo.port"}, work_ + "/echo.port");
        auto channel = grpc::CreateChannel(echo.address(), grpc::InsecureChannelCredentials());
        EchoService::Stub stub(channel);
        grpc::ClientContext echo_context;
        EchoCount count;
        auto echo_stream = stub.Stream(&echo_context, &count);
        EchoMessage message;
        message.set_payload(Payload());
        Clock::time_point start = Clock::now();
        for (uint64_t i = 0; i < outcomes; ++i) echo_stream->Write(message);
        echo_stream->WritesDone();
        echo_stream->Finish();
        Add("echo ceiling", "streamed messages/s", "messages/s")
            .samples.push_back(outcomes / Seconds(Clock::now() - start));

        Process server = StartServer(data);
        client::Client api(server.address());
        Catalogue(api, methods, experiments);
        const double server_cpu = server.CpuSeconds();
        Add("streaming import", "outcomes/s until durable", "outcomes/s",
            "echo ceiling/streamed messages/s")
            .samples.push_back(outcomes / Import(api, experiments, outcomes, rep));
        Add("streaming import", "server CPU us per outcome", "us")
            .samples.push_back((server.CpuSeconds() - server_cpu) * 1e6 / outcomes);
        const double warm = WhatWorks(api, "warm");
        Add("what-works scaling", ScalingMetric(outcomes, experiments), "ms").samples.push_back(warm);
        peak_rss = std::max(peak_rss, server.PeakRssMib());
      }
      if (import_only) continue;
      // Restart: from exec to a served answer, the projections kept.
      Process restarted = StartServer(data);
      client::Client api(restarted.address());
      v1::ListWorkMethodsRequest ping;
      v1::ListWorkMethodsResponse pong;
      while (
          !api.Call(&v1::CatalogService::Stub::ListWorkMethods, api.catalog(), ping, &pong).ok()) {
      }
      Add("restart", "seconds to serving", "s")
          .samples.push_back(Seconds(Clock::now() - restarted.started()));
      WhatWorks(api, "cold");
      AsOf(api, outcomes);
      peak_rss = std::max(peak_rss, restarted.PeakRssMib());
      restarted.Stop();
      Add("store", "peak server RSS MiB", "MiB").samples.push_back(peak_rss);
      // Rebuild every projection from the log. leerlusd times the rebuild
      // itself; the command also checks the log first and digests after.
      const std::string report = absl::StrCat(work_, "/rebuild.out");
      const Clock::time_point start = Clock::now();
      const double rebuild_rss =
          RunToEnd({leerlusd_, "--data-dir", data, "--rebuild-projections"}, report);
      const double command_seconds = Seconds(Clock::now() - start);
      std::ifstream out(report);
      const std::string text((std::istreambuf_iterator<char>(out)),
                             std::istreambuf_iterator<char>());
      unsigned long long events = 0;
      double rebuild_seconds = 0;
      const size_t line = text.find("projections rebuilt from ");
      if (line == std::string::npos ||
          std::sscanf(text.c_str() + line, "projections rebuilt from %llu events in %lf s",
                      &events, &rebuild_seconds) != 2 ||
          rebuild_seconds <= 0) {
        std::fprintf(stderr, "rebuild printed no timing:\n%s\n", text.c_str());
        std::exit(1);
      }
      Add("rebuild", "events/s, projections from the log", "events/s")
          .samples.push_back(events / rebuild_seconds);
      Add("rebuild", "events/s, with log check and digest", "events/s")
          .samples.push_back(events / command_seconds);
      Add("rebuild", "peak RSS MiB, the whole command", "MiB").samples.push_back(rebuild_rss);
    }
  }

  // Streams `outcomes` outcomes over experiments x0.. and returns the
  // seconds until the last is durable.
  double Import(client::Client& api, int experiments, uint64_t outcomes, int rep) {
    grpc::ClientContext context;
    v1::ImportOutcomesResponse imported;
    auto stream = api.experiments()->ImportOutcomes(&context, &imported);
    std::mt19937 random(rep);
    const Clock::time_point start = Clock::now();
    for (uint64_t i = 0; i < outcomes; ++i) {
      v1::ImportOutcomesRequest row;
      *row.mutable_row() = Outcome(absl::StrCat("x", i % experiments), random, ++sequence_, -1);
      stream->Write(row);
    }
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (!status.ok() || imported.written() != outcomes) {
      std::fprintf(stderr, "import failed: %s (%llu written)\n", status.error_message().c_str(),
                   static_cast<unsigned long long>(imported.written()));
      std::exit(1);
    }
    return Seconds(Clock::now() - start);
  }

  static std::string ScalingMetric(uint64_t outcomes, int experiments) {
    return absl::StrFormat("REML p50 ms, %d outcomes, %d experiments", outcomes, experiments);
  }

  // What-works on smaller stores of the same shape (100 outcomes per
  // experiment, the same methods), beside the big store's figure: how its
  // cost grows with the size of the store.
  void Scaling() {
    const int methods = quick_ ? 10 : 50;
    const std::vector<uint64_t> sizes =
        quick_ ? std::vector<uint64_t>{5000} : std::vector<uint64_t>{10000, 100000};
    for (int rep = 0; rep < reps(); ++rep) {
      for (uint64_t outcomes : sizes) {
        const int experiments = static_cast<int>(outcomes / 100);
        Process server = StartServer(absl::StrCat(work_, "/scale-", outcomes, "-", rep));
        client::Client api(server.address());
        Catalogue(api, methods, experiments);
        Import(api, experiments, outcomes, rep);
        Add("what-works scaling", ScalingMetric(outcomes, experiments), "ms")
            .samples.push_back(WhatWorks(api, "scaling"));
      }
    }
  }

  // What-works (REML, every method) and the subgroup split by the 6-level
  // condition; `kind` warm, cold (the first calls after a restart) or
  // scaling (not recorded here). Returns the p50 of what-works in ms.
  double WhatWorks(client::Client& api, const std::string& kind) {
    std::vector<double> what, split;
    const int calls = kind == "cold" ? 1 : (quick_ ? 10 : 30);
    for (int i = 0; i < calls; ++i) {
      v1::WhatWorksRequest request;
      request.set_indicator_id("loneliness");
      request.set_model(v1::POOLING_MODEL_REML);
      v1::WhatWorksResponse response;
      Clock::time_point start = Clock::now();
      if (!api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), request, &response)
               .ok()) {
        std::exit(1);
      }
      what.push_back(Seconds(Clock::now() - start) * 1000);
      v1::CompareConditionsRequest compare;
      compare.set_indicator_id("loneliness");
      compare.set_work_method_id("m0");
      compare.set_condition("context.region");
      v1::CompareConditionsResponse compared;
      start = Clock::now();
      if (!api.Call(&v1::InsightService::Stub::CompareConditions, api.insights(), compare,
                    &compared)
               .ok()) {
        std::exit(1);
      }
      split.push_back(Seconds(Clock::now() - start) * 1000);
    }
    if (kind == "scaling") return Percentile(what, 0.5);
    Add("what-works", "REML every method p50 ms, " + kind, "ms")
        .samples.push_back(Percentile(what, 0.5));
    Add("what-works", "subgroups by 6 levels p50 ms, " + kind, "ms")
        .samples.push_back(Percentile(split, 0.5));
    if (kind == "warm") {
      Add("what-works", "REML every method p99 ms, warm", "ms")
          .samples.push_back(Percentile(what, 0.99));
    }
    return Percentile(what, 0.5);
  }

  // What-works as of the middle of the log: the first question replays the
  // log up to there, a second one reads what that replay kept.
  void AsOf(client::Client& api, uint64_t outcomes) {
    v1::WhatWorksRequest request;
    request.set_indicator_id("loneliness");
    request.set_model(v1::POOLING_MODEL_REML);
    request.set_as_of_position(outcomes / 2);
    for (const char* metric :
         {"REML ms, as of mid-log, replayed", "REML ms, as of mid-log, kept"}) {
      v1::WhatWorksResponse response;
      const Clock::time_point start = Clock::now();
      if (!api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), request, &response)
               .ok() ||
          response.read_position() != request.as_of_position()) {
        std::fprintf(stderr, "what-works as of %llu failed\n",
                     static_cast<unsigned long long>(request.as_of_position()));
        std::exit(1);
      }
      Add("what-works", metric, "ms").samples.push_back(Seconds(Clock::now() - start) * 1000);
    }
  }

  std::string leerlusd_;
  std::string echo_;
  std::string work_;
  bool quick_;
  std::vector<int> concurrencies_;
  std::vector<Figure> figures_;
  // Makes every request id of the run unique.
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace
}  // namespace leerlus::bench

int main(int argc, char** argv) {
  // The load generator's gRPC locks are Abseil's too: as in the servers it
  // loads (server/main.cc), Debian's Abseil would check each for deadlocks.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app("leerlus-bench: leerlus against this machine's ceilings, in one run");
  std::string leerlusd, echo, json, work;
  bool quick = false;
  app.add_option("--leerlusd", leerlusd, "the leerlusd binary")->required();
  app.add_option("--echo", echo, "the leerlus-bench-echo binary")->required();
  app.add_option("--json", json, "write the figures here as JSON")->required();
  app.add_option("--work-dir", work, "scratch directory (default: a new one under /tmp)");
  app.add_flag("--quick", quick, "small store and short spans (under 3 minutes)");
  bool keep = false;
  app.add_flag("--keep", keep, "leave the scratch directory and its stores (to profile them)");
  std::string only;
  app.add_option("--only", only, "run one scenario (to profile it)")
      ->check(CLI::IsMember({"rocksdb", "appends", "scaling", "store", "import"}));
  std::vector<int> concurrencies{1, 16, 64};
  app.add_option("--concurrency", concurrencies,
                 "the unary appends' concurrencies (default 1 16 64; one, to profile it)")
      ->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  if (work.empty()) {
    char pattern[] = "/tmp/leerlus-bench-XXXXXX";
    work = mkdtemp(pattern);
  } else {
    std::filesystem::create_directories(work);
  }
  leerlus::bench::Bench bench(leerlusd, echo, work, quick, concurrencies);
  bench.Run(only);

  std::map<std::string, double> medians;
  for (const auto& figure : bench.figures()) {
    medians[figure.scenario + "/" + figure.metric] = figure.Median();
  }
  std::ofstream out(json);
  out << "{\n  \"quick\": " << (quick ? "true" : "false") << ",\n  \"figures\": [\n";
  std::printf("%-18s %-44s %12s %12s %12s %10s\n", "scenario", "metric", "median", "min", "max",
              "ratio");
  for (size_t i = 0; i < bench.figures().size(); ++i) {
    const auto& f = bench.figures()[i];
    std::string ratio;
    if (!f.baseline.empty() && medians[f.baseline] > 0) {
      ratio = absl::StrFormat("%.2f", f.Median() / medians[f.baseline]);
    }
    std::printf("%-18s %-44s %12.1f %12.1f %12.1f %10s\n", f.scenario.c_str(), f.metric.c_str(),
                f.Median(), f.Min(), f.Max(), ratio.c_str());
    out << absl::StrFormat(
        "    {\"scenario\": \"%s\", \"metric\": \"%s\", \"unit\": \"%s\", \"median\": %.3f, "
        "\"min\": %.3f, \"max\": %.3f, \"repetitions\": %d%s}%s\n",
        f.scenario, f.metric, f.unit, f.Median(), f.Min(), f.Max(), f.samples.size(),
        ratio.empty() ? ""
                      : absl::StrCat(", \"baseline\": \"", f.baseline, "\", \"ratio\": ", ratio),
        i + 1 < bench.figures().size() ? "," : "");
  }
  out << "  ]\n}\n";
  if (keep) {
    std::printf("stores kept in %s\n", work.c_str());
  } else {
    std::filesystem::remove_all(work);
  }
  return 0;
}
