#include "server/services.h"

#include <chrono>
#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errors.h"
#include "core/access.h"
#include "core/personal_data.h"
#include "google/rpc/error_details.pb.h"
#include "server/status_mapping.h"

namespace leerlus::server {
namespace {

// Authorise, run the core function, translate the result.
// The request id of a mutation, for the log ("" for reads).
std::string RequestIdOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING)
    return "";
  return request.GetReflection()->GetString(request, field);
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
    if (result.ok()) {
      // Personal texts leave the server only as plaintext or "[erased]".
      status = core::RevealPersonalTexts(*service_.store, *result);
      if (status.ok()) status = CheckSize(*result);
      if (status.ok()) *response = std::move(*result);
    }
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
    const absl::string_view remedy =
        method_ == "GetExperiment"
            ? "ask for view BASIC and page the outcomes with ListOutcomes (and the history, if "
              "asked for, with ReadEvents)"
            : "ask for less: a smaller page or a narrower question";
    return WithErrorInfo(
        absl::ResourceExhaustedError(
            absl::StrFormat("the answer is %.1f MiB, more than the server's %.1f MiB message limit "
                            "(--max-message-mb); %s",
                            size / 1048576.0, service_.max_message_bytes / 1048576.0, remedy)),
        "RESPONSE_TOO_LARGE",
        {{"size_bytes", absl::StrCat(size)},
         {"limit_bytes", absl::StrCat(service_.max_message_bytes)}});
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
  return call.Finish(run(*call.caller()), response);
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

}  // namespace

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
LEERLUS_UNARY(ExperimentServiceImpl, GetExperiment, queries_.GetExperiment(*request))
LEERLUS_UNARY(ExperimentServiceImpl, ListOutcomes, queries_.ListOutcomes(*request))
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

LEERLUS_UNARY(EventLogServiceImpl, ReadEvents, queries_.ReadEvents(*request))

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
      context_.authorizer->Authorize(*context, "ListWorkMethods", v1::ListWorkMethodsRequest());
  if (!caller.ok()) return ToGrpcStatus(caller.status());
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
      return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
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
    return grpc::Status(broken.error_code(),
                        absl::StrCat("row ", row, " (counting from 0): ", broken.error_message(),
                                     "; the ", row, " rows before it were processed"),
                        broken.error_details());
  }
  context_.telemetry->RecordCall("ImportOutcomes", caller->actor, "", absl::OkStatus(),
                                 absl::Now() - start);
  return grpc::Status::OK;
}

grpc::Status EventLogServiceImpl::Subscribe(grpc::ServerContext* context,
                                            const v1::SubscribeRequest* request,
                                            grpc::ServerWriter<v1::SubscribeResponse>* writer) {
  absl::StatusOr<core::Caller> caller =
      context_.authorizer->Authorize(*context, "Subscribe", *request);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  absl::StatusOr<std::string> stream = core::SubscriptionStream(*request);
  if (!stream.ok()) return ToGrpcStatus(stream.status());
  if (!context_.telemetry->TryAddSubscriber(context_.max_subscribers)) {
    return ToGrpcStatus(WithErrorInfo(absl::ResourceExhaustedError(absl::StrCat(
                                          "the server serves at most ", context_.max_subscribers,
                                          " subscriptions at once; retry later")),
                                      "TOO_MANY_SUBSCRIPTIONS",
                                      {{"limit", absl::StrCat(context_.max_subscribers)}}));
  }
  struct Unsubscribe {
    Telemetry* telemetry;
    ~Unsubscribe() { telemetry->RemoveSubscriber(); }
  } unsubscribe{context_.telemetry};
  std::unique_ptr<StalledStreams::Watch> watch = context_.stalled_streams->Track(context);
  uint64_t next = std::max<uint64_t>(request->from_position(), 1);
  constexpr size_t kBatch = 256;
  while (!context->IsCancelled()) {
    if (context_.draining->load()) {
      return ToGrpcStatus(WithErrorInfo(
          absl::UnavailableError("the server is shutting down; resubscribe from the next "
                                 "position"),
          "SHUTTING_DOWN", {{"next_position", absl::StrCat(next)}}));
    }
    std::unique_ptr<storage::ReadView> view = context_.store->OpenReadView();
    absl::StatusOr<std::vector<v1::Event>> events = view->ReadEvents(next, kBatch, *stream);
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (v1::Event& event : *events) {
      v1::SubscribeResponse message;
      next = event.position() + 1;
      *message.mutable_event() = std::move(event);
      if (absl::Status revealed = core::RevealPersonalTexts(*context_.store, message);
          !revealed.ok()) {
        return ToGrpcStatus(revealed);
      }
      // Write blocks while the client does not read (flow control), so a
      // slow subscriber holds one batch, not the log; one that stalls past
      // --subscriber-stall-seconds is cancelled by the watch.
      watch->Writing();
      const bool written = writer->Write(message);
      watch->Written();
      if (!written) return grpc::Status::OK;
    }
    // Caught up to this view: wait for new events (with a timeout, to
    // notice cancellation and draining).
    if (events->size() < kBatch) {
      next = std::max(next, view->head_position() + 1);
      context_.store->WaitForHeadAbove(next - 1, absl::Now() + absl::Milliseconds(500));
    }
  }
  return grpc::Status::OK;
}

}  // namespace leerlus::server
