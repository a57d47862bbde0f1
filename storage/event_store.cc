#include "storage/event_store.h"

#include <malloc.h>
#include <pthread.h>

#include <csignal>
#include <filesystem>
#include <future>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/serialize.h"
#include "common/status_macros.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/time_util.h"
#include "leerlus/internal/v1/records.pb.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/backup_engine.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/keys.h"
#include "storage/projector.h"

namespace leerlus::storage {
namespace {

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

}  // namespace

// ---------------------------------------------------------------- ReadView

ReadView::ReadView(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                   SharedSnapshot snapshot, uint64_t head_position)
    : db_(db),
      handles_(std::move(handles)),
      snapshot_(std::move(snapshot)),
      head_position_(head_position) {
  options_.snapshot = snapshot_.get();
}

absl::StatusOr<std::optional<std::string>> ReadView::Get(ColumnFamily cf, absl::string_view key) {
  std::string value;
  rocksdb::Status status = db_->Get(options_, handles_[static_cast<size_t>(cf)],
                                    rocksdb::Slice(key.data(), key.size()), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  LEERLUS_RETURN_IF_ERROR(FromRocks(status, "read"));
  return std::optional<std::string>(std::move(value));
}

absl::Status ReadView::Scan(
    ColumnFamily cf, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(options_, handles_[static_cast<size_t>(cf)]));
  return ScanIterator(*it, prefix, start, visit);
}

int64_t ReadView::head_time_seconds() {
  if (head_position_ == 0) return 0;
  absl::StatusOr<std::vector<v1::Event>> head = ReadEvents(head_position_, 1, "");
  return head.ok() && !head->empty() ? (*head)[0].time().seconds() : 0;
}

absl::StatusOr<std::vector<v1::Event>> ReadView::ReadEvents(uint64_t from, size_t limit,
                                                            absl::string_view stream,
                                                            size_t max_bytes) {
  std::vector<v1::Event> events;
  if (from == 0) from = 1;
  size_t bytes_read = 0;
  absl::Status parse_status;
  auto parse = [&](absl::string_view bytes) {
    v1::Event event;
    if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      parse_status = absl::DataLossError("cannot parse a stored event");
      return false;
    }
    events.push_back(std::move(event));
    bytes_read += bytes.size();
    return events.size() < limit && bytes_read < max_bytes;
  };
  if (stream.empty()) {
    LEERLUS_RETURN_IF_ERROR(
        Scan(ColumnFamily::kEvents, "", EventKey(from),
             [&](absl::string_view, absl::string_view value) { return parse(value); }));
    LEERLUS_RETURN_IF_ERROR(parse_status);
    return events;
  }
  // One stream: walk its index and fetch the events at or after `from`.
  std::vector<uint64_t> positions;
  LEERLUS_RETURN_IF_ERROR(Scan(ColumnFamily::kStreams, StreamEventPrefix(stream), "",
                               [&](absl::string_view, absl::string_view value) {
                                 absl::string_view in = value;
                                 absl::StatusOr<uint64_t> position = ConsumeFixed64BigEndian(&in);
                                 if (position.ok() && *position >= from) {
                                   positions.push_back(*position);
                                 }
                                 return positions.size() < limit;
                               }));
  return ReadEventsAt(positions, stream, max_bytes);
}

absl::StatusOr<std::vector<v1::Event>> ReadView::ReadStreamEvents(absl::string_view stream,
                                                                  uint64_t from_version,
                                                                  size_t limit, size_t max_bytes) {
  std::vector<uint64_t> positions;
  LEERLUS_RETURN_IF_ERROR(Scan(ColumnFamily::kStreams, StreamEventPrefix(stream),
                               StreamEventKey(stream, std::max<uint64_t>(from_version, 1)),
                               [&](absl::string_view, absl::string_view value) {
                                 absl::string_view in = value;
                                 absl::StatusOr<uint64_t> position = ConsumeFixed64BigEndian(&in);
                                 if (position.ok()) positions.push_back(*position);
                                 return positions.size() < limit;
                               }));
  return ReadEventsAt(positions, stream, max_bytes);
}

absl::StatusOr<std::vector<v1::Event>> ReadView::ReadEventsAt(
    const std::vector<uint64_t>& positions, absl::string_view stream, size_t max_bytes) {
  std::vector<v1::Event> events;
  size_t bytes_read = 0;
  for (uint64_t position : positions) {
    if (bytes_read >= max_bytes) break;
    LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                             Get(ColumnFamily::kEvents, EventKey(position)));
    if (!bytes.has_value()) {
      return absl::DataLossError(
          absl::StrCat("stream index of '", stream, "' points at missing position ", position));
    }
    v1::Event& event = events.emplace_back();
    if (!event.ParseFromString(*bytes)) return absl::DataLossError("cannot parse a stored event");
    bytes_read += bytes->size();
  }
  return events;
}

absl::StatusOr<uint64_t> ReadView::StreamVersion(absl::string_view stream) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> value,
                           Get(ColumnFamily::kStreams, StreamHeadKey(stream)));
  if (!value.has_value()) return 0;
  absl::string_view in(*value);
  return ConsumeFixed64BigEndian(&in);
}

// ---------------------------------------------------------------- MemoryProjection

