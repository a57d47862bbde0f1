// The event log on its own, with a toy schema: events carry a word, and the
// projection counts words. Links storage alone: the log must work for any
// schema, knowing nothing of experiments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "rocksdb/db.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "tests/test_util.h"

namespace leerlus::storage {
namespace {

using google::protobuf::internal::WireFormatLite;
using ::leerlus::testing::TempDir;

constexpr int kWordField = kFirstBodyField;
constexpr ColumnFamily kWords = SchemaFamily(0);  // word -> count, a projection
constexpr ColumnFamily kNotes = SchemaFamily(1);  // state of its own

// A body holding one word.
std::string WordBody(absl::string_view word) {
  std::string body;
  {
    google::protobuf::io::StringOutputStream stream(&body);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.WriteTag(WireFormatLite::MakeTag(kWordField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
    out.WriteVarint32(static_cast<uint32_t>(word.size()));
    out.WriteRaw(word.data(), static_cast<int>(word.size()));
  }
  return body;
}

// The word of a stored event: the envelope's fields are skipped.
absl::StatusOr<std::string> WordOf(absl::string_view event) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(event.data()),
                                            static_cast<int>(event.size()));
  while (const uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == kWordField) {
      std::string word;
      if (!WireFormatLite::ReadString(&in, &word)) break;
      return word;
    }
    if (!WireFormatLite::SkipField(&in, tag)) break;
  }
  return absl::DataLossError("an event without a word");
}

class WordCount : public Projection {
 public:
  explicit WordCount(KeyValueWriter& out) : out_(out) {}
  absl::Status Apply(absl::string_view event) override {
    absl::StatusOr<std::string> word = WordOf(event);
    if (!word.ok()) return word.status();
    absl::StatusOr<std::optional<std::string>> count = out_.Get(kWords, *word);
    if (!count.ok()) return count.status();
    int value = 0;
    if (count->has_value() && !absl::SimpleAtoi(**count, &value)) {
      return absl::DataLossError("a count that is not a number");
    }
    out_.Put(kWords, *word, absl::StrCat(value + 1));
    return absl::OkStatus();
  }
  absl::Status ApplyDecoded(const DecodedChunk& chunk) override {
    for (const std::string& event : static_cast<const Words&>(chunk).events) {
      absl::Status applied = Apply(event);
      if (!applied.ok()) return applied;
    }
    return absl::OkStatus();
  }
  void Flush() override {}
  bool WantsFlush() const override { return false; }

  // The toy's decoded chunk: the stored events as they are.
  struct Words : DecodedChunk {
    std::vector<std::string> events;
  };

 private:
  KeyValueWriter& out_;
};

LogSchema WordSchema(std::string format = "words-1") {
  LogSchema schema;
  schema.families = {{.name = "words", .hot = true}, {.name = "notes", .projection = false}};
  schema.projection_format = std::move(format);
  schema.make_projection = [](KeyValueWriter& out) -> std::unique_ptr<Projection> {
    return std::make_unique<WordCount>(out);
  };
  schema.decode_chunk =
      [](std::vector<std::string> events) -> absl::StatusOr<std::unique_ptr<DecodedChunk>> {
    auto words = std::make_unique<WordCount::Words>();
    words->events = std::move(events);
    return words;
  };
  return schema;
}

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(std::string format = "words-1") {
    store_.reset();
    absl::StatusOr<std::unique_ptr<EventStore>> store = EventStore::Open(
        {.path = dir_.File("db"), .schema = WordSchema(std::move(format)), .failpoints = &seen_});
    ASSERT_OK(store);
    store_ = std::move(*store);
  }

  // Appends `word` to `stream` under `request_id`; `note` is written beside.
  absl::StatusOr<AppendResult> Say(std::string stream, std::string word, std::string request_id,
                                   uint64_t expected_version = 0, std::string note = "") {
    AppendRequest request;
    request.stream = std::move(stream);
    request.request_id = std::move(request_id);
    request.principal = "tester";
    request.fingerprint = word;
    request.expected_version = expected_version;
    request.decide =
        [word, note](const DecisionContext& context) -> absl::StatusOr<std::vector<std::string>> {
      if (!note.empty()) context.side_writes.Put(kNotes, word, note);
      return std::vector<std::string>{WordBody(word)};
    };
    request.respond = [](const Appended& appended, KeyValueReader&) -> absl::StatusOr<std::string> {
      return absl::StrCat(appended.last_position);
    };
    return store_->Append(std::move(request));
  }

