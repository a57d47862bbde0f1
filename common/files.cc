#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/aead.h"

namespace leerlus {
namespace {

absl::Status Failed(const std::string& path, absl::string_view doing) {
  return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", path, " (", doing, ")"));
}

bool WriteAll(int fd, absl::string_view content) {
  while (!content.empty()) {
    const ssize_t put = ::write(fd, content.data(), content.size());
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    content.remove_prefix(static_cast<size_t>(put));
  }
  return true;
}

}  // namespace

absl::Status WriteFileDurably(const std::string& path, absl::string_view content, mode_t mode) {
  // A random name, so that writers of the same file never share one and a
  // file left by a crash is never reused.
  const std::string temporary = absl::StrCat(path, ".tmp-", absl::BytesToHexString(RandomBytes(8)));
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Failed(path, "creating a temporary file beside it");
  const bool written = WriteAll(fd, content) && ::fsync(fd) == 0;
  absl::Status status = written ? absl::OkStatus() : Failed(path, "writing a temporary file");
  if (::close(fd) != 0 && status.ok()) status = Failed(path, "closing a temporary file");
  if (status.ok() && ::rename(temporary.c_str(), path.c_str()) != 0) {
    status = Failed(path, "renaming the temporary file over it");
  }
  if (!status.ok()) {
    ::unlink(temporary.c_str());
    return status;
  }
  // The rename is durable only once the directory that holds it is synced.
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) return Failed(path, "opening its directory");
  const bool synced = ::fsync(directory_fd) == 0;
  ::close(directory_fd);
  if (!synced) return Failed(path, "syncing its directory");
  return absl::OkStatus();
}

}  // namespace leerlus