absl::StatusOr<std::optional<std::string>> MemoryProjection::Get(ColumnFamily cf,
                                                                 absl::string_view key) {
  const auto& rows = rows_[static_cast<size_t>(cf)];
  auto it = rows.find(std::string(key));
  if (it == rows.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status MemoryProjection::Scan(
    ColumnFamily cf, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  const auto& rows = rows_[static_cast<size_t>(cf)];
  const std::string seek(start < prefix ? prefix : start);
  for (auto it = rows.lower_bound(seek); it != rows.end(); ++it) {
    absl::string_view key = it->first;
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!visit(key, it->second)) break;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- EventStore

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

// The rows nearly every append reads and that few keys hold: stream heads,
// experiment records, analysis rows, the catalogue. Kept as the database
// holds them: a decision reads the uncommitted layers first, and a key read
// here is in none of them, so what the database returned stays true until
// a layer that writes the key is committed, and Committed() then applies
// that layer. Emptied after a failed write, and when it outgrows its
// budget. Writer thread only.
class EventStore::CommittedRows : public KeyValueReader {
 public:
  CommittedRows(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles)
      : database_(db, handles) {}

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
      // new experiment) is read when it is first asked for.
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
  static bool Kept(ColumnFamily cf) {
    return cf == ColumnFamily::kStreams || cf == ColumnFamily::kExperiments ||
           cf == ColumnFamily::kAnalysis || cf == ColumnFamily::kCatalog;
  }
  static size_t SizeOf(const std::optional<std::string>& value) {
    return value.has_value() ? value->size() : 0;
  }
  // About 10,000 experiments' heads, records and analysis rows; the server's
  // memory budget is 256 MiB in all.
  static constexpr size_t kBudgetBytes = 16 << 20;
  static constexpr size_t kRowOverheadBytes = 64;  // the key's copy and the map's slot

  DatabaseReader database_;
  std::array<absl::flat_hash_map<std::string, std::optional<std::string>>, kColumnFamilyCount>
      rows_;
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

// The log from position 1 to `last` in chunks, read and parsed on its own
// thread one chunk ahead of the caller. A chunk's events live in its
// arena: parsed with few allocations, freed at once. An empty chunk marks
// the end.
class EventStore::LogReadAhead {
 public:
  struct Chunk {
    std::unique_ptr<google::protobuf::Arena> arena = std::make_unique<google::protobuf::Arena>();
    std::vector<const v1::Event*> events;
  };

  LogReadAhead(EventStore& store, uint64_t last)
      : reader_([this, &store, last] {
          uint64_t from = 1;
          while (true) {
            absl::StatusOr<Chunk> chunk = Read(store, from, last);
            const bool last_chunk = !chunk.ok() || chunk->events.empty();
            if (!last_chunk) from = chunk->events.back()->position() + 1;
            absl::MutexLock lock(&mutex_);
            mutex_.Await(absl::Condition(
                +[](LogReadAhead* self) ABSL_SHARED_LOCKS_REQUIRED(self->mutex_) {
                  return self->stopped_ || self->chunks_.size() < kChunksAhead;
                },
                this));
            if (stopped_) return;
            chunks_.push_back(std::move(chunk));
            if (last_chunk) return;
          }
        }) {}
  ~LogReadAhead() {
    {
      absl::MutexLock lock(&mutex_);
      stopped_ = true;
    }
    reader_.join();
  }

  absl::StatusOr<Chunk> Next() {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](LogReadAhead* self) ABSL_SHARED_LOCKS_REQUIRED(self->mutex_) {
          return !self->chunks_.empty();
        },
        this));
    absl::StatusOr<Chunk> chunk = std::move(chunks_.front());
    chunks_.pop_front();
    return chunk;
  }

 private:
  static constexpr size_t kChunk = 16384;
  static constexpr size_t kChunksAhead = 1;

  static absl::StatusOr<Chunk> Read(EventStore& store, uint64_t from, uint64_t last) {
    Chunk chunk;
    if (from > last) return chunk;
    const uint64_t limit = std::min<uint64_t>(kChunk, last - from + 1);
    absl::Status problem;
    // Events never change once written, so no snapshot is needed; and a
    // pass over the whole log must not push the hot blocks of live
    // questions out of the block cache.
    rocksdb::ReadOptions once;
    once.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(
        store.db_->NewIterator(once, store.handles_[static_cast<size_t>(ColumnFamily::kEvents)]));
    LEERLUS_RETURN_IF_ERROR(
        ScanIterator(*it, "", EventKey(from), [&](absl::string_view, absl::string_view bytes) {
          auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(chunk.arena.get());
          if (!event->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
            problem = absl::DataLossError("cannot parse a stored event");
            return false;
          }
          chunk.events.push_back(event);
          return chunk.events.size() < limit;
        }));
    LEERLUS_RETURN_IF_ERROR(problem);
    return chunk;
  }

  absl::Mutex mutex_;
  std::deque<absl::StatusOr<Chunk>> chunks_ ABSL_GUARDED_BY(mutex_);
  bool stopped_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread reader_;
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

namespace {

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
  // that do not exist yet (request ids, new outcome ids), and a memtable
  // miss is otherwise a full skiplist search.
  family.memtable_whole_key_filtering = true;
  family.memtable_prefix_bloom_size_ratio = 0.05;
  return family;
}

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

// Opens (or creates) a database with every column family.
rocksdb::Status OpenDatabase(const StoreOptions& options,
                             const rocksdb::ColumnFamilyOptions& family_options, rocksdb::DB** db,
                             std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (absl::string_view name : kColumnFamilyNames) {
    descriptors.emplace_back(std::string(name), family_options);
  }
  return rocksdb::DB::Open(DatabaseOptions(options), options.path, descriptors, &handles, db);
}

// A scratch database's memory: small, whatever the store's settings.
constexpr size_t kScratchBlockCacheBytes = 8 << 20;
constexpr size_t kScratchWriteBufferBytes = 8 << 20;

}  // namespace

// The projections as of a past position, in a scratch database of their
// own. Written once by ProjectInto, then only read; the directory goes with
// the last reader.
class EventStore::PastProjection : public ProjectionReader {
 public:
  static absl::StatusOr<std::shared_ptr<PastProjection>> Create(std::string directory,
                                                                uint64_t position,
                                                                int64_t time_seconds) {
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);  // A leftover of a crash.
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(directory).parent_path(), error);
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("creating the scratch directory for '", directory, "': ", error.message()));
    }
    const StoreOptions options{.path = directory,
                               .block_cache_bytes = kScratchBlockCacheBytes,
                               .write_buffer_bytes = kScratchWriteBufferBytes};
    std::shared_ptr<PastProjection> past(new PastProjection(directory, position, time_seconds));
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(OpenDatabase(options, FamilyOptions(options), &past->db_, past->handles_),
                  "creating a scratch database for a past position"));
    return past;
  }
  ~PastProjection() override {
    if (db_ != nullptr) {
      for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
      (void)db_->Close();  // Thrown away below; nothing to keep.
      delete db_;
    }
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    return DatabaseReader(db_, handles_).Get(cf, key);
  }
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    return DatabaseReader(db_, handles_).Scan(cf, prefix, start, visit);
  }
  uint64_t head_position() const override { return position_; }
  int64_t head_time_seconds() override { return time_seconds_; }

  rocksdb::DB* db() { return db_; }
  const std::vector<rocksdb::ColumnFamilyHandle*>& handles() const { return handles_; }

 private:
  PastProjection(std::string directory, uint64_t position, int64_t time_seconds)
      : directory_(std::move(directory)), position_(position), time_seconds_(time_seconds) {}

  std::string directory_;
  uint64_t position_;
  int64_t time_seconds_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

