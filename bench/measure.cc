#include "bench/measure.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace leerlus::bench {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

double Figure::Median() const {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return sorted.empty() ? 0 : sorted[sorted.size() / 2];
}

double Figure::Min() const { return *std::min_element(samples.begin(), samples.end()); }

double Figure::Max() const { return *std::max_element(samples.begin(), samples.end()); }

Figure& Figures::Add(const std::string& scenario, const std::string& metric,
                     const std::string& unit, const std::string& baseline) {
  for (Figure& figure : figures_) {
    if (figure.scenario == scenario && figure.metric == metric) return figure;
  }
  figures_.push_back(Figure{scenario, metric, unit, {}, baseline});
  return figures_.back();
}

void ReportFigures(const std::vector<Figure>& figures, bool quick, const std::string& json_path) {
  std::map<std::string, double> medians;
  for (const auto& figure : figures) {
    medians[figure.scenario + "/" + figure.metric] = figure.Median();
  }
  std::ofstream out(json_path);
  out << "{\n  \"quick\": " << (quick ? "true" : "false") << ",\n  \"figures\": [\n";
  std::printf("%-18s %-44s %12s %12s %12s %10s\n", "scenario", "metric", "median", "min", "max",
              "ratio");
  for (size_t i = 0; i < figures.size(); ++i) {
    const auto& f = figures[i];
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
        i + 1 < figures.size() ? "," : "");
  }
  out << "  ]\n}\n";
}

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
  return Load{all.size(),
              cpu * 1e6 / std::max<size_t>(all.size(), 1),
              all.size() / elapsed,
              Percentile(all, 0.5),
              Percentile(all, 0.99),
              errors.load()};
}

}  // namespace leerlus::bench
