// EventStore: the append-only event log and its projections in one RocksDB
// database.
//
// Appends are serialized through one writer thread that group-commits: all
// appends waiting when it wakes are decided in order (each seeing the
// effects of the ones before it). A second thread, the committer, writes
// each decided group as one synced WriteBatch (events, stream index,
// request ids, projections) and then answers its appends, so concurrent
// appends share one fsync. Meanwhile the writer decides the next group on
// top of the groups still being written. Append() returns only after its
// write is on disk.
//
//   auto store = EventStore::Open({.path = "/var/lib/leerlus", .schema = schema});
//   AppendRequest request;
//   request.stream = "orders/o1";
//   request.request_id = "7f0c...";
//   request.decide = [](const DecisionContext& ctx) -> ... { return bodies; };
//   request.respond = [](const Appended& a, KeyValueReader& s) -> ... { ... };
//   absl::StatusOr<AppendResult> result = (*store)->Append(std::move(request));
//
// Reads go through a ReadView: a consistent RocksDB snapshot that knows the
// log position it reflects.
#ifndef LEERLUS_STORAGE_EVENT_STORE_H_
#define LEERLUS_STORAGE_EVENT_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/merkle.h"
#include "rocksdb/db.h"
#include "storage/column_families.h"
#include "storage/failpoints.h"
#include "storage/key_value.h"
#include "storage/projection.h"
#include "storage/read_views.h"

namespace leerlus::storage {

struct StoreOptions {
  // Directory of the RocksDB database; created if missing.
  std::string path;
  // Sync every group commit to disk before acknowledging. Only tests that
  // prove the harness can see a missing fsync turn this off.
  bool sync = true;
  // Most appends decided and written in one group.
  size_t max_group_size = 1024;
  // Memory: one block cache for every column family, and one budget for all
  // their memtables (RocksDB flushes when it is reached).
  size_t block_cache_bytes = 32 << 20;
  size_t write_buffer_bytes = 32 << 20;
  // What the log stores beside its events, and how events are projected.
  LogSchema schema = {};
  // Optional RocksDB environment (tests inject fault-injecting file systems).
  rocksdb::Env* env = nullptr;
  // Optional: told when the write path passes its failpoints (tests).
  Failpoints* failpoints = nullptr;
};

// What a decision sees: the current state (the schema's families, requests)
// including the effects of earlier appends of the same group.
struct DecisionContext {
  KeyValueReader& state;
  // The stream's current version (0: the stream does not exist yet).
  uint64_t stream_version = 0;
  // Writes beside the events and projections (to the schema's families
  // that are not projections). They join the same atomic batch, and only
  // if the decision succeeds.
  KeyValueWriter& side_writes;
};

// Positions assigned to a successful append's events.
struct Appended {
  uint64_t first_position = 0;
  uint64_t last_position = 0;
  uint64_t stream_version = 0;
};

struct AppendRequest {
  // Stream the events belong to, e.g. "orders/o1".
  std::string stream;
  // Idempotency key; required.
  std::string request_id;
  // Who sent it (a token id): request ids are scoped to it (AIP-155), so
  // one principal can neither claim nor replay another's ids.
  std::string principal;
  // Identifies the request's content (method and message without request
  // id): the same id with another fingerprint is REQUEST_ID_REUSED.
  std::string fingerprint;
  // Optional, used instead of `fingerprint` when set: a fingerprint that
  // depends on the state (say, keyed by a secret the state holds and may
  // destroy). Called on the state
  // before the decision to check a retry, and after it to store.
  std::function<absl::StatusOr<std::string>(KeyValueReader&)> keyed_fingerprint;
  // Non-zero: the stream must be at exactly this version.
  uint64_t expected_version = 0;
  // Authenticated caller; becomes every event's actor.
  std::string actor;
  // Whether the caller may make this change, decided on the state the
  // change would apply to, before anything else about it is looked at (its
  // request record, the stream's version): a caller who may not touch the
  // stream learns nothing of it. Optional.
  std::function<absl::Status(KeyValueReader&)> authorize;
  // Decides the events from the current state; runs on the writer thread
  // and must only read through the context. Returns each event's body:
  // serialized fields numbered kFirstBodyField or above (the log adds the
  // envelope).
  std::function<absl::StatusOr<std::vector<std::string>>(const DecisionContext&)> decide;
  // Builds the serialized response once the events are applied; it is
  // stored with the request id and returned to retries.
  std::function<absl::StatusOr<std::string>(const Appended&, KeyValueReader&)> respond;
};

struct AppendResult {
  // The serialized response (the original one for a retry).
  std::string response;
  // Position of the request's last event.
  uint64_t position = 0;
  // True if this was a retry answered from the stored request record.
  bool replayed = false;
};

using AppendDone = std::function<void(absl::StatusOr<AppendResult>)>;

// Counters of the write path since the store opened.
struct StoreStats {
  uint64_t appends = 0;          // Successful appends (not replays).
  uint64_t replays = 0;          // Retries answered from a request record.
  uint64_t rejected = 0;         // Appends refused by their decision.
  uint64_t group_commits = 0;    // Synced RocksDB writes (one fsync each).
  uint64_t failed_commits = 0;   // Writes that failed (nothing acknowledged).
  uint64_t grouped_appends = 0;  // Appends written in those commits.
  uint64_t replays_as_of = 0;    // Past projections replayed from the log (ProjectAsOf).
};

class EventStore {
 public:
  static absl::StatusOr<std::unique_ptr<EventStore>> Open(const StoreOptions& options);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends atomically and durably; see the file comment. Errors: the
  // decision's error; ALREADY_EXISTS (REQUEST_ID_REUSED); ABORTED (version
  // mismatch); UNAVAILABLE (the write failed; nothing was acknowledged).
  absl::StatusOr<AppendResult> Append(AppendRequest request);

