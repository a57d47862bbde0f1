#include "server/http_gateway.h"

#include <fcntl.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/errors.h"
#include "server/connect_protocol.h"

namespace leerlus::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using Response = http::response<http::string_body>;

// The largest static file served (the web app's bundles are far smaller).
constexpr off_t kMaxStaticFileBytes = 32 << 20;

// Request headers a browser may send across origins (CORS preflight).
constexpr absl::string_view kAllowedRequestHeaders =
    "Authorization, Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, "
    "Connect-Accept-Encoding, Connect-Content-Encoding, X-User-Agent";

// Answers to scripts: nothing on them may load or frame anything.
constexpr absl::string_view kApiContentSecurityPolicy =
    "default-src 'none'; frame-ancestors 'none'";
// The web app: its own scripts, styles and API only.
constexpr absl::string_view kAppContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Bytes held for many connections at once within one bound: request
// bodies being read, and answers being sent, so that many large ones at
// once cannot exhaust memory.
class ByteBudget {
 public:
  explicit ByteBudget(size_t total) : total_(total) {}
  bool Take(size_t bytes) {
    size_t used = used_.load();
    do {
      if (used + bytes > total_) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes));
    return true;
  }
  // Taken whatever the bound (an answer whose call has run is sent).
  void Force(size_t bytes) { used_.fetch_add(bytes); }
  bool Full() const { return used_.load() >= total_; }
  void Give(size_t bytes) { used_.fetch_sub(bytes); }

 private:
  const size_t total_;
  std::atomic<size_t> used_{0};
};

// A share of a budget, given back when the request is answered.
class BudgetShare {
 public:
  BudgetShare() = default;
  explicit BudgetShare(ByteBudget* budget) : budget_(budget) {}
  BudgetShare(BudgetShare&& other) noexcept { *this = std::move(other); }
  BudgetShare& operator=(BudgetShare&& other) noexcept {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    return *this;
  }
  ~BudgetShare() { Release(); }
  // `bytes` more, if the budget has them.
  bool TakeMore(size_t bytes) {
    if (budget_ == nullptr || !budget_->Take(bytes)) return false;
    bytes_ += bytes;
    return true;
  }
  // `bytes` more, whatever the bound.
  void ForceMore(size_t bytes) {
    if (budget_ == nullptr) return;
    budget_->Force(bytes);
    bytes_ += bytes;
  }
  void Release() {
    if (budget_ != nullptr) budget_->Give(bytes_);
    budget_ = nullptr;
  }

 private:
  ByteBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

// A request body read into a string, each piece taken from the body
// budget as it arrives: a client that declares a large body and sends it
// slowly holds only what it sent.
struct BudgetedBody {
  struct value_type {
    std::string bytes;
    BudgetShare* share = nullptr;  // Where the pieces are charged; none: refused.
    bool over_budget = false;
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<uint64_t>&, beast::error_code& error) { error = {}; }
    template <class ConstBufferSequence>
    size_t put(const ConstBufferSequence& buffers, beast::error_code& error) {
      const size_t size = net::buffer_size(buffers);
      if (body_.share == nullptr || !body_.share->TakeMore(size)) {
        body_.over_budget = true;
        error = net::error::no_buffer_space;
        return 0;
      }
      for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
           ++it) {
        body_.bytes.append(static_cast<const char*>((*it).data()), (*it).size());
      }
      error = {};
      return size;
    }
    void finish(beast::error_code& error) { error = {}; }

   private:
    value_type& body_;
  };
};

using Request = http::request<BudgetedBody>;

// What every connection shares.
struct Shared {
  Shared(HttpGatewayOptions given, std::shared_ptr<grpc::Channel> channel)
      : options(std::move(given)),
        stub(std::move(channel)),
        bodies(options.body_budget_bytes),
        answers(options.body_budget_bytes) {}
  const HttpGatewayOptions options;
  const ConnectRoutes routes;
  grpc::GenericStub stub;
  // Request bodies being read.
  ByteBudget bodies;
  // Answers being sent: a JSON answer can be larger than the service's
  // binary one, and a slow reader holds it.
  ByteBudget answers;
  std::atomic<int> connections{0};
  std::string web_root_real;  // web_root with links resolved
  bool tls = false;
  // On a loopback address, the Host values a request may carry (DNS
  // rebinding: a page whose name now points at 127.0.0.1 sends its own).
  std::vector<std::string> loopback_hosts;

