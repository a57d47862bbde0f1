// The log's RocksDB column families, and the families a schema adds: every
// family is named by a ColumnFamily value, never by a bare string or index.
#ifndef LEERLUS_STORAGE_COLUMN_FAMILIES_H_
#define LEERLUS_STORAGE_COLUMN_FAMILIES_H_

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace leerlus::storage {

// The log's own families come first; a schema's follow from kFirstSchemaFamily.
enum class ColumnFamily : int {
  kMeta = 0,  // RocksDB's default family: head position and hash.
  kEvents,    // position -> stored event bytes (the log itself).
  kStreams,   // stream + version -> position; stream -> head version.
  kRequests,  // principal + request id -> internal::v1::RequestRecord.
  kTree,      // level + index -> hash of a node of the log's Merkle tree.
};

inline constexpr size_t kLogFamilyCount = 5;
inline constexpr std::array<absl::string_view, kLogFamilyCount> kLogFamilyNames = {
    "default", "events", "streams", "requests", "tree"};

// The `index`-th family of a schema.
constexpr ColumnFamily SchemaFamily(int index) {
  return static_cast<ColumnFamily>(static_cast<int>(kLogFamilyCount) + index);
}

// A family a schema adds to the log's.
struct FamilySpec {
  std::string name;
  // Derived from the log (written only by the projection), so dropped and
  // rebuilt with it. Otherwise state of its own that a rebuild keeps.
  bool projection = true;
  // Read by nearly every append's decision and held by few keys: the writer
  // keeps its rows in memory as committed.
  bool hot = false;
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_COLUMN_FAMILIES_H_
