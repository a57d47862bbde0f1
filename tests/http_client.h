// A plain HTTP/1.1 client for the tests of leerlusd's HTTP gateway, and
// the Connect protocol's framing as a client sees it.
#ifndef LEERLUS_TESTS_HTTP_CLIENT_H_
#define LEERLUS_TESTS_HTTP_CLIENT_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace leerlus::testing {

struct HttpAnswer {
  int status = 0;                              // 0: no answer (the connection closed or timed out).
  std::map<std::string, std::string> headers;  // Names in lower case.
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One request on a new connection to 127.0.0.1:`port`.
HttpAnswer HttpRequest(int port, const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& headers = {},
                       const std::string& body = "",
                       std::chrono::seconds timeout = std::chrono::seconds(30));

// A Connect unary call: POST `path` with `body` as `content_type`
// (application/json or application/proto), with the bearer token if given.
HttpAnswer ConnectCall(int port, const std::string& path, const std::string& content_type,
                       const std::string& body, const std::string& token = "",
                       const std::map<std::string, std::string>& extra_headers = {});

// The same as a binary protobuf call of `request`; the answer parsed into
// `response` when OK. The status comes from the Connect error body.
grpc::Status ConnectProtoCall(int port, const std::string& path,
                              const google::protobuf::Message& request,
                              google::protobuf::Message* response, const std::string& token = "");

// The gRPC status a Connect error body names (OK for a 200 answer).
grpc::Status StatusOfConnectAnswer(const HttpAnswer& answer);

// A server-streaming body taken apart: each envelope's flags and payload.
struct Envelope {
  int flags = 0;
  std::string payload;
};
std::vector<Envelope> SplitEnvelopes(const std::string& body);
std::string MakeEnvelope(int flags, const std::string& payload);

// Bytes written raw to a new connection, then whatever comes back until the
// server closes it or `timeout` passes.
std::string RawExchange(int port, const std::string& bytes, std::chrono::seconds timeout);

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_HTTP_CLIENT_H_
