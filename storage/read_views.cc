#include "storage/read_views.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/serialize.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "storage/event_store.h"
#include "storage/log_keys.h"
#include "storage/store_internal.h"

namespace leerlus::storage {

absl::StatusOr<internal::v1::Envelope> ParseEnvelope(absl::string_view bytes) {
  internal::v1::Envelope envelope;
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("cannot parse a stored event");
  }
  return envelope;
}

absl::StatusOr<std::string> ComposeEvent(const internal::v1::Envelope& envelope,
                                         absl::string_view body) {
  // Every field of the body must be numbered above the envelope's: then the
  // body cannot override the envelope when the bytes are parsed, and (fields
  // serializing in number order) envelope + body are the bytes the whole
  // message serializes to.
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  bool any_field = false;
  while (const uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) < kFirstBodyField ||
        !WireFormatLite::SkipField(&in, tag)) {
      return absl::InternalError("an event body holds envelope fields or does not parse");
    }
    any_field = true;
  }
  if (!any_field || !in.ConsumedEntireMessage() || in.CurrentPosition() != static_cast<int>(body.size())) {
    return absl::InternalError("an event body is empty or does not parse");
  }
  std::string bytes = SerializeDeterministic(envelope);
  bytes.append(body.data(), body.size());
  return bytes;
}

ReadView::ReadView(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                   SharedSnapshot snapshot, uint64_t head_position)
    : db_(db),
      handles_(std::move(handles)),
      snapshot_(std::move(snapshot)),
      head_position_(head_position) {
  options_.snapshot = snapshot_.get();
}

absl::StatusOr<std::optional<std::string>> ReadView::Get(ColumnFamily cf, absl::string_view key) {
  std::string value;
  rocksdb::Status status = db_->Get(options_, handles_[static_cast<size_t>(cf)],
                                    rocksdb::Slice(key.data(), key.size()), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  LEERLUS_RETURN_IF_ERROR(FromRocks(status, "read"));
  return std::optional<std::string>(std::move(value));
}

absl::Status ReadView::Scan(
    ColumnFamily cf, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(options_, handles_[static_cast<size_t>(cf)]));
  return ScanIterator(*it, prefix, start, visit);
}

int64_t ReadView::head_time_seconds() {
  if (head_position_ == 0) return 0;
  absl::StatusOr<internal::v1::Envelope> head = EnvelopeAt(head_position_);
  return head.ok() ? head->time().seconds() : 0;
}

absl::StatusOr<internal::v1::Envelope> ReadView::EnvelopeAt(uint64_t position) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                           Get(ColumnFamily::kEvents, EventKey(position)));
  if (!bytes.has_value()) {
    return absl::DataLossError(absl::StrCat("the log has no event at position ", position));
  }
  return ParseEnvelope(*bytes);
}

absl::StatusOr<std::vector<StoredEvent>> ReadView::ReadEvents(uint64_t from, size_t limit,
                                                              absl::string_view stream,
                                                              size_t max_bytes) {
  if (from == 0) from = 1;
  if (stream.empty()) {
    std::vector<StoredEvent> events;
    size_t bytes_read = 0;
    absl::Status key_status;
    LEERLUS_RETURN_IF_ERROR(Scan(ColumnFamily::kEvents, "", EventKey(from),
                                 [&](absl::string_view key, absl::string_view bytes) {
                                   absl::StatusOr<uint64_t> position = ParseEventKey(key);
                                   if (!position.ok()) {
                                     key_status = position.status();
                                     return false;
                                   }
                                   events.push_back(StoredEvent{*position, std::string(bytes)});
                                   bytes_read += bytes.size();
                                   return events.size() < limit && bytes_read < max_bytes;
                                 }));
    LEERLUS_RETURN_IF_ERROR(key_status);
    return events;
  }
  // One stream: walk its index and fetch the events at or after `from`.
  std::vector<uint64_t> positions;
  LEERLUS_RETURN_IF_ERROR(Scan(ColumnFamily::kStreams, StreamEventPrefix(stream), "",
                               [&](absl::string_view, absl::string_view value) {
                                 absl::string_view in = value;
                                 absl::StatusOr<uint64_t> position = ConsumeFixed64BigEndian(&in);
                                 if (position.ok() && *position >= from) {
                                   positions.push_back(*position);
                                 }
                                 return positions.size() < limit;
                               }));
  return ReadEventsAt(positions, stream, max_bytes);
}

