#include "client/client.h"

#include <algorithm>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace leerlus::client {

std::string NewRequestId() {
  static thread_local std::mt19937_64 generator{std::random_device{}()};
  std::string bytes(16, '\0');
  for (size_t i = 0; i < bytes.size(); i += 8) {
    uint64_t value = generator();
    for (size_t k = 0; k < 8; ++k) bytes[i + k] = static_cast<char>((value >> (8 * k)) & 0xff);
  }
  return absl::BytesToHexString(bytes);
}

Client::Client(const std::string& target, ClientOptions options) : options_(options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options_.tls_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls_ca_pem;
    ssl.pem_cert_chain = options_.tls_cert_pem;
    ssl.pem_private_key = options_.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!options_.tls_server_name.empty()) {
      arguments.SetSslTargetNameOverride(options_.tls_server_name);
    }
  }
  channel_ = grpc::CreateCustomChannel(target, credentials, arguments);
  catalog_ = v1::CatalogService::NewStub(channel_);
  experiments_ = v1::ExperimentService::NewStub(channel_);
  event_log_ = v1::EventLogService::NewStub(channel_);
  insights_ = v1::InsightService::NewStub(channel_);
  admin_ = v1::AdminService::NewStub(channel_);
}

namespace {
const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}
}  // namespace

std::string DescribeStatus(const grpc::Status& status) {
  std::string text = absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    for (const google::protobuf::Any& any : details.details()) {
      google::rpc::ErrorInfo info;
      if (any.UnpackTo(&info)) absl::StrAppend(&text, " [reason ", info.reason(), "]");
    }
  }
  return text;
}

std::string ErrorReason(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return "";
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info.reason();
  }
  return "";
}

grpc::Status GetWholeExperiment(Client& api, const v1::GetExperimentRequest& request,
                                v1::GetExperimentResponse* response) {
  grpc::Status status =
      api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), request, response);
  if (status.ok() || ErrorReason(status) != "RESPONSE_TOO_LARGE" || request.as_of_position() != 0 ||
      request.view() == v1::EXPERIMENT_VIEW_BASIC) {
    return status;
  }
  v1::GetExperimentRequest basic = request;
  basic.set_view(v1::EXPERIMENT_VIEW_BASIC);
  status =
      api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), basic, response);
  if (!status.ok()) return status;
  v1::ListOutcomesRequest list;
  list.set_experiment_id(request.id());
  list.set_page_size(1000);
  auto* outcomes = response->mutable_experiment()->mutable_outcomes();
  do {
    v1::ListOutcomesResponse page;
    status = api.Call(&v1::ExperimentService::Stub::ListOutcomes, api.experiments(), list, &page);
    if (!status.ok()) return status;
    // Outcomes recorded after the experiment was read are left out, so the
    // outcomes match its read position (a retraction since then does show).
    for (v1::Outcome& outcome : *page.mutable_outcomes()) {
      if (outcome.record_position() <= response->read_position()) {
        *outcomes->Add() = std::move(outcome);
      }
    }
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  std::sort(outcomes->begin(), outcomes->end(), [](const v1::Outcome& a, const v1::Outcome& b) {
    return a.record_position() < b.record_position();
  });
  return grpc::Status::OK;
}

grpc::Status ForEachListedExperiment(
    Client& api, const std::string& filter,
    const std::function<grpc::Status(const v1::Experiment&)>& visit) {
  v1::ListExperimentsRequest list;
  list.set_filter(filter);
  list.set_page_size(1000);
  do {
    v1::ListExperimentsResponse page;
    grpc::Status status =
        api.Call(&v1::ExperimentService::Stub::ListExperiments, api.experiments(), list, &page);
    if (!status.ok()) return status;
    for (const v1::Experiment& listed : page.experiments()) {
      status = visit(listed);
      if (!status.ok()) return status;
    }
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  return grpc::Status::OK;
}

int ExitCodeFor(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return 0;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 3;
    case grpc::StatusCode::NOT_FOUND:
      return 4;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 5;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 6;
    case grpc::StatusCode::ABORTED:
      return 7;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 8;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return 9;
    default:
      return 1;
  }
}

}  // namespace leerlus::client
