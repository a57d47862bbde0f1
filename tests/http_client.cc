#include "tests/http_client.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "google/rpc/status.pb.h"

namespace leerlus::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

const std::map<std::string, grpc::StatusCode>& CodesByName() {
  static const auto* codes = new std::map<std::string, grpc::StatusCode>{
      {"canceled", grpc::StatusCode::CANCELLED},
      {"unknown", grpc::StatusCode::UNKNOWN},
      {"invalid_argument", grpc::StatusCode::INVALID_ARGUMENT},
      {"deadline_exceeded", grpc::StatusCode::DEADLINE_EXCEEDED},
      {"not_found", grpc::StatusCode::NOT_FOUND},
      {"already_exists", grpc::StatusCode::ALREADY_EXISTS},
      {"permission_denied", grpc::StatusCode::PERMISSION_DENIED},
      {"resource_exhausted", grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"failed_precondition", grpc::StatusCode::FAILED_PRECONDITION},
      {"aborted", grpc::StatusCode::ABORTED},
      {"out_of_range", grpc::StatusCode::OUT_OF_RANGE},
      {"unimplemented", grpc::StatusCode::UNIMPLEMENTED},
      {"internal", grpc::StatusCode::INTERNAL},
      {"unavailable", grpc::StatusCode::UNAVAILABLE},
      {"data_loss", grpc::StatusCode::DATA_LOSS},
      {"unauthenticated", grpc::StatusCode::UNAUTHENTICATED},
  };
  return *codes;
}

}  // namespace

HttpAnswer HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers, const std::string& body,
                       std::chrono::seconds timeout) {
  // Asynchronous operations, run here: only they honour the expiry.
  HttpAnswer answer;
  net::io_context context;
  beast::tcp_stream stream(context);
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  if (!body.empty() || method == "POST") request.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 << 20);
  bool read_whole = false;
  stream.expires_after(timeout);
  stream.async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
      [&](beast::error_code error) {
        if (error) return;
        http::async_write(stream, request, [&](beast::error_code error, size_t) {
          if (error) return;
          http::async_read(stream, buffer, parser, [&](beast::error_code error, size_t) {
            read_whole = !error || error == http::error::end_of_stream;
          });
        });
      });
  context.run();
  if (!read_whole || !parser.is_header_done()) return answer;
  const auto& response = parser.get();
  answer.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    answer.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  answer.body = response.body();
  return answer;
}

HttpAnswer ConnectCall(int port, const std::string& path, const std::string& content_type,
                       const std::string& body, const std::string& token,
                       const std::map<std::string, std::string>& extra_headers) {
  std::map<std::string, std::string> headers = extra_headers;
  headers["Content-Type"] = content_type;
  headers.emplace("Connect-Protocol-Version", "1");
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  return HttpRequest(port, "POST", path, headers, body);
}

grpc::Status StatusOfConnectAnswer(const HttpAnswer& answer) {
  if (answer.status == 200) return grpc::Status::OK;
  if (answer.status == 0) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "no answer");
  google::protobuf::Struct error;
  if (!google::protobuf::util::JsonStringToMessage(answer.body, &error).ok()) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "not a Connect error: " + answer.body);
  }
  const auto& fields = error.fields();
  auto code = fields.find("code");
  grpc::StatusCode status_code = grpc::StatusCode::UNKNOWN;
  if (code != fields.end()) {
    auto named = CodesByName().find(code->second.string_value());
    if (named != CodesByName().end()) status_code = named->second;
  }
  auto message = fields.find("message");
  return grpc::Status(status_code, message == fields.end() ? "" : message->second.string_value());
}

grpc::Status ConnectProtoCall(int port, const std::string& path,
                              const google::protobuf::Message& request,
                              google::protobuf::Message* response, const std::string& token) {
  HttpAnswer answer =
      ConnectCall(port, path, "application/proto", request.SerializeAsString(), token);
  grpc::Status status = StatusOfConnectAnswer(answer);
  if (status.ok() && response != nullptr && !response->ParseFromString(answer.body)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the answer does not parse");
  }
  return status;
}

std::vector<Envelope> SplitEnvelopes(const std::string& body) {
  std::vector<Envelope> envelopes;
  size_t at = 0;
  while (at + 5 <= body.size()) {
    Envelope envelope;
    envelope.flags = static_cast<uint8_t>(body[at]);
    const uint32_t length = (static_cast<uint32_t>(static_cast<uint8_t>(body[at + 1])) << 24) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[at + 2])) << 16) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(body[at + 3])) << 8) |
                            static_cast<uint32_t>(static_cast<uint8_t>(body[at + 4]));
    if (at + 5 + length > body.size()) break;
    envelope.payload = body.substr(at + 5, length);
    envelopes.push_back(std::move(envelope));
    at += 5 + length;
  }
  return envelopes;
}

std::string MakeEnvelope(int flags, const std::string& payload) {
  std::string envelope(5, '\0');
  envelope[0] = static_cast<char>(flags);
  const auto length = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) envelope[1 + i] = static_cast<char>((length >> (24 - 8 * i)) & 0xff);
  return envelope + payload;
}

std::string RawExchange(int port, const std::string& bytes, std::chrono::seconds timeout) {
  // A plain blocking socket: its own timeouts bound each send and receive.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval limit{};
  limit.tv_sec = timeout.count();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      received.append(chunk, static_cast<size_t>(n));
    }
  }
  close(fd);
  return received;
}

}  // namespace leerlus::testing
