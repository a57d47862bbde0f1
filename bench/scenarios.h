// The benchmark's scenarios: each runs leerlus's workloads and their
// floors (bench/floors.h, bench/workloads.h) side by side, three
// repetitions each, and records the figures, leerlus's as ratios of their
// baselines where there is one.
//
//   Bench bench(leerlusd, echo, work_dir, /*quick=*/true, {1, 16, 64});
//   bench.Run("");  // Every scenario.
//   ReportFigures(bench.figures(), true, "results.json");
#ifndef LEERLUS_BENCH_SCENARIOS_H_
#define LEERLUS_BENCH_SCENARIOS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "bench/process.h"
#include "client/client.h"

namespace leerlus::bench {

class Bench {
 public:
  // `leerlusd` and `echo` are the binaries; the stores go under `work`.
  // `quick`: a small store and short spans. `concurrencies`: those of the
  // unary appends.
  Bench(std::string leerlusd, std::string echo, std::string work, bool quick,
        std::vector<int> concurrencies);

  // Runs every scenario, or only `only` (rocksdb, appends, gateway,
  // scaling, store, or import: the store scenario's import and nothing
  // after it).
  void Run(const std::string& only);

  const std::vector<Figure>& figures() const { return figures_.all(); }

 private:
  // The size of the store scenarios' store.
  struct StoreSize {
    int methods;
    int experiments;
    uint64_t outcomes;
  };

  int reps() const { return 3; }
  std::chrono::milliseconds span() const { return std::chrono::milliseconds(quick_ ? 1500 : 8000); }
  StoreSize store_size() const;
  Figure& Add(const std::string& scenario, const std::string& metric, const std::string& unit,
              const std::string& baseline = "") {
    return figures_.Add(scenario, metric, unit, baseline);
  }

  void RocksDbAlone();
  void Unary();
  void UnaryAt(int concurrency, const Process& echo, const Process& server);
  void Gateway();
  void Scaling();
  void StoreScenarios(bool import_only);
  double ImportIntoNewStore(const std::string& data, int rep);
  double RestartAndAsk(const std::string& data);
  void Rebuild(const std::string& data);
  double WhatWorks(client::Client& api, const std::string& kind);
  void AsOf(client::Client& api, uint64_t outcomes);
  void Proofs(client::Client& api);
  static std::string ScalingMetric(uint64_t outcomes, int experiments);

  std::string leerlusd_;
  std::string echo_;
  std::string work_;
  bool quick_;
  std::vector<int> concurrencies_;
  Figures figures_;
  // Makes every request id of the run unique.
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace leerlus::bench

#endif  // LEERLUS_BENCH_SCENARIOS_H_
