// The Connect protocol's wire rules (connectrpc.com/docs/protocol), with no
// I/O: which leerlus.v1 methods a path names, how a body becomes the
// binary request the gRPC services take, how an answer or a gRPC status
// becomes a Connect body, and the envelopes of a streaming call.
//
//   absl::StatusOr<ConnectRequest> request =
//       ParseConnectRequest(routes, "/leerlus.v1.ExperimentService/GetExperiment",
//                           "application/json", "", body);
//   ... call request->route->grpc_method with request->message ...
//   ConnectAnswer answer = UnaryAnswer(*request, grpc_status, response_bytes);
#ifndef LEERLUS_SERVER_CONNECT_PROTOCOL_H_
#define LEERLUS_SERVER_CONNECT_PROTOCOL_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace leerlus::server {

// One RPC as Connect names it.
struct ConnectRoute {
  // "/leerlus.v1.ExperimentService/GetExperiment": the HTTP path and the
  // gRPC method name alike.
  std::string path;
  const google::protobuf::MethodDescriptor* method = nullptr;
  // Connect over HTTP/1.1 carries unary and server-streaming calls.
  bool server_streaming = false;
};

// Every RPC of every leerlus.v1 service, by path, read from the services'
// descriptors; client-streaming RPCs are left out (ImportOutcomes: its
// unary twin ImportOutcomeBatch carries the same rows).
class ConnectRoutes {
 public:
  ConnectRoutes();
  // nullptr: no such RPC.
  const ConnectRoute* Find(absl::string_view path) const;
  const std::map<std::string, ConnectRoute, std::less<>>& all() const { return routes_; }

 private:
  std::map<std::string, ConnectRoute, std::less<>> routes_;
};

enum class ConnectCodec { kJson, kProto };

// A request taken apart: the route, its codec, its deadline and the
// request message in protobuf's binary form.
struct ConnectRequest {
  const ConnectRoute* route = nullptr;
  ConnectCodec codec = ConnectCodec::kJson;
  // Connect-Timeout-Ms; none: no deadline.
  std::optional<absl::Duration> timeout;
  std::string message;
};

// What the gateway answers: an HTTP status, its Content-Type and body.
struct ConnectAnswer {
  int http_status = 200;
  std::string content_type;
  std::string body;
};

// Reads a POSTed call. Not OK (with the field or header named) for an
// unknown path, a Content-Type the route does not take, a bad
// Connect-Timeout-Ms or Connect-Protocol-Version, compression, or a body
// that is not the route's request message. `unsupported_media` is set when
// the Content-Type itself is wrong (HTTP 415, as the protocol says).
absl::StatusOr<ConnectRequest> ParseConnectRequest(
    const ConnectRoutes& routes, absl::string_view path, absl::string_view content_type,
    absl::string_view protocol_version, absl::string_view timeout_ms,
    absl::string_view content_encoding, absl::string_view body, bool& unsupported_media);

// A unary call's answer: the response in the request's codec, or the
// Connect error with its HTTP status.
ConnectAnswer UnaryAnswer(const ConnectRequest& request, const grpc::Status& status,
                          const std::string& response_message);

// The Connect error body of `status` ({"code", "message", "details"}),
// with each google.rpc detail as {"type", "value" (base64), "debug"}.
std::string ConnectErrorJson(const grpc::Status& status);

// The HTTP status the protocol gives a gRPC code (e.g. NOT_FOUND: 404).
int HttpStatusOf(grpc::StatusCode code);

// Connect's name of a gRPC code ("not_found").
absl::string_view ConnectCodeName(grpc::StatusCode code);

// A grpc::Status for an error the gateway finds itself, with the same
// google.rpc details the services give (server/status_mapping.h).
grpc::Status GatewayError(const absl::Status& status);

// The codec a streaming Content-Type names (application/connect+json or
// +proto); none for another.
std::optional<ConnectCodec> StreamCodecOf(absl::string_view content_type);

// Streams: the Content-Type of the answer, one message's envelope, and
// the end-of-stream envelope that carries the call's status.
std::string StreamContentType(ConnectCodec codec);
absl::StatusOr<std::string> StreamMessage(const ConnectRequest& request,
                                          const std::string& response_message);
std::string EndOfStream(const grpc::Status& status);

// An envelope's flags (the first of its five header bytes).
inline constexpr uint8_t kEnvelopeCompressed = 0x01;
inline constexpr uint8_t kEnvelopeEndOfStream = 0x02;

// `payload` in an envelope.
std::string Envelope(uint8_t flags, absl::string_view payload);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_CONNECT_PROTOCOL_H_
