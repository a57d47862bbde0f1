// The projector folds events into the query views (projections). It is the
// only code that writes projections, used both live (inside the append's
// write batch) and when replaying the log, so the two cannot differ: it is
// the schema's storage::Projection.
#ifndef LEERLUS_CORE_MODEL_PROJECTOR_H_
#define LEERLUS_CORE_MODEL_PROJECTOR_H_

#include <optional>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model/families.h"
#include "leerlus/v1/events.pb.h"
#include "storage/key_value.h"
#include "storage/projection.h"

namespace leerlus::model {

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
class Projector : public storage::Projection {
 public:
  // Past `max_cached_rows` a Flush also empties the cache, so memory stays
  // bounded on any log.
  explicit Projector(storage::KeyValueWriter& projections, size_t max_cached_rows = 50000)
      : projections_(projections), max_cached_rows_(max_cached_rows) {}

  // An event as the log stores it, or a chunk of them DecodeChunk parsed.
  absl::Status Apply(absl::string_view event_bytes) override;
  absl::Status ApplyDecoded(const storage::DecodedChunk& chunk) override;
  absl::Status Apply(const v1::Event& event);

  // Writes the rows changed since the last Flush.
  void Flush() override;
  bool WantsFlush() const override { return CacheFull(); }
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

    explicit CachedRows(storage::ColumnFamily cf) : cf_(cf) {}
    // The row under `key`, read from `base` on a miss. The pointer stays
    // valid until Clear(), so a caller looks a row up once per event.
    absl::StatusOr<Row*> Find(storage::KeyValueReader& base, const std::string& key);
    // The row under `key` without reading it, for a caller that replaces it.
    Row& Slot(const std::string& key) { return rows_[key]; }
    void Flush(storage::KeyValueWriter& out);
    size_t size() const { return rows_.size(); }
    void Clear() { rows_.clear(); }

   private:
    storage::ColumnFamily cf_;
    absl::node_hash_map<std::string, Row> rows_;
  };

  absl::Status ApplyExperimentEvent(const v1::Event& event);

  storage::KeyValueWriter& projections_;
  size_t max_cached_rows_;
  CachedRows<v1::Experiment> experiments_{families::kExperiments};
  CachedRows<v1::Outcome> analysis_{families::kAnalysis};
  v1::Event event_;  // the event Apply(bytes) parses into
};

// Applies one event and flushes: for the write path, where each append's
// decision reads the projections it leaves.
absl::Status ApplyEvent(const v1::Event& event, storage::KeyValueWriter& projections);

// Parses a chunk of stored events for Projector::ApplyDecoded: the schema's
// decode_chunk, so that a replay parses on its read-ahead thread.
absl::StatusOr<std::unique_ptr<storage::DecodedChunk>> DecodeChunk(std::vector<std::string> events);

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_PROJECTOR_H_
