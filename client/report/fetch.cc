// FetchReportData: every answer the report shows, pinned to one log position.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/report/report.h"

namespace leerlus::client {
namespace {

// Per pooled method: the comparison by `options.by`, or else the top three
// conditions discovered (or why none could be tested).
grpc::Status FetchConditions(Client& api, const ReportOptions& options, uint64_t position,
                             ReportData* data) {
  for (const v1::MethodResult& method : data->what_works.methods()) {
    if (!method.has_pooled()) continue;
    const std::string& id = method.work_method_id();
    if (!options.by.empty()) {
      v1::CompareConditionsRequest request;
      request.set_indicator_id(options.indicator_id);
      request.set_work_method_id(id);
      request.set_condition(options.by);
      request.set_as_of_position(position);
      grpc::Status status = api.Call(&v1::InsightService::Stub::CompareConditions, api.insights(),
                                     request, &data->compared[id]);
      if (!status.ok()) return status;
      continue;
    }
    v1::DiscoverConditionsRequest request;
    request.set_indicator_id(options.indicator_id);
    request.set_work_method_id(id);
    request.set_max_results(3);
    request.set_as_of_position(position);
    v1::DiscoverConditionsResponse discovered;
    grpc::Status status = api.Call(&v1::InsightService::Stub::DiscoverConditions, api.insights(),
                                   request, &discovered);
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      // Too few experiments to test anything: say so in the report.
      data->conditions_not_tested[id] = status.error_message();
    } else if (!status.ok()) {
      return status;
    } else {
      data->discovered[id] = std::move(discovered);
    }
  }
  return grpc::Status::OK;
}

// The methods' experiments (lessons, decisions, parents) as of the position.
grpc::Status FetchMethodExperiments(Client& api, uint64_t position, ReportData* data) {
  for (const v1::MethodResult& method : data->what_works.methods()) {
    const std::string filter = absl::StrCat("method = \"", method.work_method_id(), "\"");
    grpc::Status status = ForEachListedExperiment(api, filter, [&](const v1::Experiment& listed) {
      v1::GetExperimentRequest get;
      get.set_id(listed.id());
      get.set_as_of_position(position);
      get.set_view(v1::EXPERIMENT_VIEW_BASIC);  // The report reads no outcomes from here.
      v1::GetExperimentResponse got;
      grpc::Status got_status =
          api.Call(&v1::ExperimentService::Stub::GetExperiment, api.experiments(), get, &got);
      if (got_status.error_code() == grpc::StatusCode::NOT_FOUND) {
        return grpc::Status::OK;  // Created later.
      }
      if (got_status.ok()) data->experiments.push_back(std::move(*got.mutable_experiment()));
      return got_status;
    });
    if (!status.ok()) return status;
  }
  return grpc::Status::OK;
}

// When the reflected position was written; only callers who may read the
// log see it (the report says "made at" either way): "" otherwise.
std::string PositionTime(Client& api, uint64_t position) {
  v1::ReadEventsRequest events;
  events.set_from_position(position);
  events.set_page_size(1);
  v1::ReadEventsResponse read;
  if (position > 0 &&
      api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), events, &read).ok() &&
      !read.events().empty()) {
    return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                            absl::FromUnixSeconds(read.events(0).time().seconds()),
                            absl::UTCTimeZone());
  }
  return "";
}

}  // namespace

grpc::Status FetchReportData(Client& api, const ReportOptions& options, ReportData* data) {
  data->options = options;
  data->generated_time = absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone());

  v1::GetIndicatorRequest indicator_request;
  indicator_request.set_id(options.indicator_id);
  v1::GetIndicatorResponse indicator_response;
  grpc::Status status = api.Call(&v1::CatalogService::Stub::GetIndicator, api.catalog(),
                                 indicator_request, &indicator_response);
  if (!status.ok()) return status;
  data->indicator = indicator_response.indicator();

  v1::WhatWorksRequest what_works;
  what_works.set_indicator_id(options.indicator_id);
  for (const std::string& method : options.work_method_ids) what_works.add_work_method_ids(method);
  what_works.set_as_of_position(options.as_of_position);
  what_works.set_as_of_date(options.as_of_date);
  status =
      api.Call(&v1::InsightService::Stub::WhatWorks, api.insights(), what_works, &data->what_works);
  if (!status.ok()) return status;
  // Every later question is asked as of this position.
  const uint64_t position = data->what_works.read_position();

  status = FetchConditions(api, options, position, data);
  if (!status.ok()) return status;

  v1::ScorecardRequest scorecard;
  scorecard.set_as_of_position(position);
  status =
      api.Call(&v1::InsightService::Stub::Scorecard, api.insights(), scorecard, &data->scorecard);
  if (!status.ok()) return status;

  status = FetchMethodExperiments(api, position, data);
  if (!status.ok()) return status;

  if (options.since_position != 0 || !options.since_date.empty()) {
    v1::WhatChangedRequest request;
    request.set_since_position(options.since_position);
    request.set_since_date(options.since_date);
    request.set_until_position(position);
    request.set_indicator_id(options.indicator_id);
    data->changes.emplace();
    status =
        api.Call(&v1::InsightService::Stub::WhatChanged, api.insights(), request, &*data->changes);
    if (!status.ok()) return status;
  }

  data->position_time = PositionTime(api, position);
  // The report rests on the log up to `position`: a signed checkpoint that
  // covers it lets a reader check later that the log still holds it.
  v1::GetCheckpointRequest checkpoint;
  checkpoint.set_min_tree_size(position);
  v1::GetCheckpointResponse signed_head;
  if (api.Call(&v1::EventLogService::Stub::GetCheckpoint, api.event_log(), checkpoint, &signed_head)
          .ok()) {
    data->checkpoint = signed_head.checkpoint();
  }
  return grpc::Status::OK;
}

}  // namespace leerlus::client
