#include "server/services.h"

#include <deque>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/access.h"
#include "core/answer_budget.h"
#include "core/model/events.h"
#include "core/subscription.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/call.h"

namespace leerlus::server {
namespace {

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

// A message of an import stream that did not parse, as the stream's end:
// the rows before it are in, and the caller learns which one broke.
absl::Status BrokenRow(const grpc::Status& broken, uint64_t row) {
  absl::Status status(static_cast<absl::StatusCode>(broken.error_code()),
                      absl::StrCat("row ", row, " (counting from 0): ", broken.error_message(),
                                   "; the ", row, " rows before it were processed"));
  google::rpc::Status details;
  if (details.ParseFromString(broken.error_details())) {
    for (const google::protobuf::Any& detail : details.details()) {
      status.SetPayload(detail.type_url(), absl::Cord(detail.value()));
    }
  }
  return status;
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
    // Only the synchronous unary handlers (RunUnary) build answers under a
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
    return RunUnary(context_, context, #Method, *request, response,                              \
                    [&](const core::Caller& caller) {                                            \
                      (void)caller;                                                              \
                      return Target;                                                             \
                    });                                                                          \
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
  struct State {
    v1::CreateOutcomeRequest request;
    std::optional<Call> call;
  };
  auto state = std::make_shared<State>();
  grpc::ByteBuffer bytes(*request_bytes);
  if (grpc::Status parsed = DeserializeMessage(&bytes, &state->request); !parsed.ok()) {
    reactor->Finish(parsed);
    return reactor;
  }
  Call& call = state->call.emplace(context_, *context, "CreateOutcome", state->request);
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
LEERLUS_UNARY(EventLogServiceImpl, GetCheckpoint, Transparency().GetCheckpoint(*request, caller))
LEERLUS_UNARY(EventLogServiceImpl, GetInclusionProof,
              Transparency().GetInclusionProof(*request, caller))
LEERLUS_UNARY(EventLogServiceImpl, GetConsistencyProof,
              Transparency().GetConsistencyProof(*request, caller))

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
  // The stream opens for a caller who may import at all; each row is then
  // authorised as it comes (ImportRows).
  return RunStream(
      context_, context, "ImportOutcomes", v1::ImportOutcomesRequest(), [&](Call& call) {
        // Refused rows, by code: logged and counted with the stream's
        // outcome, so that 100,000 refused rows do not pass as one OK line.
        std::map<absl::StatusCode, uint64_t> refused;
        v1::ImportOutcomesRequest request;
        uint64_t rows_read = 0;
        (void)TakeRequestParseFailure();  // Left by an earlier call on this thread.
        absl::Status status = ImportRows(
            *call.caller(),
            [&]() -> const v1::CreateOutcomeRequest* {
              if (!reader->Read(&request)) return nullptr;
              ++rows_read;
              return &request.row();
            },
            *response, refused);
        // Read() also ends at a message that does not parse.
        if (grpc::Status broken = TakeRequestParseFailure(); status.ok() && !broken.ok()) {
          status = BrokenRow(broken, rows_read);
        }
        call.AddLogFields(context_.telemetry->CountImportRows(response->written(), refused));
        return status;
      });
}

grpc::Status ExperimentServiceImpl::ImportOutcomeBatch(grpc::ServerContext* context,
                                                       const v1::ImportOutcomeBatchRequest* request,
                                                       v1::ImportOutcomeBatchResponse* response) {
  Call call(context_, *context, "ImportOutcomeBatch", *request);
  if (!call.caller().ok()) return call.Finish(call.caller().status());
  if (request->rows_size() > kMaxBatchRows) {
    return call.Finish(
        FieldError("rows", absl::StrCat("holds ", request->rows_size(),
                                        " rows; a batch holds at most ", kMaxBatchRows)));
  }
  int next = 0;
  v1::ImportOutcomesResponse imported;
  // Refused rows are logged and counted as an import stream's are.
  std::map<absl::StatusCode, uint64_t> refused;
  absl::Status status = ImportRows(
      *call.caller(),
      [&]() -> const v1::CreateOutcomeRequest* {
        return next < request->rows_size() ? &request->rows(next++) : nullptr;
      },
      imported, refused);
  call.AddLogFields(context_.telemetry->CountImportRows(imported.written(), refused));
  if (!status.ok()) return call.Finish(status);
  // The same fields under the same numbers (experiment_service.proto).
  v1::ImportOutcomeBatchResponse answer;
  answer.ParseFromString(imported.SerializeAsString());
  return call.Finish(absl::StatusOr<v1::ImportOutcomeBatchResponse>(std::move(answer)), response);
}

absl::Status ExperimentServiceImpl::ImportRows(
    const core::Caller& caller, const std::function<const v1::CreateOutcomeRequest*()>& next_row,
    v1::ImportOutcomesResponse& response, std::map<absl::StatusCode, uint64_t>& refused) {
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
      response.set_written(response.written() + 1);
      response.set_position(std::max(response.position(), result->position()));
    } else {
      response.set_failed(response.failed() + 1);
      ++refused[result.status().code()];
      if (response.results_size() < kListedFailures) {
        v1::ImportRowResult* failure = response.add_results();
        failure->set_row(row);
        failure->set_code(static_cast<int>(result.status().code()));
        failure->set_message(std::string(result.status().message()));
        failure->set_field(BlamedField(result.status()));
      }
    }
    inflight.pop_front();
  };
  uint64_t row = 0;
  while (const v1::CreateOutcomeRequest* next = next_row()) {
    if (row >= context_.max_import_rows) {
      while (!inflight.empty()) collect_one();
      return absl::ResourceExhaustedError(absl::StrCat(
          "an import stream carries at most ", context_.max_import_rows, " rows; the first ",
          context_.max_import_rows, " were processed, split the rest"));
    }
    // Each row is authorised under ImportOutcomes (a batch's too): by role
    // here (it must name its experiment); the token and the experiment's
    // rule are checked again when its append is decided.
    absl::Status allowed = core::CheckRole(caller, "ImportOutcomes", *next);
    inflight.emplace_back(row, allowed.ok() ? commands_.StartCreateOutcome(*next, caller)
                                            : core::Pending<v1::CreateOutcomeResponse>(allowed));
    ++row;
    if (inflight.size() >= kWindow) collect_one();
  }
  while (!inflight.empty()) collect_one();
  if (response.position() != 0) {
    LEERLUS_ASSIGN_OR_RETURN(*response.mutable_receipt(),
                             context_.transparency->ReceiptFor(response.position()));
  }
  return absl::OkStatus();
}

