#include "leerlus/request_traits.h"

#include <google/protobuf/stubs/common.h>
#include <google/protobuf/unknown_field_set.h>

#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace leerlus {
namespace {

thread_local grpc::Status last_parse_failure;

// The path of the first string field in `bytes` (a message of type
// `descriptor`) that holds invalid UTF-8 by the parser's own check, e.g. "experiment.title"; "" if
// none.
std::string FindInvalidUtf8(const google::protobuf::Descriptor* descriptor,
                            const std::string& bytes, const std::string& prefix, int depth) {
  google::protobuf::UnknownFieldSet fields;
  if (depth > 32 || !fields.ParseFromString(bytes)) return "";
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const google::protobuf::FieldDescriptor* known = descriptor->FindFieldByNumber(field.number());
    if (known == nullptr) continue;
    const std::string path = prefix + known->name();
    if (known->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
        !google::protobuf::internal::IsStructurallyValidUTF8(field.length_delimited())) {
      return path;
    }
    if (known->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      // A map entry's key and value are fields 1 and 2 of the entry; name
      // the map itself.
      const std::string inner = FindInvalidUtf8(known->message_type(), field.length_delimited(),
                                                known->is_map() ? prefix : path + ".", depth + 1);
      if (!inner.empty()) return known->is_map() ? path : inner;
    }
  }
  return "";
}

grpc::Status InvalidArgument(const std::string& field, const std::string& description) {
  google::rpc::BadRequest bad_request;
  google::rpc::BadRequest::FieldViolation* violation = bad_request.add_field_violations();
  violation->set_field(field);
  violation->set_description(description);
  const std::string message = field.empty() ? description : field + ": " + description;
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::INVALID_ARGUMENT);
  details.set_message(message);
  details.add_details()->PackFrom(bad_request);
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message, details.SerializeAsString());
}

}  // namespace

grpc::Status DeserializeMessage(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* lite) {
  auto* message = dynamic_cast<google::protobuf::Message*>(lite);
  const std::string type = lite->GetTypeName();
  if (message == nullptr || type.rfind("leerlus.v1.", 0) != 0 || type.size() < 7 ||
      type.compare(type.size() - 7, 7, "Request") != 0) {
    return grpc::GenericDeserialize<grpc::ProtoBufferReader, grpc::protobuf::MessageLite>(buffer,
                                                                                          lite);
  }
  std::vector<grpc::Slice> slices;
  grpc::Status dumped = buffer->Dump(&slices);
  buffer->Clear();
  if (!dumped.ok()) return dumped;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  if (message->ParseFromString(bytes)) return grpc::Status::OK;
  const std::string field = FindInvalidUtf8(message->GetDescriptor(), bytes, "", 0);
  last_parse_failure = field.empty()
                           ? InvalidArgument("", "the request is not a valid " + type + " message")
                           : InvalidArgument(field, "is not valid UTF-8");
  return last_parse_failure;
}

grpc::Status TakeRequestParseFailure() {
  grpc::Status failure = last_parse_failure;
  last_parse_failure = grpc::Status::OK;
  return failure;
}

}  // namespace leerlus
