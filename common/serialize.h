// Deterministic protobuf serialization: maps in key order, so that equal
// messages give equal bytes (hashes, fingerprints, byte-identical rebuilds).
#ifndef LEERLUS_COMMON_SERIALIZE_H_
#define LEERLUS_COMMON_SERIALIZE_H_

#include <string>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message_lite.h"

namespace leerlus {

inline std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace leerlus

#endif  // LEERLUS_COMMON_SERIALIZE_H_
