#include "storage/event_store.h"

#include <pthread.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {

// Converts a RocksDB status at the storage boundary.
absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNoSpace() || status.IsIOError()) return absl::UnavailableError(message);
  if (status.IsBusy() || status.IsTryAgain()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

// KeyValueReader::Scan over a RocksDB iterator.
absl::Status ScanIterator(rocksdb::Iterator& it, absl::string_view prefix, absl::string_view start,
                          const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  absl::string_view seek = start < prefix ? prefix : start;
  for (it.Seek(rocksdb::Slice(seek.data(), seek.size())); it.Valid(); it.Next()) {
    absl::string_view key(it.key().data(), it.key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!visit(key, absl::string_view(it.value().data(), it.value().size()))) break;
  }
  return FromRocks(it.status(), "scan");
}

// `writes` as one batch. The map keeps them in key order per column
// family, the order in which the memtable inserts them cheapest.
absl::Status FillBatch(const Overlay::Writes& writes,
                       const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                       rocksdb::WriteBatch& batch) {
  for (const auto& [key, value] : writes) {
    rocksdb::ColumnFamilyHandle* handle = handles[static_cast<size_t>(key.first)];
    LEERLUS_RETURN_IF_ERROR(FromRocks(value.has_value() ? batch.Put(handle, key.second, *value)
                                                        : batch.Delete(handle, key.second),
                                      "write batch"));
  }
  return absl::OkStatus();
}

// Every family shares one block cache, and the memtables of all of them one
// write-buffer budget (set on the database), so the store's memory is
// bounded however many families grow.
rocksdb::ColumnFamilyOptions FamilyOptions(const StoreOptions& options) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions family;
  family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  family.write_buffer_size = options.write_buffer_bytes / 4;
  // A bloom filter over each memtable's keys: decisions look up many keys
  // that do not exist yet (request ids, new records' ids), and a memtable
  // miss is otherwise a full skiplist search.
  family.memtable_whole_key_filtering = true;
  family.memtable_prefix_bloom_size_ratio = 0.05;
  return family;
}

namespace {

rocksdb::DBOptions DatabaseOptions(const StoreOptions& options) {
  rocksdb::DBOptions db_options;
  db_options.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(options.write_buffer_bytes);
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  if (options.env != nullptr) db_options.env = options.env;
  return db_options;
}

// Which families the writer keeps in memory as committed (CommittedRows):
// the stream heads, and the schema's hot families.
std::vector<bool> HotFamilies(const LogSchema& schema) {
  std::vector<bool> hot(kLogFamilyCount + schema.families.size(), false);
  hot[static_cast<size_t>(ColumnFamily::kStreams)] = true;
  for (size_t i = 0; i < schema.families.size(); ++i) {
    hot[kLogFamilyCount + i] = schema.families[i].hot;
  }
  return hot;
}

}  // namespace

std::vector<std::string> FamilyNames(const LogSchema& schema) {
  std::vector<std::string> names(kLogFamilyNames.begin(), kLogFamilyNames.end());
  for (const FamilySpec& family : schema.families) names.push_back(family.name);
  return names;
}

rocksdb::Status OpenDatabase(const StoreOptions& options,
                             const rocksdb::ColumnFamilyOptions& family_options, rocksdb::DB** db,
                             std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::string& name : FamilyNames(options.schema)) {
    descriptors.emplace_back(std::move(name), family_options);
  }
  return rocksdb::DB::Open(DatabaseOptions(options), options.path, descriptors, &handles, db);
}

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(const StoreOptions& options) {
  if (!options.schema.make_projection) {
    return absl::InvalidArgumentError("a store needs a schema with a projection");
  }
  // One options object for all families: they share its block cache.
  const rocksdb::ColumnFamilyOptions family_options = FamilyOptions(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = OpenDatabase(options, family_options, &db, handles);
  if (!status.ok()) {
    if (status.IsIOError() && status.ToString().find("lock") != std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory '", options.path,
          "' is in use by another leerlusd process (RocksDB lock held): ", status.ToString()));
    }
    return FromRocks(status, absl::StrCat("opening data directory '", options.path, "'"));
  }
  std::unique_ptr<EventStore> store(
      new EventStore(options, family_options, db, std::move(handles)));
  // Past projections of an earlier run that ended without cleaning up.
  std::error_code ignored;
  std::filesystem::remove_all(store->ScratchDirectory(), ignored);
  LEERLUS_RETURN_IF_ERROR(store->LoadHead());
  LEERLUS_RETURN_IF_ERROR(store->EnsureProjectionFormat());
  store->writer_ = std::thread([raw = store.get()] { raw->WriterLoop(); });
  store->committer_ = std::thread([raw = store.get()] { raw->CommitterLoop(); });
  // Named, so that top -H and profilers tell them apart.
  pthread_setname_np(store->writer_.native_handle(), "leerlus-writer");
  pthread_setname_np(store->committer_.native_handle(), "leerlus-commit");
  return store;
}

