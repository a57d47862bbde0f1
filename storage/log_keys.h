// Key encoding of the log's own column families, in one place.
//
// Integers in keys are big-endian and fixed-width so that byte order equals
// numeric order. Ids and stream names never contain '\0' (validation
// guarantees it), so '\0' separates the parts of composite keys.
//
//   std::string key = EventKey(42);
//   absl::StatusOr<uint64_t> position = ParseEventKey(key);
#ifndef LEERLUS_STORAGE_LOG_KEYS_H_
#define LEERLUS_STORAGE_LOG_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus::storage {

// Appends `value` as 8 big-endian bytes.
void PutFixed64BigEndian(std::string* out, uint64_t value);

// 8 big-endian bytes: the value format of positions and versions too.
std::string EncodeFixed64BigEndian(uint64_t value);

// Reads 8 big-endian bytes from the front of `*in` and consumes them.
// Fails cleanly (without consuming) if fewer than 8 bytes remain.
absl::StatusOr<uint64_t> ConsumeFixed64BigEndian(absl::string_view* in);

// events CF: global position.
std::string EventKey(uint64_t position);
absl::StatusOr<uint64_t> ParseEventKey(absl::string_view key);

// streams CF: one key per (stream, version) pointing at the event's
// position, and one head key per stream holding its current version.
std::string StreamEventKey(absl::string_view stream, uint64_t version);
std::string StreamEventPrefix(absl::string_view stream);
std::string StreamHeadKey(absl::string_view stream);
struct StreamEventKeyParts {
  std::string stream;
  uint64_t version = 0;
};
absl::StatusOr<StreamEventKeyParts> ParseStreamEventKey(absl::string_view key);

// requests CF: the principal, then the request id -> the request record.
// (Records written before ids were scoped are keyed by the bare id; the
// separator keeps the two apart.)
std::string RequestKey(absl::string_view principal, absl::string_view request_id);

// tree CF: node (level, index) of the Merkle tree over the events (see
// common/merkle.h): one level byte, then the index, so a level's nodes sort
// together in index order. Leaf p - 1 is the event at position p. Only
// levels from kLowestKeptTreeLevel up are stored (store_internal.h).
std::string TreeNodeKey(int level, uint64_t index);
struct TreeNodeKeyParts {
  int level = 0;
  uint64_t index = 0;
};
absl::StatusOr<TreeNodeKeyParts> ParseTreeNodeKey(absl::string_view key);

// meta CF: the log head (last position) and the hash of the last event.
inline constexpr absl::string_view kHeadPositionKey = "head_position";
inline constexpr absl::string_view kHeadHashKey = "head_hash";
// meta CF: a checkpoint (signed tree head) by its tree size.
std::string CheckpointKey(uint64_t tree_size);
inline constexpr absl::string_view kCheckpointPrefix = "checkpoint/";
// meta CF: the projection_format of the schema the projections were
// written in; a store opened with another one rebuilds them from the log.
inline constexpr absl::string_view kProjectionFormatKey = "projection_format";

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_LOG_KEYS_H_