  std::string Count(ProjectionReader& view, absl::string_view word) {
    absl::StatusOr<std::optional<std::string>> count = view.Get(kWords, word);
    EXPECT_OK(count);
    return count.ok() ? count->value_or("0") : "";
  }

  // The families of the (closed) store's database by name.
  using Families = testing::FamilyByName;
  // Opens the closed store's RocksDB directly for `edit`, as someone with
  // the disk would.
  void EditDatabase(const std::function<void(rocksdb::DB*, const Families&)>& edit) {
    testing::EditRocksDb(dir_.File("db"), edit);
  }

  // The stored bytes of every event, in position order.
  std::vector<std::string> StoredBytes() {
    absl::StatusOr<std::vector<StoredEvent>> events =
        store_->OpenReadView()->ReadEvents(1, 1000, "");
    EXPECT_OK(events);
    std::vector<std::string> bytes;
    if (events.ok()) {
      for (StoredEvent& event : *events) bytes.push_back(std::move(event.bytes));
    }
    return bytes;
  }

  // Records the failpoints the write path passes.
  class SeenFailpoints : public Failpoints {
   public:
    void Reached(absl::string_view point) override { points.emplace_back(point); }
    std::vector<std::string> points;
  };

  TempDir dir_;
  SeenFailpoints seen_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(EventLogTest, AppendsGetGapFreePositionsVersionsAndTheirProjection) {
  ASSERT_OK(Say("a", "hello", "r1"));
  ASSERT_OK(Say("b", "hello", "r2"));
  absl::StatusOr<AppendResult> third = Say("a", "world", "r3");
  ASSERT_OK(third);
  EXPECT_EQ(third->position, 3u);
  std::unique_ptr<ReadView> view = store_->OpenReadView();
  EXPECT_EQ(view->head_position(), 3u);
  EXPECT_EQ(Count(*view, "hello"), "2");
  EXPECT_EQ(Count(*view, "world"), "1");
  absl::StatusOr<uint64_t> version = view->StreamVersion("a");
  ASSERT_OK(version);
  EXPECT_EQ(*version, 2u);
  absl::StatusOr<std::vector<StoredEvent>> stream = view->ReadStreamEvents("a", 1, 10);
  ASSERT_OK(stream);
  ASSERT_EQ(stream->size(), 2u);
  absl::StatusOr<internal::v1::Envelope> envelope = ParseEnvelope((*stream)[1].bytes);
  ASSERT_OK(envelope);
  EXPECT_EQ(envelope->position(), 3u);
  EXPECT_EQ(envelope->stream_version(), 2u);
  EXPECT_EQ(envelope->request_id(), "r3");
  EXPECT_EQ(*WordOf((*stream)[1].bytes), "world");
  // Each group passed both failpoints, in order.
  ASSERT_GE(seen_.points.size(), 2u);
  EXPECT_EQ(seen_.points[0], "before-write");
  EXPECT_EQ(seen_.points[1], "after-write");
}

TEST_F(EventLogTest, ARetryIsAnsweredFromItsRecordAndAnotherRequestUnderItsIdIsRefused) {
  ASSERT_OK(Say("a", "hello", "r1"));
  absl::StatusOr<AppendResult> retry = Say("a", "hello", "r1");
  ASSERT_OK(retry);
  EXPECT_TRUE(retry->replayed);
  EXPECT_EQ(retry->response, "1");
  absl::StatusOr<AppendResult> reused = Say("a", "other", "r1");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->HeadPosition(), 1u);
}

