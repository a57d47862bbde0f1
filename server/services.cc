#include "server/services.h"

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errors.h"
#include "core/access.h"
#include "core/answer_budget.h"
#include "core/subscription.h"
#include "core/validation.h"
#include "google/rpc/error_details.pb.h"
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

// The call's deadline, for work that can stop early (a replay of the log);
// a call without one has none.
absl::Time CallDeadline(const grpc::ServerContextBase& context) {
  if (context.deadline() == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(context.deadline());
}

// A unary call from authorisation to its answer; every call is counted,
// timed and logged.
class UnaryCall {
 public:
  UnaryCall(const ServiceContext& service, const grpc::ServerContextBase& context,
            absl::string_view method, const google::protobuf::Message& request)
      : service_(service), method_(method), request_(request), start_(absl::Now()) {
    caller_ = service.authorizer->Authorize(context, method, request);
    // A call whose deadline passed while it queued is not started: nobody
    // would read the answer. (The deadline, not IsCancelled(): on the
    // synchronous server that polls the completion queue, a tenth of an
    // append's cost.)
    if (caller_.ok() && context.deadline() <= std::chrono::system_clock::now()) {
      caller_ = absl::DeadlineExceededError("the call's deadline passed before it started");
    }
  }

  // Who may run the call; not OK: answer with Finish(caller().status()).
  const absl::StatusOr<core::Caller>& caller() const { return caller_; }

  // The core function's result as the call's answer.
  template <typename Response>
  grpc::Status Finish(absl::StatusOr<Response> result, Response* response) {
    absl::Status status = result.status();
    if (status.ok()) status = CheckSize(*result);
    if (status.ok()) *response = std::move(*result);
    return Finish(status);
  }
  grpc::Status Finish(const absl::Status& status) {
    service_.telemetry->RecordCall(method_, caller_.ok() ? caller_->actor : "",
                                   RequestIdOf(request_), status, absl::Now() - start_);
    return ToGrpcStatus(status);
  }

 private:
  // An answer gRPC would refuse to send, refused here with the way out.
  absl::Status CheckSize(const google::protobuf::Message& response) const {
    const size_t size = response.ByteSizeLong();
    if (service_.max_message_bytes == 0 || size <= service_.max_message_bytes) {
      return absl::OkStatus();
    }
    return core::TooLargeAnswer(method_, service_.max_message_bytes);
  }

  const ServiceContext& service_;
  absl::string_view method_;
  const google::protobuf::Message& request_;
  absl::Time start_;
  absl::StatusOr<core::Caller> caller_;
};

// Authorise, run the core function, translate the result.
template <typename Response, typename Fn>
grpc::Status Handle(const ServiceContext& service, grpc::ServerContext* context,
                    absl::string_view method, const google::protobuf::Message& request,
                    Response* response, Fn&& run) {
  UnaryCall call(service, *context, method, request);
  if (!call.caller().ok()) return call.Finish(call.caller().status());
  // A large answer keeps its reservation until the call is done and the
  // answer sent (CallEndInterceptor), not only while it is built; it is
  // refused when its principal's earlier large answers still wait unread.
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

// The field a BadRequest or ErrorInfo detail names, if any.
std::string BlamedField(const absl::Status& status) {
  if (auto payload = status.GetPayload(kBadRequestUrl); payload.has_value()) {
    google::rpc::BadRequest bad_request;
    if (bad_request.ParseFromString(std::string(*payload)) &&
        bad_request.field_violations_size() > 0) {
      return bad_request.field_violations(0).field();
    }
  }
  if (auto payload = status.GetPayload(kErrorInfoUrl); payload.has_value()) {
    google::rpc::ErrorInfo info;
    if (info.ParseFromString(std::string(*payload))) {
      auto it = info.metadata().find("field");
      if (it != info.metadata().end()) return it->second;
    }
  }
  return "";
}

// Gives back what a call's answer reserved once the call is over.
class CallEndInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallEndInterceptor(core::AnswerMemory* memory, const grpc::ServerContextBase* call)
      : memory_(memory), call_(call) {}
  ~CallEndInterceptor() override { memory_->CallDone(call_); }
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }

 private:
  core::AnswerMemory* memory_;
  const grpc::ServerContextBase* call_;
};

class CallEndInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallEndInterceptorFactory(core::AnswerMemory* memory) : memory_(memory) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Only the synchronous unary handlers (Handle) build answers under a
    // CallScope; the callback append and the streams need no interceptor.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY ||
        absl::string_view(info->method()) == "/leerlus.v1.ExperimentService/CreateOutcome") {
      return nullptr;
    }
    return new CallEndInterceptor(memory_, info->server_context());
  }

 private:
  core::AnswerMemory* memory_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeCallEndInterceptorFactory(core::AnswerMemory* memory) {
  return std::make_unique<CallEndInterceptorFactory>(memory);
}

#define LEERLUS_UNARY(Service, Method, Target)                                                   \
  grpc::Status Service::Method(grpc::ServerContext* context, const v1::Method##Request* request, \
                               v1::Method##Response* response) {                                 \
    return Handle(context_, context, #Method, *request, response,                                \
                  [&](const core::Caller& caller) {                                              \
                    (void)caller;                                                                \
                    return Target;                                                               \
                  });                                                                            \
  }

LEERLUS_UNARY(CatalogServiceImpl, CreateWorkMethod, commands_.CreateWorkMethod(*request, caller))
LEERLUS_UNARY(CatalogServiceImpl, GetWorkMethod, queries_.GetWorkMethod(*request))
LEERLUS_UNARY(CatalogServiceImpl, ListWorkMethods, queries_.ListWorkMethods(*request))
LEERLUS_UNARY(CatalogServiceImpl, CreateIndicator, commands_.CreateIndicator(*request, caller))
LEERLUS_UNARY(CatalogServiceImpl, GetIndicator, queries_.GetIndicator(*request))
LEERLUS_UNARY(CatalogServiceImpl, ListIndicators, queries_.ListIndicators(*request))
LEERLUS_UNARY(CatalogServiceImpl, PutArea, commands_.PutArea(*request, caller))
LEERLUS_UNARY(CatalogServiceImpl, GetArea, queries_.GetArea(*request))
LEERLUS_UNARY(CatalogServiceImpl, ListAreas, queries_.ListAreas(*request))

