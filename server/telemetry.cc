#include "server/telemetry.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/text.h"

namespace leerlus::server {

namespace {

// A log value as it may be written: at most kMaxLogValueBytes of the
// client's text, on one visible line (EscapeForDisplay), so that no value
// can break a line, fake a field or grow the log without bound.
constexpr size_t kMaxLogValueBytes = 256;

std::string SafeLogValue(absl::string_view text) {
  if (text.size() <= kMaxLogValueBytes) return EscapeForDisplay(text);
  return absl::StrCat(EscapeForDisplay(text.substr(0, kMaxLogValueBytes)), "...(cut)");
}

// The text format's value: quoted (logfmt style) when it holds a space, a
// quote, '=' or is empty, so that every field reads back as one.
std::string TextLogValue(absl::string_view text) {
  std::string value = SafeLogValue(text);
  if (!value.empty() && value.find_first_of(" \"=\\") == std::string::npos) return value;
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string JsonLogValue(absl::string_view text) {
  return absl::StrCat(
      "\"", absl::StrReplaceAll(SafeLogValue(text), {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

}  // namespace

void Logger::Log(absl::string_view level, absl::string_view message,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
  const std::string time =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line;
  if (format_ == LogFormat::kJson) {
    line = absl::StrCat("{\"time\":", JsonLogValue(time), ",\"level\":", JsonLogValue(level),
                        ",\"msg\":", JsonLogValue(message));
    for (const auto& [name, value] : fields) {
      absl::StrAppend(&line, ",", JsonLogValue(name), ":", JsonLogValue(value));
    }
    line += "}";
  } else {
    line = absl::StrCat(time, " ", level, " ", SafeLogValue(message));
    for (const auto& [name, value] : fields) {
      absl::StrAppend(&line, " ", name, "=", TextLogValue(value));
    }
  }
  absl::MutexLock lock(&mutex_);
  std::cerr << line << std::endl;
}

// Reads the store and the process at scrape time.
class StoreCollector : public prometheus::Collectable {
 public:
  StoreCollector(storage::EventStore* store, const std::atomic<int>* subscribers)
      : store_(store), subscribers_(subscribers) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const storage::StoreStats stats = store_->Stats();
    std::vector<prometheus::MetricFamily> families;
    auto add = [&](const char* name, const char* help, prometheus::MetricType type, double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = type;
      prometheus::ClientMetric metric;
      if (type == prometheus::MetricType::Counter) {
        metric.counter.value = value;
      } else {
        metric.gauge.value = value;
      }
      family.metric.push_back(metric);
      families.push_back(std::move(family));
    };
    using T = prometheus::MetricType;
    add("leerlus_log_position", "Last durable position of the event log.", T::Gauge,
        static_cast<double>(store_->HeadPosition()));
    add("leerlus_appends_total", "Changes appended to the log (retries not counted).", T::Counter,
        static_cast<double>(stats.appends));
    add("leerlus_append_replays_total", "Retries answered from their stored request id.",
        T::Counter, static_cast<double>(stats.replays));
    add("leerlus_append_rejections_total", "Changes refused (invalid, wrong state, conflicts).",
        T::Counter, static_cast<double>(stats.rejected));
    add("leerlus_fsyncs_total", "Synced group commits: one fsync shared by the appends of a group.",
        T::Counter, static_cast<double>(stats.group_commits));
    add("leerlus_failed_commits_total", "Group commits that failed (nothing acknowledged).",
        T::Counter, static_cast<double>(stats.failed_commits));
    add("leerlus_group_commit_appends_total",
        "Appends written by group commits (divide by fsyncs for the mean group size).", T::Counter,
        static_cast<double>(stats.grouped_appends));
    add("leerlus_as_of_replays_total",
        "Analyses as of an earlier position answered by replaying the log (no recent view kept).",
        T::Counter, static_cast<double>(stats.replays_as_of));
    add("leerlus_projection_lag_events",
        "Events not yet in the projections (0: projections are updated in the same write).",
        T::Gauge, 0);
    add("leerlus_rocksdb_sst_bytes", "Size of RocksDB's SST files.", T::Gauge,
        static_cast<double>(store_->IntProperty("rocksdb.total-sst-files-size")));
    add("leerlus_rocksdb_memtable_bytes", "Size of RocksDB's memtables.", T::Gauge,
        static_cast<double>(store_->IntProperty("rocksdb.cur-size-all-mem-tables")));
    add("leerlus_rocksdb_compaction_pending", "Column families with a compaction pending.",
        T::Gauge, static_cast<double>(store_->IntProperty("rocksdb.compaction-pending")));
    add("leerlus_rocksdb_block_cache_bytes", "Block cache usage.", T::Gauge,
        static_cast<double>(store_->IntProperty("rocksdb.block-cache-usage")));
    add("leerlus_active_subscribers", "Open Subscribe streams.", T::Gauge,
        static_cast<double>(subscribers_->load()));
    add("leerlus_process_resident_bytes", "Resident memory of the server process.", T::Gauge,
        static_cast<double>(ResidentBytes()));
    return families;
  }

 private:
  static long ResidentBytes() {
    std::ifstream statm("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    statm >> pages_total >> pages_resident;
    return pages_resident * sysconf(_SC_PAGESIZE);
  }

  storage::EventStore* store_;
  const std::atomic<int>* subscribers_;
};

Telemetry::Telemetry(storage::EventStore* store, const TelemetryOptions& options)
    : store_(store), options_(options), logger_(options.log_format) {}

Telemetry::~Telemetry() = default;

absl::StatusOr<std::unique_ptr<Telemetry>> Telemetry::Create(storage::EventStore* store,
                                                             const TelemetryOptions& options) {
  std::unique_ptr<Telemetry> telemetry(new Telemetry(store, options));
  telemetry->registry_ = std::make_shared<prometheus::Registry>();
  telemetry->calls_ = &prometheus::BuildCounter()
                           .Name("leerlus_rpc_requests_total")
                           .Help("Finished RPCs by method and status code.")
                           .Register(*telemetry->registry_);
  telemetry->durations_ = &prometheus::BuildHistogram()
                               .Name("leerlus_rpc_duration_seconds")
                               .Help("RPC latency by method.")
                               .Register(*telemetry->registry_);
  telemetry->import_rows_ =
      &prometheus::BuildCounter()
           .Name("leerlus_import_rows_total")
           .Help("ImportOutcomes rows by outcome: OK (written) or the code that refused them.")
           .Register(*telemetry->registry_);
  telemetry->store_collector_ = std::make_shared<StoreCollector>(store, &telemetry->subscribers_);
  if (!options.metrics_listen.empty()) {
    try {
      telemetry->exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_listen);
    } catch (const std::exception& error) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", options.metrics_listen, ": ", error.what()));
    }
    telemetry->exposer_->RegisterCollectable(telemetry->registry_);
    telemetry->exposer_->RegisterCollectable(telemetry->store_collector_);
  }
  return telemetry;
}

int Telemetry::metrics_port() const {
  if (exposer_ == nullptr) return 0;
  std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

void Telemetry::RecordCall(absl::string_view rpc, absl::string_view principal,
                           absl::string_view request_id, const absl::Status& status,
                           absl::Duration duration,
                           std::vector<std::pair<std::string, std::string>> extra) {
  const std::string code = absl::StatusCodeToString(status.code());
  calls_->Add({{"rpc", std::string(rpc)}, {"code", code}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  durations_->Add({{"rpc", std::string(rpc)}}, kBuckets).Observe(absl::ToDoubleSeconds(duration));
  // A call that answered OK but refused part of its work (an import's
  // rows) says so with a field of its own and is logged as a warning. A
  // call its client cancelled (a subscriber leaving) is no failure.
  const bool failed = !status.ok() && !absl::IsCancelled(status);
  const bool partly_refused = std::any_of(extra.begin(), extra.end(), [](const auto& field) {
    return absl::StartsWith(field.first, "refused_");
  });
  if (!failed && !partly_refused && !options_.log_calls) return;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"rpc", std::string(rpc)},
      {"status", code},
      {"duration_ms", absl::StrCat(absl::ToDoubleMilliseconds(duration))}};
  if (!principal.empty()) fields.emplace_back("principal", std::string(principal));
  if (!request_id.empty()) fields.emplace_back("request_id", std::string(request_id));
  if (failed) fields.emplace_back("error", std::string(status.message()));
  fields.insert(fields.end(), extra.begin(), extra.end());
  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kDataLoss ||
                            status.code() == absl::StatusCode::kUnavailable;
  logger_.Log(server_fault ? "error" : (failed || partly_refused) ? "warn" : "info", "rpc", fields);
}

LogFields Telemetry::CountImportRows(uint64_t written,
                                     const std::map<absl::StatusCode, uint64_t>& refused) {
  import_rows_->Add({{"code", "OK"}}).Increment(static_cast<double>(written));
  LogFields fields = {{"rows_written", absl::StrCat(written)}};
  for (const auto& [code, count] : refused) {
    const std::string name = absl::StatusCodeToString(code);
    import_rows_->Add({{"code", name}}).Increment(static_cast<double>(count));
    fields.emplace_back(absl::StrCat("refused_", name), absl::StrCat(count));
  }
  return fields;
}

absl::Status Telemetry::TryAddSubscriber(const std::string& principal, int limit,
                                         int per_principal_limit) {
  absl::MutexLock lock(&subscribers_mutex_);
  if (limit > 0 && subscribers_ >= limit) {
    return WithErrorInfo(
        absl::ResourceExhaustedError(absl::StrCat("the server serves at most ", limit,
                                                  " subscriptions at once; retry later")),
        "TOO_MANY_SUBSCRIPTIONS", {{"limit", absl::StrCat(limit)}});
  }
  int& own = subscribers_of_[principal];
  if (per_principal_limit > 0 && own >= per_principal_limit) {
    return WithErrorInfo(
        absl::ResourceExhaustedError(absl::StrCat(
            "'", principal, "' has ", per_principal_limit,
            " subscriptions open, the most one principal may (--max-subscribers-per-principal); "
            "close one or retry later")),
        "TOO_MANY_SUBSCRIPTIONS_OF_PRINCIPAL", {{"limit", absl::StrCat(per_principal_limit)}});
  }
  ++own;
  ++subscribers_;
  return absl::OkStatus();
}

void Telemetry::RemoveSubscriber(const std::string& principal) {
  absl::MutexLock lock(&subscribers_mutex_);
  --subscribers_;
  if (auto it = subscribers_of_.find(principal); it != subscribers_of_.end() && --it->second <= 0) {
    subscribers_of_.erase(it);
  }
}

}  // namespace leerlus::server
