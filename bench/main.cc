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
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "bench/measure.h"
#include "bench/scenarios.h"

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
      ->check(CLI::IsMember({"rocksdb", "appends", "gateway", "scaling", "store", "import"}));
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
  leerlus::bench::ReportFigures(bench.figures(), quick, json);
  if (keep) {
    std::printf("stores kept in %s\n", work.c_str());
  } else {
    std::filesystem::remove_all(work);
  }
  return 0;
}
