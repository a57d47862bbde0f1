// Files that must be whole and still there after a crash or power loss: a
// temporary file in the same directory, synced, renamed over the target,
// and the directory synced, so that a reader sees the old content or the
// new, never a part, and the new content survives once this returns.
//
//   LEERLUS_RETURN_IF_ERROR(WriteFileDurably(path, signed_note, 0600));
#ifndef LEERLUS_COMMON_FILES_H_
#define LEERLUS_COMMON_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace leerlus {

// Replaces `path` with `content`; a new file gets `mode` less the umask.
// The error names `path`; on failure `path` is as it was and no temporary
// file is left.
absl::Status WriteFileDurably(const std::string& path, absl::string_view content, mode_t mode);

}  // namespace leerlus

#endif  // LEERLUS_COMMON_FILES_H_
