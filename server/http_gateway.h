// leerlus over HTTP/1.1: the Connect protocol (server/connect_protocol.h)
// for every leerlus.v1 RPC, and the web app's static files.
//
// There is no second API behind it: each call goes through the gRPC
// server's in-process channel into the very services gRPC clients reach,
// so authorisation, limits, deadlines, metrics and logs are theirs. What is
// the gateway's own is HTTP: TLS, bounded bodies and headers, slow-client
// timeouts, CORS for named origins and the security headers.
//
//   absl::StatusOr<std::unique_ptr<HttpGateway>> gateway =
//       HttpGateway::Start(options, server->InProcessChannel(arguments));
//   ... (*gateway)->StopAccepting(); server->Shutdown(); (*gateway).reset();
#ifndef LEERLUS_SERVER_HTTP_GATEWAY_H_
#define LEERLUS_SERVER_HTTP_GATEWAY_H_

#include <grpcpp/channel.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace leerlus::server {

struct HttpGatewayOptions {
  // host:port; port 0 picks a free one.
  std::string listen;
  // PEM files; empty: plaintext (refused on a non-loopback address by the
  // caller, as for gRPC). With a client CA every client shows a
  // certificate signed by it.
  std::string tls_cert, tls_key, tls_client_ca;
  // Origins (scheme://host[:port]) whose pages may call from a browser;
  // the gateway's own origin always may.
  std::vector<std::string> allowed_origins;
  // Static files served on GET (the web app); empty: none.
  std::string web_root;
  // The largest request body; all bodies being read at once, and (apart)
  // all answers being sent at once.
  size_t max_body_bytes = 16 << 20;
  size_t body_budget_bytes = 64 << 20;
  size_t max_header_bytes = 16 << 10;
  int max_connections = 1024;
  // A request's header and body must arrive within this of the first
  // byte (or of the previous answer, on a kept-alive connection); each
  // write to a client must finish within `write_timeout`.
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  int threads = 2;
};

class HttpGateway {
 public:
  // Listens and serves on `options.threads` threads; each call goes
  // through `channel` (the gRPC server's in-process channel).
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(HttpGatewayOptions options,
                                                            std::shared_ptr<grpc::Channel> channel);
  // Stops accepting and serving; calls still running are cancelled.
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  int port() const;
  // No new connections; those open finish their calls (the gRPC server's
  // shutdown ends them).
  void StopAccepting();

  class Impl;

 private:
  explicit HttpGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `origin` is a browser origin the gateway can name in CORS:
// http(s)://host[:port], nothing after. "*" and "null" are not.
bool IsNamedOrigin(const std::string& origin);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_HTTP_GATEWAY_H_
