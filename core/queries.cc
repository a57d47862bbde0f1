#include "core/queries.h"

#include <algorithm>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "core/access.h"
#include "core/answer_budget.h"
#include "core/filter.h"
#include "core/model/events.h"
#include "core/model/experiment_state.h"
#include "core/model/read_model.h"
#include "core/model/streams.h"
#include "core/personal_data.h"
#include "core/validation.h"
#include "leerlus/internal/v1/records.pb.h"

namespace leerlus::core {
namespace {

using model::CatalogKind;

std::string QueryHash(absl::string_view method, absl::string_view filter) {
  return Sha256Hex(absl::StrCat(method, "\n", filter));
}

std::string EncodePageToken(absl::string_view query_hash, absl::string_view after_key) {
  internal::v1::PageToken token;
  token.set_query_hash(std::string(query_hash));
  token.set_after_key(std::string(after_key));
  return absl::WebSafeBase64Escape(token.SerializeAsString());
}

// The key to continue after ("" for the first page).
absl::StatusOr<std::string> DecodePageToken(absl::string_view page_token,
                                            absl::string_view query_hash) {
  if (page_token.empty()) return std::string();
  std::string bytes;
  internal::v1::PageToken token;
  if (!absl::WebSafeBase64Unescape(page_token, &bytes) || !token.ParseFromString(bytes) ||
      token.after_key().empty()) {
    return FieldError("page_token", "is not a page token this server issued");
  }
  if (token.query_hash() != query_hash) {
    return FieldError("page_token",
                      "belongs to a different list or filter; "
                      "send the same filter as the first page");
  }
  return token.after_key();
}

// The smallest key greater than `key` for a forward scan.
std::string After(absl::string_view key) { return absl::StrCat(key, std::string(1, '\0')); }

// One page of a scan: at most `page_size` items, and the token that
// continues after the last one.
class Page {
 public:
  explicit Page(int32_t page_size) : page_size_(page_size) {}
  // False once the page is full: the scan stops, and there is a next page.
  bool HasRoom() {
    if (count_ < page_size_) return true;
    more_ = true;
    return false;
  }
  void Took(absl::string_view key) {
    last_key_ = std::string(key);
    ++count_;
  }
  template <typename Response>
  void Finish(absl::string_view query_hash, uint64_t read_position, Response& response) const {
    if (more_) response.set_next_page_token(EncodePageToken(query_hash, last_key_));
    response.set_read_position(read_position);
  }

 private:
  int32_t page_size_;
  int32_t count_ = 0;
  bool more_ = false;
  std::string last_key_;
};

// Lists one kind of catalogue entry in id order.
template <typename Message, typename Response, typename AddFn>
absl::StatusOr<Response> ListCatalog(storage::EventStore* store, CatalogKind kind,
                                     absl::string_view method, int32_t page_size_in,
                                     absl::string_view page_token, AddFn add) {
  FieldViolations violations;
  int32_t page_size = CheckPageSize(violations, page_size_in);
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const std::string query_hash = QueryHash(method, "");
  LEERLUS_ASSIGN_OR_RETURN(std::string after, DecodePageToken(page_token, query_hash));
  std::unique_ptr<storage::ReadView> view = store->OpenReadView();
  Response response;
  Page page(page_size);
  absl::Status parse_status;
  LEERLUS_RETURN_IF_ERROR(model::ScanCatalog(
      *view, kind, after.empty() ? model::FirstCatalogKey(kind) : After(after),
      [&](absl::string_view key, absl::string_view value) {
        if (!page.HasRoom()) return false;
        Message message;
        if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          parse_status = absl::DataLossError("cannot parse a catalogue entry");
          return false;
        }
        add(response, std::move(message));
        page.Took(key);
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(parse_status);
  page.Finish(query_hash, view->head_position(), response);
  return response;
}

template <typename Message>
absl::StatusOr<Message> GetCatalog(storage::ReadView& view, CatalogKind kind, absl::string_view id,
                                   absl::string_view what, absl::string_view field) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<Message> entry,
                           model::FindCatalogEntry<Message>(view, kind, id));
  if (!entry.has_value()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat(what, " '", id, "' does not exist")),
                         "NOT_FOUND", {{"field", std::string(field)}});
  }
  return std::move(*entry);
}

// NOT_FOUND unless the experiment has a stream in `view`: the log of an
// unknown experiment is not an empty page.
absl::Status ExperimentStreamExists(storage::ReadView& view, absl::string_view id) {
  LEERLUS_ASSIGN_OR_RETURN(uint64_t version, view.StreamVersion(model::ExperimentStream(id)));
  if (version != 0) return absl::OkStatus();
  return WithErrorInfo(absl::NotFoundError(absl::StrCat("experiment '", id, "' does not exist")),
                       "NOT_FOUND", {{"field", "experiment_id"}});
}

