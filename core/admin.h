// Operator actions: online backup.
#ifndef LEERLUS_CORE_ADMIN_H_
#define LEERLUS_CORE_ADMIN_H_

#include "absl/status/statusor.h"
#include "leerlus/v1/admin_service.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

class Admin {
 public:
  explicit Admin(storage::EventStore* store) : store_(store) {}

  // A consistent checkpoint into a new directory on the server's machine.
  absl::StatusOr<v1::BackupResponse> Backup(const v1::BackupRequest& request);

 private:
  storage::EventStore* store_;
};

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_ADMIN_H_
