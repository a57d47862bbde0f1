#include "server/status_mapping.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/errors.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace leerlus::server {
namespace {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;  // Abseil's reserved sentinel.
  }
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& given) {
  if (given.ok()) return grpc::Status::OK;
  // Every error carries exactly one ErrorInfo with a stable reason and the
  // domain (AIP-193): one the core did not name gets its code as reason.
  absl::Status status = given;
  if (!status.GetPayload(kErrorInfoUrl).has_value()) {
    status = WithErrorInfo(status, absl::StatusCodeToString(status.code()));
  }
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  // In one fixed order, the specific detail first (BadRequest,
  // PreconditionFailure), then ErrorInfo: clients that read the first
  // detail keep reading what they expect.
  std::vector<std::pair<std::string, std::string>> payloads;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    payloads.emplace_back(std::string(type_url), std::string(payload));
  });
  auto rank = [](const std::string& type_url) {
    if (type_url == kBadRequestUrl) return 0;
    if (type_url == kPreconditionFailureUrl) return 1;
    if (type_url == kErrorInfoUrl) return 2;
    return 3;
  };
  std::stable_sort(payloads.begin(), payloads.end(),
                   [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  for (auto& [type_url, payload] : payloads) {
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::move(type_url));
    any->set_value(std::move(payload));
  }
  // An answer over the message limit stays over it: no retry will help.
  if (status.code() == absl::StatusCode::kUnavailable ||
      (status.code() == absl::StatusCode::kResourceExhausted &&
       ErrorReason(status) != "RESPONSE_TOO_LARGE")) {
    // Tell clients how long to back off before retrying the same call.
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_nanos(200 * 1000 * 1000);
    details.add_details()->PackFrom(retry);
  }
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()),
                      details.SerializeAsString());
}

}  // namespace leerlus::server