  // The same without waiting: the future is ready once the append is
  // durable or refused. Callers with many appends (a streamed import) keep
  // many in flight without a thread each, and they share group commits.
  std::future<absl::StatusOr<AppendResult>> Submit(AppendRequest request);
  // The same, calling `done` once the append is durable or refused. It runs
  // on the store's committer thread (or the caller's, when the store is
  // shutting down), so it must be quick.
  void Submit(AppendRequest request, AppendDone done);

  // A snapshot of the current state.
  std::unique_ptr<ReadView> OpenReadView();

  // A view as of `position` (0: the head) without replaying the log: the
  // current state if `position` is the head, or a view of a recent head
  // that an earlier call opened (kept for kRecentViewSeconds, at most
  // kRecentViews of them). So the questions of one report, asked as of the
  // position of its first answer, read one state even while appends go on.
  // nullptr if no such view is kept: replay with ProjectAsOf.
  std::unique_ptr<ProjectionReader> OpenRecentView(uint64_t position);
  static constexpr int kRecentViewSeconds = 120;
  static constexpr size_t kRecentViews = 8;

  // The projections as of `position` (<= the head), replayed from the log
  // into a scratch database under the data directory, so that memory stays
  // bounded however long the log. The result is kept for
  // kRecentViewSeconds (at most kPastProjections of them): later questions
  // about the same position read it without replaying, and questions asked
  // while it is replayed wait for it. At most kConcurrentReplays replay at
  // once; more wait their turn. Past `deadline` (the caller's) waiting or
  // replaying stops with DEADLINE_EXCEEDED, and nothing is kept.
  absl::StatusOr<std::unique_ptr<ProjectionReader>> ProjectAsOf(
      uint64_t position, absl::Time deadline = absl::InfiniteFuture());
  static constexpr size_t kPastProjections = 2;
  static constexpr size_t kConcurrentReplays = 2;

  // The last position whose event was appended before the end of `date`
  // (YYYY-MM-DD, UTC); 0 if none.
  absl::StatusOr<uint64_t> PositionAtEndOfDate(absl::string_view date);

  // Last durable position.
  uint64_t HeadPosition() const;

  // Write-path counters.
  StoreStats Stats() const;

  // A RocksDB integer property (e.g. "rocksdb.total-sst-files-size"),
  // summed over the column families; 0 if unknown.
  uint64_t IntProperty(const std::string& name) const;

  // Blocks until the head passes `position`, the deadline passes or the
  // store shuts down; returns the head then.
  uint64_t WaitForHeadAbove(uint64_t position, absl::Time deadline) const;