absl::StatusOr<std::unique_ptr<EventStore>> EventStore::Open(const StoreOptions& options) {
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
  // An erasure that crashed before its purge is finished here.
  LEERLUS_RETURN_IF_ERROR(store->PurgeDeleted(ColumnFamily::kDataKeys));
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
      committed_rows_(std::make_unique<CommittedRows>(db_, handles_)) {}

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
  last_hash_ = hash.value_or("");
  next_position_ = head_position + 1;
  {
    // Called when nothing is being written: all the database holds is durable.
    absl::MutexLock lock(&head_mutex_);
    durable_head_ = head_position;
    durable_snapshot_ = TakeSnapshot();
  }
  if (head_position > 0) {
    std::unique_ptr<ReadView> view = OpenReadView();
    LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> head, view->ReadEvents(head_position, 1, ""));
    if (!head.empty()) last_time_ = head[0].time();
  }
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
  if (format == kProjectionFormat) return absl::OkStatus();
  if (next_position_ > 1) {
    // Written by an earlier version in another layout: the log is the truth.
    LEERLUS_RETURN_IF_ERROR(RebuildProjections());
    projections_rebuilt_at_open_ = true;
    return absl::OkStatus();
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  return FromRocks(db_->Put(write_options, handles_[static_cast<size_t>(ColumnFamily::kMeta)],
                            rocksdb::Slice(kProjectionFormatKey.data(), kProjectionFormatKey.size()),
                            rocksdb::Slice(kProjectionFormat.data(), kProjectionFormat.size())),
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

absl::StatusOr<AppendResult> EventStore::Append(AppendRequest request) {
  return Submit(std::move(request)).get();
}

std::future<absl::StatusOr<AppendResult>> EventStore::Submit(AppendRequest request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
  std::future<absl::StatusOr<AppendResult>> future = promise->get_future();
  Submit(std::move(request), [promise](absl::StatusOr<AppendResult> result) {
    promise->set_value(std::move(result));
  });
  return future;
}

void EventStore::Submit(AppendRequest request, AppendDone done) {
  auto pending = std::make_shared<PendingAppend>();
  pending->request = std::move(request);
  pending->done = std::move(done);
  {
    absl::MutexLock lock(&queue_mutex_);
    if (!shutting_down_) {
      queue_.push_back(std::move(pending));
      return;
    }
  }
  pending->done(
      WithErrorInfo(absl::UnavailableError("the server is shutting down"), "SHUTTING_DOWN"));
}

void EventStore::WriterLoop() {
  while (true) {
    {
      // While the committer is busy, appends queue up here and the next
      // group is larger; deciding further ahead gains nothing.
      absl::MutexLock lock(&commit_mutex_);
      const uint64_t decided = groups_decided_;
      auto has_room = [this, decided]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mutex_) {
        return decided - groups_committed_ < kGroupsInFlight;
      };
      commit_mutex_.Await(absl::Condition(&has_room));
    }
    std::vector<std::shared_ptr<PendingAppend>> group;
    {
      absl::MutexLock lock(&queue_mutex_);
      queue_mutex_.Await(absl::Condition(
          +[](EventStore* self) ABSL_SHARED_LOCKS_REQUIRED(self->queue_mutex_) {
            return self->shutting_down_ || !self->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // Shutting down with nothing left.
      group.reserve(std::min(queue_.size(), options_.max_group_size));
      while (!queue_.empty() && group.size() < options_.max_group_size) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    DecideGroup(group);
  }
}

absl::StatusOr<AppendResult> EventStore::DecideOne(AppendRequest& request, Overlay& group_overlay,
                                                   uint64_t& next_position, std::string& last_hash,
                                                   google::protobuf::Timestamp& last_time) {
  if (request.request_id.empty()) {
    return FieldError("request_id", "is required");
  }
  if (request.authorize) LEERLUS_RETURN_IF_ERROR(request.authorize(group_overlay));
  // A retry is answered from the record stored with the original write:
  // under the principal's own id, or, for a record written before ids were
  // scoped, under the bare id.
  const std::string record_key = RequestKey(request.principal, request.request_id);
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<internal::v1::RequestRecord> record,
      GetMessage<internal::v1::RequestRecord>(group_overlay, ColumnFamily::kRequests, record_key));
  if (!record.has_value()) {
    LEERLUS_ASSIGN_OR_RETURN(
        record, GetMessage<internal::v1::RequestRecord>(group_overlay, ColumnFamily::kRequests,
                                                        request.request_id));
  }
  auto fingerprint = [&request](KeyValueReader& state) -> absl::StatusOr<std::string> {
    if (request.keyed_fingerprint) return request.keyed_fingerprint(state);
    return request.fingerprint;
  };
  if (record.has_value()) {
    LEERLUS_ASSIGN_OR_RETURN(std::string given, fingerprint(group_overlay));
    if (record->fingerprint() != given) {
      return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                               "request_id '", request.request_id,
                               "' was already used for a different request; use a new request id")),
                           "REQUEST_ID_REUSED", {{"request_id", request.request_id}});
    }
    return AppendResult{record->response(), record->position(), /*replayed=*/true};
  }

  Overlay overlay(&group_overlay);
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> head,
                           overlay.Get(ColumnFamily::kStreams, StreamHeadKey(request.stream)));
  uint64_t version = 0;
  if (head.has_value()) {
    absl::string_view in(*head);
    LEERLUS_ASSIGN_OR_RETURN(version, ConsumeFixed64BigEndian(&in));
  }
  if (request.expected_version != 0 && request.expected_version != version) {
    return WithErrorInfo(absl::AbortedError(absl::StrCat(
                             "expected version ", request.expected_version, " of '", request.stream,
                             "' but it is at version ", version, "; re-read and retry")),
                         "VERSION_MISMATCH",
                         {{"current_version", absl::StrCat(version)},
                          {"expected_version", absl::StrCat(request.expected_version)}});
  }
  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           request.decide(DecisionContext{overlay, version, overlay}));
  if (events.empty()) return absl::InternalError("a command decided no events");

  google::protobuf::Timestamp now = google::protobuf::util::TimeUtil::GetCurrentTime();
  if (now < last_time) now = last_time;
  uint64_t position = next_position;
  std::string hash = last_hash;
  Appended appended;
  appended.first_position = position;
  for (v1::Event& event : events) {
    event.set_position(position);
    event.set_stream(request.stream);
    event.set_stream_version(++version);
    event.set_actor(request.actor);
    *event.mutable_time() = now;
    event.set_request_id(request.request_id);
    event.set_previous_hash(hash);
    std::string bytes = SerializeDeterministic(event);
    hash = Sha256Hex(bytes);
    overlay.Put(ColumnFamily::kEvents, EventKey(position), bytes);
    overlay.Put(ColumnFamily::kStreams, StreamEventKey(request.stream, version),
                EncodeFixed64BigEndian(position));
    LEERLUS_RETURN_IF_ERROR(ApplyEvent(event, overlay));
    ++position;
  }
  appended.last_position = position - 1;
  appended.stream_version = version;
  overlay.Put(ColumnFamily::kStreams, StreamHeadKey(request.stream),
              EncodeFixed64BigEndian(version));
  overlay.Put(ColumnFamily::kMeta, kHeadPositionKey, EncodeFixed64BigEndian(position - 1));
  overlay.Put(ColumnFamily::kMeta, kHeadHashKey, hash);

  LEERLUS_ASSIGN_OR_RETURN(std::string response, request.respond(appended, overlay));
  internal::v1::RequestRecord new_record;
  LEERLUS_ASSIGN_OR_RETURN(*new_record.mutable_fingerprint(), fingerprint(overlay));
  new_record.set_response(response);
  new_record.set_position(appended.last_position);
  PutMessage(overlay, ColumnFamily::kRequests, record_key, new_record);

  // Only now, with everything decided, does the append join the group.
  overlay.CommitTo(group_overlay);
  next_position = position;
  last_hash = hash;
  last_time = now;
  return AppendResult{std::move(response), appended.last_position, false};
}

