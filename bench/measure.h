// Measuring for leerlus-bench: the figures of a run (each a list of
// samples, one per repetition, reported as median, min and max), the
// closed-loop load that unary scenarios run, and CPU time.
//
//   Figures figures;
//   Load load = RunClosedLoop(16, std::chrono::seconds(8), make_caller);
//   figures.Add("echo ceiling", "unary calls/s", "calls/s")
//       .samples.push_back(load.calls_per_second);
//   ReportFigures(figures.all(), quick, "results.json");
#ifndef LEERLUS_BENCH_MEASURE_H_
#define LEERLUS_BENCH_MEASURE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace leerlus::bench {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d);

// User plus system CPU time this process (the load generator) has used.
double OwnCpuSeconds();

// The value at fraction `p` (0.5: the median) of `values`; 0 if empty.
double Percentile(std::vector<double> values, double p);

struct Figure {
  std::string scenario;
  std::string metric;
  std::string unit;
  std::vector<double> samples;
  std::string baseline;  // "scenario/metric" of the figure this is a ratio of.

  double Median() const;
  double Min() const;
  double Max() const;
};

// The figures of a run, in the order they were first added.
class Figures {
 public:
  // The figure `scenario`/`metric`; added, with `unit` and `baseline`, if
  // there is none yet. Each repetition adds its sample to the same figure.
  Figure& Add(const std::string& scenario, const std::string& metric, const std::string& unit,
              const std::string& baseline = "");

  const std::vector<Figure>& all() const { return figures_; }

 private:
  std::vector<Figure> figures_;
};

// Prints the figures as a table, each with its ratio to its baseline, and
// writes them as JSON to `json_path`.
void ReportFigures(const std::vector<Figure>& figures, bool quick, const std::string& json_path);

struct Load {
  uint64_t calls = 0;
  // CPU the load generator spent per call, microseconds.
  double client_cpu_us = 0;
  double calls_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t errors = 0;
};

// `threads` callers, each calling back to back for `duration` the call
// `make_caller(thread)` returns (true: it succeeded).
Load RunClosedLoop(int threads, std::chrono::milliseconds duration,
                   const std::function<std::function<bool()>(int)>& make_caller);

}  // namespace leerlus::bench

#endif  // LEERLUS_BENCH_MEASURE_H_
