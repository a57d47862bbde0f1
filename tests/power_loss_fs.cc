#include "tests/power_loss_fs.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace leerlus::testing {

class PowerLossFileSystem::TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> target, PowerLossFileSystem* fs,
              std::string name, uint64_t size)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(target)),
        fs_(fs),
        name_(std::move(name)),
        size_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* debug) override {
    if (rocksdb::IOStatus refused = fs_->Refusal(); !refused.ok()) return refused;
    rocksdb::IOStatus status = target()->Append(data, options, debug);
    if (status.ok()) fs_->Appended(name_, size_ += data.size());
    return status;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*verification*/,
                           rocksdb::IODebugContext* debug) override {
    return Append(data, options, debug);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* debug) override {
    if (rocksdb::IOStatus refused = fs_->Refusal(); !refused.ok()) return refused;
    rocksdb::IOStatus status = target()->PositionedAppend(data, offset, options, debug);
    if (status.ok()) fs_->Appended(name_, size_ = std::max(size_, offset + data.size()));
    return status;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data, uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& /*verification*/,
                                     rocksdb::IODebugContext* debug) override {
    return PositionedAppend(data, offset, options, debug);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* debug) override {
    if (rocksdb::IOStatus refused = fs_->Refusal(); !refused.ok()) return refused;
    rocksdb::IOStatus status = target()->Sync(options, debug);
    if (status.ok()) fs_->Synced(name_);
    return status;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    if (rocksdb::IOStatus refused = fs_->Refusal(); !refused.ok()) return refused;
    rocksdb::IOStatus status = target()->Fsync(options, debug);
    if (status.ok()) fs_->Synced(name_);
    return status;
  }
  // sync_file_range is a hint that starts write-back; it promises nothing.
  rocksdb::IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*bytes*/,
                              const rocksdb::IOOptions& /*options*/,
                              rocksdb::IODebugContext* /*debug*/) override {
    return fs_->Refusal();
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
    if (rocksdb::IOStatus refused = fs_->Refusal(); !refused.ok()) return refused;
    rocksdb::IOStatus status = target()->Truncate(size, options, debug);
    if (status.ok()) fs_->Appended(name_, size_ = size);
    return status;
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    // Closing after the power cut must not write what the file buffers.
    if (fs_->power_cut_) return rocksdb::IOStatus::IOError("power lost");
    return target()->Close(options, debug);
  }

 private:
  PowerLossFileSystem* fs_;
  std::string name_;
  uint64_t size_;
};

rocksdb::IOStatus PowerLossFileSystem::Refusal() const {
  if (power_cut_) return rocksdb::IOStatus::IOError("power lost");
  if (disk_full_) {
    // As on a real disk the refusal comes after some I/O, so the store has
    // moved on (decided further appends) by the time it learns of it.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return rocksdb::IOStatus::NoSpace("disk full (simulated)");
  }
  return rocksdb::IOStatus::OK();
}

void PowerLossFileSystem::Track(const std::string& name, uint64_t durable_size) {
  std::lock_guard<std::mutex> lock(mutex_);
  files_[name] = FileState{durable_size, durable_size};
}

void PowerLossFileSystem::Appended(const std::string& name, uint64_t end) {
  std::lock_guard<std::mutex> lock(mutex_);
  files_[name].written = end;
}

void PowerLossFileSystem::Synced(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  FileState& state = files_[name];
  state.synced = state.written;
}

rocksdb::IOStatus PowerLossFileSystem::NewWritableFile(
    const std::string& name, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* debug) {
  if (rocksdb::IOStatus refused = Refusal(); !refused.ok()) return refused;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status = target()->NewWritableFile(name, options, &file, debug);
  if (!status.ok()) return status;
  Track(name, 0);
  *result = std::make_unique<TrackedFile>(std::move(file), this, name, 0);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::ReopenWritableFile(
    const std::string& name, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* debug) {
  if (rocksdb::IOStatus refused = Refusal(); !refused.ok()) return refused;
  uint64_t size = 0;
  if (!target()->GetFileSize(name, rocksdb::IOOptions(), &size, debug).ok()) size = 0;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus status = target()->ReopenWritableFile(name, options, &file, debug);
  if (!status.ok()) return status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // What was there before is as durable as it was.
    if (files_.count(name) == 0) files_[name] = FileState{size, size};
  }
  *result = std::make_unique<TrackedFile>(std::move(file), this, name, size);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::RenameFile(const std::string& from, const std::string& to,
                                                  const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* debug) {
  if (power_cut_) return rocksdb::IOStatus::IOError("power lost");
  rocksdb::IOStatus status = target()->RenameFile(from, to, options, debug);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(from);
  if (it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  } else {
    files_.erase(to);
  }
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::LinkFile(const std::string& from, const std::string& to,
                                                const rocksdb::IOOptions& options,
                                                rocksdb::IODebugContext* debug) {
  if (power_cut_) return rocksdb::IOStatus::IOError("power lost");
  rocksdb::IOStatus status = target()->LinkFile(from, to, options, debug);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = files_.find(from);
  if (it != files_.end()) files_[to] = it->second;
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::DeleteFile(const std::string& name,
                                                  const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* debug) {
  if (power_cut_) return rocksdb::IOStatus::IOError("power lost");
  rocksdb::IOStatus status = target()->DeleteFile(name, options, debug);
  std::lock_guard<std::mutex> lock(mutex_);
  files_.erase(name);
  return status;
}

rocksdb::IOStatus PowerLossFileSystem::GetFreeSpace(const std::string& path,
                                                    const rocksdb::IOOptions& options,
                                                    uint64_t* free_bytes,
                                                    rocksdb::IODebugContext* debug) {
  if (disk_full_) {
    *free_bytes = 0;
    return rocksdb::IOStatus::OK();
  }
  return target()->GetFreeSpace(path, options, free_bytes, debug);
}

void PowerLossFileSystem::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, state] : files_) {
    if (state.written > state.synced) {
      if (::truncate(name.c_str(), static_cast<off_t>(state.synced)) != 0) {
        // The file may be gone (deleted outside this file system); nothing
        // to drop then.
      }
    }
  }
  files_.clear();
}

uint64_t PowerLossFileSystem::UnsyncedBytes() {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t bytes = 0;
  for (const auto& [name, state] : files_) bytes += state.written - state.synced;
  return bytes;
}

}  // namespace leerlus::testing