TEST_F(EventLogTest, AStaleExpectedVersionIsRefusedAndWritesNothing) {
  ASSERT_OK(Say("a", "hello", "r1"));
  EXPECT_EQ(Say("a", "again", "r2", /*expected_version=*/5).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_OK(Say("a", "again", "r3", /*expected_version=*/1));
  EXPECT_EQ(store_->HeadPosition(), 2u);
}

TEST_F(EventLogTest, AnAppendNotAuthorisedLearnsNothingOfTheStream) {
  ASSERT_OK(Say("a", "hello", "r1"));
  AppendRequest request;
  request.stream = "a";
  request.request_id = "r1";  // a retry's id, and a wrong version: neither is looked at
  request.principal = "tester";
  request.expected_version = 9;
  request.authorize = [](KeyValueReader&) { return absl::PermissionDeniedError("not yours"); };
  request.decide = [](const DecisionContext&) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{WordBody("x")};
  };
  request.respond = [](const Appended&, KeyValueReader&) -> absl::StatusOr<std::string> {
    return std::string();
  };
  EXPECT_EQ(store_->Append(std::move(request)).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(EventLogTest, ABodyHoldingEnvelopeFieldsIsRefusedWhole) {
  internal::v1::Envelope forged;
  forged.set_actor("someone else");
  // Before the body's own fields, after them, or a body that does not parse.
  for (const std::string& body : {forged.SerializeAsString() + WordBody("x"),
                                  WordBody("x") + forged.SerializeAsString(),
                                  WordBody("x").substr(0, 2), std::string()}) {
    AppendRequest request;
    request.stream = "a";
    request.request_id = "r1";
    request.decide = [body](const DecisionContext&) -> absl::StatusOr<std::vector<std::string>> {
      return std::vector<std::string>{body};
    };
    request.respond = [](const Appended&, KeyValueReader&) -> absl::StatusOr<std::string> {
      return std::string();
    };
    EXPECT_EQ(store_->Append(std::move(request)).status().code(), absl::StatusCode::kInternal);
  }
  EXPECT_EQ(store_->HeadPosition(), 0u);
  EXPECT_EQ(Count(*store_->OpenReadView(), "x"), "0");
}

TEST_F(EventLogTest, ARebuildGivesTheSameProjectionAndKeepsTheSchemasOwnState) {
  ASSERT_OK(Say("a", "hello", "r1", 0, "a note"));
  ASSERT_OK(Say("b", "hello", "r2"));
  absl::StatusOr<std::string> before = store_->ProjectionDigest();
  ASSERT_OK(before);
  ASSERT_OK(store_->RebuildProjections());
  absl::StatusOr<std::string> after = store_->ProjectionDigest();
  ASSERT_OK(after);
  EXPECT_EQ(*after, *before);
  std::unique_ptr<ReadView> view = store_->OpenReadView();
  EXPECT_EQ(Count(*view, "hello"), "2");
  absl::StatusOr<std::optional<std::string>> note = view->Get(kNotes, "hello");
  ASSERT_OK(note);
  EXPECT_EQ(note->value_or(""), "a note");
  absl::StatusOr<uint64_t> events = store_->VerifyLog();
  ASSERT_OK(events);
  EXPECT_EQ(*events, 2u);
}

TEST_F(EventLogTest, AStoreOpenedWithAnotherProjectionFormatRebuildsIt) {
  ASSERT_OK(Say("a", "hello", "r1"));
  Open("words-2");
  EXPECT_TRUE(store_->projections_rebuilt_at_open());
  EXPECT_EQ(Count(*store_->OpenReadView(), "hello"), "1");
  Open("words-2");
  EXPECT_FALSE(store_->projections_rebuilt_at_open());
}

TEST_F(EventLogTest, AViewAsOfAPastPositionIsReplayedFromTheLog) {
  ASSERT_OK(Say("a", "hello", "r1"));
  ASSERT_OK(Say("a", "hello", "r2"));
  ASSERT_OK(Say("a", "world", "r3"));
  absl::StatusOr<std::unique_ptr<ProjectionReader>> past = store_->ProjectAsOf(1);
  ASSERT_OK(past);
  EXPECT_EQ((*past)->head_position(), 1u);
  EXPECT_EQ(Count(**past, "hello"), "1");
  EXPECT_EQ(Count(**past, "world"), "0");
}

TEST_F(EventLogTest, AChangedEventBreaksTheHashChain) {
  ASSERT_OK(Say("a", "hello", "r1"));
  ASSERT_OK(Say("a", "world", "r2"));
  store_.reset();
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    std::string first;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), family("events"), EventKey(1), &first).ok());
    first.back() ^= 1;  // the last byte of the word
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("events"), EventKey(1), first).ok());
  });
  Open();
  absl::StatusOr<uint64_t> verified = store_->VerifyLog();
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kDataLoss);
  // The next event no longer chains to it.
  EXPECT_THAT(std::string(verified.status().message()),
              ::testing::HasSubstr("hash chain broken at position 2"));
}

TEST_F(EventLogTest, ABackupRestoresTheLogAndItsState) {
  ASSERT_OK(Say("a", "hello", "r1", 0, "a note"));
  absl::StatusOr<uint64_t> backed_up = store_->Backup(dir_.File("backup"));
  ASSERT_OK(backed_up);
  EXPECT_EQ(*backed_up, 1u);
  absl::StatusOr<uint64_t> restored =
      EventStore::RestoreBackup(dir_.File("backup"), dir_.File("restored"));
  ASSERT_OK(restored);
  EXPECT_EQ(*restored, 1u);
  absl::StatusOr<std::unique_ptr<EventStore>> copy =
      EventStore::Open({.path = dir_.File("restored"), .schema = WordSchema()});
  ASSERT_OK(copy);
  std::unique_ptr<ReadView> view = (*copy)->OpenReadView();
  EXPECT_EQ(Count(*view, "hello"), "1");
  absl::StatusOr<std::optional<std::string>> note = view->Get(kNotes, "hello");
  ASSERT_OK(note);
  EXPECT_EQ(note->value_or(""), "a note");
}