LEERLUS_UNARY(ExperimentServiceImpl, CreateExperiment, commands_.CreateExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, GetExperiment, queries_.GetExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, ListOutcomes, queries_.ListOutcomes(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, ListExperiments,
              queries_.ListExperiments(*request, core::ListScopeOf(caller)))
LEERLUS_UNARY(ExperimentServiceImpl, UpdateExperiment, commands_.UpdateExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, StartExperiment, commands_.StartExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, EvaluateExperiment,
              commands_.EvaluateExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, ConcludeExperiment,
              commands_.ConcludeExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, WithdrawExperiment,
              commands_.WithdrawExperiment(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, CreateHypothesis, commands_.CreateHypothesis(*request, caller))
grpc::ServerUnaryReactor* ExperimentServiceImpl::CreateOutcome(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // What the answer needs, kept until `done` runs.
  struct Call {
    v1::CreateOutcomeRequest request;
    std::optional<UnaryCall> call;
  };
  auto state = std::make_shared<Call>();
  grpc::ByteBuffer bytes(*request_bytes);
  if (grpc::Status parsed = DeserializeMessage(&bytes, &state->request); !parsed.ok()) {
    reactor->Finish(parsed);
    return reactor;
  }
  UnaryCall& call = state->call.emplace(context_, *context, "CreateOutcome", state->request);
  if (!call.caller().ok()) {
    reactor->Finish(call.Finish(call.caller().status()));
    return reactor;
  }
  commands_.CreateOutcome(
      state->request, *call.caller(),
      [state, reactor, response_bytes](absl::StatusOr<v1::CreateOutcomeResponse> result) {
        v1::CreateOutcomeResponse response;
        grpc::Status status = state->call->Finish(std::move(result), &response);
        if (status.ok()) {
          bool own_buffer = false;
          status = grpc::GenericSerialize<grpc::ProtoBufferWriter, v1::CreateOutcomeResponse>(
              response, response_bytes, &own_buffer);
        }
        reactor->Finish(status);
      });
  return reactor;
}
LEERLUS_UNARY(ExperimentServiceImpl, RetractOutcome, commands_.RetractOutcome(*request, caller))
LEERLUS_UNARY(ExperimentServiceImpl, CreateLesson, commands_.CreateLesson(*request, caller))

LEERLUS_UNARY(EventLogServiceImpl, ReadEvents, queries_.ReadEvents(*request, caller))

LEERLUS_UNARY(InsightServiceImpl, WhatWorks, insights_.WhatWorks(*request, CallDeadline(*context)))
LEERLUS_UNARY(InsightServiceImpl, CompareConditions,
              insights_.CompareConditions(*request, CallDeadline(*context)))
LEERLUS_UNARY(InsightServiceImpl, Scorecard, insights_.Scorecard(*request, CallDeadline(*context)))
LEERLUS_UNARY(InsightServiceImpl, WhatChanged,
              insights_.WhatChanged(*request, CallDeadline(*context)))
LEERLUS_UNARY(InsightServiceImpl, DiscoverConditions,
              insights_.DiscoverConditions(*request, CallDeadline(*context)))
LEERLUS_UNARY(InsightServiceImpl, Contribution,
              insights_.Contribution(*request, CallDeadline(*context)))

LEERLUS_UNARY(AdminServiceImpl, Backup, admin_.Backup(*request))
LEERLUS_UNARY(AdminServiceImpl, CreateToken, commands_.CreateToken(*request, caller))
LEERLUS_UNARY(AdminServiceImpl, ListTokens, queries_.ListTokens(*request))
LEERLUS_UNARY(AdminServiceImpl, RevokeToken, commands_.RevokeToken(*request, caller))
LEERLUS_UNARY(AdminServiceImpl, ErasePersonalData, commands_.ErasePersonalData(*request, caller))

#undef LEERLUS_UNARY

grpc::Status ExperimentServiceImpl::ImportOutcomes(
    grpc::ServerContext* context, grpc::ServerReader<v1::ImportOutcomesRequest>* reader,
    v1::ImportOutcomesResponse* response) {
  const absl::Time start = absl::Now();
  // The stream needs a caller who may record at all; each row is then
  // authorised as a CreateOutcome of its own experiment.
  absl::StatusOr<core::Caller> caller =
      context_.authorizer->Authorize(*context, "ImportOutcomes", v1::ImportOutcomesRequest());
  // Refused rows, by code: logged and counted with the stream's outcome, so
  // that 100,000 refused rows do not pass as one OK line.
  std::map<absl::StatusCode, uint64_t> refused;
  auto finish = [&](const absl::Status& status) {
    context_.telemetry->RecordImport(caller.ok() ? caller->actor : "", response->written(), refused,
                                     status, absl::Now() - start);
    return ToGrpcStatus(status);
  };
  if (!caller.ok()) return finish(caller.status());
  // Rows are handed to the store without waiting (a window of them in
  // flight), so that they share group commits instead of paying one fsync
  // each; results are collected in row order. The window holds several
  // groups' worth, so that when the writer finishes a group the next rows
  // are already queued: with one group's worth it would wait while this
  // thread refilled the window, then write small groups.
  constexpr size_t kWindow = 4096;
  // The answer lists the first failed rows only, so that a stream whose
  // every row fails still answers in one small message.
  constexpr int kListedFailures = 1000;
  std::deque<std::pair<uint64_t, core::Pending<v1::CreateOutcomeResponse>>> inflight;
  auto collect_one = [&] {
    auto& [row, pending] = inflight.front();
    absl::StatusOr<v1::CreateOutcomeResponse> result = pending.Wait();
    if (result.ok()) {
      response->set_written(response->written() + 1);
    } else {
      response->set_failed(response->failed() + 1);
      ++refused[result.status().code()];
      if (response->results_size() < kListedFailures) {
        v1::ImportRowResult* failure = response->add_results();
        failure->set_row(row);
        failure->set_code(static_cast<int>(result.status().code()));
        failure->set_message(std::string(result.status().message()));
        failure->set_field(BlamedField(result.status()));
      }
    }
    inflight.pop_front();
  };
  v1::ImportOutcomesRequest request;
  uint64_t row = 0;
  (void)TakeRequestParseFailure();  // Left by an earlier call on this thread.
  while (reader->Read(&request)) {
    if (row >= context_.max_import_rows) {
      while (!inflight.empty()) collect_one();
      return finish(absl::ResourceExhaustedError(absl::StrCat(
          "an import stream carries at most ", context_.max_import_rows, " rows; the first ",
          context_.max_import_rows, " were processed, split the rest")));
    }
    absl::StatusOr<core::Caller> row_caller =
        context_.authorizer->Authorize(*context, "CreateOutcome", request.row());
    inflight.emplace_back(row, row_caller.ok()
                                   ? commands_.StartCreateOutcome(request.row(), *row_caller)
                                   : core::Pending<v1::CreateOutcomeResponse>(row_caller.status()));
    ++row;
    if (inflight.size() >= kWindow) collect_one();
  }
  while (!inflight.empty()) collect_one();
  // Read() also ends at a message that does not parse: the rows before it
  // are in, and the caller learns which one broke.
  if (grpc::Status broken = TakeRequestParseFailure(); !broken.ok()) {
    (void)finish(
        absl::Status(static_cast<absl::StatusCode>(broken.error_code()), broken.error_message()));
    return grpc::Status(broken.error_code(),
                        absl::StrCat("row ", row, " (counting from 0): ", broken.error_message(),
                                     "; the ", row, " rows before it were processed"),
                        broken.error_details());
  }
  return finish(absl::OkStatus());
}

grpc::Status EventLogServiceImpl::Subscribe(grpc::ServerContext* context,
                                            const v1::SubscribeRequest* request,
                                            grpc::ServerWriter<v1::SubscribeResponse>* writer) {
  absl::StatusOr<core::Caller> caller =
      context_.authorizer->Authorize(*context, "Subscribe", *request);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<core::Subscription> subscription =
      core::Subscription::Open(context_.store, *caller, *request);
  if (!subscription.ok()) return ToGrpcStatus(subscription.status());
  // The principal's share: its token, or its name without one.
  const std::string principal = core::PrincipalOf(*caller);
  if (absl::Status slot = context_.telemetry->TryAddSubscriber(
          principal, context_.max_subscribers, context_.max_subscribers_per_principal);
      !slot.ok()) {
    return ToGrpcStatus(slot);
  }
  struct Unsubscribe {
    Telemetry* telemetry;
    const std::string& principal;
    ~Unsubscribe() { telemetry->RemoveSubscriber(principal); }
  } unsubscribe{context_.telemetry, principal};
  std::unique_ptr<StalledStreams::Watch> watch = context_.stalled_streams->Track(context);
  // Write blocks while the client does not read (flow control), so a slow
  // subscriber holds one batch, not the log; one that stalls past
  // --subscriber-stall-seconds is cancelled by the watch.
  absl::Time last_sent = absl::Now();
  auto send = [&](const v1::SubscribeResponse& message) {
    watch->Writing();
    const bool written = writer->Write(message);
    watch->Written();
    if (written) last_sent = absl::Now();
    return written;
  };
  const absl::Duration heartbeat = absl::Seconds(request->heartbeat_seconds());
  bool caught_up = false;
  while (!context->IsCancelled()) {
    if (context_.draining->load()) {
      return ToGrpcStatus(WithErrorInfo(
          absl::UnavailableError("the server is shutting down; resubscribe from the next "
                                 "position"),
          "SHUTTING_DOWN", {{"next_position", absl::StrCat(subscription->next_position())}}));
    }
    absl::StatusOr<core::SubscriptionBatch> batch = subscription->Next();
    if (!batch.ok()) return ToGrpcStatus(batch.status());
    for (v1::Event& event : batch->events) {
      v1::SubscribeResponse message;
      *message.mutable_event() = std::move(event);
      if (!send(message)) return grpc::Status::OK;
    }
    if (!batch->caught_up) continue;
    if (!caught_up && request->mark_caught_up()) {
      v1::SubscribeResponse marker;
      marker.mutable_caught_up()->set_head_position(batch->head_position);
      if (!send(marker)) return grpc::Status::OK;
    }
    caught_up = true;
    if (heartbeat > absl::ZeroDuration() && absl::Now() - last_sent >= heartbeat) {
      v1::SubscribeResponse beat;
      beat.mutable_heartbeat()->set_head_position(batch->head_position);
      if (!send(beat)) return grpc::Status::OK;
    }
    // Wait for new events, with a timeout to notice cancellation, draining,
    // an expiring token and the next heartbeat.
    absl::Time wake = absl::Now() + absl::Milliseconds(500);
    if (heartbeat > absl::ZeroDuration()) wake = std::min(wake, last_sent + heartbeat);
    subscription->WaitForMore(wake);
  }
  return grpc::Status::OK;
}

}  // namespace leerlus::server
