// Telemetry: every call counted, timed and logged; store and process
// figures exposed for Prometheus on a separate HTTP port.
//
//   Telemetry telemetry(store, {.metrics_listen = "127.0.0.1:9464", .log_format =
//   LogFormat::kJson}); telemetry.RecordCall("CreateExperiment", "team-a", "req-1", status,
//   duration);
#ifndef LEERLUS_SERVER_TELEMETRY_H_
#define LEERLUS_SERVER_TELEMETRY_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/event_store.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace leerlus::server {

enum class LogFormat { kText, kJson };

// Fields of a log line, as (name, value) pairs.
using LogFields = std::vector<std::pair<std::string, std::string>>;

// One log line a record: JSON objects for machines, `key=value` for people.
class Logger {
 public:
  explicit Logger(LogFormat format) : format_(format) {}
  // `fields` are (name, value) pairs; values are written as strings.
  void Log(absl::string_view level, absl::string_view message,
           const std::vector<std::pair<std::string, std::string>>& fields = {});

 private:
  LogFormat format_;
  absl::Mutex mutex_;
};

struct TelemetryOptions {
  // host:port for /metrics; empty: no metrics endpoint.
  std::string metrics_listen;
  LogFormat log_format = LogFormat::kText;
  // Log every call (info), not only failures (warn/error).
  bool log_calls = true;
};

class Telemetry {
 public:
  // Fails (UNAVAILABLE) if the metrics port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Telemetry>> Create(storage::EventStore* store,
                                                           const TelemetryOptions& options);
  ~Telemetry();

  // One finished RPC. `principal` and `request_id` may be empty. Never logs
  // secrets: the caller passes names and ids only.
  void RecordCall(absl::string_view rpc, absl::string_view principal, absl::string_view request_id,
                  const absl::Status& status, absl::Duration duration,
                  std::vector<std::pair<std::string, std::string>> fields = {});
  // An ImportOutcomes stream's rows, counted in
  // leerlus_import_rows_total{code}: the written ones as OK, the refused
  // ones by code. Returns the fields that name them in the stream's log
  // line (RecordCall), which is a warning when any row was refused.
  LogFields CountImportRows(uint64_t written, const std::map<absl::StatusCode, uint64_t>& refused);
  // Counts a new subscription of `principal`, unless `limit` (> 0) are
  // open already, or `per_principal_limit` (> 0) of that principal's:
  // then RESOURCE_EXHAUSTED (with RetryInfo on the wire) naming which. One
  // principal filling its share leaves the others theirs.
  absl::Status TryAddSubscriber(const std::string& principal, int limit, int per_principal_limit);
  // A subscription of `principal` ended.
  void RemoveSubscriber(const std::string& principal);
  int subscribers() const { return subscribers_; }
  // The bound metrics port (0 without metrics).
  int metrics_port() const;

  Logger& logger() { return logger_; }

 private:
  Telemetry(storage::EventStore* store, const TelemetryOptions& options);

  storage::EventStore* store_;
  TelemetryOptions options_;
  Logger logger_;
  std::atomic<int> subscribers_{0};
  absl::Mutex subscribers_mutex_;
  absl::flat_hash_map<std::string, int> subscribers_of_ ABSL_GUARDED_BY(subscribers_mutex_);
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* calls_ = nullptr;
  prometheus::Family<prometheus::Histogram>* durations_ = nullptr;
  prometheus::Family<prometheus::Counter>* import_rows_ = nullptr;
  std::shared_ptr<class StoreCollector> store_collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_TELEMETRY_H_
