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
#include "absl/types/span.h"
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
// (EventStore::ProjectAsOf) both provide it, so one query serves both.
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
  // Orders keys by family, then bytewise (as RocksDB does), and finds them
  // by a string_view without copying the key.
  struct KeyOrder {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      if (a.first != b.first) return a.first < b.first;
      return absl::string_view(a.second) < absl::string_view(b.second);
    }
  };
  // nullopt marks a deletion.
  using Writes = std::map<Key, std::optional<std::string>, KeyOrder>;

  explicit Overlay(KeyValueReader* base) : base_(base) {}

  absl::StatusOr<std::optional<std::string>> Get(ColumnFamily cf, absl::string_view key) override {
    auto it = writes_.find(std::pair(cf, key));
    if (it != writes_.end()) return it->second;
    return base_->Get(cf, key);
  }
  void Put(ColumnFamily cf, absl::string_view key, absl::string_view value) override {
    Set(cf, key, std::string(value));
  }
  void Delete(ColumnFamily cf, absl::string_view key) override { Set(cf, key, std::nullopt); }
  // The base's rows with the buffered writes laid over them.
  absl::Status Scan(
      ColumnFamily cf, absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) override {
    const Writes* layers[] = {&writes_};
    return ScanLayers(*base_, layers, cf, prefix, start, visit);
  }
  // Scans `base` with layers of writes laid over it, each later layer over
  // the ones before.
  static absl::Status ScanLayers(
      KeyValueReader& base, absl::Span<const Writes* const> layers, ColumnFamily cf,
      absl::string_view prefix, absl::string_view start,
      const std::function<bool(absl::string_view, absl::string_view)>& visit) {
    std::map<std::string, std::optional<std::string>> merged;
    absl::Status status =
        base.Scan(cf, prefix, start, [&](absl::string_view key, absl::string_view value) {
          merged.emplace(std::string(key), std::string(value));
          return true;
        });
    if (!status.ok()) return status;
    const absl::string_view seek = start < prefix ? prefix : start;
    for (const Writes* writes : layers) {
      for (auto it = writes->lower_bound(std::pair(cf, seek));
           it != writes->end() && it->first.first == cf; ++it) {
        if (absl::string_view(it->first.second).substr(0, prefix.size()) != prefix) break;
        merged[it->first.second] = it->second;
      }
    }
    for (const auto& [key, value] : merged) {
      if (value.has_value() && !visit(key, *value)) break;
    }
    return absl::OkStatus();
  }
  // Moves every buffered write into `parent`.
  void CommitTo(Overlay& parent) {
    while (!writes_.empty()) {
      auto moved = parent.writes_.insert(writes_.extract(writes_.begin()));
      if (!moved.inserted) moved.position->second = std::move(moved.node.mapped());
    }
  }
  const Writes& writes() const { return writes_; }
  // Moves the buffered writes out, leaving the overlay empty.
  Writes TakeWrites() { return std::exchange(writes_, {}); }
  void Clear() { writes_.clear(); }

 private:
  void Set(ColumnFamily cf, absl::string_view key, std::optional<std::string> value) {
    auto it = writes_.lower_bound(std::pair(cf, key));
    if (it != writes_.end() && it->first.first == cf && it->first.second == key) {
      it->second = std::move(value);
    } else {
      writes_.emplace_hint(it, Key(cf, std::string(key)), std::move(value));
    }
  }

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
                                            " in column family ", static_cast<int>(cf)));
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