void EventStore::DecideGroup(std::vector<std::shared_ptr<PendingAppend>>& group) {
  uint64_t committed;
  bool failed;
  {
    absl::MutexLock lock(&commit_mutex_);
    committed = groups_committed_;
    failed = commit_failed_;
  }
  // The groups committed since are in the database now, oldest first. If
  // one failed, ResumeWriting below empties the kept rows again.
  while (!uncommitted_writes_.empty() && uncommitted_writes_.back().first <= committed) {
    committed_rows_->Committed(*uncommitted_writes_.back().second);
    uncommitted_writes_.pop_back();
  }
  if (failed) {
    absl::Status resumed = ResumeWriting();
    if (!resumed.ok()) {
      absl::Status unavailable =
          WithErrorInfo(absl::UnavailableError(
                            absl::StrCat("the store cannot write yet (", resumed.message(),
                                         "); nothing was stored, retry with the same request_id")),
                        "STORAGE_WRITE_FAILED");
      {
        absl::MutexLock lock(&head_mutex_);
        ++stats_.failed_commits;
      }
      // Every earlier group is answered already: ResumeWriting waited.
      for (auto& pending : group) pending->done(unavailable);
      return;
    }
  }
  UncommittedReader state(uncommitted_writes_, *committed_rows_);
  Overlay group_overlay(&state);
  uint64_t next_position = next_position_;
  std::string last_hash = last_hash_;
  google::protobuf::Timestamp last_time = last_time_;
  DecidedGroup decided;
  decided.results.reserve(group.size());
  for (auto& pending : group) {
    decided.results.push_back(
        DecideOne(pending->request, group_overlay, next_position, last_hash, last_time));
  }
  decided.appends = std::move(group);
  decided.number = ++groups_decided_;
  if (!group_overlay.writes().empty()) {
    decided.writes = std::make_shared<const Overlay::Writes>(group_overlay.TakeWrites());
    decided.head = next_position - 1;
    uncommitted_writes_.emplace_front(decided.number, decided.writes);
    next_position_ = next_position;
    last_hash_ = last_hash;
    last_time_ = last_time;
  }
  // Even a group that writes nothing waits its turn: its answers (a
  // replayed response, a refusal) may rest on the groups before it.
  absl::MutexLock lock(&commit_mutex_);
  uncommitted_.push_back(std::move(decided));
}

