// Narrow read/write interfaces over the column families, so that the
// projector and command decisions run the same way against the live
// database, a group-commit overlay or a rebuild.
#ifndef LEERLUS_STORAGE_KEY_VALUE_H_
#define LEERLUS_STORAGE_KEY_VALUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/serialize.h"
#include "storage/column_families.h"

namespace leerlus::storage {

class KeyValueReader {
 public:
  virtual ~KeyValueReader() = default;
  // The value under `key`, std::nullopt if absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf,
                                                         absl::string_view key) = 0;
  // Calls `visit(key, value)` for keys >= `start` that begin with `prefix`,
  // in key order, until it returns false.
  virtual absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) = 0;
};

class KeyValueWriter : public KeyValueReader {
 public:
  virtual void Put(ColumnFamily cf, absl::string_view key, absl::string_view value) = 0;
  virtual void Delete(ColumnFamily cf, absl::string_view key) = 0;
};

// Read access to the projections as of one log position: point reads,
// ordered range scans, and the position (and its time) they reflect. The
// live database (ReadView) and a replay to an earlier position
// (MemoryProjection) both provide it, so one query serves both.
class ProjectionReader : public KeyValueReader {
 public:
  // Last log position reflected (0 for an empty log).
  virtual uint64_t head_position() const = 0;
  // Unix seconds of the event at head_position (0 for an empty log).
  virtual int64_t head_time_seconds() = 0;
};

// Buffers writes over a base reader; reads see the buffered writes first.
// CommitTo() moves the writes into a parent overlay; writes() lists them.
class Overlay : public KeyValueWriter {
 public:
  using Key = std::pair<ColumnFamily, std::string>;
  // nullopt marks a deletion.
  using Writes = std::map<Key, std::optional<std::string>>;

  explicit Overlay(KeyValueReader* base) : base_(base) {}

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    auto it = writes_.find(Key(cf, std::string(key)));
    if (it != writes_.end()) return it->second;
    return base_->Get(cf, key);
  }
  void Put(ColumnFamily cf, absl::string_view key, absl::string_view value) override {
    writes_[Key(cf, std::string(key))] = std::string(value);
  }
  void Delete(ColumnFamily cf, absl::string_view key) override {
    writes_[Key(cf, std::string(key))] = std::nullopt;
  }
  // The base's rows with the buffered writes laid over them.
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    std::map<std::string, std::optional<std::string>> merged;
    absl::Status status = base_->Scan(cf, prefix, start, [&](absl::string_view key, absl::string_view value) {
      merged.emplace(std::string(key), std::string(value));
      return true;
    });
    if (!status.ok()) return status;
    const std::string seek(start < prefix ? prefix : start);
    for (auto it = writes_.lower_bound(Key(cf, seek)); it != writes_.end() && it->first.first == cf;
         ++it) {
      if (absl::string_view(it->first.second).substr(0, prefix.size()) != prefix) break;
      merged[it->first.second] = it->second;
    }
    for (const auto& [key, value] : merged) {
      if (value.has_value() && !visit(key, *value)) break;
    }
    return absl::OkStatus();
  }
  // Moves every buffered write into `parent`.
  void CommitTo(Overlay& parent) {
    while (!writes_.empty()) {
      auto node = writes_.extract(writes_.begin());
      parent.writes_.insert_or_assign(std::move(node.key()), std::move(node.mapped()));
    }
  }
  const Writes& writes() const { return writes_; }
  void Clear() { writes_.clear(); }

 private:
  KeyValueReader* base_;
  Writes writes_;
};

// Reads a protobuf message stored under `key`.
template <typename Message>
absl::StatusOr<std::optional<Message>> GetMessage(KeyValueReader& reader, ColumnFamily cf,
                                                  absl::string_view key) {
  absl::StatusOr<std::optional<std::string>> bytes = reader.Get(cf, key);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::optional<Message>();
  Message message;
  if (!message.ParseFromString(**bytes)) {
    return absl::DataLossError(absl::StrCat("cannot parse ", Message::descriptor()->full_name(),
                                            " in column family ", ColumnFamilyName(cf)));
  }
  return std::optional<Message>(std::move(message));
}

template <typename Message>
void PutMessage(KeyValueWriter& writer, ColumnFamily cf, absl::string_view key,
                const Message& message) {
  writer.Put(cf, key, SerializeDeterministic(message));
}

}  // namespace leerlus::storage

#endif  // LEERLUS_STORAGE_KEY_VALUE_H_
