// The log's Merkle tree (RFC 9162, common/merkle.h) over the stored bytes of
// its events: kept by every append in the same batch (append_pipeline.cc),
// built at open for a log older than the tree, read by views, checked by
// VerifyLog. It commits to the bytes as written, ciphertext included, so
// destroying a data key leaves every root and proof as it was.
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "rocksdb/write_batch.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {

namespace {

// A node below the kept levels: hashed from the (at most 8) events it covers.
absl::StatusOr<merkle::Hash> HashedNode(KeyValueReader& state, int level, uint64_t index) {
  merkle::CompactRange subtree;
  const uint64_t first = index << level;
  for (uint64_t leaf = first; leaf < first + (uint64_t{1} << level); ++leaf) {
    LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> event,
                             state.Get(ColumnFamily::kEvents, EventKey(leaf + 1)));
    if (!event.has_value()) {
      return absl::DataLossError(
          absl::StrCat("the log has no event at position ", leaf + 1, " that the tree needs"));
    }
    subtree.Append(merkle::LeafHash(*event), [](int, uint64_t, const merkle::Hash&) {});
  }
  return subtree.Root();
}

}  // namespace

merkle::NodeReader TreeNodes(KeyValueReader& state) {
  return [&state](int level, uint64_t index) -> absl::StatusOr<merkle::Hash> {
    if (!KeepsTreeLevel(level)) return HashedNode(state, level, index);
    LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> node,
                             state.Get(ColumnFamily::kTree, TreeNodeKey(level, index)));
    if (!node.has_value()) {
      return absl::DataLossError(
          absl::StrCat("the Merkle tree has no node ", level, "/", index, " that the log needs"));
    }
    return merkle::HashFromBytes(*node, "a stored tree node");
  };
}

namespace {

absl::Status BeyondHead(absl::string_view what, uint64_t value, uint64_t head) {
  return absl::OutOfRangeError(
      absl::StrCat(what, " ", value, " is beyond the log's head (", head, ")"));
}

}  // namespace

absl::StatusOr<merkle::Hash> ReadView::TreeLeafHash(uint64_t position) {
  if (position == 0) return absl::InvalidArgumentError("positions start at 1");
  if (position > head_position_) return BeyondHead("position", position, head_position_);
  return TreeNodes(*this)(0, position - 1);
}

absl::StatusOr<merkle::Hash> ReadView::TreeRoot(uint64_t size) {
  if (size > head_position_) return BeyondHead("tree size", size, head_position_);
  return merkle::RootAt(size, TreeNodes(*this));
}

absl::StatusOr<std::vector<merkle::Hash>> ReadView::InclusionProof(uint64_t position,
                                                                   uint64_t size) {
  if (size > head_position_) return BeyondHead("tree size", size, head_position_);
  if (position == 0 || position > size) {
    return absl::InvalidArgumentError(
        absl::StrCat("position ", position, " is not in a tree of ", size, " events"));
  }
  return merkle::InclusionProof(position - 1, size, TreeNodes(*this));
}

absl::StatusOr<std::vector<merkle::Hash>> ReadView::ConsistencyProof(uint64_t from_size,
                                                                     uint64_t to_size) {
  if (to_size > head_position_) return BeyondHead("tree size", to_size, head_position_);
  if (from_size == 0 || from_size > to_size) {
    return absl::InvalidArgumentError(absl::StrCat("no consistency proof from tree size ",
                                                   from_size, " to ", to_size,
                                                   " (needs 0 < from <= to)"));
  }
  return merkle::ConsistencyProof(from_size, to_size, TreeNodes(*this));
}

absl::Status TreeChecker::Add(uint64_t position, absl::string_view bytes) {
  absl::Status problem;
  range_.Append(merkle::LeafHash(bytes), [&](int level, uint64_t index, const merkle::Hash& hash) {
    if (!problem.ok() || !KeepsTreeLevel(level)) return;
    absl::StatusOr<std::optional<std::string>> stored =
        stored_.Get(ColumnFamily::kTree, TreeNodeKey(level, index));
    if (!stored.ok()) {
      problem = stored.status();
    } else if (!stored->has_value() || **stored != merkle::AsBytes(hash)) {
      const uint64_t first = (index << level) + 1;
      problem = absl::DataLossError(absl::StrCat(
          "the Merkle tree's node over positions ", first, "..", first + (uint64_t{1} << level) - 1,
          " does not match the events stored there (first differing position ", position,
          " or before)"));
    }
  });
  return problem;
}

