#include "storage/keys.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace leerlus::storage {
namespace {
constexpr char kSeparator = '\0';
}  // namespace

void PutFixed64BigEndian(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

std::string EncodeFixed64BigEndian(uint64_t value) {
  std::string out;
  PutFixed64BigEndian(&out, value);
  return out;
}

absl::StatusOr<uint64_t> ConsumeFixed64BigEndian(absl::string_view* in) {
  if (in->size() < 8) {
    return absl::DataLossError(absl::StrCat("key too short: need 8 bytes, have ", in->size()));
  }
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value = (value << 8) | static_cast<unsigned char>((*in)[i]);
  }
  in->remove_prefix(8);
  return value;
}

std::string EventKey(uint64_t position) { return EncodeFixed64BigEndian(position); }

absl::StatusOr<uint64_t> ParseEventKey(absl::string_view key) {
  absl::StatusOr<uint64_t> position = ConsumeFixed64BigEndian(&key);
  if (position.ok() && !key.empty()) {
    return absl::DataLossError("event key longer than 8 bytes");
  }
  return position;
}

std::string StreamEventPrefix(absl::string_view stream) {
  return absl::StrCat(stream, absl::string_view(&kSeparator, 1));
}

std::string StreamEventKey(absl::string_view stream, uint64_t version) {
  std::string key = StreamEventPrefix(stream);
  PutFixed64BigEndian(&key, version);
  return key;
}

std::string StreamHeadKey(absl::string_view stream) { return std::string(stream); }

std::string RequestKey(absl::string_view principal, absl::string_view request_id) {
  return absl::StrCat(principal, absl::string_view(&kSeparator, 1), request_id);
}

absl::StatusOr<StreamEventKeyParts> ParseStreamEventKey(absl::string_view key) {
  size_t separator = key.find(kSeparator);
  if (separator == absl::string_view::npos) {
    return absl::DataLossError("stream event key has no separator");
  }
  StreamEventKeyParts parts;
  parts.stream = std::string(key.substr(0, separator));
  absl::string_view rest = key.substr(separator + 1);
  absl::StatusOr<uint64_t> version = ConsumeFixed64BigEndian(&rest);
  if (!version.ok()) return version.status();
  if (!rest.empty()) return absl::DataLossError("stream event key too long");
  parts.version = *version;
  return parts;
}

std::string ExperimentKey(absl::string_view experiment_id) { return std::string(experiment_id); }

std::string ExperimentOrderKey(uint64_t create_position) {
  return EncodeFixed64BigEndian(create_position);
}

std::string ExperimentChildPrefix(absl::string_view experiment_id) {
  return absl::StrCat(experiment_id, absl::string_view(&kSeparator, 1));
}

std::string ExperimentChildKey(absl::string_view experiment_id, absl::string_view child_id) {
  return absl::StrCat(ExperimentChildPrefix(experiment_id), child_id);
}

std::string DataKeyKey(absl::string_view experiment_id, uint32_t generation) {
  const char bytes[4] = {static_cast<char>(generation >> 24), static_cast<char>(generation >> 16),
                         static_cast<char>(generation >> 8), static_cast<char>(generation)};
  return absl::StrCat(ExperimentChildPrefix(experiment_id), absl::string_view(bytes, 4));
}

std::string AnalysisIndicatorPrefix(absl::string_view indicator_id) {
  return absl::StrCat(indicator_id, absl::string_view(&kSeparator, 1));
}

std::string AnalysisKey(absl::string_view indicator_id, absl::string_view work_method_id,
                        absl::string_view experiment_id) {
  absl::string_view sep(&kSeparator, 1);
  return absl::StrCat(indicator_id, sep, work_method_id, sep, experiment_id);
}

std::string CatalogPrefix(CatalogKind kind) { return std::string{static_cast<char>(kind), '/'}; }

std::string CatalogKey(CatalogKind kind, absl::string_view id) {
  return absl::StrCat(CatalogPrefix(kind), id);
}

}  // namespace leerlus::storage
