// The checkpoint state file: every checkpoint signed is in it, owner-only,
// before it is handed out; at start an older copy of the data directory,
// or one whose history differs from what was signed, is refused, and a
// checkpoint signed but not kept in the data is taken back as the latest.
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/signed_note.h"
#include "core/transparency.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

using ::testing::HasSubstr;

class CheckpointStateTest : public StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    key_ = note::GenerateKey("test.leerlus.nl/log")->first;
  }

  // A Transparency over the store with the log key `key`, loaded.
  std::unique_ptr<core::Transparency> Load(const std::string& key,
                                           absl::StatusOr<std::string>* loaded) {
    auto transparency = std::make_unique<core::Transparency>(
        store_.get(), core::TransparencyOptions{.signer = *note::ParseSignerKey(key),
                                                .checkpoint_state = state_});
    *loaded = transparency->Load();
    return transparency;
  }
  std::unique_ptr<core::Transparency> Load() {
    absl::StatusOr<std::string> loaded;
    std::unique_ptr<core::Transparency> transparency = Load(key_, &loaded);
    EXPECT_OK(loaded);
    EXPECT_EQ(loaded.value_or(""), "");
    return transparency;
  }

  // A checkpoint of the whole log, as GetCheckpoint hands it out.
  v1::Checkpoint Sign(core::Transparency& transparency) {
    v1::GetCheckpointRequest request;
    request.set_min_tree_size(store_->HeadPosition());
    absl::StatusOr<v1::GetCheckpointResponse> response =
        transparency.GetCheckpoint(request, caller_);
    EXPECT_OK(response);
    return response.ok() ? response->checkpoint() : v1::Checkpoint();
  }

  // The data directory as it is now, to be put back by Restore.
  void CopyData(const std::string& name) {
    Close();
    std::filesystem::copy(dir_.File("db"), dir_.File(name),
                          std::filesystem::copy_options::recursive);
    Open();
  }
  void Restore(const std::string& name) {
    Close();
    std::filesystem::remove_all(dir_.File("db"));
    std::filesystem::copy(dir_.File(name), dir_.File("db"),
                          std::filesystem::copy_options::recursive);
    Open();
  }

  std::string key_;
  std::string state_ = dir_.File("log.key.checkpoint");
};

TEST_F(CheckpointStateTest, EveryCheckpointIsInTheStateFileOwnerOnlyBeforeItIsHandedOut) {
  DefineCatalogue();
  std::unique_ptr<core::Transparency> transparency = Load();
  const v1::Checkpoint first = Sign(*transparency);
  EXPECT_EQ(first.tree_size(), store_->HeadPosition());
  EXPECT_EQ(ReadFile(state_), first.signed_note());
  struct stat info {};
  ASSERT_EQ(::stat(state_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  CreateExperiment("e0");
  const v1::Checkpoint second = Sign(*transparency);
  EXPECT_GT(second.tree_size(), first.tree_size());
  EXPECT_EQ(ReadFile(state_), second.signed_note());
}

TEST_F(CheckpointStateTest, AStateFileThatCannotBeWrittenFailsTheSigningAndHandsOutNothing) {
  state_ = dir_.File("state/log.key.checkpoint");
  ASSERT_TRUE(std::filesystem::create_directory(dir_.File("state")));
  DefineCatalogue();
  std::unique_ptr<core::Transparency> transparency = Load();
  std::filesystem::remove_all(dir_.File("state"));
  absl::StatusOr<v1::GetCheckpointResponse> response =
      transparency->GetCheckpoint(v1::GetCheckpointRequest(), caller_);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr(state_));
  EXPECT_FALSE(transparency->Latest().has_value());
  EXPECT_FALSE(store_->LatestCheckpoint()->has_value());

  // Nor does a server start that could not write it.
  absl::StatusOr<std::string> loaded;
  Load(key_, &loaded);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
}

TEST_F(CheckpointStateTest, AnOlderCopyOfTheDataIsRefusedNamingTheMissingEvents) {
  DefineCatalogue();
  Sign(*Load());
  const uint64_t copied = store_->HeadPosition();
  CopyData("older");
  CreateExperiment("e0");
  CreateExperiment("e1");
  const uint64_t signed_size = Sign(*Load()).tree_size();
  ASSERT_EQ(signed_size, copied + 2);
  CopyData("newer");

  Restore("older");
  absl::StatusOr<std::string> loaded;
  Load(key_, &loaded);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(absl::StrCat("the log ends at position ", copied,
                                     ", but this log key already signed a checkpoint of ",
                                     signed_size, " events (kept in ", state_, ")")));
  EXPECT_THAT(std::string(loaded.status().message()),
              HasSubstr(absl::StrCat("events ", copied + 1, "..", signed_size, " are missing")));

  // The same events written again are another history: refused too.
  CreateExperiment("other0");
  CreateExperiment("other1");
  ASSERT_EQ(store_->HeadPosition(), signed_size);
  Load(key_, &loaded);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(
      std::string(loaded.status().message()),
      HasSubstr(absl::StrCat("differs from what this log key signed at tree size ", signed_size)));

  Restore("newer");
  EXPECT_EQ(Load()->Latest()->tree_size(), signed_size);
}

TEST_F(CheckpointStateTest, ACheckpointSignedButNotKeptInTheDataBecomesTheLatestAgain) {
  DefineCatalogue();
  CopyData("unsigned");
  const v1::Checkpoint signed_now = Sign(*Load());
  Restore("unsigned");
  ASSERT_FALSE(store_->LatestCheckpoint()->has_value());
  std::unique_ptr<core::Transparency> transparency = Load();
  ASSERT_TRUE(transparency->Latest().has_value());
  EXPECT_EQ(transparency->Latest()->signed_note(), signed_now.signed_note());
  EXPECT_EQ((*store_->LatestCheckpoint())->second, signed_now.signed_note());
}

TEST_F(CheckpointStateTest, AStateFileOfAnotherKeyIsIgnoredWithAWarningAndReplaced) {
  DefineCatalogue();
  Sign(*Load());
  const std::string old_state = ReadFile(state_);
  key_ = note::GenerateKey("next.leerlus.nl/log")->first;
  absl::StatusOr<std::string> loaded;
  std::unique_ptr<core::Transparency> transparency = Load(key_, &loaded);
  ASSERT_OK(loaded);
  EXPECT_THAT(*loaded, HasSubstr(absl::StrCat("the checkpoint state file ", state_,
                                              " holds a checkpoint signed by another log key")));
  const v1::Checkpoint next = Sign(*transparency);
  EXPECT_EQ(next.origin(), "next.leerlus.nl/log");
  EXPECT_EQ(ReadFile(state_), next.signed_note());
  EXPECT_NE(ReadFile(state_), old_state);
}

// A data directory that kept checkpoints before the state file existed
// fills it at the first start.
TEST_F(CheckpointStateTest, AMissingStateFileIsFilledFromTheLatestKept) {
  DefineCatalogue();
  const v1::Checkpoint kept = Sign(*Load());
  std::filesystem::remove(state_);
  Load();
  EXPECT_EQ(ReadFile(state_), kept.signed_note());
}

}  // namespace
}  // namespace leerlus::testing
