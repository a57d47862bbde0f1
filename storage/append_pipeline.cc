// The write path: appends queue, the writer decides them in groups, the
// committer writes each group with one fsync and answers its appends.
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/serialize.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "leerlus/internal/v1/records.pb.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {

absl::StatusOr<AppendResult> EventStore::Append(AppendRequest request) {
  return Submit(std::move(request)).get();
}

std::future<absl::StatusOr<AppendResult>> EventStore::Submit(AppendRequest request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<AppendResult>>>();
  std::future<absl::StatusOr<AppendResult>> future = promise->get_future();
  Submit(std::move(request),
         [promise](absl::StatusOr<AppendResult> result) { promise->set_value(std::move(result)); });
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

namespace {

// The fingerprint that identifies the request's content.
absl::StatusOr<std::string> Fingerprint(const AppendRequest& request, KeyValueReader& state) {
  if (request.keyed_fingerprint) return request.keyed_fingerprint(state);
  return request.fingerprint;
}

// A retry's answer from the record stored with the original write: under
// the principal's own id, or, for a record written before ids were scoped,
// under the bare id. nullopt: not a retry.
absl::StatusOr<std::optional<AppendResult>> AnswerRetry(const AppendRequest& request,
                                                        const std::string& record_key,
                                                        KeyValueReader& state) {
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<internal::v1::RequestRecord> record,
      GetMessage<internal::v1::RequestRecord>(state, ColumnFamily::kRequests, record_key));
  if (!record.has_value()) {
    LEERLUS_ASSIGN_OR_RETURN(record, GetMessage<internal::v1::RequestRecord>(
                                         state, ColumnFamily::kRequests, request.request_id));
  }
  if (!record.has_value()) return std::nullopt;
  LEERLUS_ASSIGN_OR_RETURN(std::string given, Fingerprint(request, state));
  if (record->fingerprint() != given) {
    return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                             "request_id '", request.request_id,
                             "' was already used for a different request; use a new request id")),
                         "REQUEST_ID_REUSED", {{"request_id", request.request_id}});
  }
  return AppendResult{record->response(), record->position(), /*replayed=*/true};
}

// The stream's current version, if it is the one the request expects.
absl::StatusOr<uint64_t> CheckedStreamVersion(const AppendRequest& request, KeyValueReader& state) {
  LEERLUS_ASSIGN_OR_RETURN(uint64_t version, StreamVersion(state, request.stream));
  if (request.expected_version != 0 && request.expected_version != version) {
    return WithErrorInfo(absl::AbortedError(absl::StrCat(
                             "expected version ", request.expected_version, " of '", request.stream,
                             "' but it is at version ", version, "; re-read and retry")),
                         "VERSION_MISMATCH",
                         {{"current_version", absl::StrCat(version)},
                          {"expected_version", absl::StrCat(request.expected_version)}});
  }
  return version;
}

// Where the next event goes: the log's next position, the hash it chains
// to, the tree it joins, the stream's version before it, and the time
// events get.
struct LogCursor {
  uint64_t position = 0;
  std::string hash;
  merkle::CompactRange tree;
  uint64_t version = 0;
  google::protobuf::Timestamp time;
};

// Adds the event's leaf to the tree, with every kept node it completes.
void AddToTree(absl::string_view bytes, merkle::CompactRange& tree, Overlay& overlay) {
  tree.Append(merkle::LeafHash(bytes),
              [&overlay](int level, uint64_t index, const merkle::Hash& hash) {
                if (!KeepsTreeLevel(level)) return;
                overlay.Put(ColumnFamily::kTree, TreeNodeKey(level, index), merkle::AsBytes(hash));
              });
}

// Writes `bodies` as the stream's next events (envelope, stream index
// entry, tree nodes, projection) and moves the log head; advances `cursor`.
absl::StatusOr<Appended> WriteEvents(const AppendRequest& request,
                                     const std::vector<std::string>& bodies,
                                     const LogSchema& schema, LogCursor& cursor, Overlay& overlay) {
  std::unique_ptr<Projection> projection = schema.make_projection(overlay);
  internal::v1::Envelope envelope;
  envelope.set_stream(request.stream);
  envelope.set_actor(request.actor);
  *envelope.mutable_time() = cursor.time;
  envelope.set_request_id(request.request_id);
  Appended appended;
  appended.first_position = cursor.position;
  for (const std::string& body : bodies) {
    envelope.set_position(cursor.position);
    envelope.set_stream_version(++cursor.version);
    envelope.set_previous_hash(cursor.hash);
    LEERLUS_ASSIGN_OR_RETURN(std::string bytes, ComposeEvent(envelope, body));
    cursor.hash = Sha256Hex(bytes);
    AddToTree(bytes, cursor.tree, overlay);
    LEERLUS_RETURN_IF_ERROR(projection->Apply(bytes));
    overlay.Put(ColumnFamily::kEvents, EventKey(cursor.position), bytes);
    overlay.Put(ColumnFamily::kStreams, StreamEventKey(request.stream, cursor.version),
                EncodeFixed64BigEndian(cursor.position));
    ++cursor.position;
  }
  projection->Flush();
  appended.last_position = cursor.position - 1;
  appended.stream_version = cursor.version;
  overlay.Put(ColumnFamily::kStreams, StreamHeadKey(request.stream),
              EncodeFixed64BigEndian(cursor.version));
  overlay.Put(ColumnFamily::kMeta, kHeadPositionKey,
              EncodeFixed64BigEndian(appended.last_position));
  overlay.Put(ColumnFamily::kMeta, kHeadHashKey, cursor.hash);
  return appended;
}