absl::Status EventStore::ResumeWriting() {
  {
    absl::MutexLock lock(&commit_mutex_);
    const uint64_t decided = groups_decided_;
    auto all_answered = [this, decided]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mutex_) {
      return groups_committed_ == decided;
    };
    commit_mutex_.Await(absl::Condition(&all_answered));
  }
  // Decided on top of a write that failed: none of it was stored, and what
  // RocksDB holds after Resume() is read afresh.
  uncommitted_writes_.clear();
  committed_rows_->Clear();
  // After a failed write RocksDB refuses writes until resumed, and its WAL
  // may hold the refused batch. Resume() flushes the memtables and retires
  // that WAL, so the batch can never come back; the head is then reloaded
  // from what the database holds. While RocksDB recovers by itself (a full
  // disk: its SstFileManager waits for free space) Resume() is Busy, and
  // callers are told to retry.
  LEERLUS_RETURN_IF_ERROR(FromRocks(db_->Resume(), "resuming after a failed write"));
  LEERLUS_RETURN_IF_ERROR(LoadHead());
  absl::MutexLock lock(&commit_mutex_);
  commit_failed_ = false;
  return absl::OkStatus();
}

void EventStore::CommitterLoop() {
  while (true) {
    std::deque<DecidedGroup> groups;
    bool failed_before;
    {
      absl::MutexLock lock(&commit_mutex_);
      commit_mutex_.Await(absl::Condition(
          +[](EventStore* self) ABSL_SHARED_LOCKS_REQUIRED(self->commit_mutex_) {
            return self->committer_stopping_ || !self->uncommitted_.empty();
          },
          this));
      if (uncommitted_.empty()) return;  // Stopping with nothing left.
      groups.swap(uncommitted_);
      failed_before = commit_failed_;
    }
    // Every group waiting is written in one batch, with one fsync.
    const DecidedGroup* last_writing = nullptr;
    rocksdb::WriteBatch batch;
    absl::Status written;
    for (const DecidedGroup& group : groups) {
      if (group.writes == nullptr) continue;
      last_writing = &group;
      if (written.ok()) written = FillBatch(*group.writes, handles_, batch);
    }
    if (failed_before) {
      written = absl::UnavailableError("an earlier write failed");
    } else if (last_writing != nullptr && written.ok()) {
      rocksdb::WriteOptions write_options;
      write_options.sync = options_.sync;
      CrashPoint("before-write");
      written = FromRocks(db_->Write(write_options, &batch), "durable write");
      if (written.ok()) CrashPoint("after-write");
    }
    absl::Status unavailable;
    if (!written.ok()) {
      unavailable = WithErrorInfo(
          absl::UnavailableError(absl::StrCat("the change was not stored (", written.message(),
                                              "); retry with the same request_id")),
          "STORAGE_WRITE_FAILED");
    }
    // This thread is the only writer: the snapshot holds exactly the log up
    // to the last group written. Taken before the lock readers wait on.
    SharedSnapshot snapshot;
    if (last_writing != nullptr && written.ok()) snapshot = TakeSnapshot();
    {
      absl::MutexLock lock(&head_mutex_);
      if (last_writing != nullptr) {
        if (written.ok()) {
          durable_head_ = last_writing->head;
          durable_snapshot_ = std::move(snapshot);
          ++stats_.group_commits;
        } else {
          ++stats_.failed_commits;
        }
      }
      for (DecidedGroup& group : groups) {
        for (auto& result : group.results) {
          // A failed write takes every answer of its groups with it: even a
          // replayed response may rest on a group that was not stored.
          if (!written.ok() && result.ok()) result = unavailable;
          if (!result.ok()) {
            ++stats_.rejected;
          } else if (result->replayed) {
            ++stats_.replays;
          } else {
            ++stats_.appends;
            ++stats_.grouped_appends;
          }
        }
      }
    }
    for (DecidedGroup& group : groups) {
      for (size_t i = 0; i < group.appends.size(); ++i) {
        group.appends[i]->done(std::move(group.results[i]));
      }
    }
    absl::MutexLock lock(&commit_mutex_);
    if (!written.ok()) commit_failed_ = true;
    groups_committed_ += groups.size();
  }
}

void EventStore::CrashPoint(absl::string_view point) {
  if (options_.crash_at == point && ++crash_point_hits_ == options_.crash_at_hit) {
    raise(SIGKILL);  // As a power cut or kill -9 would: no cleanup at all.
  }
}

std::unique_ptr<ReadView> EventStore::OpenReadView() {
  absl::MutexLock lock(&head_mutex_);
  return std::make_unique<ReadView>(db_, handles_, durable_snapshot_, durable_head_);
}

namespace {

// One kept view, read by every question that asks for its position.
class SharedView : public ProjectionReader {
 public:
  explicit SharedView(std::shared_ptr<ProjectionReader> view) : view_(std::move(view)) {}
  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    return view_->Get(cf, key);
  }
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    return view_->Scan(cf, prefix, start, visit);
  }
  uint64_t head_position() const override { return view_->head_position(); }
  int64_t head_time_seconds() override { return view_->head_time_seconds(); }

 private:
  std::shared_ptr<ProjectionReader> view_;
};

}  // namespace

std::unique_ptr<ProjectionReader> EventStore::OpenRecentView(uint64_t position) {
  absl::MutexLock lock(&recent_views_mutex_);
  if (position != 0) {
    if (std::shared_ptr<ReadView> kept = recent_views_.Find(position)) {
      return std::make_unique<SharedView>(std::move(kept));
    }
  }
  std::shared_ptr<ReadView> live = OpenReadView();
  if (position != 0 && live->head_position() != position) return nullptr;
  // One kept view per head is enough.
  if (std::shared_ptr<ReadView> kept = recent_views_.Find(live->head_position())) {
    return std::make_unique<SharedView>(std::move(kept));
  }
  recent_views_.Keep(live);
  return std::make_unique<SharedView>(std::move(live));
}