  // Drops every projection and replays the whole log through the projection.
  // Call before serving (appends are refused meanwhile).
  absl::Status RebuildProjections();
  // True if Open found projections in an older layout and rebuilt them.
  bool projections_rebuilt_at_open() const { return projections_rebuilt_at_open_; }
  // Why the Merkle tree could not be loaded at open (OK: it was): such a
  // store serves no appends; VerifyLog says what is wrong.
  const absl::Status& tree_status() const { return tree_status_; }
  // Drops the Merkle tree's nodes and hashes them again from the events.
  // The tree holds nothing the events do not: this repairs damage to it, and
  // proves nothing about the events (signed checkpoints do). Call before
  // serving.
  absl::Status RebuildTree();

  // Walks the log: positions gap-free from 1, each event's previous_hash
  // equal to the hash of the event before, stream versions gap-free, every
  // stream index entry pointing at its event, the Merkle tree's every leaf
  // and node as the events give them and none beyond the head. Returns the
  // number of events.
  absl::StatusOr<uint64_t> VerifyLog();

  // Signed heads of the log's tree (checkpoints), opaque to the store and
  // kept beside the log by tree size, so that they can be checked against
  // the tree later (a rewritten history no longer matches them). Kept
  // without a sync of their own: a crash loses at most the latest, which
  // its signer can sign again.
  absl::Status KeepCheckpoint(uint64_t tree_size, absl::string_view note);
  // The kept checkpoints in tree-size order, until `visit` returns false.
  absl::Status ScanCheckpoints(
      const std::function<bool(uint64_t tree_size, absl::string_view note)>& visit);
  // The one with the largest tree size, if any.
  absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> LatestCheckpoint();

  // Reads every data file of every family, request records and keys
  // included, and checks each block's checksum: damage in a family that
  // neither VerifyLog nor ProjectionDigest reads is DATA_LOSS here.
  absl::Status VerifyFiles();

  // Hex SHA-256 over every projection family's keys and values: equal
  // digests mean byte-identical views.
  absl::StatusOr<std::string> ProjectionDigest();

  // Makes deleted entries of `cf` physically gone: flushes every memtable
  // (so no live WAL file still holds them) and compacts `cf` down to its
  // last level (so no SST file does).
  absl::Status PurgeDeleted(ColumnFamily cf);

  // Writes a consistent backup of the database to `directory`, which must
  // not exist: RocksDB's BackupEngine format, every file an independent
  // copy with its checksum (none shared with the live store), verified once
  // written. Returns the last log position it holds. Appends continue
  // meanwhile.
  absl::StatusOr<uint64_t> Backup(const std::string& directory);

  // Restores the backup in `backup_directory` into `data_directory` (new or
  // empty) after checking every file against its checksum; DATA_LOSS for a
  // damaged backup, which restores nothing. Returns the position it holds.
  static absl::StatusOr<uint64_t> RestoreBackup(const std::string& backup_directory,
                                                const std::string& data_directory);

  // The log head recorded in a (closed) database directory, read-only.
  static absl::StatusOr<uint64_t> HeadPositionOf(const std::string& directory);

  // Stops accepting appends, finishes the queued ones, wakes waiters.
  void Shutdown();

 private:
  struct PendingAppend;
  struct DecidedGroup;
  class DatabaseReader;
  class CommittedRows;
  class UncommittedReader;
  // The writes of groups decided but not yet committed, newest first, each
  // with its group number.
  using UncommittedWrites = std::deque<std::pair<uint64_t, std::shared_ptr<const Overlay::Writes>>>;
  class LogReadAhead;
  class PastProjection;

  EventStore(const StoreOptions& options, const rocksdb::ColumnFamilyOptions& family_options,
             rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles);
  // Where the log ends, as the writer extends it.
  struct LogTail {
    uint64_t next_position = 1;
    // The hash the next event chains to.
    std::string last_hash;
    // Event times never go backwards, even if the clock does: "as of a
    // date" searches rely on it.
    google::protobuf::Timestamp last_time;
    // The right edge of the Merkle tree over the events so far.
    merkle::CompactRange tree;
  };