absl::Status TreeChecker::Finish(uint64_t head) {
  // On each kept level, the first node that would reach past the head, and
  // every one after it, must be absent.
  for (int level = kLowestKeptTreeLevel; level < 64; ++level) {
    const std::string level_prefix = TreeNodeKey(level, 0).substr(0, 1);
    bool beyond = false;
    LEERLUS_RETURN_IF_ERROR(stored_.Scan(ColumnFamily::kTree, level_prefix,
                                         TreeNodeKey(level, head >> level),
                                         [&beyond](absl::string_view, absl::string_view) {
                                           beyond = true;
                                           return false;
                                         }));
    if (beyond) {
      return absl::DataLossError(
          absl::StrCat("the Merkle tree holds nodes beyond the log's head (", head, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EventStore::StoredTreeSize() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<size_t>(ColumnFamily::kTree)]));
  it->SeekForPrev(TreeNodeKey(kLowestKeptTreeLevel, std::numeric_limits<uint64_t>::max()));
  LEERLUS_RETURN_IF_ERROR(FromRocks(it->status(), "reading the Merkle tree"));
  if (!it->Valid()) return 0;
  LEERLUS_ASSIGN_OR_RETURN(TreeNodeKeyParts key,
                           ParseTreeNodeKey(absl::string_view(it->key().data(), it->key().size())));
  if (key.level != kLowestKeptTreeLevel) return 0;
  if (key.index >= std::numeric_limits<uint64_t>::max() >> kLowestKeptTreeLevel) {
    return absl::DataLossError("the Merkle tree holds a node beyond any log");
  }
  return (key.index + 1) << kLowestKeptTreeLevel;
}

// Stores written when every level was kept: their lower nodes are hashed
// from the events now, and dropped once.
absl::Status EventStore::DropUnkeptTreeLevels() {
  rocksdb::ColumnFamilyHandle* tree = handles_[static_cast<size_t>(ColumnFamily::kTree)];
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), tree));
  it->SeekToFirst();
  LEERLUS_RETURN_IF_ERROR(FromRocks(it->status(), "reading the Merkle tree"));
  const std::string kept_from = TreeNodeKey(kLowestKeptTreeLevel, 0);
  if (!it->Valid() || it->key().compare(kept_from) >= 0) return absl::OkStatus();
  return FromRocks(db_->DeleteRange(rocksdb::WriteOptions(), tree, TreeNodeKey(0, 0), kept_from),
                   "dropping the Merkle tree's lower levels");
}

