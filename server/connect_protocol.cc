#include "server/connect_protocol.h"

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <array>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/errors.h"
#include "google/rpc/status.pb.h"
#include "leerlus/v1/admin_service.pb.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/event_log_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"
#include "leerlus/v1/insight_service.pb.h"
#include "server/status_mapping.h"

namespace leerlus::server {
namespace {

namespace protobuf = google::protobuf;

// The services' files, linked in through their messages; each file's
// services are read from its descriptor, so a new RPC is served here
// without a line changed.
const protobuf::FileDescriptor* const kServiceFiles[] = {
    v1::ListWorkMethodsRequest::descriptor()->file(),
    v1::GetExperimentRequest::descriptor()->file(),
    v1::SubscribeRequest::descriptor()->file(),
    v1::WhatWorksRequest::descriptor()->file(),
    v1::CreateTokenRequest::descriptor()->file(),
};

struct CodeName {
  grpc::StatusCode code;
  absl::string_view name;
  int http_status;
};

// The protocol's table of codes, names and HTTP statuses.
constexpr std::array<CodeName, 16> kCodes = {{
    {grpc::StatusCode::CANCELLED, "canceled", 499},
    {grpc::StatusCode::UNKNOWN, "unknown", 500},
    {grpc::StatusCode::INVALID_ARGUMENT, "invalid_argument", 400},
    {grpc::StatusCode::DEADLINE_EXCEEDED, "deadline_exceeded", 504},
    {grpc::StatusCode::NOT_FOUND, "not_found", 404},
    {grpc::StatusCode::ALREADY_EXISTS, "already_exists", 409},
    {grpc::StatusCode::PERMISSION_DENIED, "permission_denied", 403},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, "resource_exhausted", 429},
    {grpc::StatusCode::FAILED_PRECONDITION, "failed_precondition", 400},
    {grpc::StatusCode::ABORTED, "aborted", 409},
    {grpc::StatusCode::OUT_OF_RANGE, "out_of_range", 400},
    {grpc::StatusCode::UNIMPLEMENTED, "unimplemented", 501},
    {grpc::StatusCode::INTERNAL, "internal", 500},
    {grpc::StatusCode::UNAVAILABLE, "unavailable", 503},
    {grpc::StatusCode::DATA_LOSS, "data_loss", 500},
    {grpc::StatusCode::UNAUTHENTICATED, "unauthenticated", 401},
}};

const CodeName& EntryOf(grpc::StatusCode code) {
  for (const CodeName& entry : kCodes) {
    if (entry.code == code) return entry;
  }
  return kCodes[1];  // unknown
}

// The media type without parameters, lower case.
std::string MediaType(absl::string_view content_type) {
  absl::string_view type = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

std::optional<ConnectCodec> CodecOf(absl::string_view media_type, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&media_type, prefix)) return std::nullopt;
  if (media_type == "json") return ConnectCodec::kJson;
  if (media_type == "proto") return ConnectCodec::kProto;
  return std::nullopt;
}

std::unique_ptr<protobuf::Message> NewMessage(const protobuf::Descriptor* type) {
  const protobuf::Message* prototype =
      protobuf::MessageFactory::generated_factory()->GetPrototype(type);
  return std::unique_ptr<protobuf::Message>(prototype->New());
}

// `body` as the binary form of `type`; INVALID_ARGUMENT naming the body's
// fault (an unknown field, a wrong value) otherwise.
absl::StatusOr<std::string> BinaryOf(ConnectCodec codec, const protobuf::Descriptor* type,
                                     absl::string_view body) {
  std::unique_ptr<protobuf::Message> message = NewMessage(type);
  if (codec == ConnectCodec::kProto) {
    if (!message->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return FieldError("body", absl::StrCat("is not a binary ", type->full_name()));
    }
    return std::string(body);
  }
  protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = protobuf::util::JsonStringToMessage(protobuf::StringPiece(body.data(), body.size()),
                                                    message.get(), options);
  if (!parsed.ok()) {
    return FieldError("body", absl::StrCat("is not a JSON ", type->full_name(), ": ",
                                           std::string(parsed.message())));
  }
  return message->SerializeAsString();
}