// Counts an append's answer in the write path's statistics.
void CountAnswer(const absl::StatusOr<AppendResult>& result, StoreStats& stats) {
  if (!result.ok()) {
    ++stats.rejected;
  } else if (result->replayed) {
    ++stats.replays;
  } else {
    ++stats.appends;
    ++stats.grouped_appends;
  }
}

}  // namespace

absl::StatusOr<AppendResult> EventStore::DecideOne(AppendRequest& request, Overlay& group_overlay,
                                                   LogTail& tail) {
  if (request.request_id.empty()) {
    return FieldError("request_id", "is required");
  }
  if (request.authorize) LEERLUS_RETURN_IF_ERROR(request.authorize(group_overlay));
  const std::string record_key = RequestKey(request.principal, request.request_id);
  LEERLUS_ASSIGN_OR_RETURN(std::optional<AppendResult> retry,
                           AnswerRetry(request, record_key, group_overlay));
  if (retry.has_value()) return *std::move(retry);

  if (tail.tree.size() != tail.next_position - 1) {
    return absl::UnavailableError(absl::StrCat("the log's Merkle tree is not whole (",
                                               tree_status_.message(),
                                               "); nothing was stored: run leerlusd --verify"));
  }
  Overlay overlay(&group_overlay);
  LogCursor cursor;
  cursor.position = tail.next_position;
  cursor.hash = tail.last_hash;
  cursor.tree = tail.tree;
  LEERLUS_ASSIGN_OR_RETURN(cursor.version, CheckedStreamVersion(request, overlay));
  LEERLUS_ASSIGN_OR_RETURN(std::vector<std::string> bodies,
                           request.decide(DecisionContext{overlay, cursor.version, overlay}));
  if (bodies.empty()) return absl::InternalError("a command decided no events");
  cursor.time = google::protobuf::util::TimeUtil::GetCurrentTime();
  if (cursor.time < tail.last_time) cursor.time = tail.last_time;
  LEERLUS_ASSIGN_OR_RETURN(Appended appended,
                           WriteEvents(request, bodies, options_.schema, cursor, overlay));

  LEERLUS_ASSIGN_OR_RETURN(std::string response, request.respond(appended, overlay));
  internal::v1::RequestRecord new_record;
  LEERLUS_ASSIGN_OR_RETURN(*new_record.mutable_fingerprint(), Fingerprint(request, overlay));
  new_record.set_response(response);
  new_record.set_position(appended.last_position);
  PutMessage(overlay, ColumnFamily::kRequests, record_key, new_record);

  // Only now, with everything decided, does the append join the group.
  overlay.CommitTo(group_overlay);
  tail.next_position = cursor.position;
  tail.last_hash = std::move(cursor.hash);
  tail.last_time = cursor.time;
  tail.tree = std::move(cursor.tree);
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
  LogTail tail = tail_;
  DecidedGroup decided;
  decided.results.reserve(group.size());
  for (auto& pending : group) {
    decided.results.push_back(DecideOne(pending->request, group_overlay, tail));
  }
  decided.appends = std::move(group);
  decided.number = ++groups_decided_;
  if (!group_overlay.writes().empty()) {
    decided.writes = std::make_shared<const Overlay::Writes>(group_overlay.TakeWrites());
    decided.head = tail.next_position - 1;
    uncommitted_writes_.emplace_front(decided.number, decided.writes);
    tail_ = std::move(tail);
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
      Failpoint("before-write");
      written = FromRocks(db_->Write(write_options, &batch), "durable write");
      if (written.ok()) Failpoint("after-write");
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
          CountAnswer(result, stats_);
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

void EventStore::Failpoint(absl::string_view point) {
  if (options_.failpoints != nullptr) options_.failpoints->Reached(point);
}

}  // namespace leerlus::storage
