#include "core/queries.h"

#include <algorithm>
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "core/filter.h"
#include "core/validation.h"
#include "leerlus/internal/v1/records.pb.h"
#include "storage/keys.h"
#include "storage/projector.h"

namespace leerlus::core {
namespace {

using storage::CatalogKind;
using storage::ColumnFamily;
using storage::GetMessage;

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
  const std::string prefix = storage::CatalogPrefix(kind);
  Response response;
  Page page(page_size);
  absl::Status parse_status;
  LEERLUS_RETURN_IF_ERROR(
      view->Scan(ColumnFamily::kCatalog, prefix, after.empty() ? prefix : After(after),
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
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<Message> entry,
      GetMessage<Message>(view, ColumnFamily::kCatalog, storage::CatalogKey(kind, id)));
  if (!entry.has_value()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat(what, " '", id, "' does not exist")),
                         "NOT_FOUND", {{"field", std::string(field)}});
  }
  return std::move(*entry);
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

absl::StatusOr<v1::GetExperimentResponse> Queries::GetExperiment(
    const v1::GetExperimentRequest& request) {
  FieldViolations violations;
  CheckId(violations, "id", request.id());
  if (!v1::ExperimentView_IsValid(request.view())) violations.Add("view", "is not a known view");
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  const bool with_outcomes = request.view() != v1::EXPERIMENT_VIEW_BASIC;
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::GetExperimentResponse response;
  auto not_found = [&](absl::string_view when) {
    return WithErrorInfo(
        absl::NotFoundError(absl::StrCat("experiment '", request.id(), "' does not exist", when)),
        "NOT_FOUND", {{"field", "id"}});
  };

  if (request.as_of_position() != 0) {
    if (request.as_of_position() > view->head_position()) {
      return FieldError("as_of_position",
                        absl::StrCat("is past the end of the log (", view->head_position(), ")"));
    }
    // Point in time: fold the stream's events up to the position.
    LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                             view->ReadEvents(1, std::numeric_limits<size_t>::max(),
                                              storage::ExperimentStream(request.id())));
    v1::Experiment state;
    bool any = false;
    for (const v1::Event& event : events) {
      if (event.position() > request.as_of_position()) break;
      LEERLUS_RETURN_IF_ERROR(storage::FoldExperimentEvent(event, state));
      any = true;
    }
    if (!any) return not_found(absl::StrCat(" at position ", request.as_of_position()));
    if (!with_outcomes) state.clear_outcomes();
    *response.mutable_experiment() = std::move(state);
    response.set_read_position(request.as_of_position());
    if (request.include_history()) {
      for (v1::Event& event : events) {
        if (event.position() > request.as_of_position()) break;
        *response.add_history() = std::move(event);
      }
    }
    return response;
  }

  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                           storage::ReadExperiment(*view, request.id()));
  if (!experiment.has_value()) return not_found("");
  absl::Status parse_status;
  const std::string prefix = storage::ExperimentChildPrefix(request.id());
  if (with_outcomes) {
    LEERLUS_RETURN_IF_ERROR(view->Scan(ColumnFamily::kOutcomes, prefix, "",
                                       [&](absl::string_view, absl::string_view value) {
                                         if (!experiment->add_outcomes()->ParseFromArray(
                                                 value.data(), static_cast<int>(value.size()))) {
                                           parse_status = absl::DataLossError("bad outcome");
                                         }
                                         return parse_status.ok();
                                       }));
  }
  LEERLUS_RETURN_IF_ERROR(view->Scan(ColumnFamily::kLessons, prefix, "",
                                     [&](absl::string_view, absl::string_view value) {
                                       if (!experiment->add_lessons()->ParseFromArray(
                                               value.data(), static_cast<int>(value.size()))) {
                                         parse_status = absl::DataLossError("bad lesson");
                                       }
                                       return parse_status.ok();
                                     }));
  LEERLUS_RETURN_IF_ERROR(parse_status);
  // In the order they were recorded.
  auto* outcomes = experiment->mutable_outcomes();
  std::sort(outcomes->begin(), outcomes->end(), [](const v1::Outcome& a, const v1::Outcome& b) {
    return a.record_position() < b.record_position();
  });
  auto* lessons = experiment->mutable_lessons();
  std::sort(lessons->begin(), lessons->end(), [](const v1::Lesson& a, const v1::Lesson& b) {
    return a.record_position() < b.record_position();
  });
  *response.mutable_experiment() = std::move(*experiment);
  response.set_read_position(view->head_position());
  if (request.include_history()) {
    LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                             view->ReadEvents(1, std::numeric_limits<size_t>::max(),
                                              storage::ExperimentStream(request.id())));
    for (v1::Event& event : events) *response.add_history() = std::move(event);
  }
  return response;
}

