#include "core/admin.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace leerlus::core {

absl::StatusOr<v1::BackupResponse> Admin::Backup(const v1::BackupRequest& request) {
  const std::filesystem::path directory(request.directory());
  if (request.directory().empty()) return FieldError("directory", "is required");
  if (!directory.is_absolute()) {
    return FieldError("directory", "must be an absolute path on the server's machine");
  }
  std::error_code error;
  if (std::filesystem::exists(directory, error)) {
    return WithErrorInfo(absl::AlreadyExistsError(absl::StrCat(
                             "'", request.directory(), "' exists; a backup needs a new directory")),
                         "ALREADY_EXISTS", {{"field", "directory"}});
  }
  std::filesystem::create_directories(directory.parent_path(), error);
  if (error) {
    return FieldError("directory",
                      absl::StrCat("cannot create the parent directory '",
                                   directory.parent_path().string(), "': ", error.message()));
  }
  LEERLUS_ASSIGN_OR_RETURN(uint64_t position, store_->Backup(request.directory()));
  v1::BackupResponse response;
  response.set_directory(request.directory());
  response.set_position(position);
  response.set_events(position);
  return response;
}

}  // namespace leerlus::core
