// Reading the store: consistent snapshots of the log and its projections,
// projections held in memory, and views kept for later questions.
#ifndef LEERLUS_STORAGE_READ_VIEWS_H_
#define LEERLUS_STORAGE_READ_VIEWS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/merkle.h"
#include "rocksdb/db.h"
#include "storage/column_families.h"
#include "storage/key_value.h"
#include "storage/projection.h"

namespace leerlus::storage {

// A database snapshot shared by every reader of that moment; released when
// the last of them lets go.
using SharedSnapshot = std::shared_ptr<const rocksdb::Snapshot>;

// Reads of the log's own families through any reader (the state a decision
// sees, a view): the stream's current version (0: no such stream), and the
// envelope of its event at `version`.
absl::StatusOr<uint64_t> StreamVersion(KeyValueReader& state, absl::string_view stream);
// The stored nodes of the log's Merkle tree; DATA_LOSS for a missing one.
merkle::NodeReader TreeNodes(KeyValueReader& state);
absl::StatusOr<internal::v1::Envelope> StreamEventEnvelope(KeyValueReader& state,
                                                           absl::string_view stream,
                                                           uint64_t version);

// A consistent point-in-time view of the whole database.
class ReadView : public ProjectionReader {
 public:
  // `snapshot` holds the log up to `head_position`.
  ReadView(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
           SharedSnapshot snapshot, uint64_t head_position);
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override;
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override;
  uint64_t head_position() const override { return head_position_; }
  int64_t head_time_seconds() override;

  // The stored events with position >= `from`, at most `limit`, optionally only those
  // of `stream` (empty: all). Reading stops after the event that brings the
  // stored bytes read to `max_bytes`, so a page of large events is bounded
  // while it is read.
  absl::StatusOr<std::vector<StoredEvent>> ReadEvents(
      uint64_t from, size_t limit, absl::string_view stream,
      size_t max_bytes = std::numeric_limits<size_t>::max());
  // The events of `stream` from version `from_version` on, with the same
  // bounds: a long stream read in chunks without walking it from the start.
  absl::StatusOr<std::vector<StoredEvent>> ReadStreamEvents(
      absl::string_view stream, uint64_t from_version, size_t limit,
      size_t max_bytes = std::numeric_limits<size_t>::max());

  // Current version of a stream (0 if it does not exist).
  absl::StatusOr<uint64_t> StreamVersion(absl::string_view stream);

  // The envelope of the event at `position` (<= head_position()).
  absl::StatusOr<internal::v1::Envelope> EnvelopeAt(uint64_t position);

  // The log's Merkle tree (common/merkle.h) as this view holds it, for
  // sizes and positions up to head_position() (OUT_OF_RANGE beyond): the
  // leaf hash of the event at `position`, the root over the first `size`
  // events, and RFC 9162 proofs. Each reads O(log n) stored nodes.
  absl::StatusOr<merkle::Hash> TreeLeafHash(uint64_t position);
  absl::StatusOr<merkle::Hash> TreeRoot(uint64_t size);
  absl::StatusOr<std::vector<merkle::Hash>> InclusionProof(uint64_t position, uint64_t size);
  absl::StatusOr<std::vector<merkle::Hash>> ConsistencyProof(uint64_t from_size, uint64_t to_size);

 private:
  absl::StatusOr<std::vector<StoredEvent>> ReadEventsAt(const std::vector<uint64_t>& positions,
                                                        absl::string_view stream, size_t max_bytes);

  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  SharedSnapshot snapshot_;
  rocksdb::ReadOptions options_;
  uint64_t head_position_;
};

// Projections held in memory, for small logs: the fixtures, the fuzzer and
// tests that compare the projector's ways of applying events.
class MemoryProjection : public ProjectionReader {
 public:
  MemoryProjection(uint64_t head_position, int64_t head_time_seconds)
      : head_position_(head_position), head_time_seconds_(head_time_seconds), writer_(this) {}

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override;
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override;
  uint64_t head_position() const override { return head_position_; }
  int64_t head_time_seconds() override { return head_time_seconds_; }

  // Where the projector writes.
  KeyValueWriter& writer() { return writer_; }

 private:
  class Writer : public KeyValueWriter {
   public:
    explicit Writer(MemoryProjection* owner) : owner_(owner) {}
    absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf,
                                                   absl::string_view key) override {
      return owner_->Get(cf, key);
    }
    void Put(ColumnFamily cf, absl::string_view key, absl::string_view value) override {
      owner_->rows_[cf][std::string(key)] = std::string(value);
    }
    void Delete(ColumnFamily cf, absl::string_view key) override {
      owner_->rows_[cf].erase(std::string(key));
    }
    absl::Status Scan(
        ColumnFamily cf, absl::string_view prefix, absl::string_view start,
        const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
      return owner_->Scan(cf, prefix, start, visit);
    }

   private:
    MemoryProjection* owner_;
  };

  uint64_t head_position_;
  int64_t head_time_seconds_;
  std::map<ColumnFamily, std::map<std::string, std::string>> rows_;
  Writer writer_;
};

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

// Views of the projections at some positions, kept for `max_age` so that
// later questions about the same position read them again; at most
// `capacity` of them, the oldest dropped first. Not thread-safe.
template <typename View>
class KeptViews {
 public:
  KeptViews(size_t capacity, absl::Duration max_age) : capacity_(capacity), max_age_(max_age) {}
  // The kept view of `position`, or nullptr.
  std::shared_ptr<View> Find(uint64_t position) {
    const absl::Time now = absl::Now();
    while (!views_.empty() && now - views_.front().first > max_age_) views_.pop_front();
    for (const auto& [kept, view] : views_) {
      if (view->head_position() == position) return view;
    }
    return nullptr;
  }
  void Keep(std::shared_ptr<View> view) {
    views_.emplace_back(absl::Now(), std::move(view));
    if (views_.size() > capacity_) views_.pop_front();
  }
  void Clear() { views_.clear(); }

 private:
  size_t capacity_;
  absl::Duration max_age_;
  // Oldest first, each with the time it was kept.
  std::deque<std::pair<absl::Time, std::shared_ptr<View>>> views_;
};

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_READ_VIEWS_H_