// Calls `visit` with the events of experiment `id` up to position `last`,
// read a chunk at a time so that only one chunk is held besides what
// `visit` keeps.
absl::Status ForEachStreamEvent(storage::ReadView& view, absl::string_view id, uint64_t last,
                                const std::function<absl::Status(const v1::Event&)>& visit) {
  constexpr size_t kChunkEvents = 256;
  constexpr size_t kChunkBytes = 1 << 20;
  const std::string stream = model::ExperimentStream(id);
  uint64_t version = 1;
  while (true) {
    LEERLUS_ASSIGN_OR_RETURN(
        std::vector<v1::Event> events,
        model::ReadStreamEvents(view, stream, version, kChunkEvents, kChunkBytes));
    if (events.empty()) return absl::OkStatus();
    for (const v1::Event& event : events) {
      if (event.position() > last) return absl::OkStatus();
      LEERLUS_RETURN_IF_ERROR(visit(event));
      version = event.stream_version() + 1;
    }
  }
}

// A visitor of outcome or lesson rows that parses each into a new message
// from `add`, counting it against `budget`; a failure lands in `problem`.
template <typename AddFn>
model::RowVisitor ParseEachInto(AnswerBudget& budget, absl::Status& problem, AddFn add) {
  return [&budget, &problem, add](absl::string_view, absl::string_view value) {
    problem = budget.Add(value.size());
    if (problem.ok() && !add()->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      problem = absl::DataLossError("cannot parse a stored outcome or lesson");
    }
    return problem.ok();
  };
}

// The experiment as it is now, with its lessons and (if asked) outcomes in
// the order they were recorded, each counted against `budget`. False if it
// does not exist.
absl::StatusOr<bool> ReadCurrentExperiment(storage::ReadView& view, absl::string_view id,
                                           bool with_outcomes, AnswerBudget& budget,
                                           v1::Experiment& experiment) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> current, model::ReadExperiment(view, id));
  if (!current.has_value()) return false;
  experiment = std::move(*current);
  absl::Status problem;
  if (with_outcomes) {
    LEERLUS_RETURN_IF_ERROR(model::ScanOutcomeRows(
        view, id, "", ParseEachInto(budget, problem, [&]() { return experiment.add_outcomes(); })));
    LEERLUS_RETURN_IF_ERROR(problem);
  }
  LEERLUS_RETURN_IF_ERROR(model::ScanLessonRows(
      view, id, "", ParseEachInto(budget, problem, [&]() { return experiment.add_lessons(); })));
  LEERLUS_RETURN_IF_ERROR(problem);
  auto* outcomes = experiment.mutable_outcomes();
  std::sort(outcomes->begin(), outcomes->end(), [](const v1::Outcome& a, const v1::Outcome& b) {
    return a.record_position() < b.record_position();
  });
  auto* lessons = experiment.mutable_lessons();
  std::sort(lessons->begin(), lessons->end(), [](const v1::Lesson& a, const v1::Lesson& b) {
    return a.record_position() < b.record_position();
  });
  return true;
}

}  // namespace