absl::Status EventStore::LoadTree(uint64_t head) {
  LEERLUS_RETURN_IF_ERROR(DropUnkeptTreeLevels());
  LEERLUS_ASSIGN_OR_RETURN(uint64_t stored, StoredTreeSize());
  if (stored > head) {
    return absl::DataLossError(
        absl::StrCat("the Merkle tree holds ", stored, " events but the log ends at ", head));
  }
  DatabaseReader database(db_, handles_);
  LEERLUS_ASSIGN_OR_RETURN(merkle::CompactRange range,
                           merkle::CompactRange::Load(stored, TreeNodes(database)));
  // The events after the last kept node, or a whole log written before it
  // kept a tree: hashed once, in synced chunks.
  std::unique_ptr<ReadView> view = OpenReadView();
  bool wrote = false;
  while (range.size() < head) {
    LEERLUS_ASSIGN_OR_RETURN(std::vector<StoredEvent> events,
                             view->ReadEvents(range.size() + 1, kTreeBuildChunk, ""));
    if (events.empty()) {
      return absl::DataLossError(
          absl::StrCat("the log has no event at position ", range.size() + 1));
    }
    rocksdb::WriteBatch batch;
    for (const StoredEvent& event : events) {
      if (event.position != range.size() + 1 || event.position > head) {
        return absl::DataLossError(
            absl::StrCat("the log has no event at position ", range.size() + 1));
      }
      range.Append(
          merkle::LeafHash(event.bytes), [&](int level, uint64_t index, const merkle::Hash& hash) {
            if (!KeepsTreeLevel(level)) return;
            const absl::string_view value = merkle::AsBytes(hash);
            // Into an in-memory batch: fails only when out of memory.
            rocksdb::Status put =
                batch.Put(handles_[static_cast<size_t>(ColumnFamily::kTree)],
                          TreeNodeKey(level, index), rocksdb::Slice(value.data(), value.size()));
            (void)put;
          });
    }
    if (batch.Count() == 0) continue;
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    LEERLUS_RETURN_IF_ERROR(
        FromRocks(db_->Write(write_options, &batch), "writing the Merkle tree"));
    wrote = true;
  }
  tail_.tree = std::move(range);
  if (wrote) {
    absl::MutexLock lock(&head_mutex_);
    durable_snapshot_ = TakeSnapshot();
  }
  return absl::OkStatus();
}

absl::Status EventStore::RebuildTree() {
  ForgetRecentViews();
  rocksdb::WriteOptions synced;
  synced.sync = options_.sync;
  // Level bytes stay far below 0xff: this range holds every node.
  LEERLUS_RETURN_IF_ERROR(
      FromRocks(db_->DeleteRange(synced, handles_[static_cast<size_t>(ColumnFamily::kTree)],
                                 TreeNodeKey(0, 0), std::string(1, '\xff')),
                "dropping the Merkle tree"));
  tail_.tree = merkle::CompactRange();
  tree_status_ = LoadTree(tail_.next_position - 1);
  // Readers must not see the dropped nodes, even when a short log gets none.
  absl::MutexLock lock(&head_mutex_);
  durable_snapshot_ = TakeSnapshot();
  return tree_status_;
}

absl::Status EventStore::KeepCheckpoint(uint64_t tree_size, absl::string_view note) {
  const std::string key = CheckpointKey(tree_size);
  return FromRocks(db_->Put(rocksdb::WriteOptions(), handles_[static_cast<size_t>(ColumnFamily::kMeta)],
                            key, rocksdb::Slice(note.data(), note.size())),
                   "keeping a checkpoint");
}

absl::Status EventStore::ScanCheckpoints(
    const std::function<bool(uint64_t tree_size, absl::string_view note)>& visit) {
  absl::Status problem;
  DatabaseReader database(db_, handles_);
  LEERLUS_RETURN_IF_ERROR(database.Scan(
      ColumnFamily::kMeta, kCheckpointPrefix, "", [&](absl::string_view key, absl::string_view note) {
        key.remove_prefix(kCheckpointPrefix.size());
        absl::StatusOr<uint64_t> size = ConsumeFixed64BigEndian(&key);
        if (!size.ok()) {
          problem = size.status();
          return false;
        }
        return visit(*size, note);
      }));
  return problem;
}

absl::StatusOr<std::optional<std::pair<uint64_t, std::string>>> EventStore::LatestCheckpoint() {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<size_t>(ColumnFamily::kMeta)]));
  it->SeekForPrev(CheckpointKey(std::numeric_limits<uint64_t>::max()));
  LEERLUS_RETURN_IF_ERROR(FromRocks(it->status(), "reading the latest checkpoint"));
  if (!it->Valid() ||
      !it->key().starts_with(rocksdb::Slice(kCheckpointPrefix.data(), kCheckpointPrefix.size()))) {
    return std::nullopt;
  }
  absl::string_view key(it->key().data() + kCheckpointPrefix.size(),
                        it->key().size() - kCheckpointPrefix.size());
  LEERLUS_ASSIGN_OR_RETURN(uint64_t size, ConsumeFixed64BigEndian(&key));
  return std::pair(size, it->value().ToString());
}

}  // namespace leerlus::storage
