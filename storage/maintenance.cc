// Keeping the store whole: finding positions by date, purging deleted
// rows, backups and their restore, and checking the log and its files.
#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "rocksdb/utilities/backup_engine.h"
#include "rocksdb/utilities/checkpoint.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {

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
    LEERLUS_ASSIGN_OR_RETURN(internal::v1::Envelope event, view->EnvelopeAt(mid));
    if (event.time().seconds() < end) {
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
                   absl::StrCat("compacting column family ", FamilyName(cf)));
}

namespace {

// The column families of a database directory, for opening one that is not
// the live store (a checkpoint, a backup's restore).
absl::StatusOr<std::vector<rocksdb::ColumnFamilyDescriptor>> FamiliesOf(
    const std::string& directory) {
  std::vector<std::string> names;
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), directory, &names),
                absl::StrCat("listing the column families of '", directory, "'")));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::string& name : names) {
    descriptors.emplace_back(std::move(name), rocksdb::ColumnFamilyOptions());
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
  LEERLUS_ASSIGN_OR_RETURN(std::vector<rocksdb::ColumnFamilyDescriptor> families,
                           FamiliesOf(checkpoint_dir));
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::Open(db_options, checkpoint_dir, families, &handles, &raw_db),
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
  // A database without the log's own families holds no event log.
  LEERLUS_ASSIGN_OR_RETURN(std::vector<rocksdb::ColumnFamilyDescriptor> families,
                           FamiliesOf(directory));
  for (absl::string_view name : kLogFamilyNames) {
    // A log older than its Merkle tree gets one when it is opened.
    if (name == kLogFamilyNames[static_cast<size_t>(ColumnFamily::kTree)]) continue;
    if (std::none_of(families.begin(), families.end(),
                     [name](const auto& family) { return family.name == name; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", directory, "' holds no event log (no column family '", name, "')"));
    }
  }
  // Read-only, the meta family alone may be opened.
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {std::string(kLogFamilyNames[static_cast<size_t>(ColumnFamily::kMeta)]),
       rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  LEERLUS_RETURN_IF_ERROR(FromRocks(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), directory, descriptors, &handles, &raw),
      absl::StrCat("opening '", directory, "' read-only")));
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value;
  rocksdb::Status status =
      db->Get(rocksdb::ReadOptions(), handles[0],
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

absl::Status EventStore::VerifyFiles() {
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;  // One pass over everything; keep the cache.
  return FromRocks(db_->VerifyChecksum(read_options), "checking the data files");
}

namespace {

// Per stream, the position of each of its versions (index = version - 1).
using StreamPositions = absl::flat_hash_map<std::string, std::vector<uint64_t>>;

// Walks the events: positions gap-free from 1, each event chained to the
// hash of the one before, stream versions gap-free, each in the tree as
// stored. Returns the hash of the last event and the last position.
absl::StatusOr<std::pair<std::string, uint64_t>> VerifyChain(ReadView& view,
                                                             StreamPositions& streams,
                                                             TreeChecker& tree) {
  uint64_t expected_position = 1;
  std::string previous_hash;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(
      view.Scan(ColumnFamily::kEvents, "", "", [&](absl::string_view key, absl::string_view bytes) {
        absl::StatusOr<uint64_t> position = ParseEventKey(key);
        absl::StatusOr<internal::v1::Envelope> event = ParseEnvelope(bytes);
        if (!position.ok() || !event.ok()) {
          problem = absl::DataLossError(
              absl::StrCat("unreadable event after position ", expected_position - 1));
          return false;
        }
        if (*position != expected_position || event->position() != *position) {
          problem = absl::DataLossError(absl::StrCat("log gap: expected position ",
                                                     expected_position, ", found ", *position));
          return false;
        }
        if (event->previous_hash() != previous_hash) {
          problem = absl::DataLossError(
              absl::StrCat("hash chain broken at position ", *position,
                           ": it does not chain to the event before it (one of the two changed)"));
          return false;
        }
        std::vector<uint64_t>& positions = streams[event->stream()];
        if (event->stream_version() != positions.size() + 1) {
          problem = absl::DataLossError(absl::StrCat("stream '", event->stream(),
                                                     "' skips a version at position ", *position));
          return false;
        }
        problem = tree.Add(*position, bytes);
        if (!problem.ok()) return false;
        positions.push_back(*position);
        previous_hash = Sha256Hex(bytes);
        ++expected_position;
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return std::pair(std::move(previous_hash), expected_position - 1);
}

// One pass over the stream index: every entry points at the event of its
// stream and version, every stream has all its entries and its head.
absl::Status VerifyStreamIndex(ReadView& view, const StreamPositions& streams) {
  absl::flat_hash_map<std::string, uint64_t> entries_seen;
  absl::flat_hash_set<std::string> heads_seen;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(view.Scan(
      ColumnFamily::kStreams, "", "", [&](absl::string_view key, absl::string_view value) {
        absl::string_view in = value;
        absl::StatusOr<uint64_t> number = ConsumeFixed64BigEndian(&in);
        if (key.find('\0') == absl::string_view::npos) {
          auto stream = streams.find(key);
          if (!number.ok() || stream == streams.end() || *number != stream->second.size()) {
            problem = absl::DataLossError(absl::StrCat(
                "stream '", key, "' head says ", number.ok() ? absl::StrCat(*number) : "nothing",
                ", log has ", stream == streams.end() ? 0 : stream->second.size()));
            return false;
          }
          heads_seen.insert(std::string(key));
          return true;
        }
        absl::StatusOr<StreamEventKeyParts> entry = ParseStreamEventKey(key);
        auto stream = entry.ok() ? streams.find(entry->stream) : streams.end();
        if (!number.ok() || stream == streams.end() || entry->version == 0 ||
            entry->version > stream->second.size() ||
            stream->second[entry->version - 1] != *number) {
          problem = absl::DataLossError(
              entry.ok()
                  ? absl::StrCat("stream '", entry->stream, "' index entry ", entry->version,
                                 " is wrong")
                  : absl::StrCat("unreadable stream index entry: ", entry.status().message()));
          return false;
        }
        ++entries_seen[entry->stream];
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  for (const auto& [stream, positions] : streams) {
    if (entries_seen[stream] != positions.size()) {
      return absl::DataLossError(absl::StrCat("stream '", stream, "' index has ",
                                              entries_seen[stream], " entries, log has ",
                                              positions.size()));
    }
    if (!heads_seen.contains(stream)) {
      return absl::DataLossError(absl::StrCat("stream '", stream, "' has no head"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> EventStore::VerifyLog() {
  std::unique_ptr<ReadView> view = OpenReadView();
  StreamPositions streams;
  TreeChecker tree(*view);
  LEERLUS_ASSIGN_OR_RETURN(auto chain, VerifyChain(*view, streams, tree));
  const auto& [last_hash, last_position] = chain;
  if (last_position != view->head_position()) {
    return absl::DataLossError(
        absl::StrCat("log ends at ", last_position, " but the head says ", view->head_position()));
  }
  // The last event is covered by the head hash, as every other one is by
  // its successor.
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> head_hash,
                           view->Get(ColumnFamily::kMeta, kHeadHashKey));
  if (head_hash.value_or("") != last_hash) {
    return absl::DataLossError(
        absl::StrCat("hash chain broken at the head (position ", last_position, ")"));
  }
  LEERLUS_RETURN_IF_ERROR(tree.Finish(last_position));
  LEERLUS_RETURN_IF_ERROR(VerifyStreamIndex(*view, streams));
  return last_position;
}

absl::StatusOr<std::string> EventStore::ProjectionDigest() {
  std::unique_ptr<ReadView> view = OpenReadView();
  // Hashed as it is read: the projections of a large store do not fit in
  // the server's memory budget as one string.
  Sha256Stream digest;
  for (size_t i = 0; i < options_.schema.families.size(); ++i) {
    const FamilySpec& family = options_.schema.families[i];
    if (!family.projection) continue;
    const ColumnFamily cf = SchemaFamily(static_cast<int>(i));
    digest.Add(absl::StrCat("#", family.name, "\n"));
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