EventStore::EventStore(const StoreOptions& options,
                       const rocksdb::ColumnFamilyOptions& family_options, rocksdb::DB* db,
                       std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : options_(options),
      family_options_(family_options),
      db_(db),
      handles_(std::move(handles)),
      committed_rows_(std::make_unique<CommittedRows>(db_, handles_, HotFamilies(options.schema))) {
}

EventStore::~EventStore() {
  Shutdown();
  ForgetRecentViews();
  {
    absl::MutexLock lock(&head_mutex_);
    durable_snapshot_.reset();
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    db_->DestroyColumnFamilyHandle(handle);
  }
  rocksdb::Status status = db_->Close();
  (void)status;  // Nothing more can be done at destruction; WAL is synced.
  delete db_;
}

absl::Status EventStore::LoadHead() {
  DatabaseReader reader(db_, handles_);
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> head,
                           reader.Get(ColumnFamily::kMeta, kHeadPositionKey));
  uint64_t head_position = 0;
  if (head.has_value()) {
    absl::string_view in(*head);
    LEERLUS_ASSIGN_OR_RETURN(head_position, ConsumeFixed64BigEndian(&in));
  }
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> hash,
                           reader.Get(ColumnFamily::kMeta, kHeadHashKey));
  tail_.last_hash = hash.value_or("");
  tail_.next_position = head_position + 1;
  {
    // Called when nothing is being written: all the database holds is durable.
    absl::MutexLock lock(&head_mutex_);
    durable_head_ = head_position;
    durable_snapshot_ = TakeSnapshot();
  }
  if (head_position > 0) {
    // A head without a readable event is VerifyLog's to report: the store
    // still opens, so that --verify can.
    absl::StatusOr<internal::v1::Envelope> head = OpenReadView()->EnvelopeAt(head_position);
    if (head.ok()) tail_.last_time = head->time();
  }
  // Like a head without its event, a damaged tree is VerifyLog's to report:
  // the store opens, and refuses appends until the tree is whole.
  tree_status_ = LoadTree(head_position);
  return absl::OkStatus();
}

SharedSnapshot EventStore::TakeSnapshot() {
  return SharedSnapshot(db_->GetSnapshot(), [db = db_](const rocksdb::Snapshot* snapshot) {
    db->ReleaseSnapshot(snapshot);
  });
}

absl::Status EventStore::EnsureProjectionFormat() {
  DatabaseReader reader(db_, handles_);
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> format,
                           reader.Get(ColumnFamily::kMeta, kProjectionFormatKey));
  const std::string& wanted = options_.schema.projection_format;
  if (format == wanted) return absl::OkStatus();
  if (tail_.next_position > 1) {
    // Written by an earlier version in another layout: the log is the truth.
    LEERLUS_RETURN_IF_ERROR(RebuildProjections());
    projections_rebuilt_at_open_ = true;
    return absl::OkStatus();
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  return FromRocks(
      db_->Put(write_options, handles_[static_cast<size_t>(ColumnFamily::kMeta)],
               rocksdb::Slice(kProjectionFormatKey.data(), kProjectionFormatKey.size()),
               rocksdb::Slice(wanted.data(), wanted.size())),
      "writing the projection format");
}

void EventStore::Shutdown() {
  {
    absl::MutexLock lock(&queue_mutex_);
    if (shutting_down_ && !writer_.joinable()) return;
    shutting_down_ = true;
  }
  if (writer_.joinable()) writer_.join();
  {
    // The writer has handed over its last group: the committer writes and
    // answers the rest, then stops.
    absl::MutexLock lock(&commit_mutex_);
    committer_stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
  absl::MutexLock lock(&head_mutex_);
  closed_ = true;
}

std::unique_ptr<ReadView> EventStore::OpenReadView() {
  absl::MutexLock lock(&head_mutex_);
  return std::make_unique<ReadView>(db_, handles_, durable_snapshot_, durable_head_);
}

StoreStats EventStore::Stats() const {
  absl::MutexLock lock(&head_mutex_);
  return stats_;
}

uint64_t EventStore::IntProperty(const std::string& name) const {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    uint64_t value = 0;
    if (handle != nullptr && db_->GetIntProperty(handle, name, &value)) total += value;
  }
  return total;
}

uint64_t EventStore::HeadPosition() const {
  absl::MutexLock lock(&head_mutex_);
  return durable_head_;
}

uint64_t EventStore::WaitForHeadAbove(uint64_t position, absl::Time deadline) const {
  absl::MutexLock lock(&head_mutex_);
  auto passed = [this, position]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(head_mutex_) {
    return durable_head_ > position || closed_;
  };
  head_mutex_.AwaitWithDeadline(absl::Condition(&passed), deadline);
  return durable_head_;
}

std::string EventStore::FamilyName(ColumnFamily cf) const {
  return FamilyNames(options_.schema)[static_cast<size_t>(cf)];
}

}  // namespace leerlus::storage
