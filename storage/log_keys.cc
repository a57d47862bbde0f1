#include "storage/log_keys.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

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

std::string TreeNodeKey(int level, uint64_t index) {
  std::string key(1, static_cast<char>(level));
  PutFixed64BigEndian(&key, index);
  return key;
}

absl::StatusOr<TreeNodeKeyParts> ParseTreeNodeKey(absl::string_view key) {
  if (key.size() != 9 || static_cast<unsigned char>(key[0]) > 63) {
    return absl::DataLossError("unreadable tree node key");
  }
  TreeNodeKeyParts parts;
  parts.level = static_cast<unsigned char>(key[0]);
  key.remove_prefix(1);
  LEERLUS_ASSIGN_OR_RETURN(parts.index, ConsumeFixed64BigEndian(&key));
  return parts;
}

std::string CheckpointKey(uint64_t tree_size) {
  std::string key(kCheckpointPrefix);
  PutFixed64BigEndian(&key, tree_size);
  return key;
}

}  // namespace leerlus::storage
