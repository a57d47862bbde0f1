// Files written durably: whole or not at all, with the mode asked for, and
// never a temporary file left behind.
#include "common/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "tests/test_util.h"

namespace leerlus {
namespace {

using ::testing::HasSubstr;

int Entries(const std::string& directory) {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(directory)) {
    ++count;
  }
  return count;
}

TEST(WriteFileDurablyTest, ReplacesTheFileWholeWithTheModeAskedFor) {
  testing::TempDir dir;
  const std::string path = dir.File("state");
  ASSERT_OK(WriteFileDurably(path, "first\n", 0600));
  EXPECT_EQ(testing::ReadFile(path), "first\n");
  ASSERT_OK(WriteFileDurably(path, "second\n", 0600));
  EXPECT_EQ(testing::ReadFile(path), "second\n");
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(Entries(dir.path()), 1);
}

TEST(WriteFileDurablyTest, AFailureNamesThePathAndLeavesTheOldFileAndNoTemporary) {
  testing::TempDir dir;
  const absl::Status nowhere = WriteFileDurably(dir.File("missing/state"), "x", 0600);
  EXPECT_FALSE(nowhere.ok());
  EXPECT_THAT(std::string(nowhere.message()), HasSubstr(dir.File("missing/state")));

  // A directory in the way: the rename fails after the temporary was written.
  ASSERT_TRUE(std::filesystem::create_directory(dir.File("state")));
  testing::WriteFile(dir.File("state/kept"), "kept");
  const absl::Status blocked = WriteFileDurably(dir.File("state"), "x", 0600);
  EXPECT_FALSE(blocked.ok());
  EXPECT_THAT(std::string(blocked.message()), HasSubstr(dir.File("state")));
  EXPECT_EQ(testing::ReadFile(dir.File("state/kept")), "kept");
  EXPECT_EQ(Entries(dir.path()), 1);
}

}  // namespace
}  // namespace leerlus
