#include "core/model/events.h"

#include "absl/strings/str_cat.h"
#include "common/serialize.h"
#include "common/status_macros.h"

namespace leerlus::model {

std::string EncodeBody(const v1::Event& event) { return SerializeDeterministic(event); }

std::vector<std::string> EncodeBodies(const std::vector<v1::Event>& events) {
  std::vector<std::string> bodies;
  bodies.reserve(events.size());
  for (const v1::Event& event : events) bodies.push_back(EncodeBody(event));
  return bodies;
}

absl::StatusOr<v1::Event> DecodeEvent(const storage::StoredEvent& stored) {
  v1::Event event;
  if (!event.ParseFromString(stored.bytes)) {
    return absl::DataLossError(
        absl::StrCat("cannot parse the stored event at position ", stored.position));
  }
  return event;
}

absl::StatusOr<std::vector<v1::Event>> DecodeEvents(
    const std::vector<storage::StoredEvent>& stored) {
  std::vector<v1::Event> events;
  events.reserve(stored.size());
  for (const storage::StoredEvent& one : stored) {
    LEERLUS_ASSIGN_OR_RETURN(events.emplace_back(), DecodeEvent(one));
  }
  return events;
}

absl::StatusOr<std::vector<v1::Event>> ReadEvents(storage::ReadView& view, uint64_t from,
                                                  size_t limit, absl::string_view stream,
                                                  size_t max_bytes) {
  LEERLUS_ASSIGN_OR_RETURN(std::vector<storage::StoredEvent> stored,
                           view.ReadEvents(from, limit, stream, max_bytes));
  return DecodeEvents(stored);
}

absl::StatusOr<std::vector<v1::Event>> ReadStreamEvents(storage::ReadView& view,
                                                        absl::string_view stream,
                                                        uint64_t from_version, size_t limit,
                                                        size_t max_bytes) {
  LEERLUS_ASSIGN_OR_RETURN(std::vector<storage::StoredEvent> stored,
                           view.ReadStreamEvents(stream, from_version, limit, max_bytes));
  return DecodeEvents(stored);
}

}  // namespace leerlus::model
