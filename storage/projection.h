// What the event log asks of the code that gives its events meaning: a
// schema (the column families beside the log's own) and a projection that
// folds events into them. The log stores, orders, indexes and replays
// events; it never looks inside an event's body.
#ifndef LEERLUS_STORAGE_PROJECTION_H_
#define LEERLUS_STORAGE_PROJECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "leerlus/internal/v1/log.pb.h"
#include "storage/column_families.h"
#include "storage/key_value.h"

namespace leerlus::storage {

// One event as the log stores it: a serialized internal::v1::Envelope (its
// position, stream, version, actor, time, request id and the previous
// event's hash) followed by the body the appender decided. Body fields are
// numbered above the envelope's, so the bytes parse as one message that
// has both.
struct StoredEvent {
  uint64_t position = 0;
  std::string bytes;
};

// The smallest field number a body may use: the envelope has 1 to 7.
inline constexpr int kFirstBodyField = 8;

// The envelope of stored event bytes (the body's fields are skipped).
absl::StatusOr<internal::v1::Envelope> ParseEnvelope(absl::string_view bytes);

// A chunk of stored events decoded ahead of their projection by the
// schema's decode_chunk (parsed, say), for Projection::ApplyDecoded.
class DecodedChunk {
 public:
  virtual ~DecodedChunk() = default;
};

// Folds events, in log order, into the schema's projection families.
// Applied live (inside each append's write batch) and when replaying the
// log (a rebuild, a view as of a past position), so the two cannot differ.
// Writes may wait in the projection until Flush().
class Projection {
 public:
  virtual ~Projection() = default;
  // Applies one stored event. A DATA_LOSS error means the log holds what
  // the projection cannot fold.
  virtual absl::Status Apply(absl::string_view event_bytes) = 0;
  // Applies the events of a chunk the schema's decode_chunk made.
  virtual absl::Status ApplyDecoded(const DecodedChunk& chunk) = 0;
  // Writes whatever Apply kept back.
  virtual void Flush() = 0;
  // True when a long replay should Flush now to bound memory.
  virtual bool WantsFlush() const = 0;
};

// Everything the log needs to know of what it stores.
struct LogSchema {
  // The families beside the log's own, in order: SchemaFamily(0), ...
  std::vector<FamilySpec> families;
  // Names the layout of the projection families: a store written in
  // another one rebuilds them from the log when it opens.
  std::string projection_format;
  // A projection writing to (and reading its own earlier rows from) `out`.
  std::function<std::unique_ptr<Projection>(KeyValueWriter& out)> make_projection;
  // Optional: decodes a chunk of stored events (in log order) for
  // ApplyDecoded. A replay runs it on its read-ahead thread, a chunk ahead
  // of the projection, so it must use nothing but its argument. Without it
  // replays Apply the stored bytes.
  std::function<absl::StatusOr<std::unique_ptr<DecodedChunk>>(std::vector<std::string> events)>
      decode_chunk;
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_PROJECTION_H_