// The service's binary answer in `codec`.
absl::StatusOr<std::string> Encoded(ConnectCodec codec, const protobuf::Descriptor* type,
                                    const std::string& binary) {
  if (codec == ConnectCodec::kProto) return binary;
  std::unique_ptr<protobuf::Message> message = NewMessage(type);
  if (!message->ParseFromString(binary)) {
    return absl::InternalError(absl::StrCat("the service answered a damaged ", type->full_name()));
  }
  std::string json;
  auto printed = protobuf::util::MessageToJsonString(*message, &json);
  if (!printed.ok()) return absl::InternalError(std::string(printed.message()));
  return json;
}

// One google.rpc detail as the protocol gives it: the type's full name,
// its bytes in base64 (unpadded), and its JSON form for people reading.
protobuf::Value DetailOf(const protobuf::Any& any) {
  protobuf::Value detail;
  protobuf::Struct& fields = *detail.mutable_struct_value();
  absl::string_view type = any.type_url();
  type = type.substr(type.rfind('/') + 1);
  (*fields.mutable_fields())["type"].set_string_value(std::string(type));
  std::string value = absl::Base64Escape(any.value());
  while (!value.empty() && value.back() == '=') value.pop_back();
  (*fields.mutable_fields())["value"].set_string_value(value);
  if (const protobuf::Descriptor* descriptor =
          protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(type));
      descriptor != nullptr) {
    std::unique_ptr<protobuf::Message> message = NewMessage(descriptor);
    std::string json;
    protobuf::Value debug;
    if (message->ParseFromString(any.value()) &&
        protobuf::util::MessageToJsonString(*message, &json).ok() &&
        protobuf::util::JsonStringToMessage(json, &debug).ok()) {
      (*fields.mutable_fields())["debug"] = std::move(debug);
    }
  }
  return detail;
}

protobuf::Struct ErrorStruct(const grpc::Status& status) {
  protobuf::Struct error;
  auto& fields = *error.mutable_fields();
  fields["code"].set_string_value(std::string(ConnectCodeName(status.error_code())));
  if (!status.error_message().empty()) {
    fields["message"].set_string_value(status.error_message());
  }
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details()) &&
      details.details_size() > 0) {
    protobuf::ListValue& list = *fields["details"].mutable_list_value();
    for (const protobuf::Any& any : details.details()) *list.add_values() = DetailOf(any);
  }
  return error;
}

std::string JsonOf(const protobuf::Message& message) {
  std::string json;
  (void)protobuf::util::MessageToJsonString(message, &json);
  return json;
}

}  // namespace

ConnectRoutes::ConnectRoutes() {
  for (const protobuf::FileDescriptor* file : kServiceFiles) {
    for (int s = 0; s < file->service_count(); ++s) {
      const protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        const protobuf::MethodDescriptor* method = service->method(m);
        if (method->client_streaming()) continue;
        ConnectRoute route;
        route.path = absl::StrCat("/", service->full_name(), "/", method->name());
        route.method = method;
        route.server_streaming = method->server_streaming();
        routes_.emplace(route.path, route);
      }
    }
  }
}

const ConnectRoute* ConnectRoutes::Find(absl::string_view path) const {
  auto it = routes_.find(path);
  return it == routes_.end() ? nullptr : &it->second;
}