// The tree's leaves are the stored bytes, and its roots and proofs agree
// with a tree built here from those bytes (common/merkle.h is checked
// against RFC 9162 on its own), from kept nodes and from nodes hashed again
// from the events alike. A refused append leaves no leaf.
TEST_F(EventLogTest, TheTreeCoversTheStoredBytesAndItsProofsVerify) {
  constexpr int kEvents = 37;  // kept nodes over 1..16, 17..32 and 1..32
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_OK(Say(absl::StrCat("s", i % 3), absl::StrCat("w", i), absl::StrCat("r", i)));
    if (i == 4) {
      EXPECT_EQ(Say("s0", "refused", "r-refused", /*expected_version=*/99).status().code(),
                absl::StatusCode::kAborted);
    }
  }
  const std::vector<std::string> bytes = StoredBytes();
  ASSERT_EQ(bytes.size(), size_t{kEvents});
  std::unique_ptr<ReadView> view = store_->OpenReadView();
  merkle::CompactRange expected;
  for (uint64_t size = 1; size <= bytes.size(); ++size) {
    expected.Append(merkle::LeafHash(bytes[size - 1]), [](int, uint64_t, const merkle::Hash&) {});
    absl::StatusOr<merkle::Hash> root = view->TreeRoot(size);
    ASSERT_OK(root);
    ASSERT_EQ(*root, expected.Root()) << size;
    for (uint64_t position = 1; position <= size; ++position) {
      absl::StatusOr<std::vector<merkle::Hash>> proof = view->InclusionProof(position, size);
      ASSERT_OK(proof);
      EXPECT_OK(merkle::VerifyInclusion(position - 1, size, merkle::LeafHash(bytes[position - 1]),
                                        *proof, *root));
      absl::StatusOr<std::vector<merkle::Hash>> consistency =
          view->ConsistencyProof(position, size);
      ASSERT_OK(consistency);
      EXPECT_OK(merkle::VerifyConsistency(position, size, *view->TreeRoot(position), *root,
                                          *consistency));
    }
  }
  EXPECT_EQ(*view->TreeLeafHash(3), merkle::LeafHash(bytes[2]));
  EXPECT_EQ(view->TreeRoot(kEvents + 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(view->InclusionProof(1, kEvents + 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(view->InclusionProof(0, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(view->InclusionProof(6, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(view->ConsistencyProof(6, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(view->ConsistencyProof(0, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_OK(store_->VerifyLog());
}

TEST_F(EventLogTest, ALogOlderThanItsTreeGetsItWhenOpened) {
  for (int i = 0; i < 40; ++i) ASSERT_OK(Say("a", absl::StrCat("w", i), absl::StrCat("r", i)));
  const merkle::Hash root = *store_->OpenReadView()->TreeRoot(40);
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    ASSERT_TRUE(db->DropColumnFamily(family("tree")).ok());
  });
  Open();
  EXPECT_EQ(*store_->OpenReadView()->TreeRoot(40), root);
  ASSERT_OK(Say("a", "after", "r-after"));
  EXPECT_OK(store_->VerifyLog());
  EXPECT_EQ(*store_->OpenReadView()->TreeRoot(40), root);
}

// Stores written when every level of the tree was kept: the lower levels
// are dropped at open, and roots and proofs stay as they were.
TEST_F(EventLogTest, TheTreesLowerLevelsAreNotKept) {
  for (int i = 0; i < 20; ++i) ASSERT_OK(Say("a", absl::StrCat("w", i), absl::StrCat("r", i)));
  const merkle::Hash root = *store_->OpenReadView()->TreeRoot(20);
  store_.reset();
  std::vector<std::string> kept_keys;
  auto tree_keys = [&kept_keys](rocksdb::DB* db, const Families& family) {
    kept_keys.clear();
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family("tree")));
    for (it->SeekToFirst(); it->Valid(); it->Next()) kept_keys.push_back(it->key().ToString());
  };
  EditDatabase(tree_keys);
  EXPECT_EQ(kept_keys, std::vector<std::string>{TreeNodeKey(4, 0)});
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    for (uint64_t leaf = 0; leaf < 20; ++leaf) {
      ASSERT_TRUE(
          db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(0, leaf), "old leaf").ok());
    }
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(3, 1), "old").ok());
  });
  Open();
  EXPECT_EQ(*store_->OpenReadView()->TreeRoot(20), root);
  EXPECT_OK(store_->VerifyLog());
  store_.reset();
  EditDatabase(tree_keys);
  EXPECT_EQ(kept_keys, std::vector<std::string>{TreeNodeKey(4, 0)});
}

TEST_F(EventLogTest, AChangedTreeNodeOrANodeBeyondTheHeadIsFound) {
  // Kept nodes over 1..16, 17..32 and 1..32.
  for (int i = 0; i < 40; ++i) ASSERT_OK(Say("a", absl::StrCat("w", i), absl::StrCat("r", i)));
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    std::string node;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), family("tree"), TreeNodeKey(4, 1), &node).ok());
    node[0] ^= 1;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 1), node).ok());
  });
  Open();
  EXPECT_THAT(std::string(store_->VerifyLog().status().message()),
              ::testing::HasSubstr("node over positions 17..32 does not match"));

  // A tree that cannot be loaded still opens for VerifyLog to report, and
  // refuses appends: no leaf lands at the wrong place.
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    std::string node;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), family("tree"), TreeNodeKey(4, 0), &node).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 2), node).ok());
  });
  Open();
  EXPECT_EQ(store_->tree_status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Say("a", "refused", "r-refused").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_->HeadPosition(), 40u);
  EXPECT_EQ(store_->VerifyLog().status().code(), absl::StatusCode::kDataLoss);

  // A node beyond the head on a higher level is found too.
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 2)).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(6, 0), "x").ok());
    std::string node;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), family("tree"), TreeNodeKey(4, 1), &node).ok());
    node[0] ^= 1;  // undone
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 1), node).ok());
  });
  Open();
  EXPECT_THAT(std::string(store_->VerifyLog().status().message()),
              ::testing::HasSubstr("holds nodes beyond the log's head (40)"));

  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(6, 0)).ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(5, 0)).ok());
  });
  Open();
  EXPECT_EQ(store_->tree_status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store_->VerifyLog().status().message()),
              ::testing::HasSubstr("node over positions 1..32 does not match"));
}