absl::StatusOr<v1::ListOutcomesResponse> Queries::ListOutcomes(
    const v1::ListOutcomesRequest& request) {
  FieldViolations violations;
  CheckId(violations, "experiment_id", request.experiment_id());
  const int32_t page_size = CheckPageSize(violations, request.page_size());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  // A token continues the listing of its own experiment only.
  const std::string query_hash = QueryHash("ListOutcomes", request.experiment_id());
  LEERLUS_ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token(), query_hash));

  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<std::string> record,
      view->Get(ColumnFamily::kExperiments, storage::ExperimentKey(request.experiment_id())));
  if (!record.has_value()) {
    return WithErrorInfo(absl::NotFoundError(absl::StrCat("experiment '", request.experiment_id(),
                                                          "' does not exist")),
                         "NOT_FOUND", {{"field", "experiment_id"}});
  }
  v1::ListOutcomesResponse response;
  const std::string prefix = storage::ExperimentChildPrefix(request.experiment_id());
  Page page(page_size);
  absl::Status parse_status;
  LEERLUS_RETURN_IF_ERROR(
      view->Scan(ColumnFamily::kOutcomes, prefix, after.empty() ? prefix : After(after),
                 [&](absl::string_view key, absl::string_view value) {
                   if (!page.HasRoom()) return false;
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

absl::StatusOr<v1::ListExperimentsResponse> Queries::ListExperiments(
    const v1::ListExperimentsRequest& request, absl::string_view only_partner) {
  FieldViolations violations;
  int32_t page_size = CheckPageSize(violations, request.page_size());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  LEERLUS_ASSIGN_OR_RETURN(ExperimentFilter filter, ExperimentFilter::Parse(request.filter()));
  const std::string query_hash = QueryHash("ListExperiments", request.filter());
  LEERLUS_ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token(), query_hash));

  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::ListExperimentsResponse response;
  absl::Status problem;
  Page page(page_size);
  LEERLUS_RETURN_IF_ERROR(view->Scan(
      ColumnFamily::kExperimentOrder, "", after.empty() ? "" : After(after),
      [&](absl::string_view key, absl::string_view id) {
        absl::StatusOr<std::optional<v1::Experiment>> experiment = GetMessage<v1::Experiment>(
            *view, ColumnFamily::kExperiments, storage::ExperimentKey(id));
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
        if (absl::Status caught_up = storage::CatchUpWithStream(*view, **experiment);
            !caught_up.ok()) {
          problem = caught_up;
          return false;
        }
        *response.add_experiments() = std::move(**experiment);
        page.Took(key);
        return true;
      }));
  LEERLUS_RETURN_IF_ERROR(problem);
  page.Finish(query_hash, view->head_position(), response);
  return response;
}

absl::StatusOr<v1::ReadEventsResponse> Queries::ReadEvents(const v1::ReadEventsRequest& request) {
  FieldViolations violations;
  int32_t page_size = CheckPageSize(violations, request.page_size());
  if (!request.experiment_id().empty()) {
    CheckId(violations, "experiment_id", request.experiment_id());
  }
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  const std::string stream = request.experiment_id().empty()
                                 ? std::string()
                                 : storage::ExperimentStream(request.experiment_id());
  uint64_t from = std::max<uint64_t>(request.from_position(), 1);
  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           view->ReadEvents(from, static_cast<size_t>(page_size), stream));
  v1::ReadEventsResponse response;
  for (v1::Event& event : events) *response.add_events() = std::move(event);
  response.set_head_position(view->head_position());
  uint64_t next = response.events_size() == page_size
                      ? response.events(response.events_size() - 1).position() + 1
                      : view->head_position() + 1;
  response.set_next_position(std::max(next, from));
  return response;
}

absl::StatusOr<v1::ListTokensResponse> Queries::ListTokens(const v1::ListTokensRequest&) {
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  v1::ListTokensResponse response;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(view->Scan(
      ColumnFamily::kCatalog, storage::CatalogPrefix(CatalogKind::kToken), "",
      [&](absl::string_view, absl::string_view value) {
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
  LEERLUS_RETURN_IF_ERROR(view->Scan(ColumnFamily::kCatalog,
                                     storage::CatalogPrefix(CatalogKind::kToken), "",
                                     [&](absl::string_view, absl::string_view) {
                                       any = true;
                                       return false;
                                     }));
  return any;
}

absl::StatusOr<std::string> SubscriptionStream(const v1::SubscribeRequest& request) {
  if (request.experiment_id().empty()) return std::string();
  FieldViolations violations;
  CheckId(violations, "experiment_id", request.experiment_id());
  LEERLUS_RETURN_IF_ERROR(violations.ToStatus());
  return storage::ExperimentStream(request.experiment_id());
}

}  // namespace leerlus::core