absl::StatusOr<v1::GetWorkMethodResponse> Queries::GetWorkMethod(
    const v1::GetWorkMethodRequest& request) {
  FieldViolations violations;
  CheckId(violations, "id", request.id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::GetWorkMethodResponse response;
  LEERLUS_ASSIGN_OR_RETURN(*response.mutable_work_method(),
                           GetCatalog<v1::WorkMethod>(*view, CatalogKind::kWorkMethod, request.id(),
                                                      "work method", "id"));
  response.set_read_position(view->head_position());
  return response;
}

absl::StatusOr<v1::ListWorkMethodsResponse> Queries::ListWorkMethods(
    const v1::ListWorkMethodsRequest& request) {
  return ListCatalog<v1::WorkMethod, v1::ListWorkMethodsResponse>(
      store_, CatalogKind::kWorkMethod, "ListWorkMethods", request.page_size(),
      request.page_token(), [](v1::ListWorkMethodsResponse& response, v1::WorkMethod&& m) {
        *response.add_work_methods() = std::move(m);
      });
}

absl::StatusOr<v1::GetIndicatorResponse> Queries::GetIndicator(
    const v1::GetIndicatorRequest& request) {
  FieldViolations violations;
  CheckId(violations, "id", request.id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::GetIndicatorResponse response;
  LEERLUS_ASSIGN_OR_RETURN(
      *response.mutable_indicator(),
      GetCatalog<v1::Indicator>(*view, CatalogKind::kIndicator, request.id(), "indicator", "id"));
  response.set_read_position(view->head_position());
  return response;
}

absl::StatusOr<v1::ListIndicatorsResponse> Queries::ListIndicators(
    const v1::ListIndicatorsRequest& request) {
  return ListCatalog<v1::Indicator, v1::ListIndicatorsResponse>(
      store_, CatalogKind::kIndicator, "ListIndicators", request.page_size(), request.page_token(),
      [](v1::ListIndicatorsResponse& response, v1::Indicator&& m) {
        *response.add_indicators() = std::move(m);
      });
}

absl::StatusOr<v1::GetAreaResponse> Queries::GetArea(const v1::GetAreaRequest& request) {
  if (!ParseAreaCode(request.code(), nullptr)) {
    return FieldError("code", "is not a CBS code (PVnn, GMnnnn, WKnnnnnn or BUnnnnnnnn)");
  }
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::GetAreaResponse response;
  LEERLUS_ASSIGN_OR_RETURN(
      *response.mutable_area(),
      GetCatalog<v1::Area>(*view, CatalogKind::kArea, request.code(), "area", "code"));
  response.set_read_position(view->head_position());
  return response;
}

absl::StatusOr<v1::ListAreasResponse> Queries::ListAreas(const v1::ListAreasRequest& request) {
  return ListCatalog<v1::Area, v1::ListAreasResponse>(
      store_, CatalogKind::kArea, "ListAreas", request.page_size(), request.page_token(),
      [](v1::ListAreasResponse& response, v1::Area&& m) { *response.add_areas() = std::move(m); });
}

absl::StatusOr<v1::GetExperimentResponse> Queries::GetExperimentSealed(
    const v1::GetExperimentRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckId(violations, "id", request.id());
  if (!v1::ExperimentView_IsValid(request.view())) violations.Add("view", "is not a known view");
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const bool with_outcomes = request.view() != v1::EXPERIMENT_VIEW_BASIC;
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "GetExperiment", request, *view));
  if (request.as_of_position() > view->head_position()) {
    return FieldError("as_of_position",
                      absl::StrCat("is past the end of the log (", view->head_position(), ")"));
  }
  // Counted as it is built: a huge experiment stops at the message limit
  // instead of being built whole and refused afterwards.
  AnswerBudget budget(answer_memory_, "GetExperiment", absl::InfiniteFuture());
  const uint64_t as_of =
      request.as_of_position() != 0 ? request.as_of_position() : view->head_position();
  v1::GetExperimentResponse response;
  v1::Experiment& experiment = *response.mutable_experiment();
  bool any = false;
  if (request.as_of_position() != 0) {
    // Point in time: fold the stream's events up to the position.
    LEERLUS_RETURN_IF_ERROR(
        ForEachStreamEvent(*view, request.id(), as_of, [&](const v1::Event& event) -> absl::Status {
          if (event.has_outcome_recorded() && with_outcomes) {
            LEERLUS_RETURN_IF_ERROR(budget.Add(event.outcome_recorded().ByteSizeLong()));
          }
          if (event.has_lesson_recorded()) {
            LEERLUS_RETURN_IF_ERROR(budget.Add(event.lesson_recorded().ByteSizeLong()));
          }
          LEERLUS_RETURN_IF_ERROR(model::FoldExperimentEvent(event, experiment));
          // A retraction of an outcome left out is a no-op.
          if (!with_outcomes) experiment.clear_outcomes();
          any = true;
          return absl::OkStatus();
        }));
  } else {
    LEERLUS_ASSIGN_OR_RETURN(
        any, ReadCurrentExperiment(*view, request.id(), with_outcomes, budget, experiment));
  }
  if (!any) {
    return WithErrorInfo(
        absl::NotFoundError(absl::StrCat(
            "experiment '", request.id(), "' does not exist",
            request.as_of_position() != 0 ? absl::StrCat(" at position ", as_of) : "")),
        "NOT_FOUND", {{"field", "id"}});
  }
  response.set_read_position(as_of);
  if (request.include_history()) {
    LEERLUS_RETURN_IF_ERROR(
        ForEachStreamEvent(*view, request.id(), as_of, [&](const v1::Event& event) -> absl::Status {
          LEERLUS_RETURN_IF_ERROR(budget.Add(event.ByteSizeLong()));
          *response.add_history() = event;
          return absl::OkStatus();
        }));
  }
  return response;
}