absl::StatusOr<std::unique_ptr<ProjectionReader>> EventStore::ProjectAsOf(uint64_t position,
                                                                          absl::Time deadline) {
  int64_t time = 0;
  {
    // Not held through the replay: a snapshot keeps compactions from
    // dropping what later writes replaced.
    std::unique_ptr<ReadView> view = OpenReadView();
    if (position > view->head_position()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "position ", position, " is past the end of the log (", view->head_position(), ")"));
    }
    if (position > 0) {
      LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> head, view->ReadEvents(position, 1, ""));
      if (!head.empty()) time = head[0].time().seconds();
    }
  }
  std::string directory;
  {
    absl::MutexLock lock(&recent_views_mutex_);
    if (std::shared_ptr<PastProjection> past = past_projections_.Find(position)) {
      return std::make_unique<SharedView>(std::move(past));
    }
    // Wait for a free replay, and for a replay of this same position to
    // finish: its result is kept then, and read rather than replayed again.
    auto may_replay = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(recent_views_mutex_) {
      return replays_running_.size() < kConcurrentReplays && !replays_running_.contains(position);
    };
    if (!recent_views_mutex_.AwaitWithDeadline(absl::Condition(&may_replay), deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the call's deadline passed while waiting for a free replay of the log to position ",
          position));
    }
    if (std::shared_ptr<PastProjection> past = past_projections_.Find(position)) {
      return std::make_unique<SharedView>(std::move(past));
    }
    replays_running_.insert(position);
    directory = absl::StrCat(ScratchDirectory(), "/as-of-", position, "-", ++scratch_counter_);
  }
  absl::Cleanup done_running = [this, position] {
    absl::MutexLock lock(&recent_views_mutex_);
    replays_running_.erase(position);
  };
  {
    absl::MutexLock lock(&head_mutex_);
    ++stats_.replays_as_of;
  }
  LEERLUS_ASSIGN_OR_RETURN(std::shared_ptr<PastProjection> past,
                           PastProjection::Create(directory, position, time));
  LEERLUS_RETURN_IF_ERROR(ProjectInto(position, past->db(), past->handles(), deadline));
  // The replay's buffers are freed; give their pages back to the system
  // (glibc keeps them otherwise, and a few replays would hold the memory of
  // the largest ever).
  malloc_trim(0);
  absl::MutexLock lock(&recent_views_mutex_);
  past_projections_.Keep(past);
  return std::make_unique<SharedView>(std::move(past));
}

absl::Status EventStore::ProjectInto(uint64_t last, rocksdb::DB* db,
                                     const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                                     absl::Time deadline) {
  DatabaseReader reader(db, handles);
  Overlay projected(&reader);
  Projector projector(projected);
  auto write_projected = [&]() -> absl::Status {
    rocksdb::WriteBatch batch;
    LEERLUS_RETURN_IF_ERROR(FillBatch(projected.writes(), handles, batch));
    rocksdb::WriteOptions unlogged;
    unlogged.disableWAL = true;
    LEERLUS_RETURN_IF_ERROR(FromRocks(db->Write(unlogged, &batch), "writing projections"));
    projected.Clear();
    return absl::OkStatus();
  };
  LogReadAhead log(*this, last);
  while (true) {
    // Nobody would read the result: stop rather than hold a replay slot,
    // the CPU and the disk for seconds more.
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the call's deadline passed while replaying the log to position ", last,
                       "; ask again with a longer deadline"));
    }
    LEERLUS_ASSIGN_OR_RETURN(LogReadAhead::Chunk chunk, log.Next());
    if (chunk.events.empty()) break;
    for (const v1::Event* event : chunk.events) {
      LEERLUS_RETURN_IF_ERROR(projector.Apply(*event));
    }
    if (projector.CacheFull()) projector.Flush();
    LEERLUS_RETURN_IF_ERROR(write_projected());
  }
  projector.Flush();
  return write_projected();
}

std::string EventStore::ScratchDirectory() const { return options_.path + "/scratch"; }

absl::StatusOr<uint64_t> EventStore::PositionAtEndOfDate(absl::string_view date) {
  absl::CivilDay day;
  if (!absl::ParseCivilTime(date, &day)) {
    return absl::InvalidArgumentError(absl::StrCat("'", date, "' is not a date YYYY-MM-DD"));
  }
  const int64_t end = absl::ToUnixSeconds(absl::FromCivil(day + 1, absl::UTCTimeZone()));
  std::unique_ptr<ReadView> view = OpenReadView();
  // Event times never decrease along the log: binary search.
  uint64_t low = 0, high = view->head_position();
  while (low < high) {
    const uint64_t mid = low + (high - low + 1) / 2;
    LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> event, view->ReadEvents(mid, 1, ""));
    if (event.empty()) return absl::DataLossError(absl::StrCat("no event at position ", mid));
    if (event[0].time().seconds() < end) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return low;
}

absl::Status EventStore::PurgeDeleted(ColumnFamily cf) {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  LEERLUS_RETURN_IF_ERROR(FromRocks(db_->Flush(flush, handles_), "flushing memtables"));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(compact, handles_[static_cast<size_t>(cf)], nullptr, nullptr),
                   absl::StrCat("compacting column family ", ColumnFamilyName(cf)));
}

namespace {

// The column families of a database directory, for opening one that is not
// the live store (a checkpoint, a backup's restore).
std::vector<rocksdb::ColumnFamilyDescriptor> AllFamilies() {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (absl::string_view name : kColumnFamilyNames) {
    descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
  }
  return descriptors;
}

}  // namespace

