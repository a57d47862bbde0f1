// The one way into an RPC. Every handler, unary or streaming, runs its work
// through a Call, so that each call is authorised under its own RPC name
// (the role check), not started once its deadline has passed, and counted,
// timed and logged however it ends: OK or any error, for streams too.
//
//   grpc::Status Service::GetThing(grpc::ServerContext* context,
//                                  const v1::GetThingRequest* request,
//                                  v1::GetThingResponse* response) {
//     return RunUnary(context_, context, "GetThing", *request, response,
//                     [&](const core::Caller& caller) { return queries_.GetThing(*request); });
//   }
#ifndef LEERLUS_SERVER_CALL_H_
#define LEERLUS_SERVER_CALL_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/answer_budget.h"
#include "core/caller.h"
#include "google/protobuf/message.h"
#include "server/service_context.h"

namespace leerlus::server {

// One RPC from authorisation to its status.
class Call {
 public:
  // Authorises `rpc` (its short name, a literal) for `request` and checks
  // the deadline. A client stream passes an empty request: its messages are
  // checked as they come.
  Call(const ServiceContext& service, const grpc::ServerContextBase& context, absl::string_view rpc,
       const google::protobuf::Message& request);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // Who may make the call; not OK: the call ends with this status.
  const absl::StatusOr<core::Caller>& caller() const { return caller_; }

  // Adds fields to the call's log line (an import's rows).
  void AddLogFields(LogFields fields);

  // Ends the call with `status`: counted, timed and logged, then mapped to
  // gRPC. Once per call.
  grpc::Status Finish(const absl::Status& status);

  // Ends the call with its one answer, refused (RESOURCE_EXHAUSTED,
  // RESPONSE_TOO_LARGE) when gRPC would refuse to send it.
  template <typename Response>
  grpc::Status Finish(absl::StatusOr<Response> result, Response* response) {
    absl::Status status = result.status();
    if (status.ok()) status = AttachReceipt(*result);
    if (status.ok()) status = CheckSize(*result);
    if (status.ok()) *response = std::move(*result);
    return Finish(status);
  }

 private:
  absl::Status CheckSize(const google::protobuf::Message& response) const;
  // A write's answer (one with `position` and `receipt`) gets its receipt:
  // added here, so that a retry answered from the stored response gets one
  // too.
  absl::Status AttachReceipt(google::protobuf::Message& response) const;

  const ServiceContext& service_;
  // The handler's literal: it outlives the call.
  absl::string_view rpc_;
  // Taken when the call starts: a client stream's request is gone by then.
  std::string request_id_;
  absl::Time start_;
  absl::StatusOr<core::Caller> caller_;
  LogFields log_fields_;
};

// The call's deadline, for work that can stop early (a replay of the log);
// a call without one has none.
absl::Time CallDeadline(const grpc::ServerContextBase& context);

// A stream that ended without an error but whose call is gone: CANCELLED,
// or DEADLINE_EXCEEDED, as its client saw it end. OK for a call still on.
absl::Status EndOfCall(const grpc::ServerContextBase& context);

// A synchronous unary RPC: `run(caller)` returns the answer. A large answer
// keeps its reservation until the call is done and the answer sent
// (CallEndInterceptor), not only while it is built; it is refused when its
// principal's earlier large answers still wait unread.
template <typename Response, typename Fn>
grpc::Status RunUnary(const ServiceContext& service, grpc::ServerContext* context,
                      absl::string_view rpc, const google::protobuf::Message& request,
                      Response* response, Fn&& run) {
  Call call(service, *context, rpc, request);
  if (!call.caller().ok()) return call.Finish(call.caller().status());
  const core::Caller& caller = *call.caller();
  const grpc::ServerContextBase* call_key = context;
  core::AnswerMemory::CallScope scope(service.answer_memory, call_key, core::PrincipalOf(caller));
  absl::StatusOr<Response> result = run(caller);
  if (result.ok() && service.answer_memory != nullptr) {
    if (absl::Status sendable = service.answer_memory->Answered(call_key); !sendable.ok()) {
      result = sendable;
    }
  }
  return call.Finish(std::move(result), response);
}

// A streaming RPC, either way: `run(call)` reads and writes the stream and
// returns how it ended; a stream whose client left ends as EndOfCall says.
// `request`: a server stream's request, an empty one for a client stream.
template <typename Fn>
grpc::Status RunStream(const ServiceContext& service, grpc::ServerContext* context,
                       absl::string_view rpc, const google::protobuf::Message& request, Fn&& run) {
  Call call(service, *context, rpc, request);
  if (!call.caller().ok()) return call.Finish(call.caller().status());
  absl::Status status = run(call);
  if (status.ok()) status = EndOfCall(*context);
  return call.Finish(status);
}

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_CALL_H_
