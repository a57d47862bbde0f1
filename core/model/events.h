// Between the domain's events (v1::Event) and the log's stored bytes.
#ifndef LEERLUS_CORE_MODEL_EVENTS_H_
#define LEERLUS_CORE_MODEL_EVENTS_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "leerlus/v1/events.pb.h"
#include "storage/projection.h"
#include "storage/read_views.h"

namespace leerlus::model {

// The body the log stores for `event`, which holds only its payload: the
// log writes the envelope (position, stream, version, actor, time, request
// id, hash) and refuses a body that sets any of it.
std::string EncodeBody(const v1::Event& event);
std::vector<std::string> EncodeBodies(const std::vector<v1::Event>& events);

// A stored event as the API shows it, envelope and payload.
absl::StatusOr<v1::Event> DecodeEvent(const storage::StoredEvent& stored);
absl::StatusOr<std::vector<v1::Event>> DecodeEvents(
    const std::vector<storage::StoredEvent>& stored);

// storage::ReadView::ReadEvents and ReadStreamEvents, decoded.
absl::StatusOr<std::vector<v1::Event>> ReadEvents(
    storage::ReadView& view, uint64_t from, size_t limit, absl::string_view stream,
    size_t max_bytes = std::numeric_limits<size_t>::max());
absl::StatusOr<std::vector<v1::Event>> ReadStreamEvents(
    storage::ReadView& view, absl::string_view stream, uint64_t from_version, size_t limit,
    size_t max_bytes = std::numeric_limits<size_t>::max());

}  // namespace leerlus::model

#endif  // LEERLUS_CORE_MODEL_EVENTS_H_
