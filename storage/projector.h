// The projector folds events into the query views (projections). It is the
// only code that writes projections, used both live (inside the append's
// write batch) and when rebuilding from the log, so the two cannot differ.
#ifndef LEERLUS_STORAGE_PROJECTOR_H_
#define LEERLUS_STORAGE_PROJECTOR_H_

#include <optional>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "leerlus/v1/events.pb.h"
#include "storage/key_value.h"

namespace leerlus::storage {

// Stream names of the resources that have one.
std::string ExperimentStream(absl::string_view experiment_id);
std::string WorkMethodStream(absl::string_view id);
std::string IndicatorStream(absl::string_view id);
std::string AreaStream(absl::string_view code);
std::string TokenStream(absl::string_view id);

// Applies stored events (position and stream version set) to the
// projections. Reads and writes only projection column families; uses only
// the events' own data, so the result is a pure function of the log.
//
// The experiment records and analysis rows it touches stay parsed between
// events, so a run of events (a rebuild, a replay) parses and serialises
// each of them once instead of once per event. They reach `projections` at
// Flush(): until then, nothing else may write those rows there.
//
//   Projector projector(overlay);
//   for (const v1::Event& event : events) RETURN_IF_ERROR(projector.Apply(event));
//   projector.Flush();
class Projector {
 public:
  // Past `max_cached_rows` a Flush also empties the cache, so memory stays
  // bounded on any log.
  explicit Projector(KeyValueWriter& projections, size_t max_cached_rows = 50000)
      : projections_(projections), max_cached_rows_(max_cached_rows) {}

  absl::Status Apply(const v1::Event& event);

  // Writes the rows changed since the last Flush.
  void Flush();
  // True once the cache holds more than `max_cached_rows`: a long replay
  // flushes then (and at its end) rather than after every chunk, so a row
  // that changes in every chunk is written once, not once per chunk.
  bool CacheFull() const { return experiments_.size() + analysis_.size() > max_cached_rows_; }

 private:
  // One column family's rows, parsed.
  template <typename Message>
  class CachedRows {
   public:
    struct Row {
      std::optional<Message> value;  // nullopt: the row is absent
      bool changed = false;          // to be written at the next Flush
      void Set(std::optional<Message> row) {
        value = std::move(row);
        changed = true;
      }
    };

    explicit CachedRows(ColumnFamily cf) : cf_(cf) {}
    // The row under `key`, read from `base` on a miss. The pointer stays
    // valid until Clear(), so a caller looks a row up once per event.
    absl::StatusOr<Row*> Find(KeyValueReader& base, const std::string& key);
    // The row under `key` without reading it, for a caller that replaces it.
    Row& Slot(const std::string& key) { return rows_[key]; }
    void Flush(KeyValueWriter& out);
    size_t size() const { return rows_.size(); }
    void Clear() { rows_.clear(); }

   private:
    ColumnFamily cf_;
    absl::node_hash_map<std::string, Row> rows_;
  };

  absl::Status ApplyExperimentEvent(const v1::Event& event);

  KeyValueWriter& projections_;
  size_t max_cached_rows_;
  CachedRows<v1::Experiment> experiments_{ColumnFamily::kExperiments};
  CachedRows<v1::Outcome> analysis_{ColumnFamily::kAnalysis};
};

// Applies one event and flushes: for the write path, where each append's
// decision reads the projections it leaves.
absl::Status ApplyEvent(const v1::Event& event, KeyValueWriter& projections);

// The experiment's record (without outcomes and lessons), with the version
// and update time of its last event; nullopt if it is not registered. The
// stored record keeps those of the last event that changed it (an outcome or
// a lesson does not), so a record behind its stream takes them from the
// stream's head and the log. Reads the streams and events families too: for
// live state, not for a projection replayed as of an earlier position.
absl::StatusOr<std::optional<v1::Experiment>> ReadExperiment(KeyValueReader& state,
                                                             absl::string_view experiment_id);
// The second half of ReadExperiment, for a record read raw: a list filters
// its records first and catches up only the ones it returns.
absl::Status CatchUpWithStream(KeyValueReader& state, v1::Experiment& experiment);

// Folds one experiment's events into its full state (with outcomes and
// lessons), for point-in-time reads.
absl::Status FoldExperimentEvent(const v1::Event& event, v1::Experiment& state);

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_PROJECTOR_H_