  // Calls whose completion may still post to a connection: once stopping,
  // none starts, and the gateway waits for those running before its
  // threads' context goes away.
  bool BeginCall() {
    absl::MutexLock lock(&calls_mutex);
    if (stopping) return false;
    ++live_calls;
    return true;
  }
  void EndCall() {
    absl::MutexLock lock(&calls_mutex);
    --live_calls;
  }
  // False if calls still run after `limit`.
  bool StopCalls(absl::Duration limit) {
    absl::MutexLock lock(&calls_mutex);
    stopping = true;
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(calls_mutex) { return live_calls == 0; };
    return calls_mutex.AwaitWithTimeout(absl::Condition(&ended), limit);
  }

 private:
  absl::Mutex calls_mutex;
  int live_calls ABSL_GUARDED_BY(calls_mutex) = 0;
  bool stopping ABSL_GUARDED_BY(calls_mutex) = false;
};

// Adds the request's bearer token and deadline to a call; not OK for a
// header gRPC metadata cannot carry.
absl::Status Prepare(const Request& request, const ConnectRequest& call,
                     grpc::ClientContext& context) {
  auto authorization = request.find(http::field::authorization);
  if (authorization != request.end()) {
    absl::string_view value(authorization->value().data(), authorization->value().size());
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) return FieldError("Authorization", "must be printable ASCII");
    }
    context.AddMetadata("authorization", std::string(value));
  }
  if (call.timeout.has_value()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + *call.timeout));
  }
  return absl::OkStatus();
}

// A server-streaming call through the generic stub. Each message reaches
// `on_message`; the connection then asks for the next (ReadNext) or for no
// more (Release), so at most one message waits in the gateway and a slow
// client slows the stream, which the server's stall rule then ends.
class StreamCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  using MessageHandler = std::function<void(std::string)>;
  using DoneHandler = std::function<void(grpc::Status)>;

  static std::shared_ptr<StreamCall> Start(std::shared_ptr<Shared> shared,
                                           const Request& http_request, const ConnectRequest& call,
                                           MessageHandler on_message, DoneHandler on_done,
                                           absl::Status& prepared) {
    std::shared_ptr<StreamCall> stream(new StreamCall(std::move(on_message), std::move(on_done)));
    prepared = Prepare(http_request, call, stream->context_);
    if (!prepared.ok()) return nullptr;
    if (!shared->BeginCall()) {
      prepared = absl::UnavailableError("the server is stopping");
      return nullptr;
    }
    stream->self_ = stream;
    stream->request_ = ToByteBuffer(call.message);
    stream->shared_ = shared;
    shared->stub.PrepareBidiStreamingCall(&stream->context_, call.route->path, grpc::StubOptions(),
                                          stream.get());
    stream->StartWriteLast(&stream->request_, grpc::WriteOptions());
    stream->StartRead(&stream->incoming_);
    // Reads are asked for from outside reactions: the hold keeps the call
    // from finishing until the connection says it wants no more.
    stream->AddHold();
    stream->StartCall();
    return stream;
  }

  void ReadNext() { StartRead(&incoming_); }
  void Release() { RemoveHold(); }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      RemoveHold();
      return;
    }
    on_message_(ToString(incoming_));
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<Shared> shared = shared_;
    {
      // The handlers hold the connection: they go with this call, before
      // the gateway may stop.
      DoneHandler done = std::move(on_done_);
      on_message_ = nullptr;
      done(status);
    }
    // The last reference may be this one.
    std::shared_ptr<StreamCall> self = std::move(self_);
    self.reset();
    shared->EndCall();
  }

 private:
  StreamCall(MessageHandler on_message, DoneHandler on_done)
      : on_message_(std::move(on_message)), on_done_(std::move(on_done)) {}

  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer incoming_;
  MessageHandler on_message_;
  DoneHandler on_done_;
  std::shared_ptr<StreamCall> self_;
  std::shared_ptr<Shared> shared_;
};

std::string ContentTypeOfFile(absl::string_view path) {
  static const std::pair<absl::string_view, absl::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (const auto& [suffix, type] : kTypes) {
    if (absl::EndsWith(path, suffix)) return std::string(type);
  }
  return "application/octet-stream";
}