absl::StatusOr<uint64_t> EventStore::Backup(const std::string& directory) {
  // First a checkpoint in the scratch directory (hard links, one consistent
  // moment of every family), then RocksDB's BackupEngine copies it into
  // `directory` with a checksum per file: the backup shares no file with
  // the live store, so damage to one cannot reach the other.
  const std::string checkpoint_dir =
      absl::StrCat(ScratchDirectory(), "/backup-", absl::ToUnixNanos(absl::Now()));
  absl::Cleanup remove_checkpoint = [&checkpoint_dir] {
    std::error_code ignored;
    std::filesystem::remove_all(checkpoint_dir, ignored);
  };
  {
    std::error_code error;
    std::filesystem::create_directories(ScratchDirectory(), error);
    rocksdb::Checkpoint* raw = nullptr;
    LEERLUS_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_, &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // A log_size_for_flush of 0 flushes the memtables first.
    LEERLUS_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(checkpoint_dir, 0),
                                      "writing a checkpoint for the backup"));
  }
  LEERLUS_ASSIGN_OR_RETURN(uint64_t position, HeadPositionOf(checkpoint_dir));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = false;
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(db_options, checkpoint_dir, AllFamilies(), &handles, &raw_db),
                "opening the checkpoint for the backup"));
  std::unique_ptr<rocksdb::DB> checkpoint_db(raw_db);
  absl::Cleanup close_handles = [&] {
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      rocksdb::Status ignored = checkpoint_db->DestroyColumnFamilyHandle(handle);
      (void)ignored;  // A scratch copy, removed next.
    }
  };
  rocksdb::BackupEngine* raw_engine = nullptr;
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(rocksdb::BackupEngine::Open(rocksdb::Env::Default(),
                                            rocksdb::BackupEngineOptions(directory), &raw_engine),
                absl::StrCat("opening the backup directory '", directory, "'")));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw_engine);
  rocksdb::CreateBackupOptions create;
  create.flush_before_backup = true;
  rocksdb::BackupID id = 0;
  LEERLUS_RETURN_IF_ERROR(FromRocks(
      engine->CreateNewBackupWithMetadata(create, checkpoint_db.get(), absl::StrCat(position), &id),
      absl::StrCat("writing the backup to '", directory, "'")));
  LEERLUS_RETURN_IF_ERROR(FromRocks(engine->VerifyBackup(id, /*verify_with_checksum=*/true),
                                    "verifying the backup just written"));
  return position;
}

absl::StatusOr<uint64_t> EventStore::RestoreBackup(const std::string& backup_directory,
                                                   const std::string& data_directory) {
  rocksdb::BackupEngineReadOnly* raw_engine = nullptr;
  LEERLUS_RETURN_IF_ERROR(FromRocks(
      rocksdb::BackupEngineReadOnly::Open(
          rocksdb::Env::Default(), rocksdb::BackupEngineOptions(backup_directory), &raw_engine),
      absl::StrCat("'", backup_directory, "' is not a leerlus backup")));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw_engine);
  std::vector<rocksdb::BackupInfo> backups;
  engine->GetBackupInfo(&backups);
  if (backups.empty()) {
    return absl::NotFoundError(absl::StrCat("'", backup_directory, "' holds no backup"));
  }
  // Every file against its checksum before anything is restored: a damaged
  // backup is refused whole, never restored in part.
  if (rocksdb::IOStatus verified =
          engine->VerifyBackup(backups.back().backup_id, /*verify_with_checksum=*/true);
      !verified.ok()) {
    return absl::DataLossError(
        absl::StrCat("the backup in '", backup_directory, "' is damaged: ", verified.ToString()));
  }
  LEERLUS_RETURN_IF_ERROR(FromRocks(
      engine->RestoreDBFromBackup(backups.back().backup_id, data_directory, data_directory),
      absl::StrCat("restoring '", backup_directory, "'")));
  return HeadPositionOf(data_directory);
}

absl::StatusOr<uint64_t> EventStore::HeadPositionOf(const std::string& directory) {
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = AllFamilies();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  LEERLUS_RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), directory, descriptors, &handles, &raw),
      absl::StrCat("opening '", directory, "' read-only")));
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  rocksdb::Status status =
      db->Get(rocksdb::ReadOptions(), handles[static_cast<size_t>(ColumnFamily::kMeta)],
              rocksdb::Slice(kHeadPositionKey.data(), kHeadPositionKey.size()), &value);
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    rocksdb::Status ignored = db->DestroyColumnFamilyHandle(handle);
    (void)ignored;  // Read-only handles; nothing to lose.
  }
  if (status.IsNotFound()) return uint64_t{0};
  LEERLUS_RETURN_IF_ERROR(FromRocks(status, "reading the head position"));
  absl::string_view in(value);
  return ConsumeFixed64BigEndian(&in);
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

void EventStore::ForgetRecentViews() {
  absl::MutexLock lock(&recent_views_mutex_);
  recent_views_.Clear();
  past_projections_.Clear();
}

absl::Status EventStore::RebuildProjections() {
  // Kept views read the column families dropped below.
  ForgetRecentViews();
  // Until the rebuild is complete the store is marked as holding no usable
  // projections, so an interrupted rebuild is redone at the next open.
  rocksdb::ColumnFamilyHandle* meta = handles_[static_cast<size_t>(ColumnFamily::kMeta)];
  const rocksdb::Slice format_key(kProjectionFormatKey.data(), kProjectionFormatKey.size());
  rocksdb::WriteOptions synced;
  synced.sync = options_.sync;
  LEERLUS_RETURN_IF_ERROR(FromRocks(db_->Delete(synced, meta, format_key), "rebuild start"));
  for (ColumnFamily cf : kProjectionFamilies) {
    size_t index = static_cast<size_t>(cf);
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->DropColumnFamily(handles_[index]), "dropping a projection"));
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->DestroyColumnFamilyHandle(handles_[index]), "dropping a projection"));
    handles_[index] = nullptr;
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->CreateColumnFamily(family_options_, std::string(ColumnFamilyName(cf)),
                                          &handles_[index]),
                  "recreating a projection"));
  }
  // Written without the WAL: the flush below makes the projections durable
  // before the synced marker says they are complete.
  LEERLUS_RETURN_IF_ERROR(ProjectInto(std::numeric_limits<uint64_t>::max(), db_, handles_));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  LEERLUS_RETURN_IF_ERROR(FromRocks(db_->Flush(flush, handles_), "flushing the rebuilt projections"));
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(db_->Put(synced, meta, format_key,
                         rocksdb::Slice(kProjectionFormat.data(), kProjectionFormat.size())),
                "writing the projection format"));
  // Readers need a snapshot that holds the recreated families' rows.
  absl::MutexLock lock(&head_mutex_);
  durable_snapshot_ = TakeSnapshot();
  return absl::OkStatus();
}