  absl::Status LoadHead();
  absl::Status EnsureProjectionFormat();
  void ForgetRecentViews();
  // Projects the log from position 1 to `last` into the (empty) projection
  // families of `db`: read a chunk ahead on a second thread, written in
  // key-ordered batches without the WAL. The caller makes them durable if
  // they must be. Checks `deadline` before each chunk.
  absl::Status ProjectInto(uint64_t last, rocksdb::DB* db,
                           const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                           absl::Time deadline = absl::InfiniteFuture());
  std::string ScratchDirectory() const;
  void WriterLoop();
  void DecideGroup(std::vector<std::shared_ptr<PendingAppend>>& group);
  // After a failed write: waits until every decided group is answered,
  // resumes RocksDB and reloads the head from what it holds.
  absl::Status ResumeWriting();
  void CommitterLoop();
  // A snapshot of the database as it is now.
  SharedSnapshot TakeSnapshot();
  void Failpoint(absl::string_view point);
  std::string FamilyName(ColumnFamily cf) const;
  absl::StatusOr<AppendResult> DecideOne(AppendRequest& request, Overlay& group_overlay,
                                         LogTail& tail);
  // The leaves the stored Merkle tree's kept nodes cover.
  absl::StatusOr<uint64_t> StoredTreeSize();
  absl::Status DropUnkeptTreeLevels();
  // Loads the tree's right edge for a log of `head` events, first hashing
  // the events of a log older than the tree into it.
  absl::Status LoadTree(uint64_t head);
  static constexpr size_t kTreeBuildChunk = 10000;

  StoreOptions options_;
  bool projections_rebuilt_at_open_ = false;
  absl::Status tree_status_;
  rocksdb::ColumnFamilyOptions family_options_;
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  mutable absl::Mutex queue_mutex_;
  std::deque<std::shared_ptr<PendingAppend>> queue_ ABSL_GUARDED_BY(queue_mutex_);
  bool shutting_down_ ABSL_GUARDED_BY(queue_mutex_) = false;

  absl::Mutex recent_views_mutex_;
  KeptViews<ReadView> recent_views_ ABSL_GUARDED_BY(recent_views_mutex_){
      kRecentViews, absl::Seconds(kRecentViewSeconds)};
  KeptViews<PastProjection> past_projections_ ABSL_GUARDED_BY(recent_views_mutex_){
      kPastProjections, absl::Seconds(kRecentViewSeconds)};
  // The positions being replayed now.
  absl::flat_hash_set<uint64_t> replays_running_ ABSL_GUARDED_BY(recent_views_mutex_);
  uint64_t scratch_counter_ ABSL_GUARDED_BY(recent_views_mutex_) = 0;

  // Groups decided but not yet written, oldest first.
  absl::Mutex commit_mutex_;
  std::deque<DecidedGroup> uncommitted_ ABSL_GUARDED_BY(commit_mutex_);
  // How many decided groups the committer has finished (written or
  // failed); it finishes them in order.
  uint64_t groups_committed_ ABSL_GUARDED_BY(commit_mutex_) = 0;
  // A write failed: the groups decided after it build on state that was
  // never stored, so they fail too until the writer resumes.
  bool commit_failed_ ABSL_GUARDED_BY(commit_mutex_) = false;
  bool committer_stopping_ ABSL_GUARDED_BY(commit_mutex_) = false;

  mutable absl::Mutex head_mutex_;
  // The durable head and a snapshot that holds exactly the log up to it:
  // what every new ReadView reads.
  uint64_t durable_head_ ABSL_GUARDED_BY(head_mutex_) = 0;
  SharedSnapshot durable_snapshot_ ABSL_GUARDED_BY(head_mutex_);
  StoreStats stats_ ABSL_GUARDED_BY(head_mutex_);
  bool closed_ ABSL_GUARDED_BY(head_mutex_) = false;

  // Owned by the writer thread (and by Open/Rebuild before it starts).
  LogTail tail_;
  // Writer thread only: decisions read these over the database.
  UncommittedWrites uncommitted_writes_;
  // Writer thread only: the rows nearly every append reads, as committed.
  std::unique_ptr<CommittedRows> committed_rows_;
  // Writer thread only: groups decided so far.
  uint64_t groups_decided_ = 0;
  // Groups decided and not yet committed, at most: one being written, one
  // waiting.
  static constexpr uint64_t kGroupsInFlight = 2;

  std::thread writer_;
  std::thread committer_;
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_EVENT_STORE_H_
