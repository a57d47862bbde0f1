// The gRPC services: thin translations. Each handler runs through one Call
// (server/call.h), which authorises it, counts it and maps its status, and
// hands the request to the core. No domain logic lives here.
#ifndef LEERLUS_SERVER_SERVICES_H_
#define LEERLUS_SERVER_SERVICES_H_

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <map>
#include <memory>

#include "core/admin.h"
#include "core/answer_budget.h"
#include "core/commands.h"
#include "core/insights.h"
#include "core/queries.h"
#include "leerlus/v1/admin_service.grpc.pb.h"
#include "leerlus/v1/catalog_service.grpc.pb.h"
#include "leerlus/v1/event_log_service.grpc.pb.h"
#include "leerlus/v1/experiment_service.grpc.pb.h"
#include "leerlus/v1/insight_service.grpc.pb.h"
#include "server/service_context.h"

namespace leerlus::server {

class CatalogServiceImpl final : public v1::CatalogService::Service {
 public:
  explicit CatalogServiceImpl(ServiceContext context)
      : context_(context),
        commands_(context.store),
        queries_(context.store, context.answer_memory) {}

  grpc::Status CreateWorkMethod(grpc::ServerContext* context,
                                const v1::CreateWorkMethodRequest* request,
                                v1::CreateWorkMethodResponse* response) override;
  grpc::Status GetWorkMethod(grpc::ServerContext* context, const v1::GetWorkMethodRequest* request,
                             v1::GetWorkMethodResponse* response) override;
  grpc::Status ListWorkMethods(grpc::ServerContext* context,
                               const v1::ListWorkMethodsRequest* request,
                               v1::ListWorkMethodsResponse* response) override;
  grpc::Status CreateIndicator(grpc::ServerContext* context,
                               const v1::CreateIndicatorRequest* request,
                               v1::CreateIndicatorResponse* response) override;
  grpc::Status GetIndicator(grpc::ServerContext* context, const v1::GetIndicatorRequest* request,
                            v1::GetIndicatorResponse* response) override;
  grpc::Status ListIndicators(grpc::ServerContext* context,
                              const v1::ListIndicatorsRequest* request,
                              v1::ListIndicatorsResponse* response) override;
  grpc::Status PutArea(grpc::ServerContext* context, const v1::PutAreaRequest* request,
                       v1::PutAreaResponse* response) override;
  grpc::Status GetArea(grpc::ServerContext* context, const v1::GetAreaRequest* request,
                       v1::GetAreaResponse* response) override;
  grpc::Status ListAreas(grpc::ServerContext* context, const v1::ListAreasRequest* request,
                         v1::ListAreasResponse* response) override;

 private:
  ServiceContext context_;
  core::Commands commands_;
  core::Queries queries_;
};

// CreateOutcome, the append partners send most, is a callback method: a
// call waiting for its group commit holds no thread, and the store's writer
// answers it. It takes raw bytes so that a request that does not parse gets
// leerlus's INVALID_ARGUMENT (gRPC 1.51's callback handler would answer
// UNIMPLEMENTED). The other methods use the synchronous API.
class ExperimentServiceImpl final
    : public v1::ExperimentService::WithRawCallbackMethod_CreateOutcome<
          v1::ExperimentService::Service> {
 public:
  explicit ExperimentServiceImpl(ServiceContext context)
      : context_(context),
        commands_(context.store),
        queries_(context.store, context.answer_memory) {}

  grpc::Status CreateExperiment(grpc::ServerContext* context,
                                const v1::CreateExperimentRequest* request,
                                v1::CreateExperimentResponse* response) override;
  grpc::Status GetExperiment(grpc::ServerContext* context, const v1::GetExperimentRequest* request,
                             v1::GetExperimentResponse* response) override;
  grpc::Status ListExperiments(grpc::ServerContext* context,
                               const v1::ListExperimentsRequest* request,
                               v1::ListExperimentsResponse* response) override;
  grpc::Status ListOutcomes(grpc::ServerContext* context, const v1::ListOutcomesRequest* request,
                            v1::ListOutcomesResponse* response) override;
  grpc::Status UpdateExperiment(grpc::ServerContext* context,
                                const v1::UpdateExperimentRequest* request,
                                v1::UpdateExperimentResponse* response) override;
  grpc::Status StartExperiment(grpc::ServerContext* context,
                               const v1::StartExperimentRequest* request,
                               v1::StartExperimentResponse* response) override;
  grpc::Status EvaluateExperiment(grpc::ServerContext* context,
                                  const v1::EvaluateExperimentRequest* request,
                                  v1::EvaluateExperimentResponse* response) override;
  grpc::Status ConcludeExperiment(grpc::ServerContext* context,
                                  const v1::ConcludeExperimentRequest* request,
                                  v1::ConcludeExperimentResponse* response) override;
  grpc::Status WithdrawExperiment(grpc::ServerContext* context,
                                  const v1::WithdrawExperimentRequest* request,
                                  v1::WithdrawExperimentResponse* response) override;
  grpc::Status CreateHypothesis(grpc::ServerContext* context,
                                const v1::CreateHypothesisRequest* request,
                                v1::CreateHypothesisResponse* response) override;
  grpc::ServerUnaryReactor* CreateOutcome(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request_bytes,
                                          grpc::ByteBuffer* response_bytes) override;
  grpc::Status RetractOutcome(grpc::ServerContext* context,
                              const v1::RetractOutcomeRequest* request,
                              v1::RetractOutcomeResponse* response) override;
  grpc::Status CreateLesson(grpc::ServerContext* context, const v1::CreateLessonRequest* request,
                            v1::CreateLessonResponse* response) override;
  grpc::Status ImportOutcomes(grpc::ServerContext* context,
                              grpc::ServerReader<v1::ImportOutcomesRequest>* reader,
                              v1::ImportOutcomesResponse* response) override;
  grpc::Status ImportOutcomeBatch(grpc::ServerContext* context,
                                  const v1::ImportOutcomeBatchRequest* request,
                                  v1::ImportOutcomeBatchResponse* response) override;

  // The most rows one ImportOutcomeBatch carries.
  static constexpr int kMaxBatchRows = 10'000;

 private:
  // An import's rows, each authorised and appended; `refused` counts the
  // rows refused, by code.
  // `next_row` gives each row in turn, then nullptr.
  absl::Status ImportRows(const core::Caller& caller,
                          const std::function<const v1::CreateOutcomeRequest*()>& next_row,
                          v1::ImportOutcomesResponse& response,
                          std::map<absl::StatusCode, uint64_t>& refused);

  ServiceContext context_;
  core::Commands commands_;
  core::Queries queries_;
};

class EventLogServiceImpl final : public v1::EventLogService::Service {
 public:
  explicit EventLogServiceImpl(ServiceContext context)
      : context_(context), queries_(context.store, context.answer_memory) {}

