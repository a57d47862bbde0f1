#include "server/call.h"

#include <chrono>

#include "absl/time/clock.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/validation.h"
#include "leerlus/v1/transparency.pb.h"
#include "server/status_mapping.h"

namespace leerlus::server {
namespace {

// The request id of a mutation, for the log ("" for reads). It is the
// client's text: one that is no valid request id is logged as a marker, so
// an unauthenticated caller can neither flood the log nor forge a line.
std::string RequestIdOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING)
    return "";
  std::string request_id = request.GetReflection()->GetString(request, field);
  FieldViolations violations;
  core::CheckRequestId(violations, request_id);
  return violations.empty() || request_id.empty() ? request_id : "(invalid)";
}

}  // namespace

Call::Call(const ServiceContext& service, const grpc::ServerContextBase& context,
           absl::string_view rpc, const google::protobuf::Message& request)
    : service_(service), rpc_(rpc), request_id_(RequestIdOf(request)), start_(absl::Now()) {
  caller_ = service.authorizer->Authorize(context, rpc, request);
  // A call whose deadline passed while it queued is not started: nobody
  // would read the answer. (The deadline, not IsCancelled(): on the
  // synchronous server that polls the completion queue, a tenth of an
  // append's cost.)
  if (caller_.ok() && context.deadline() <= std::chrono::system_clock::now()) {
    caller_ = absl::DeadlineExceededError("the call's deadline passed before it started");
  }
}

void Call::AddLogFields(LogFields fields) {
  log_fields_.insert(log_fields_.end(), std::make_move_iterator(fields.begin()),
                     std::make_move_iterator(fields.end()));
}

grpc::Status Call::Finish(const absl::Status& status) {
  service_.telemetry->RecordCall(rpc_, caller_.ok() ? caller_->actor : "", request_id_, status,
                                 absl::Now() - start_, std::move(log_fields_));
  return ToGrpcStatus(status);
}

absl::Status Call::AttachReceipt(google::protobuf::Message& response) const {
  const google::protobuf::Descriptor* type = response.GetDescriptor();
  const google::protobuf::FieldDescriptor* receipt = type->FindFieldByName("receipt");
  const google::protobuf::FieldDescriptor* position = type->FindFieldByName("position");
  if (receipt == nullptr || position == nullptr || service_.transparency == nullptr ||
      receipt->message_type() != v1::Receipt::descriptor() ||
      position->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
    return absl::OkStatus();
  }
  const uint64_t at = response.GetReflection()->GetUInt64(response, position);
  if (at == 0) return absl::OkStatus();
  LEERLUS_ASSIGN_OR_RETURN(v1::Receipt made, service_.transparency->ReceiptFor(at));
  response.GetReflection()->MutableMessage(&response, receipt)->CopyFrom(made);
  return absl::OkStatus();
}

// An answer gRPC would refuse to send, refused here with the way out.
absl::Status Call::CheckSize(const google::protobuf::Message& response) const {
  const size_t size = response.ByteSizeLong();
  if (service_.max_message_bytes == 0 || size <= service_.max_message_bytes) {
    return absl::OkStatus();
  }
  return core::TooLargeAnswer(rpc_, service_.max_message_bytes);
}

absl::Time CallDeadline(const grpc::ServerContextBase& context) {
  if (context.deadline() == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(context.deadline());
}

absl::Status EndOfCall(const grpc::ServerContextBase& context) {
  if (!context.IsCancelled()) return absl::OkStatus();
  if (context.deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("the call's deadline passed");
  }
  return absl::CancelledError("the call was cancelled (its client left, or it stalled)");
}

}  // namespace leerlus::server
