// What the store's source files share and nothing else sees: RocksDB
// helpers, the readers the writer decides on, and a pending append's
// journey through the pipeline.
#ifndef LEERLUS_STORAGE_STORE_INTERNAL_H_
#define LEERLUS_STORAGE_STORE_INTERNAL_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/event_store.h"

namespace leerlus::storage {

// Converts a RocksDB status at the storage boundary.
absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what);

// KeyValueReader::Scan over a RocksDB iterator.
absl::Status ScanIterator(rocksdb::Iterator& it, absl::string_view prefix, absl::string_view start,
                          const std::function<bool(absl::string_view, absl::string_view)>& visit);

// `writes` as one batch. The map keeps them in key order per column
// family, the order in which the memtable inserts them cheapest.
absl::Status FillBatch(const Overlay::Writes& writes,
                       const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                       rocksdb::WriteBatch& batch);

// The names of every family of a store with `schema`, in ColumnFamily order.
std::vector<std::string> FamilyNames(const LogSchema& schema);

// Options every family of a store shares (one block cache), and opening (or
// creating) a database with every family of `options.schema`.
rocksdb::ColumnFamilyOptions FamilyOptions(const StoreOptions& options);
rocksdb::Status OpenDatabase(const StoreOptions& options,
                             const rocksdb::ColumnFamilyOptions& family_options, rocksdb::DB** db,
                             std::vector<rocksdb::ColumnFamilyHandle*>& handles);

// An event's stored bytes: `envelope` then `body`, which must hold only
// fields numbered kFirstBodyField or above (INTERNAL otherwise: the
// appender broke the contract).
absl::StatusOr<std::string> ComposeEvent(const internal::v1::Envelope& envelope,
                                         absl::string_view body);

// Reads the latest state (no snapshot). Only the committer writes, and only
// the keys of groups the writer still holds as uncommitted layers and reads
// from those first; every other key is stable while the writer decides.
class EventStore::DatabaseReader : public KeyValueReader {
 public:
  DatabaseReader(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      : db_(db), handles_(handles) {}
  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), handles_[static_cast<size_t>(cf)],
                                      rocksdb::Slice(key.data(), key.size()), &value);
    if (status.IsNotFound()) return std::optional<std::string>();
    LEERLUS_RETURN_IF_ERROR(FromRocks(status, "read"));
    return std::optional<std::string>(std::move(value));
  }
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<size_t>(cf)]));
    return ScanIterator(*it, prefix, start, visit);
  }

 private:
  rocksdb::DB* db_;
  const std::vector<rocksdb::ColumnFamilyHandle*>& handles_;
};

// The rows nearly every append reads and that few keys hold: stream heads
// and the schema's hot families. Kept as the database
// holds them: a decision reads the uncommitted layers first, and a key read
// here is in none of them, so what the database returned stays true until
// a layer that writes the key is committed, and Committed() then applies
// that layer. Emptied after a failed write, and when it outgrows its
// budget. Writer thread only.
class EventStore::CommittedRows : public KeyValueReader {
 public:
  // `hot[i]`: family i is kept.
  CommittedRows(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                std::vector<bool> hot)
      : database_(db, handles), hot_(std::move(hot)), rows_(hot_.size()) {}

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    if (!Kept(cf)) return database_.Get(cf, key);
    auto& rows = rows_[static_cast<size_t>(cf)];
    if (auto it = rows.find(key); it != rows.end()) return it->second;
    LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> value, database_.Get(cf, key));
    const size_t row_bytes = key.size() + SizeOf(value) + kRowOverheadBytes;
    if (bytes_ + row_bytes > kBudgetBytes) Clear();
    bytes_ += row_bytes;
    rows.emplace(key, value);
    return value;
  }
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    return database_.Scan(cf, prefix, start, visit);
  }

  // A group's writes are in the database now.
  void Committed(const Overlay::Writes& writes) {
    for (const auto& [cf_key, value] : writes) {
      if (!Kept(cf_key.first)) continue;
      auto& rows = rows_[static_cast<size_t>(cf_key.first)];
      // Only rows already kept: a new key (a new stream's index entry, a
      // new row) is read when it is first asked for.
      if (auto it = rows.find(cf_key.second); it != rows.end()) {
        bytes_ = bytes_ + SizeOf(value) - std::min(bytes_, SizeOf(it->second));
        it->second = value;
      }
    }
    if (bytes_ > kBudgetBytes) Clear();
  }

  void Clear() {
    for (auto& rows : rows_) rows.clear();
    bytes_ = 0;
  }

 private:
  bool Kept(ColumnFamily cf) const {
    const size_t index = static_cast<size_t>(cf);
    return index < hot_.size() && hot_[index];
  }
  static size_t SizeOf(const std::optional<std::string>& value) {
    return value.has_value() ? value->size() : 0;
  }
  // About 10,000 streams' heads and hot rows; the server's
  // memory budget is 256 MiB in all.
  static constexpr size_t kBudgetBytes = 16 << 20;
  static constexpr size_t kRowOverheadBytes = 64;  // the key's copy and the map's slot

  DatabaseReader database_;
  std::vector<bool> hot_;
  std::vector<absl::flat_hash_map<std::string, std::optional<std::string>>> rows_;
  size_t bytes_ = 0;
};

// The writes of groups decided but not yet committed, newest first, laid
// over the database: the state the next decisions build on.
class EventStore::UncommittedReader : public KeyValueReader {
 public:
  UncommittedReader(const UncommittedWrites& layers, KeyValueReader& database)
      : layers_(layers), database_(database) {}
  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    for (const auto& [number, writes] : layers_) {
      auto it = writes->find(std::pair(cf, key));
      if (it != writes->end()) return it->second;
    }
    return database_.Get(cf, key);
  }
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    if (layers_.empty()) return database_.Scan(cf, prefix, start, visit);
    std::vector<const Overlay::Writes*> oldest_first;
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
      oldest_first.push_back(it->second.get());
    }
    return Overlay::ScanLayers(database_, oldest_first, cf, prefix, start, visit);
  }

 private:
  const UncommittedWrites& layers_;
  KeyValueReader& database_;
};

// The Merkle tree keeps its nodes from this level up: one key per 16
// events in all (an eighth of a key per append, not two). A node below it
// covers at most 8 events and is hashed from them when a root or proof
// needs it (TreeNodes).
inline constexpr int kLowestKeptTreeLevel = 4;
inline bool KeepsTreeLevel(int level) { return level >= kLowestKeptTreeLevel; }

// Checks the stored Merkle tree against the events, fed in position order
// from 1: each kept node they complete must be stored as recomputed.
// Errors are DATA_LOSS naming the positions.
class TreeChecker {
 public:
  explicit TreeChecker(KeyValueReader& stored) : stored_(stored) {}
  absl::Status Add(uint64_t position, absl::string_view bytes);
  // After the last event: no kept node reaches beyond the head.
  absl::Status Finish(uint64_t head);

 private:
  KeyValueReader& stored_;
  merkle::CompactRange range_;
};

struct EventStore::PendingAppend {
  AppendRequest request;
  AppendDone done;
};

// A decided group on its way to the committer, which writes and answers it.
struct EventStore::DecidedGroup {
  // Its number in the order of decision, from 1.
  uint64_t number = 0;
  std::vector<std::shared_ptr<PendingAppend>> appends;
  // One per append; they stand only once the group is durable.
  std::vector<absl::StatusOr<AppendResult>> results;
  // What it writes (nullptr: nothing), and the log head after it.
  std::shared_ptr<const Overlay::Writes> writes;
  uint64_t head = 0;
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_STORE_INTERNAL_H_
