// A RocksDB file system for tests that simulates losing power: it remembers,
// for every file written through it, how many bytes were synced (Sync or
// Fsync), and on CutPower() refuses every further write. DropUnsyncedData()
// then cuts each file back to what was synced, as a machine that lost power
// would find its disk. Files it never wrote are taken as durable; renames,
// links and deletions count as durable (RocksDB syncs the directory after
// them).
//
// It can also fail writes as a full disk does (SetDiskFull), until space
// returns.
#ifndef LEERLUS_TESTS_POWER_LOSS_FS_H_
#define LEERLUS_TESTS_POWER_LOSS_FS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "rocksdb/file_system.h"

namespace leerlus::testing {

class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFileSystem(std::shared_ptr<rocksdb::FileSystem> target)
      : rocksdb::FileSystemWrapper(std::move(target)) {}

  static const char* kClassName() { return "LeerlusPowerLossFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus DeleteFile(const std::string& name, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  // A full disk has no free space: RocksDB's recovery waits for it.
  rocksdb::IOStatus GetFreeSpace(const std::string& path, const rocksdb::IOOptions& options,
                                 uint64_t* free_bytes, rocksdb::IODebugContext* debug) override;

  // From now on every write, sync, rename and deletion fails.
  void CutPower() { power_cut_ = true; }
  // Truncates every file written through this file system to its synced
  // size. Call after CutPower() and after the database is closed.
  void DropUnsyncedData();

  // While full, appends and syncs fail with NoSpace and no space is free.
  void SetDiskFull(bool full) { disk_full_ = full; }

  // Bytes written but not synced, summed over all files (the negative
  // control shows it is non-zero when syncing is off).
  uint64_t UnsyncedBytes();

 private:
  class TrackedFile;
  struct FileState {
    uint64_t written = 0;
    uint64_t synced = 0;
  };

  rocksdb::IOStatus Refusal() const;
  void Track(const std::string& name, uint64_t durable_size);
  void Appended(const std::string& name, uint64_t end);
  void Synced(const std::string& name);

  std::atomic<bool> power_cut_{false};
  std::atomic<bool> disk_full_{false};
  std::mutex mutex_;
  std::map<std::string, FileState> files_;
};

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_POWER_LOSS_FS_H_