  grpc::Status ReadEvents(grpc::ServerContext* context, const v1::ReadEventsRequest* request,
                          v1::ReadEventsResponse* response) override;
  grpc::Status Subscribe(grpc::ServerContext* context, const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::SubscribeResponse>* writer) override;
  grpc::Status GetCheckpoint(grpc::ServerContext* context, const v1::GetCheckpointRequest* request,
                             v1::GetCheckpointResponse* response) override;
  grpc::Status GetInclusionProof(grpc::ServerContext* context,
                                 const v1::GetInclusionProofRequest* request,
                                 v1::GetInclusionProofResponse* response) override;
  grpc::Status GetConsistencyProof(grpc::ServerContext* context,
                                   const v1::GetConsistencyProofRequest* request,
                                   v1::GetConsistencyProofResponse* response) override;

 private:
  // Sends what `request` follows to `writer` until the stream ends.
  absl::Status Follow(const core::Caller& caller, const v1::SubscribeRequest& request,
                      grpc::ServerContext& context,
                      grpc::ServerWriter<v1::SubscribeResponse>& writer);

  core::Transparency& Transparency() { return *context_.transparency; }

  ServiceContext context_;
  core::Queries queries_;
};

class InsightServiceImpl final : public v1::InsightService::Service {
 public:
  explicit InsightServiceImpl(ServiceContext context)
      : context_(context), insights_(context.store) {}

  grpc::Status WhatWorks(grpc::ServerContext* context, const v1::WhatWorksRequest* request,
                         v1::WhatWorksResponse* response) override;
  grpc::Status CompareConditions(grpc::ServerContext* context,
                                 const v1::CompareConditionsRequest* request,
                                 v1::CompareConditionsResponse* response) override;
  grpc::Status Scorecard(grpc::ServerContext* context, const v1::ScorecardRequest* request,
                         v1::ScorecardResponse* response) override;
  grpc::Status WhatChanged(grpc::ServerContext* context, const v1::WhatChangedRequest* request,
                           v1::WhatChangedResponse* response) override;
  grpc::Status DiscoverConditions(grpc::ServerContext* context,
                                  const v1::DiscoverConditionsRequest* request,
                                  v1::DiscoverConditionsResponse* response) override;
  grpc::Status Contribution(grpc::ServerContext* context, const v1::ContributionRequest* request,
                            v1::ContributionResponse* response) override;

 private:
  ServiceContext context_;
  core::Insights insights_;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(ServiceContext context)
      : context_(context),
        admin_(context.store),
        commands_(context.store),
        queries_(context.store, context.answer_memory) {}

  grpc::Status Backup(grpc::ServerContext* context, const v1::BackupRequest* request,
                      v1::BackupResponse* response) override;
  grpc::Status CreateToken(grpc::ServerContext* context, const v1::CreateTokenRequest* request,
                           v1::CreateTokenResponse* response) override;
  grpc::Status ListTokens(grpc::ServerContext* context, const v1::ListTokensRequest* request,
                          v1::ListTokensResponse* response) override;
  grpc::Status RevokeToken(grpc::ServerContext* context, const v1::RevokeTokenRequest* request,
                           v1::RevokeTokenResponse* response) override;
  grpc::Status ErasePersonalData(grpc::ServerContext* context,
                                 const v1::ErasePersonalDataRequest* request,
                                 v1::ErasePersonalDataResponse* response) override;

 private:
  ServiceContext context_;
  core::Admin admin_;
  core::Commands commands_;
  core::Queries queries_;
};

// The server's interceptor that tells `memory` when each unary call is over
// (answer sent), so that what its answer reserved comes free only then.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeCallEndInterceptorFactory(core::AnswerMemory* memory);

}  // namespace leerlus::server

#endif  // LEERLUS_SERVER_SERVICES_H_