// A file under `root` (resolved, no link leading out of it), or nullopt.
std::optional<std::string> ReadStaticFile(const std::string& root, const std::string& relative) {
  const std::string candidate = absl::StrCat(root, "/", relative);
  char resolved[PATH_MAX];
  if (realpath(candidate.c_str(), resolved) == nullptr) return std::nullopt;
  const std::string real(resolved);
  if (!absl::StartsWith(real, absl::StrCat(root, "/"))) return std::nullopt;
  const int fd = open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat info {};
  std::optional<std::string> content;
  if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size <= kMaxStaticFileBytes) {
    std::string bytes(static_cast<size_t>(info.st_size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = read(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    if (done == bytes.size()) content = std::move(bytes);
  }
  close(fd);
  return content;
}

// One client connection: requests one at a time, each answered before
// the next is read.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, std::shared_ptr<Shared> shared)
      : stream_(std::move(stream)), shared_(std::move(shared)) {}
  ~Session() { --shared_->connections; }

  void Run() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadRequest();
    } else {
      Tcp().expires_after(ToChrono(shared_->options.request_timeout));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code error) {
                                if (error) return self->Close();
                                self->ReadRequest();
                              });
    }
  }

 private:
  static std::chrono::steady_clock::duration ToChrono(absl::Duration duration) {
    return absl::ToChronoNanoseconds(duration);
  }

  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    parser_->body_limit(shared_->options.max_body_bytes);
    Tcp().expires_after(ToChrono(shared_->options.request_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code error, size_t) {
                              self->OnHeader(error);
                            });
  }

  void OnHeader(beast::error_code error) {
    if (error) return OnReadError(error);
    Request& request = parser_->get();
    const boost::optional<uint64_t> length = parser_->content_length();
    if (request.method() != http::verb::post) {
      // Only calls carry a body.
      if (parser_->chunked() || (length && *length > 0)) {
        return SendError(400, absl::InvalidArgumentError("only POST requests carry a body"),
                         /*close=*/true);
      }
    }
    // Whether sent whole or in chunks (what Node's and Go's HTTP/1.1
    // clients send), the body is charged to the budget as it arrives.
    body_share_ = BudgetShare(&shared_->bodies);
    request.body().share = &body_share_;
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code error, size_t) {
                       self->OnRead(error);
                     });
  }

  void RefuseForBudget() {
    SendError(503, absl::UnavailableError("too many request bodies are being read; retry"),
              /*close=*/true);
  }

  void OnReadError(beast::error_code error) {
    const bool over_budget = parser_.has_value() && parser_->get().body().over_budget;
    // A partial body goes now, not after the answer and the drain.
    parser_.reset();
    if (over_budget) return RefuseForBudget();
    if (error == http::error::body_limit) {
      return SendError(413,
                       absl::ResourceExhaustedError(absl::StrCat(
                           "the request body is over ", shared_->options.max_body_bytes, " bytes")),
                       /*close=*/true);
    }
    if (error == http::error::header_limit) {
      return SendError(
          431,
          absl::ResourceExhaustedError(absl::StrCat("the request header is over ",
                                                    shared_->options.max_header_bytes, " bytes")),
          /*close=*/true);
    }
    // A closed connection, a timeout or bytes that are not HTTP: nobody
    // to answer, or nothing worth answering.
    if (error != http::error::end_of_stream && error != beast::error::timeout &&
        error != net::error::operation_aborted &&
        error.category() == http::make_error_code(http::error::end_of_stream).category()) {
      return SendError(400, absl::InvalidArgumentError("not an HTTP/1.1 request"), /*close=*/true);
    }
    Close();
  }

  void OnRead(beast::error_code error) {
    if (error) return OnReadError(error);
    Tcp().expires_never();
    request_ = parser_->release();
    parser_.reset();
    request_.body().share = nullptr;
    keep_alive_ = request_.keep_alive();
    Handle();
  }

  // ---- Routing ----

  void Handle() {
    origin_.clear();
    if (!HostAllowed()) {
      return SendError(421,
                       absl::PermissionDeniedError(
                           "this server answers only requests addressed to its loopback address"),
                       /*close=*/true);
    }
    if (auto origin = request_.find(http::field::origin); origin != request_.end()) {
      origin_ = std::string(origin->value());
      if (!OriginAllowed()) {
        origin_.clear();
        return SendError(403, absl::PermissionDeniedError("this origin may not call leerlus"),
                         false);
      }
    }
    const absl::string_view target(request_.target().data(), request_.target().size());
    const absl::string_view path = target.substr(0, target.find('?'));
    switch (request_.method()) {
      case http::verb::options:
        return SendPreflight();
      case http::verb::post:
        return HandleCall(path);
      case http::verb::get:
      case http::verb::head:
        if (shared_->routes.Find(path) != nullptr) {
          return SendError(405, absl::InvalidArgumentError("call RPCs with POST"), false, "POST");
        }
        return ServeFile(path);
      default:
        return SendError(405, absl::InvalidArgumentError("only GET, HEAD, POST and OPTIONS"), false,
                         "GET, HEAD, POST, OPTIONS");
    }
  }

  bool HostAllowed() const {
    if (shared_->loopback_hosts.empty()) return true;
    auto host = request_.find(http::field::host);
    if (host == request_.end()) return false;
    const std::string value = absl::AsciiStrToLower(std::string(host->value()));
    return std::find(shared_->loopback_hosts.begin(), shared_->loopback_hosts.end(), value) !=
           shared_->loopback_hosts.end();
  }

  // The browser's origin is the gateway's own, or one named by the
  // operator; a page elsewhere may not call with a user's token.
  bool OriginAllowed() const {
    const std::string origin = absl::AsciiStrToLower(origin_);
    for (const std::string& allowed : shared_->options.allowed_origins) {
      if (origin == absl::AsciiStrToLower(allowed)) return true;
    }
    auto host = request_.find(http::field::host);
    if (host == request_.end()) return false;
    return origin == absl::AsciiStrToLower(absl::StrCat(shared_->tls ? "https://" : "http://",
                                                        std::string(host->value())));
  }

  void HandleCall(absl::string_view path) {
    const ConnectRoute* route = shared_->routes.Find(path);
    if (route == nullptr) {
      return SendError(404, absl::UnimplementedError(absl::StrCat("no RPC ", path)), false);
    }
    bool unsupported_media = false;
    auto header = [&](http::field field) {
      auto it = request_.find(field);
      return it == request_.end() ? absl::string_view()
                                  : absl::string_view(it->value().data(), it->value().size());
    };
    auto named = [&](absl::string_view name) {
      auto it = request_.find(beast::string_view(name.data(), name.size()));
      return it == request_.end() ? absl::string_view()
                                  : absl::string_view(it->value().data(), it->value().size());
    };
    absl::StatusOr<ConnectRequest> call =
        ParseConnectRequest(shared_->routes, path, header(http::field::content_type),
                            named("connect-protocol-version"), named("connect-timeout-ms"),
                            route->server_streaming ? named("connect-content-encoding")
                                                    : header(http::field::content_encoding),
                            request_.body().bytes, unsupported_media);
    // The body is parsed; its share of the budget goes back with the answer.
    request_.body().bytes.clear();
    request_.body().bytes.shrink_to_fit();
    if (!call.ok()) {
      // A stream's client reads its errors from the stream's end.
      if (std::optional<ConnectCodec> codec = StreamCodecOf(header(http::field::content_type));
          route->server_streaming && codec.has_value()) {
        return SendStreamError(*codec, GatewayError(call.status()));
      }
      const grpc::Status status = GatewayError(call.status());
      return SendError(unsupported_media ? 415 : HttpStatusOf(status.error_code()), call.status(),
                       false);
    }
    call_ = *std::move(call);
    // As a gRPC client does, a call whose deadline has passed is not sent.
    if (call_.timeout.has_value() && *call_.timeout <= absl::ZeroDuration()) {
      return FailCall(absl::DeadlineExceededError("Connect-Timeout-Ms is 0: no time left"));
    }
    if (call_.route->server_streaming) return StartStream();
    StartUnary();
  }

  // ---- Unary calls ----

  struct UnaryExchange {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
  };

  void StartUnary() {
    auto exchange = std::make_shared<UnaryExchange>();
    if (absl::Status prepared = Prepare(request_, call_, exchange->context); !prepared.ok()) {
      return FailCall(prepared);
    }
    // Admission, while nothing has happened yet and a retry is safe: once
    // the call has run, its answer is sent whatever its size.
    if (shared_->answers.Full()) {
      return FailCall(absl::UnavailableError("too many answers are being sent; retry"));
    }
    if (!shared_->BeginCall()) return FailCall(absl::UnavailableError("the server is stopping"));
    exchange->request = ToByteBuffer(call_.message);
    call_.message.clear();
    shared_->stub.UnaryCall(
        &exchange->context, call_.route->path, grpc::StubOptions(), &exchange->request,
        &exchange->response,
        [self = this->shared_from_this(), exchange](grpc::Status status) mutable {
          std::string message = status.ok() ? ToString(exchange->response) : std::string();
          std::shared_ptr<Shared> shared = self->shared_;
          {
            // Everything that refers to the connection's context goes
            // before the call ends: after EndCall the context may go.
            auto executor = self->stream_.get_executor();
            net::post(executor,
                      [self = std::move(self), status = std::move(status),
                       message = std::move(message)] { self->FinishUnary(status, message); });
          }
          exchange.reset();
          shared->EndCall();
        });
  }

  // A call refused before it reached the services: as its transport says.
  void FailCall(const absl::Status& error) {
    if (call_.route->server_streaming) return SendStreamError(call_.codec, GatewayError(error));
    const grpc::Status status = GatewayError(error);
    SendError(HttpStatusOf(status.error_code()), error, false);
  }

  void FinishUnary(const grpc::Status& status, const std::string& message) {
    ConnectAnswer answer = UnaryAnswer(call_, status, message);
    answer_share_ = BudgetShare(&shared_->answers);
    answer_share_.ForceMore(answer.body.size());
    Response response{static_cast<http::status>(answer.http_status), request_.version()};
    response.set(http::field::content_type, answer.content_type);
    response.body() = std::move(answer.body);
    Send(std::move(response), kApiContentSecurityPolicy);
  }

  // ---- Server streaming ----

  void StartStream() {
    auto header =
        std::make_shared<http::response<http::empty_body>>(http::status::ok, request_.version());
    header->set(http::field::content_type, StreamContentType(call_.codec));
    AddCommonHeaders(*header, kApiContentSecurityPolicy);
    header->chunked(true);
    header->keep_alive(false);
    keep_alive_ = false;
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    body_share_.Release();
    absl::Status prepared;
    stream_call_ = StreamCall::Start(
        shared_, request_, call_,
        [self = this->shared_from_this()](std::string message) {
          net::post(self->stream_.get_executor(), [self, message = std::move(message)]() mutable {
            self->OnStreamMessage(std::move(message));
          });
        },
        [self = this->shared_from_this()](grpc::Status status) {
          net::post(self->stream_.get_executor(),
                    [self, status = std::move(status)] { self->OnStreamDone(status); });
        },
        prepared);
    if (!prepared.ok()) return FailCall(prepared);
    writing_ = true;
    Tcp().expires_after(ToChrono(shared_->options.write_timeout));
    http::async_write_header(
        stream_, *serializer,
        [self = this->shared_from_this(), header, serializer](beast::error_code error, size_t) {
          self->writing_ = false;
          self->Tcp().expires_never();
          if (error) return self->AbandonStream();
          self->WatchForClose();
          self->Pump();
        });
  }

  // A client that closes its side, or sends anything, mid-stream ends it.
  void WatchForClose() {
    watching_ = true;
    stream_.async_read_some(net::buffer(watch_byte_),
                            [self = this->shared_from_this()](beast::error_code, size_t) {
                              self->watching_ = false;
                              self->AbandonStream();
                            });
  }

  void OnStreamMessage(std::string message) {
    if (abandoned_) return stream_call_->Release();
    absl::StatusOr<std::string> envelope = StreamMessage(call_, message);
    if (!envelope.ok()) {
      // Cannot happen for a message the service encoded; end the call.
      stream_call_->Cancel();
      return stream_call_->Release();
    }
    outbox_.push_back(Chunk{*std::move(envelope), /*message=*/true, /*last=*/false});
    Pump();
  }

  void OnStreamDone(const grpc::Status& status) {
    stream_done_ = true;
    if (abandoned_) return Close();
    outbox_.push_back(Chunk{EndOfStream(status), false, false});
    outbox_.push_back(Chunk{"", false, /*last=*/true});
    Pump();
  }

  struct Chunk {
    std::string bytes;
    bool message = false;  // A message of the call: the next is asked for once it is sent.
    bool last = false;     // The chunked body's end.
  };

  void Pump() {
    if (writing_ || outbox_.empty() || abandoned_) return;
    writing_ = true;
    auto chunk = std::make_shared<Chunk>(std::move(outbox_.front()));
    outbox_.pop_front();
    Tcp().expires_after(ToChrono(shared_->options.write_timeout));
    auto written = [self = this->shared_from_this(), chunk](beast::error_code error, size_t) {
      self->writing_ = false;
      self->Tcp().expires_never();
      // Each message delivered is answered to the call exactly once: the
      // next one asked for, or none.
      if (chunk->message) {
        if (error || self->abandoned_) {
          self->stream_call_->Release();
        } else {
          self->stream_call_->ReadNext();
        }
      }
      if (error) return self->AbandonStream();
      if (chunk->last) return self->Close();
      self->Pump();
    };
    if (chunk->last) {
      net::async_write(stream_, http::make_chunk_last(), std::move(written));
    } else {
      net::async_write(stream_, http::make_chunk(net::buffer(chunk->bytes)), std::move(written));
    }
  }

  // The client is gone or too slow: the call is cancelled and the
  // connection closed once the call has ended.
  void AbandonStream() {
    if (abandoned_ || closed_) return;
    abandoned_ = true;
    // Messages waiting to be sent never will be: the call hears so.
    for (const Chunk& chunk : outbox_) {
      if (chunk.message) stream_call_->Release();
    }
    outbox_.clear();
    if (stream_call_ != nullptr && !stream_done_) {
      stream_call_->Cancel();
    } else {
      Close();
    }
  }

  // ---- Static files ----

  void ServeFile(absl::string_view path) {
    if (shared_->web_root_real.empty()) {
      return SendError(404, absl::NotFoundError("nothing is served here"), false);
    }
    // Plain names only: no parent steps, hidden files or encoded bytes.
    std::string relative(absl::StripPrefix(path, "/"));
    for (absl::string_view part : absl::StrSplit(relative, '/')) {
      if (absl::StartsWith(part, ".") || absl::StrContains(part, "%") ||
          absl::StrContains(part, "\\")) {
        return SendError(404, absl::NotFoundError("no such file"), false);
      }
    }
    if (relative.empty() || absl::EndsWith(relative, "/")) relative += "index.html";
    std::optional<std::string> content = ReadStaticFile(shared_->web_root_real, relative);
    // A deep link into the app (no file extension) gets the app itself.
    const absl::string_view last = absl::string_view(relative).substr(relative.rfind('/') + 1);
    if (!content.has_value() && !absl::StrContains(last, ".")) {
      relative = "index.html";
      content = ReadStaticFile(shared_->web_root_real, relative);
    }
    if (!content.has_value()) return SendError(404, absl::NotFoundError("no such file"), false);
    Response response{http::status::ok, request_.version()};
    response.set(http::field::content_type, ContentTypeOfFile(relative));
    response.set(http::field::cache_control, "no-cache");
    const size_t size = content->size();
    if (request_.method() != http::verb::head) response.body() = *std::move(content);
    Send(std::move(response), kAppContentSecurityPolicy, size);
  }

  // ---- Answers ----

  template <typename Body>
  void AddCommonHeaders(http::response<Body>& response, absl::string_view policy) {
    response.set("Content-Security-Policy", beast::string_view(policy.data(), policy.size()));
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Referrer-Policy", "no-referrer");
    response.set("X-Frame-Options", "DENY");
    if (policy == kApiContentSecurityPolicy) response.set(http::field::cache_control, "no-store");
    if (shared_->tls) response.set("Strict-Transport-Security", "max-age=31536000");
    response.set(http::field::vary, "Origin");
    if (!origin_.empty()) {
      response.set(http::field::access_control_allow_origin, origin_);
      response.set(http::field::access_control_expose_headers, "Content-Type");
    }
  }

  void SendPreflight() {
    Response response{http::status::no_content, request_.version()};
    if (!origin_.empty()) {
      response.set(http::field::access_control_allow_methods, "GET, HEAD, POST, OPTIONS");
      response.set(
          http::field::access_control_allow_headers,
          beast::string_view(kAllowedRequestHeaders.data(), kAllowedRequestHeaders.size()));
      response.set(http::field::access_control_max_age, "7200");
    }
    response.set(http::field::allow, "GET, HEAD, POST, OPTIONS");
    Send(std::move(response), kApiContentSecurityPolicy);
  }

  // A stream refused before it began: 200, and its status in the end
  // message, where Connect's streaming clients read it.
  void SendStreamError(ConnectCodec codec, const grpc::Status& status) {
    Response response{http::status::ok, request_.version()};
    response.set(http::field::content_type, StreamContentType(codec));
    response.body() = EndOfStream(status);
    Send(std::move(response), kApiContentSecurityPolicy);
  }

  void SendError(int http_status, const absl::Status& error, bool close,
                 absl::string_view allow = "") {
    if (close) keep_alive_ = false;
    Response response{static_cast<http::status>(http_status), request_.version()};
    response.set(http::field::content_type, "application/json");
    if (!allow.empty())
      response.set(http::field::allow, beast::string_view(allow.data(), allow.size()));
    if (http_status == 415) response.set("Accept-Post", "application/json, application/proto");
    response.body() = ConnectErrorJson(GatewayError(error));
    Send(std::move(response), kApiContentSecurityPolicy);
  }

  // `content_length`: for HEAD, the length a GET would have had.
  void Send(Response response, absl::string_view policy,
            std::optional<size_t> content_length = std::nullopt) {
    AddCommonHeaders(response, policy);
    response.keep_alive(keep_alive_);
    if (request_.method() == http::verb::head) {
      // The headers a GET would get, without its body (errors too).
      response.content_length(content_length.value_or(response.body().size()));
      response.body().clear();
    } else if (content_length.has_value()) {
      response.content_length(*content_length);
    } else {
      response.prepare_payload();
    }
    auto shared_response = std::make_shared<Response>(std::move(response));
    Tcp().expires_after(ToChrono(shared_->options.write_timeout));
    http::async_write(
        stream_, *shared_response,
        [self = this->shared_from_this(), shared_response](beast::error_code error, size_t) {
          self->Tcp().expires_never();
          self->body_share_.Release();
          self->answer_share_.Release();
          self->request_ = {};
          self->origin_.clear();
          if (error || !self->keep_alive_) return self->Close();
          self->ReadRequest();
        });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    if (watching_ || writing_) {
      // A stream's watch still reads, or a write is under way: the
      // connection ends at once.
      Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      Tcp().close();
      return;
    }
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      // Our side ends; what the client still sends (the rest of a body too
      // large to read) is read and dropped for a short while, so that it
      // sees the answer instead of a reset connection.
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Tcp().expires_after(std::chrono::seconds(5));
      Drain();
    } else {
      Tcp().expires_after(std::chrono::seconds(5));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Tcp().close(); });
    }
  }

  void Drain() {
    Tcp().async_read_some(net::buffer(drain_buffer_),
                          [self = this->shared_from_this()](beast::error_code error, size_t) {
                            if (error) return self->Tcp().close();
                            self->Drain();
                          });
  }

  Stream stream_;
  std::shared_ptr<Shared> shared_;
  char drain_buffer_[4096];
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<BudgetedBody>> parser_;
  Request request_;
  BudgetShare body_share_;
  BudgetShare answer_share_;

  bool keep_alive_ = false;
  std::string origin_;
  ConnectRequest call_;
  // A streaming call's state; all of it on this connection's strand.
  std::shared_ptr<StreamCall> stream_call_;
  std::deque<Chunk> outbox_;
  bool writing_ = false;
  bool watching_ = false;
  bool abandoned_ = false;
  bool stream_done_ = false;
  bool closed_ = false;
  char watch_byte_[1] = {0};
};