TEST_F(EventLogTest, ADamagedTreeIsRebuiltFromTheEvents) {
  for (int i = 0; i < 40; ++i) ASSERT_OK(Say("a", absl::StrCat("w", i), absl::StrCat("r", i)));
  const merkle::Hash root = *store_->OpenReadView()->TreeRoot(40);
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 1), "x").ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(5, 0)).ok());
  });
  Open();
  EXPECT_EQ(store_->tree_status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_->VerifyLog().status().code(), absl::StatusCode::kDataLoss);

  ASSERT_OK(store_->RebuildTree());
  EXPECT_OK(store_->tree_status());
  EXPECT_OK(store_->VerifyLog());
  EXPECT_EQ(*store_->OpenReadView()->TreeRoot(40), root);
  ASSERT_OK(Say("a", "after", "r-after"));
  Open();
  EXPECT_OK(store_->tree_status());
  EXPECT_OK(store_->VerifyLog());
  EXPECT_EQ(*store_->OpenReadView()->TreeRoot(40), root);
}

// A log shorter than the lowest kept level gets no node back: the rebuild
// still leaves readers without the dropped ones.
TEST_F(EventLogTest, AShortLogsTreeRebuildDropsANodeBeyondItsHead) {
  for (int i = 0; i < 5; ++i) ASSERT_OK(Say("a", absl::StrCat("w", i), absl::StrCat("r", i)));
  store_.reset();
  EditDatabase([](rocksdb::DB* db, const Families& family) {
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), family("tree"), TreeNodeKey(4, 0), std::string(32, 'x'))
            .ok());
  });
  Open();
  EXPECT_EQ(store_->tree_status().code(), absl::StatusCode::kDataLoss);
  ASSERT_OK(store_->RebuildTree());
  EXPECT_OK(store_->VerifyLog());
  ASSERT_OK(Say("a", "after", "r-after"));
}

TEST(EventLogSchemaTest, ADatabaseWithoutTheLogsFamiliesHasNoHead) {
  TempDir dir;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.File("other"), &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "a", "b").ok());
  delete db;
  EXPECT_EQ(EventStore::HeadPositionOf(dir.File("other")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventLogSchemaTest, AStoreWithoutAProjectionIsRefused) {
  TempDir dir;
  EXPECT_EQ(EventStore::Open({.path = dir.File("db")}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace leerlus::storage