absl::Status EventStore::VerifyFiles() {
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;  // One pass over everything; keep the cache.
  return FromRocks(db_->VerifyChecksum(read_options), "checking the data files");
}

absl::StatusOr<uint64_t> EventStore::VerifyLog() {
  std::unique_ptr<ReadView> view = OpenReadView();
  uint64_t expected_position = 1;
  std::string previous_hash;
  // Per stream, the position of each version (index = version - 1).
  absl::flat_hash_map<std::string, std::vector<uint64_t>> stream_positions;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(view->Scan(
      ColumnFamily::kEvents, "", "", [&](absl::string_view key, absl::string_view bytes) {
        absl::StatusOr<uint64_t> position = ParseEventKey(key);
        v1::Event event;
        if (!position.ok() || !event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          problem = absl::DataLossError(
              absl::StrCat("unreadable event after position ", expected_position - 1));
          return false;
        }
        if (*position != expected_position || event.position() != *position) {
          problem = absl::DataLossError(absl::StrCat("log gap: expected position ",
                                                     expected_position, ", found ", *position));
          return false;
        }
        if (event.previous_hash() != previous_hash) {
          problem = absl::DataLossError(absl::StrCat("hash chain broken at position ", *position));
          return false;
        }
        std::vector<uint64_t>& positions = stream_positions[event.stream()];
        if (event.stream_version() != positions.size() + 1) {
          problem = absl::DataLossError(absl::StrCat("stream '", event.stream(),
                                                     "' skips a version at position ", *position));
          return false;
        }
        positions.push_back(*position);
        previous_hash = Sha256Hex(bytes);
        ++expected_position;
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  if (expected_position - 1 != view->head_position()) {
    return absl::DataLossError(absl::StrCat("log ends at ", expected_position - 1,
                                            " but the head says ", view->head_position()));
  }
  // The last event is covered by the head hash, as every other one is by
  // its successor.
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> head_hash,
                           view->Get(ColumnFamily::kMeta, kHeadHashKey));
  if (head_hash.value_or("") != previous_hash) {
    return absl::DataLossError(
        absl::StrCat("hash chain broken at the head (position ", expected_position - 1, ")"));
  }
  // One pass over the stream index: every entry points at the event of its
  // stream and version, every stream has all its entries and its head.
  absl::flat_hash_map<std::string, uint64_t> entries_seen;
  absl::flat_hash_set<std::string> heads_seen;
  LEERLUS_RETURN_IF_ERROR(view->Scan(
      ColumnFamily::kStreams, "", "", [&](absl::string_view key, absl::string_view value) {
        absl::string_view in = value;
        absl::StatusOr<uint64_t> number = ConsumeFixed64BigEndian(&in);
        if (key.find('\0') == absl::string_view::npos) {
          auto stream = stream_positions.find(key);
          if (!number.ok() || stream == stream_positions.end() ||
              *number != stream->second.size()) {
            problem = absl::DataLossError(absl::StrCat(
                "stream '", key, "' head says ", number.ok() ? absl::StrCat(*number) : "nothing",
                ", log has ",
                stream == stream_positions.end() ? 0 : stream->second.size()));
            return false;
          }
          heads_seen.insert(std::string(key));
          return true;
        }
        absl::StatusOr<StreamEventKeyParts> entry = ParseStreamEventKey(key);
        auto stream = entry.ok() ? stream_positions.find(entry->stream) : stream_positions.end();
        if (!number.ok() || stream == stream_positions.end() || entry->version == 0 ||
            entry->version > stream->second.size() ||
            stream->second[entry->version - 1] != *number) {
          problem = absl::DataLossError(
              entry.ok() ? absl::StrCat("stream '", entry->stream, "' index entry ",
                                        entry->version, " is wrong")
                         : absl::StrCat("unreadable stream index entry: ", entry.status().message()));
          return false;
        }
        ++entries_seen[entry->stream];
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  for (const auto& [stream, positions] : stream_positions) {
    if (entries_seen[stream] != positions.size()) {
      return absl::DataLossError(absl::StrCat("stream '", stream, "' index has ",
                                              entries_seen[stream], " entries, log has ",
                                              positions.size()));
    }
    if (!heads_seen.contains(stream)) {
      return absl::DataLossError(absl::StrCat("stream '", stream, "' has no head"));
    }
  }
  return expected_position - 1;
}

absl::StatusOr<std::string> EventStore::ProjectionDigest() {
  std::unique_ptr<ReadView> view = OpenReadView();
  // Hashed as it is read: the projections of a large store do not fit in
  // the server's memory budget as one string.
  Sha256Stream digest;
  for (ColumnFamily cf : kProjectionFamilies) {
    digest.Add(absl::StrCat("#", ColumnFamilyName(cf), "\n"));
    LEERLUS_RETURN_IF_ERROR(
        view->Scan(cf, "", "", [&](absl::string_view key, absl::string_view value) {
          digest.Add(absl::StrCat(key.size(), ":"));
          digest.Add(key);
          digest.Add(absl::StrCat(value.size(), ":"));
          digest.Add(value);
          return true;
        }));
  }
  return digest.HexDigest();
}

}  // namespace leerlus::storage