absl::StatusOr<tcp::endpoint> ResolveListen(net::io_context& context, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen '", listen, "' is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  beast::error_code error;
  tcp::resolver resolver(context);
  auto results = resolver.resolve(host, port, tcp::resolver::passive, error);
  if (error || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen '", listen, "': ", error ? error.message() : "no address"));
  }
  return results.begin()->endpoint();
}

}  // namespace

class HttpGateway::Impl {
 public:
  Impl(HttpGatewayOptions options, std::shared_ptr<grpc::Channel> channel)
      : shared_(std::make_shared<Shared>(std::move(options), std::move(channel))),
        tls_(ssl::context::tls_server),
        acceptor_(net::make_strand(*context_)),
        backoff_(acceptor_.get_executor()) {}

  ~Impl() {
    StopAccepting();
    // Calls still running post their answers into the context: none starts
    // now, and those running end first (the gRPC server's shutdown ends
    // them). One that outlives the wait keeps the context, leaked.
    const bool ended = shared_->StopCalls(absl::Seconds(10));
    context_->stop();
    for (std::thread& thread : threads_) thread.join();
    if (!ended) (void)context_.release();
  }

  absl::Status Start() {
    const HttpGatewayOptions& options = shared_->options;
    for (const std::string& origin : options.allowed_origins) {
      if (!IsNamedOrigin(origin)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--http-allowed-origin '", origin,
                         "' is not an origin like https://app.example.nl (no path, no wildcard)"));
      }
    }
    if (!options.web_root.empty()) {
      char resolved[PATH_MAX];
      struct stat info {};
      if (realpath(options.web_root.c_str(), resolved) == nullptr || stat(resolved, &info) != 0 ||
          !S_ISDIR(info.st_mode)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--web-root '", options.web_root, "' is not a directory"));
      }
      shared_->web_root_real = resolved;
    }
    if (!options.tls_cert.empty()) {
      beast::error_code error;
      tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      SSL_CTX_set_options(tls_.native_handle(), SSL_OP_NO_RENEGOTIATION);
      tls_.use_certificate_chain_file(options.tls_cert, error);
      if (!error) tls_.use_private_key_file(options.tls_key, ssl::context::pem, error);
      if (error) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot use --tls-cert and --tls-key for HTTP: ", error.message()));
      }
      if (!options.tls_client_ca.empty()) {
        tls_.load_verify_file(options.tls_client_ca, error);
        if (error) {
          return absl::InvalidArgumentError(
              absl::StrCat("cannot read --tls-client-ca: ", error.message()));
        }
        tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
      shared_->tls = true;
    }
    absl::StatusOr<tcp::endpoint> endpoint = ResolveListen(*context_, options.listen);
    if (!endpoint.ok()) return endpoint.status();
    beast::error_code error;
    acceptor_.open(endpoint->protocol(), error);
    if (!error) acceptor_.set_option(net::socket_base::reuse_address(true), error);
    if (!error) acceptor_.bind(*endpoint, error);
    if (!error) acceptor_.listen(net::socket_base::max_listen_connections, error);
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for HTTP on ", options.listen, ": ", error.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    if (endpoint->address().is_loopback()) {
      const std::string listened = endpoint->address().is_v6()
                                       ? absl::StrCat("[", endpoint->address().to_string(), "]")
                                       : endpoint->address().to_string();
      for (const std::string& host :
           {std::string("127.0.0.1"), std::string("localhost"), std::string("[::1]"), listened}) {
        shared_->loopback_hosts.push_back(absl::StrCat(host, ":", port_));
        if (port_ == (shared_->tls ? 443 : 80)) shared_->loopback_hosts.push_back(host);
      }
    }
    Accept();
    for (int i = 0; i < std::max(1, options.threads); ++i) {
      threads_.emplace_back([this] { context_->run(); });
      pthread_setname_np(threads_.back().native_handle(), "leerlus-http");
    }
    return absl::OkStatus();
  }

  int port() const { return port_; }

  void StopAccepting() {
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(*context_),
                           [this](beast::error_code error, tcp::socket socket) {
                             if (error == net::error::operation_aborted || !acceptor_.is_open())
                               return;
                             if (!error) {
                               Serve(std::move(socket));
                               return Accept();
                             }
                             // Out of descriptors, say: wait a little instead of spinning.
                             backoff_.expires_after(std::chrono::milliseconds(100));
                             backoff_.async_wait([this](beast::error_code) { Accept(); });
                           });
  }

  void Serve(tcp::socket socket) {
    // Over the limit a connection is closed at once: cheaper than an answer.
    if (++shared_->connections > shared_->options.max_connections) {
      --shared_->connections;
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    // A client whose machine vanished (no FIN, no RST) is noticed, so that
    // its stream and slot are reclaimed, as gRPC's keepalive pings do.
    beast::error_code ignored;
    socket.set_option(net::socket_base::keep_alive(true), ignored);
    const int fd = socket.native_handle();
    const int idle = 60, interval = 20, count = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    beast::tcp_stream stream(std::move(socket));
    if (shared_->tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          beast::ssl_stream<beast::tcp_stream>(std::move(stream), tls_), shared_)
          ->Run();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(std::move(stream), shared_)->Run();
    }
  }

  std::shared_ptr<Shared> shared_;
  // Before the context: connections still queued in it use it.
  ssl::context tls_;
  std::unique_ptr<net::io_context> context_ = std::make_unique<net::io_context>();
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    HttpGatewayOptions options, std::shared_ptr<grpc::Channel> channel) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(channel));
  if (absl::Status started = impl->Start(); !started.ok()) return started;
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(impl)));
}

HttpGateway::HttpGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpGateway::~HttpGateway() = default;
int HttpGateway::port() const { return impl_->port(); }
void HttpGateway::StopAccepting() { impl_->StopAccepting(); }

bool IsNamedOrigin(const std::string& origin) {
  absl::string_view rest = origin;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return false;
  }
  if (rest.empty()) return false;
  for (char c : rest) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']')) {
      return false;
    }
  }
  return true;
}

}  // namespace leerlus::server