absl::StatusOr<ConnectRequest> ParseConnectRequest(
    const ConnectRoutes& routes, absl::string_view path, absl::string_view content_type,
    absl::string_view protocol_version, absl::string_view timeout_ms,
    absl::string_view content_encoding, absl::string_view body, bool& unsupported_media) {
  unsupported_media = false;
  ConnectRequest request;
  request.route = routes.Find(path);
  if (request.route == nullptr) {
    return absl::UnimplementedError(absl::StrCat("no RPC ", path, " in leerlus.v1"));
  }
  const std::string media_type = MediaType(content_type);
  std::optional<ConnectCodec> codec = CodecOf(
      media_type, request.route->server_streaming ? "application/connect+" : "application/");
  if (!codec.has_value()) {
    unsupported_media = true;
    return FieldError("Content-Type",
                      absl::StrCat("must be ",
                                   request.route->server_streaming
                                       ? "application/connect+json or application/connect+proto"
                                       : "application/json or application/proto",
                                   " for ", path, ", not '", content_type, "'"));
  }
  request.codec = *codec;
  if (!protocol_version.empty() && protocol_version != "1") {
    return FieldError("Connect-Protocol-Version", "must be 1");
  }
  if (!content_encoding.empty() && !absl::EqualsIgnoreCase(content_encoding, "identity")) {
    return absl::UnimplementedError(
        absl::StrCat("compression '", content_encoding, "' is not supported; send identity"));
  }
  if (!timeout_ms.empty()) {
    uint64_t milliseconds = 0;
    // The protocol allows at most 10 digits.
    if (timeout_ms.size() > 10 || !absl::SimpleAtoi(timeout_ms, &milliseconds)) {
      return FieldError("Connect-Timeout-Ms", "must be at most 10 digits of milliseconds");
    }
    request.timeout = absl::Milliseconds(milliseconds);
  }
  absl::string_view payload = body;
  if (request.route->server_streaming) {
    // One enveloped message: five bytes of flags and length, then it.
    if (body.size() < 5) return FieldError("body", "must hold one enveloped request message");
    const auto flags = static_cast<uint8_t>(body[0]);
    const uint32_t length = (static_cast<uint32_t>(static_cast<uint8_t>(body[1])) << 24) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[2])) << 16) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[3])) << 8) |
                            static_cast<uint32_t>(static_cast<uint8_t>(body[4]));
    if (flags & kEnvelopeCompressed) {
      return absl::UnimplementedError("compressed messages are not supported");
    }
    if (flags != 0 || length != body.size() - 5) {
      return FieldError("body", "must hold exactly one enveloped request message");
    }
    payload = body.substr(5);
  }
  const protobuf::Descriptor* input = request.route->method->input_type();
  absl::StatusOr<std::string> binary = BinaryOf(request.codec, input, payload);
  if (!binary.ok()) return binary.status();
  request.message = *std::move(binary);
  return request;
}

ConnectAnswer UnaryAnswer(const ConnectRequest& request, const grpc::Status& status,
                          const std::string& response_message) {
  ConnectAnswer answer;
  if (status.ok()) {
    absl::StatusOr<std::string> body =
        Encoded(request.codec, request.route->method->output_type(), response_message);
    if (body.ok()) {
      answer.content_type =
          request.codec == ConnectCodec::kJson ? "application/json" : "application/proto";
      answer.body = *std::move(body);
      return answer;
    }
    return UnaryAnswer(request, GatewayError(body.status()), "");
  }
  answer.http_status = HttpStatusOf(status.error_code());
  answer.content_type = "application/json";
  answer.body = ConnectErrorJson(status);
  return answer;
}

std::string ConnectErrorJson(const grpc::Status& status) { return JsonOf(ErrorStruct(status)); }

int HttpStatusOf(grpc::StatusCode code) { return EntryOf(code).http_status; }

absl::string_view ConnectCodeName(grpc::StatusCode code) { return EntryOf(code).name; }

grpc::Status GatewayError(const absl::Status& status) { return ToGrpcStatus(status); }

std::optional<ConnectCodec> StreamCodecOf(absl::string_view content_type) {
  return CodecOf(MediaType(content_type), "application/connect+");
}

std::string StreamContentType(ConnectCodec codec) {
  return codec == ConnectCodec::kJson ? "application/connect+json" : "application/connect+proto";
}

absl::StatusOr<std::string> StreamMessage(const ConnectRequest& request,
                                          const std::string& response_message) {
  absl::StatusOr<std::string> payload =
      Encoded(request.codec, request.route->method->output_type(), response_message);
  if (!payload.ok()) return payload.status();
  return Envelope(0, *payload);
}

std::string EndOfStream(const grpc::Status& status) {
  protobuf::Struct end;
  if (!status.ok()) *(*end.mutable_fields())["error"].mutable_struct_value() = ErrorStruct(status);
  return Envelope(kEnvelopeEndOfStream, JsonOf(end));
}

std::string Envelope(uint8_t flags, absl::string_view payload) {
  std::string envelope;
  envelope.reserve(payload.size() + 5);
  const auto length = static_cast<uint32_t>(payload.size());
  envelope.push_back(static_cast<char>(flags));
  envelope.push_back(static_cast<char>((length >> 24) & 0xff));
  envelope.push_back(static_cast<char>((length >> 16) & 0xff));
  envelope.push_back(static_cast<char>((length >> 8) & 0xff));
  envelope.push_back(static_cast<char>(length & 0xff));
  envelope.append(payload.data(), payload.size());
  return envelope;
}

}  // namespace leerlus::server