absl::StatusOr<std::vector<StoredEvent>> ReadView::ReadStreamEvents(absl::string_view stream,
                                                                    uint64_t from_version,
                                                                    size_t limit,
                                                                    size_t max_bytes) {
  std::vector<uint64_t> positions;
  LEERLUS_RETURN_IF_ERROR(Scan(ColumnFamily::kStreams, StreamEventPrefix(stream),
                               StreamEventKey(stream, std::max<uint64_t>(from_version, 1)),
                               [&](absl::string_view, absl::string_view value) {
                                 absl::string_view in = value;
                                 absl::StatusOr<uint64_t> position = ConsumeFixed64BigEndian(&in);
                                 if (position.ok()) positions.push_back(*position);
                                 return positions.size() < limit;
                               }));
  return ReadEventsAt(positions, stream, max_bytes);
}

absl::StatusOr<std::vector<StoredEvent>> ReadView::ReadEventsAt(
    const std::vector<uint64_t>& positions, absl::string_view stream, size_t max_bytes) {
  std::vector<StoredEvent> events;
  size_t bytes_read = 0;
  for (uint64_t position : positions) {
    if (bytes_read >= max_bytes) break;
    LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                             Get(ColumnFamily::kEvents, EventKey(position)));
    if (!bytes.has_value()) {
      return absl::DataLossError(
          absl::StrCat("stream index of '", stream, "' points at missing position ", position));
    }
    bytes_read += bytes->size();
    events.push_back(StoredEvent{position, std::move(*bytes)});
  }
  return events;
}

absl::StatusOr<uint64_t> ReadView::StreamVersion(absl::string_view stream) {
  return storage::StreamVersion(*this, stream);
}

absl::StatusOr<uint64_t> StreamVersion(KeyValueReader& state, absl::string_view stream) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> value,
                           state.Get(ColumnFamily::kStreams, StreamHeadKey(stream)));
  if (!value.has_value()) return 0;
  absl::string_view in(*value);
  return ConsumeFixed64BigEndian(&in);
}

absl::StatusOr<internal::v1::Envelope> StreamEventEnvelope(KeyValueReader& state,
                                                           absl::string_view stream,
                                                           uint64_t version) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> entry,
                           state.Get(ColumnFamily::kStreams, StreamEventKey(stream, version)));
  if (!entry.has_value()) {
    return absl::DataLossError(
        absl::StrCat("stream '", stream, "' has no index entry for version ", version));
  }
  absl::string_view entry_bytes(*entry);
  LEERLUS_ASSIGN_OR_RETURN(uint64_t position, ConsumeFixed64BigEndian(&entry_bytes));
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                           state.Get(ColumnFamily::kEvents, EventKey(position)));
  if (!bytes.has_value()) {
    return absl::DataLossError(absl::StrCat("the log has no event at position ", position));
  }
  return ParseEnvelope(*bytes);
}

absl::StatusOr<std::optional<std::string>> MemoryProjection::Get(ColumnFamily cf,
                                                                 absl::string_view key) {
  auto family = rows_.find(cf);
  if (family == rows_.end()) return std::optional<std::string>();
  auto it = family->second.find(std::string(key));
  if (it == family->second.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status MemoryProjection::Scan(
    ColumnFamily cf, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& visit) {
  auto family = rows_.find(cf);
  if (family == rows_.end()) return absl::OkStatus();
  const auto& rows = family->second;
  const std::string seek(start < prefix ? prefix : start);
  for (auto it = rows.lower_bound(seek); it != rows.end(); ++it) {
    absl::string_view key = it->first;
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!visit(key, it->second)) break;
  }
  return absl::OkStatus();
}

std::unique_ptr<ProjectionReader> EventStore::OpenRecentView(uint64_t position) {
  absl::MutexLock lock(&recent_views_mutex_);
  if (position != 0) {
    if (std::shared_ptr<ReadView> kept = recent_views_.Find(position)) {
      return std::make_unique<SharedView>(std::move(kept));
    }
  }
  std::shared_ptr<ReadView> live = OpenReadView();
  if (position != 0 && live->head_position() != position) return nullptr;
  // One kept view per head is enough.
  if (std::shared_ptr<ReadView> kept = recent_views_.Find(live->head_position())) {
    return std::make_unique<SharedView>(std::move(kept));
  }
  recent_views_.Keep(live);
  return std::make_unique<SharedView>(std::move(live));
}

}  // namespace leerlus::storage
