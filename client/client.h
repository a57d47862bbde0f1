// The leerlus client library: one channel, a stub for each of the five
// services (catalog, experiments, event log, insights, admin), and the retry
// rule every partner should follow: UNAVAILABLE is retried with backoff and
// the same request_id (so a retry can never apply twice); nothing else is
// retried blindly.
//
//   leerlus::client::Client client("127.0.0.1:50051");
//   v1::CreateExperimentRequest request = ...;
//   request.set_request_id(leerlus::client::NewRequestId());
//   v1::CreateExperimentResponse response;
//   grpc::Status status = client.Call(&v1::ExperimentService::Stub::CreateExperiment,
//                                     client.experiments(), request, &response);
#ifndef LEERLUS_CLIENT_CLIENT_H_
#define LEERLUS_CLIENT_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "leerlus/v1/admin_service.grpc.pb.h"
#include "leerlus/v1/catalog_service.grpc.pb.h"
#include "leerlus/v1/event_log_service.grpc.pb.h"
#include "leerlus/v1/experiment_service.grpc.pb.h"
#include "leerlus/v1/insight_service.grpc.pb.h"

namespace leerlus::client {

// A random 128-bit request id, as 32 hex characters.
std::string NewRequestId();

struct ClientOptions {
  // Deadline of each attempt.
  std::chrono::milliseconds timeout{30000};
  // Attempts for UNAVAILABLE (1 = no retry).
  int max_attempts = 5;
  // Bearer token sent with every call (empty: none).
  std::string token;
  // TLS: the CA that signed the server's certificate (PEM); empty: plaintext.
  std::string tls_ca_pem;
  // Mutual TLS: the client's certificate chain and key (PEM).
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // TLS: the name the server's certificate must carry, when it differs from
  // the address dialled (a probe that dials 127.0.0.1 inside a pod whose
  // certificate names the service); empty: the address's host.
  std::string tls_server_name;
};

class Client {
 public:
  explicit Client(const std::string& target, ClientOptions options = {});

  v1::CatalogService::Stub* catalog() { return catalog_.get(); }
  v1::ExperimentService::Stub* experiments() { return experiments_.get(); }
  v1::EventLogService::Stub* event_log() { return event_log_.get(); }
  v1::InsightService::Stub* insights() { return insights_.get(); }
  v1::AdminService::Stub* admin() { return admin_.get(); }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

  // Adds the bearer token to a call's metadata (streams set up their own
  // contexts and call this).
  void Authorize(grpc::ClientContext& context) const {
    if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
  }

  // Calls a unary method, retrying UNAVAILABLE with exponential backoff.
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    Stub* stub, const Request& request, Response* response) {
    std::chrono::milliseconds backoff(100);
    grpc::Status status;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
      Authorize(context);
      status = (stub->*method)(&context, request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status;
      if (attempt < options_.max_attempts) {
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
      }
    }
    return status;
  }

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CatalogService::Stub> catalog_;
  std::unique_ptr<v1::ExperimentService::Stub> experiments_;
  std::unique_ptr<v1::EventLogService::Stub> event_log_;
  std::unique_ptr<v1::InsightService::Stub> insights_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

// "CODE: message" plus every field violation and error reason in the
// status details, for people.
std::string DescribeStatus(const grpc::Status& status);

// The ErrorInfo reason in the status details ("" if none), for programs.
std::string ErrorReason(const grpc::Status& status);

// GetExperiment, whole however many outcomes the experiment has: an answer
// too large for one message (RESPONSE_TOO_LARGE) is fetched again as the
// BASIC view, and the outcomes a page at a time with ListOutcomes, in the
// order recorded. Only a live read can be paged: as of a position, the
// server's answer stands.
grpc::Status GetWholeExperiment(Client& api, const v1::GetExperimentRequest& request,
                                v1::GetExperimentResponse* response);

// Pages through ListExperiments with `filter` (empty: all) and calls
// `visit` with each experiment listed (the list's short form), in the
// server's order; stops at the first failed call or `visit`.
grpc::Status ForEachListedExperiment(
    Client& api, const std::string& filter,
    const std::function<grpc::Status(const v1::Experiment&)>& visit);

// The process exit code for a failed call (see README "Exit codes").
int ExitCodeFor(const grpc::Status& status);

}  // namespace leerlus::client

#endif  // LEERLUS_CLIENT_CLIENT_H_
