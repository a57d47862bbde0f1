// How the gRPC layer turns bytes into leerlus requests. gRPC's default answers
// a request that does not parse with INTERNAL, which tells a partner "the
// server broke" when it was their message; leerlus answers INVALID_ARGUMENT
// with a google.rpc.BadRequest naming the field (a string field holding
// invalid UTF-8, which proto3 refuses) or saying the bytes are no message of
// the expected type. The generated .grpc.pb.h files include this header
// (grpc_cpp_plugin's additional_header_includes), so every handler uses it.
#ifndef LEERLUS_PROTO_REQUEST_TRAITS_H_
#define LEERLUS_PROTO_REQUEST_TRAITS_H_

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "leerlus/v1/event_log_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"

namespace leerlus {

// Parses `buffer` into `message`: a leerlus.v1 request as described above,
// any other message exactly as gRPC's own traits do.
grpc::Status DeserializeMessage(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* message);

// The parse failure of the last request message read on this thread, and
// clears it. A streaming handler calls it when Read() returns false, to tell
// a broken message from the end of the stream.
grpc::Status TakeRequestParseFailure();

}  // namespace leerlus

// The generated handlers deserialize every unary and server-streaming request
// through the MessageLite traits (they instantiate them with MessageLite as
// the base type), so that is the specialization to replace. It parses
// leerlus.v1 requests as described above and every other message exactly as
// gRPC does.
template <>
class grpc::SerializationTraits<grpc::protobuf::MessageLite, void> {
 public:
  static grpc::Status Serialize(const grpc::protobuf::MessageLite& message,
                                grpc::ByteBuffer* buffer, bool* own_buffer) {
    return grpc::GenericSerialize<grpc::ProtoBufferWriter, grpc::protobuf::MessageLite>(
        message, buffer, own_buffer);
  }
  static grpc::Status Deserialize(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* message) {
    return leerlus::DeserializeMessage(buffer, message);
  }
};

// Streaming handlers read their requests with the concrete type's traits.
#define LEERLUS_CONCRETE_REQUEST_TRAITS(Type)                                                  \
  template <>                                                                                \
  class grpc::SerializationTraits<Type, void> {                                              \
   public:                                                                                   \
    static grpc::Status Serialize(const grpc::protobuf::MessageLite& message,                \
                                  grpc::ByteBuffer* buffer, bool* own_buffer) {              \
      return grpc::GenericSerialize<grpc::ProtoBufferWriter, Type>(message, buffer,          \
                                                                   own_buffer);              \
    }                                                                                        \
    static grpc::Status Deserialize(grpc::ByteBuffer* buffer,                                \
                                    grpc::protobuf::MessageLite* message) {                  \
      return leerlus::DeserializeMessage(buffer, message);                                   \
    }                                                                                        \
  };
LEERLUS_CONCRETE_REQUEST_TRAITS(leerlus::v1::ImportOutcomesRequest)
LEERLUS_CONCRETE_REQUEST_TRAITS(leerlus::v1::SubscribeRequest)
#undef LEERLUS_CONCRETE_REQUEST_TRAITS

#endif  // LEERLUS_PROTO_REQUEST_TRAITS_H_
