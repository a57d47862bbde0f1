// Replaying the log through the projection: into a scratch database for a
// view as of a past position, or into the live families for a rebuild.
#include <malloc.h>

#include <filesystem>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {
namespace {

// A scratch database's memory: small, whatever the store's settings.
constexpr size_t kScratchBlockCacheBytes = 8 << 20;
constexpr size_t kScratchWriteBufferBytes = 8 << 20;

}  // namespace

// The log from position 1 to `last` in chunks, read on its own thread one
// chunk ahead of the caller, and decoded there by the schema's decode_chunk
// if it has one. The end of the log is a chunk with last_position 0.
class EventStore::LogReadAhead {
 public:
  struct Chunk {
    std::vector<std::string> events;  // stored bytes, in log order, unless decoded
    std::unique_ptr<DecodedChunk> decoded;
    uint64_t last_position = 0;  // 0: the end of the log
  };

  LogReadAhead(EventStore& store, uint64_t last)
      : reader_([this, &store, last] {
          uint64_t from = 1;
          while (true) {
            absl::StatusOr<Chunk> chunk = Read(store, from, last);
            const bool last_chunk = !chunk.ok() || chunk->last_position == 0;
            if (!last_chunk) from = chunk->last_position + 1;
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
        +[](LogReadAhead* self)
             ABSL_SHARED_LOCKS_REQUIRED(self->mutex_) { return !self->chunks_.empty(); },
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
    absl::Status key_status;
    // Events never change once written, so no snapshot is needed; and a
    // pass over the whole log must not push the hot blocks of live
    // questions out of the block cache.
    rocksdb::ReadOptions once;
    once.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(
        store.db_->NewIterator(once, store.handles_[static_cast<size_t>(ColumnFamily::kEvents)]));
    LEERLUS_RETURN_IF_ERROR(
        ScanIterator(*it, "", EventKey(from), [&](absl::string_view key, absl::string_view bytes) {
          absl::StatusOr<uint64_t> position = ParseEventKey(key);
          if (!position.ok()) {
            key_status = position.status();
            return false;
          }
          chunk.events.emplace_back(bytes);
          chunk.last_position = *position;
          return chunk.events.size() < limit;
        }));
    LEERLUS_RETURN_IF_ERROR(key_status);
    if (!chunk.events.empty() && store.options_.schema.decode_chunk) {
      LEERLUS_ASSIGN_OR_RETURN(chunk.decoded,
                               store.options_.schema.decode_chunk(std::move(chunk.events)));
      chunk.events.clear();
    }
    return chunk;
  }

  absl::Mutex mutex_;
  std::deque<absl::StatusOr<Chunk>> chunks_ ABSL_GUARDED_BY(mutex_);
  bool stopped_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread reader_;
};

// The projections as of a past position, in a scratch database of their
// own. Written once by ProjectInto, then only read; the directory goes with
// the last reader.
class EventStore::PastProjection : public ProjectionReader {
 public:
  static absl::StatusOr<std::shared_ptr<PastProjection>> Create(std::string directory,
                                                                const LogSchema& schema,
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
                               .write_buffer_bytes = kScratchWriteBufferBytes,
                               .schema = schema};
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
      LEERLUS_ASSIGN_OR_RETURN(internal::v1::Envelope head, view->EnvelopeAt(position));
      time = head.time().seconds();
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
                           PastProjection::Create(directory, options_.schema, position, time));
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
  std::unique_ptr<Projection> projection = options_.schema.make_projection(projected);
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
    if (chunk.last_position == 0) break;
    if (chunk.decoded != nullptr) {
      LEERLUS_RETURN_IF_ERROR(projection->ApplyDecoded(*chunk.decoded));
    }
    for (const std::string& event : chunk.events) {
      LEERLUS_RETURN_IF_ERROR(projection->Apply(event));
    }
    if (projection->WantsFlush()) projection->Flush();
    LEERLUS_RETURN_IF_ERROR(write_projected());
  }
  projection->Flush();
  return write_projected();
}

std::string EventStore::ScratchDirectory() const { return options_.path + "/scratch"; }

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
  for (size_t i = 0; i < options_.schema.families.size(); ++i) {
    const FamilySpec& family = options_.schema.families[i];
    if (!family.projection) continue;
    const size_t index = kLogFamilyCount + i;
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->DropColumnFamily(handles_[index]), "dropping a projection"));
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->DestroyColumnFamilyHandle(handles_[index]), "dropping a projection"));
    handles_[index] = nullptr;
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->CreateColumnFamily(family_options_, family.name, &handles_[index]),
                  "recreating a projection"));
  }
  // Written without the WAL: the flush below makes the projections durable
  // before the synced marker says they are complete.
  const std::string& format = options_.schema.projection_format;
  LEERLUS_RETURN_IF_ERROR(ProjectInto(std::numeric_limits<uint64_t>::max(), db_, handles_));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(db_->Flush(flush, handles_), "flushing the rebuilt projections"));
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(db_->Put(synced, meta, format_key, rocksdb::Slice(format.data(), format.size())),
                "writing the projection format"));
  // Readers need a snapshot that holds the recreated families' rows.
  absl::MutexLock lock(&head_mutex_);
  durable_snapshot_ = TakeSnapshot();
  return absl::OkStatus();
}

}  // namespace leerlus::storage