absl::StatusOr<v1::ListOutcomesResponse> Queries::ListOutcomesSealed(
    const v1::ListOutcomesRequest& request, const Caller& caller) {
  FieldViolations violations;
  CheckId(violations, "experiment_id", request.experiment_id());
  const int32_t page_size = CheckPageSize(violations, request.page_size());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  // A token continues the listing of its own experiment only.
  const std::string query_hash = QueryHash("ListOutcomes", request.experiment_id());
  LEERLUS_ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token(), query_hash));

  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "ListOutcomes", request, *view));
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> record,
                           model::ExperimentRecord(*view, request.experiment_id()));
  if (!record.has_value()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat("experiment '", request.experiment_id(),
                                                          "' does not exist")),
                         "NOT_FOUND", {{"field", "experiment_id"}});
  }
  v1::ListOutcomesResponse response;
  AnswerBudget budget(answer_memory_, "ListOutcomes", absl::InfiniteFuture());
  Page page(page_size);
  absl::Status parse_status;
  LEERLUS_RETURN_IF_ERROR(model::ScanOutcomeRows(
      *view, request.experiment_id(),
      after.empty() ? model::FirstChildKey(request.experiment_id()) : After(after),
      [&](absl::string_view key, absl::string_view value) {
        if (!page.HasRoom()) return false;
        parse_status = budget.Add(value.size());
        if (!parse_status.ok()) return false;
        if (!response.add_outcomes()->ParseFromArray(value.data(),
                                                     static_cast<int>(value.size()))) {
          parse_status = absl::DataLossError("cannot parse a stored outcome");
          return false;
        }
        page.Took(key);
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(parse_status);
  page.Finish(query_hash, view->head_position(), response);
  return response;
}

absl::StatusOr<v1::ListExperimentsResponse> Queries::ListExperimentsSealed(
    const v1::ListExperimentsRequest& request, absl::string_view only_partner) {
  FieldViolations violations;
  int32_t page_size = CheckPageSize(violations, request.page_size());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  LEERLUS_ASSIGN_OR_RETURN(ExperimentFilter filter, ExperimentFilter::Parse(request.filter()));
  const std::string query_hash = QueryHash("ListExperiments", request.filter());
  LEERLUS_ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token(), query_hash));

  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::ListExperimentsResponse response;
  AnswerBudget budget(answer_memory_, "ListExperiments", absl::InfiniteFuture());
  absl::Status problem;
  Page page(page_size);
  LEERLUS_RETURN_IF_ERROR(model::ScanExperimentOrder(
      *view, after.empty() ? "" : After(after), [&](absl::string_view key, absl::string_view id) {
        absl::StatusOr<std::optional<v1::Experiment>> experiment =
            model::ExperimentRecord(*view, id);
        if (!experiment.ok() || !experiment->has_value()) {
          problem = experiment.ok() ? absl::DataLossError(absl::StrCat(
                                          "experiment order points at missing '", id, "'"))
                                    : experiment.status();
          return false;
        }
        if (!only_partner.empty() &&
            std::find((*experiment)->partner_ids().begin(), (*experiment)->partner_ids().end(),
                      only_partner) == (*experiment)->partner_ids().end()) {
          return true;
        }
        absl::StatusOr<bool> matched = filter.Matches(**experiment);
        if (!matched.ok()) {
          problem = matched.status();
          return false;
        }
        if (!*matched) return true;
        if (!page.HasRoom()) return false;
        if (absl::Status caught_up = model::CatchUpWithStream(*view, **experiment);
            !caught_up.ok()) {
          problem = caught_up;
          return false;
        }
        problem = budget.Add((*experiment)->ByteSizeLong());
        if (!problem.ok()) return false;
        *response.add_experiments() = std::move(**experiment);
        page.Took(key);
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  page.Finish(query_hash, view->head_position(), response);
  return response;
}

absl::StatusOr<v1::ReadEventsResponse> Queries::ReadEventsSealed(
    const v1::ReadEventsRequest& request, const Caller& caller) {
  FieldViolations violations;
  int32_t page_size = CheckPageSize(violations, request.page_size());
  if (!request.experiment_id().empty()) {
    CheckId(violations, "experiment_id", request.experiment_id());
  }
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "ReadEvents", request, *view));
  std::string stream;
  if (!request.experiment_id().empty()) {
    stream = model::ExperimentStream(request.experiment_id());
    LEERLUS_RETURN_IF_ERROR(ExperimentStreamExists(*view, request.experiment_id()));
  }
  const uint64_t from = std::max<uint64_t>(request.from_position(), 1);
  // A page of large events ends early rather than passing the message
  // limit (next_position says where the next page starts), and it is read
  // a chunk at a time, each event counted as it is read.
  const size_t max_bytes = answer_memory_ != nullptr && answer_memory_->max_answer_bytes() != 0
                               ? answer_memory_->max_answer_bytes() / 2
                               : std::numeric_limits<size_t>::max();
  constexpr size_t kChunkBytes = 256 << 10;
  AnswerBudget budget(answer_memory_, "ReadEvents", absl::InfiniteFuture());
  v1::ReadEventsResponse response;
  size_t events_read = 0;
  size_t bytes_read = 0;
  uint64_t next = from;
  bool at_end = false;
  while (events_read < static_cast<size_t>(page_size) && bytes_read < max_bytes) {
    LEERLUS_ASSIGN_OR_RETURN(
        std::vector<v1::Event> chunk,
        model::ReadEvents(*view, next, static_cast<size_t>(page_size) - events_read, stream,
                          std::min(kChunkBytes, max_bytes - bytes_read)));
    if (chunk.empty()) {
      at_end = true;
      break;
    }
    for (v1::Event& event : chunk) {
      ++events_read;
      bytes_read += event.ByteSizeLong();
      // The next page starts after the last event read, whether or not the
      // caller may see it.
      next = event.position() + 1;
      LEERLUS_ASSIGN_OR_RETURN(bool visible, MayReadEvent(caller, event, *view));
      if (!visible) continue;
      LEERLUS_RETURN_IF_ERROR(budget.Add(event.ByteSizeLong()));
      *response.add_events() = std::move(event);
    }
  }
  if (at_end) next = view->head_position() + 1;
  response.set_head_position(view->head_position());
  response.set_next_position(std::max(next, from));
  return response;
}

absl::StatusOr<v1::GetExperimentResponse> Queries::GetExperiment(
    const v1::GetExperimentRequest& request, const Caller& caller) {
  return Revealed(*store_, GetExperimentSealed(request, caller));
}

absl::StatusOr<v1::ListOutcomesResponse> Queries::ListOutcomes(
    const v1::ListOutcomesRequest& request, const Caller& caller) {
  return Revealed(*store_, ListOutcomesSealed(request, caller));
}

absl::StatusOr<v1::ListExperimentsResponse> Queries::ListExperiments(
    const v1::ListExperimentsRequest& request, absl::string_view only_partner) {
  return Revealed(*store_, ListExperimentsSealed(request, only_partner));
}

absl::StatusOr<v1::ReadEventsResponse> Queries::ReadEvents(const v1::ReadEventsRequest& request,
                                                           const Caller& caller) {
  // As stored, each event's deterministic serialization is its Merkle leaf.
  if (request.as_stored()) return ReadEventsSealed(request, caller);
  return Revealed(*store_, ReadEventsSealed(request, caller));
}

absl::StatusOr<v1::ListTokensResponse> Queries::ListTokens(const v1::ListTokensRequest&) {
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::ListTokensResponse response;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(model::ScanCatalog(
      *view, CatalogKind::kToken, "", [&](absl::string_view, absl::string_view value) {
        if (!response.add_tokens()->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          problem = absl::DataLossError("cannot parse a token");
          return false;
        }
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return response;
}

absl::StatusOr<bool> Queries::AnyToken() {
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  bool any = false;
  LEERLUS_RETURN_IF_ERROR(
      model::ScanCatalog(*view, CatalogKind::kToken, "", [&](absl::string_view, absl::string_view) {
        any = true;
        return false;
      }));
  return any;
}

absl::StatusOr<std::string> SubscriptionStream(const v1::SubscribeRequest& request) {
  FieldViolations violations;
  if (request.heartbeat_seconds() < 0 || request.heartbeat_seconds() > 3600) {
    violations.Add("heartbeat_seconds", "must be 0 (none) or 1..3600");
  }
  if (!request.experiment_id().empty()) {
    CheckId(violations, "experiment_id", request.experiment_id());
  }
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  if (request.experiment_id().empty()) return std::string();
  return model::ExperimentStream(request.experiment_id());
}

absl::Status CheckSubscription(const Caller& caller, const v1::SubscribeRequest& request,
                               storage::ReadView& view) {
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "Subscribe", request, view));
  if (request.experiment_id().empty()) return absl::OkStatus();
  return ExperimentStreamExists(view, request.experiment_id());
}

}  // namespace leerlus::core