grpc::Status EventLogServiceImpl::Subscribe(grpc::ServerContext* context,
                                            const v1::SubscribeRequest* request,
                                            grpc::ServerWriter<v1::SubscribeResponse>* writer) {
  return RunStream(context_, context, "Subscribe", *request,
                   [&](Call& call) { return Follow(*call.caller(), *request, *context, *writer); });
}

absl::Status EventLogServiceImpl::Follow(const core::Caller& caller,
                                         const v1::SubscribeRequest& request,
                                         grpc::ServerContext& context,
                                         grpc::ServerWriter<v1::SubscribeResponse>& writer) {
  LEERLUS_ASSIGN_OR_RETURN(core::Subscription subscription,
                           core::Subscription::Open(context_.store, caller, request));
  if (request.checkpoints() && context_.transparency->verifier_key().empty()) {
    return WithErrorInfo(absl::FailedPreconditionError(
                             "checkpoints: this server signs no checkpoints (no --signing-key)"),
                         "NO_SIGNING_KEY");
  }
  // The principal's share: its token, or its name without one.
  const std::string principal = core::PrincipalOf(caller);
  LEERLUS_RETURN_IF_ERROR(context_.telemetry->TryAddSubscriber(
      principal, context_.max_subscribers, context_.max_subscribers_per_principal));
  struct Unsubscribe {
    Telemetry* telemetry;
    const std::string& principal;
    ~Unsubscribe() { telemetry->RemoveSubscriber(principal); }
  } unsubscribe{context_.telemetry, principal};
  std::unique_ptr<StalledStreams::Watch> watch = context_.stalled_streams->Track(&context);
  // Write blocks while the client does not read (flow control), so a slow
  // subscriber holds one batch, not the log; one that stalls past
  // --subscriber-stall-seconds is cancelled by the watch. A failed write:
  // the client is gone, and the call says how (RunStream).
  absl::Time last_sent = absl::Now();
  auto send = [&](const v1::SubscribeResponse& message) {
    watch->Writing();
    const bool written = writer.Write(message);
    watch->Written();
    if (written) last_sent = absl::Now();
    return written;
  };
  const absl::Duration heartbeat = absl::Seconds(request.heartbeat_seconds());
  bool caught_up = false;
  uint64_t checkpoint_sent = 0;
  absl::Time checkpoint_time = absl::InfinitePast();
  std::optional<v1::Checkpoint> pending_checkpoint;
  while (!context.IsCancelled()) {
    if (context_.draining->load()) {
      return WithErrorInfo(
          absl::UnavailableError("the server is shutting down; resubscribe from the next "
                                 "position"),
          "SHUTTING_DOWN", {{"next_position", absl::StrCat(subscription.next_position())}});
    }
    LEERLUS_ASSIGN_OR_RETURN(core::SubscriptionBatch batch, subscription.Next());
    for (v1::Event& event : batch.events) {
      v1::SubscribeResponse message;
      *message.mutable_event() = std::move(event);
      if (!send(message)) return absl::OkStatus();
    }
    if (!batch.caught_up) continue;
    if (!caught_up && request.mark_caught_up()) {
      v1::SubscribeResponse marker;
      marker.mutable_caught_up()->set_head_position(batch.head_position);
      if (!send(marker)) return absl::OkStatus();
    }
    caught_up = true;
    // A checkpoint once the log has grown past the last one sent, at most
    // once a second (signatures are shared: every stream asks for one
    // covering the same head), and only once every event it covers was
    // sent: the head may have moved on while it was signed.
    if (request.checkpoints() && !pending_checkpoint.has_value() &&
        batch.head_position > checkpoint_sent &&
        absl::Now() - checkpoint_time >= absl::Seconds(1)) {
      LEERLUS_ASSIGN_OR_RETURN(pending_checkpoint,
                               context_.transparency->Covering(batch.head_position));
      checkpoint_time = absl::Now();
    }
    if (pending_checkpoint.has_value() && pending_checkpoint->tree_size() <= batch.head_position) {
      v1::SubscribeResponse message;
      *message.mutable_checkpoint() = *std::move(pending_checkpoint);
      pending_checkpoint.reset();
      checkpoint_sent = message.checkpoint().tree_size();
      if (!send(message)) return absl::OkStatus();
    }
    if (heartbeat > absl::ZeroDuration() && absl::Now() - last_sent >= heartbeat) {
      v1::SubscribeResponse beat;
      beat.mutable_heartbeat()->set_head_position(batch.head_position);
      if (!send(beat)) return absl::OkStatus();
    }
    // Wait for new events, with a timeout to notice cancellation, draining,
    // an expiring token and the next heartbeat.
    absl::Time wake = absl::Now() + absl::Milliseconds(500);
    if (heartbeat > absl::ZeroDuration()) wake = std::min(wake, last_sent + heartbeat);
    subscription.WaitForMore(wake);
  }
  return absl::OkStatus();
}

}  // namespace leerlus::server
