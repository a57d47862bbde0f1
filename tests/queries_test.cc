// The filter language and paginated lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "common/errors.h"
#include "core/filter.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

v1::Experiment Sample() {
  v1::Experiment e;
  e.set_id("tb-1");
  e.set_title("Coach Tilburg");
  e.set_work_method_id("coach");
  e.set_line(v1::LINE_AREA_BASED);
  e.set_status(v1::EXPERIMENT_STATUS_RUNNING);
  e.set_kind(v1::EXPERIMENT_KIND_PROJECT);
  e.mutable_area()->set_code("GM0855");
  e.mutable_area()->set_level(v1::AREA_LEVEL_MUNICIPALITY);
  e.set_team_id("team-north");
  e.add_partner_ids("ggd");
  e.set_budget_cents(500000);
  (*e.mutable_context())["urbanity"].set_number_value(2);
  (*e.mutable_context())["target_group"].set_text_value("elderly");
  (*e.mutable_context())["has_partner"].set_bool_value(true);
  return e;
}

bool Match(const std::string& text) {
  absl::StatusOr<core::ExperimentFilter> filter = core::ExperimentFilter::Parse(text);
  EXPECT_TRUE(filter.ok()) << text << ": " << filter.status();
  if (!filter.ok()) return false;
  absl::StatusOr<bool> matched = filter->Matches(Sample());
  EXPECT_TRUE(matched.ok()) << text << ": " << matched.status();
  return matched.ok() && *matched;
}

absl::Status Error(const std::string& text) {
  absl::StatusOr<core::ExperimentFilter> filter = core::ExperimentFilter::Parse(text);
  if (!filter.ok()) return filter.status();
  return filter->Matches(Sample()).status();
}

TEST(FilterTest, MatchesComparisonsOnEveryField) {
  EXPECT_TRUE(Match(""));
  EXPECT_TRUE(Match("method = coach"));
  EXPECT_TRUE(Match("method = \"coach\""));
  EXPECT_FALSE(Match("method != coach"));
  EXPECT_TRUE(Match("status = RUNNING"));
  EXPECT_TRUE(Match("status = running"));
  EXPECT_TRUE(Match("line = AREA_BASED AND kind = PROJECT"));
  EXPECT_TRUE(Match("area = GM0855 AND area_level = MUNICIPALITY"));
  EXPECT_TRUE(Match("team = team-north"));
  EXPECT_TRUE(Match("partner:ggd"));
  EXPECT_FALSE(Match("partner:cbs"));
  EXPECT_TRUE(Match("budget >= 500000 AND budget < 500001"));
  EXPECT_TRUE(Match("context.urbanity <= 2"));
  EXPECT_FALSE(Match("context.urbanity > 2"));
  EXPECT_TRUE(Match("context.target_group = \"elderly\""));
  EXPECT_TRUE(Match("context.has_partner = true"));
  EXPECT_TRUE(Match("context.urbanity:*"));
  EXPECT_FALSE(Match("context.missing:*"));
  EXPECT_FALSE(Match("context.missing = 3"));
  EXPECT_TRUE(Match("NOT context.missing = 3"));
  EXPECT_TRUE(Match("title = \"Coach Tilburg\""));
}

TEST(FilterTest, OrAndInAndParenthesesAndPrecedence) {
  EXPECT_TRUE(Match("method = other OR method = coach"));
  EXPECT_TRUE(Match("method IN (other, coach)"));
  EXPECT_FALSE(Match("method IN (other, third)"));
  EXPECT_TRUE(Match("status IN (DESIGNED, RUNNING)"));
  // AND binds tighter than OR: false OR (true AND true).
  EXPECT_TRUE(Match("method = x OR status = RUNNING AND line = AREA_BASED"));
  // Parentheses change it: (false OR true) AND false.
  EXPECT_FALSE(Match("(method = x OR status = RUNNING) AND line = CROSSOVER"));
  EXPECT_TRUE(Match("NOT (method = x OR line = CROSSOVER)"));
  EXPECT_TRUE(Match("-method = x"));
}

TEST(FilterTest, TypeMismatchesAreErrorsNotEmptyResults) {
  absl::Status number_vs_text = Error("context.urbanity = \"high\"");
  EXPECT_EQ(number_vs_text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(number_vs_text.message().find("number attribute"), std::string::npos);
  EXPECT_EQ(Error("context.target_group > 3").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Error("context.has_partner = 1").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Error("budget = lots").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Error("status = FLYING").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Error("status > RUNNING").code(), absl::StatusCode::kInvalidArgument);
}

TEST(FilterTest, SyntaxErrorsNameThePosition) {
  for (const char* bad :
       {"method =", "method coach", "(method = coach", "method = coach)", "colour = red",
        "method = \"open", "AND", "method IN coach", "context.Bad = 1", "method = coach AND"}) {
    absl::Status status = Error(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(Error("method = coach)").message().find("position 15"), std::string::npos)
      << Error("method = coach)");
}

TEST(FilterTest, LengthAndDepthAreLimited) {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "(";
  deep += "method = coach";
  for (int i = 0; i < 40; ++i) deep += ")";
  EXPECT_NE(Error(deep).message().find("nesting"), std::string::npos);
  std::string nots;
  for (int i = 0; i < 40; ++i) nots += "NOT ";
  EXPECT_NE(Error(nots + "method = coach").message().find("nesting"), std::string::npos);
  std::string shallow = "((method = coach))";
  EXPECT_TRUE(Match(shallow));
  std::string longest = "method = \"" + std::string(1989, 'x') + "\"";
  ASSERT_EQ(longest.size(), 2000u);
  EXPECT_TRUE(core::ExperimentFilter::Parse(longest).ok());
  EXPECT_EQ(core::ExperimentFilter::Parse(longest + " ").status().code(),
            absl::StatusCode::kInvalidArgument);
}

using ListTest = StoreFixture;

TEST_F(ListTest, PagesNeverSkipOrRepeatWhileWritersAppend) {
  DefineCatalogue();
  for (int i = 0; i < 25; ++i) CreateExperiment("e" + std::to_string(i));
  std::vector<std::string> seen;
  v1::ListExperimentsRequest request;
  request.set_page_size(7);
  int pages = 0;
  int created = 25;
  while (true) {
    absl::StatusOr<v1::ListExperimentsResponse> page = queries_->ListExperiments(request);
    ASSERT_OK(page);
    ++pages;
    for (const auto& e : page->experiments()) seen.push_back(e.id());
    // A writer appends between pages.
    if (created < 30) CreateExperiment("e" + std::to_string(created++));
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "an item was repeated";
  for (int i = 0; i < 25; ++i) EXPECT_TRUE(unique.count("e" + std::to_string(i))) << i;
  EXPECT_GE(pages, 4);
}

TEST_F(ListTest, FilteredListsAndTokensBoundToTheFilter) {
  DefineCatalogue();
  for (int i = 0; i < 6; ++i) CreateExperiment("e" + std::to_string(i));
  Start("e1");
  Start("e4");
  v1::ListExperimentsRequest request;
  request.set_filter("status = RUNNING");
  absl::StatusOr<v1::ListExperimentsResponse> running = queries_->ListExperiments(request);
  ASSERT_OK(running);
  ASSERT_EQ(running->experiments_size(), 2);
  EXPECT_EQ(running->experiments(0).id(), "e1");
  EXPECT_EQ(running->experiments(1).id(), "e4");
  EXPECT_TRUE(running->next_page_token().empty());
  EXPECT_EQ(running->read_position(), store_->HeadPosition());

  request.set_page_size(1);
  absl::StatusOr<v1::ListExperimentsResponse> first = queries_->ListExperiments(request);
  ASSERT_OK(first);
  ASSERT_FALSE(first->next_page_token().empty());
  v1::ListExperimentsRequest other;
  other.set_filter("status = DESIGNED");
  other.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListExperimentsResponse> mixed = queries_->ListExperiments(other);
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  other.set_page_token("not-a-token");
  EXPECT_EQ(queries_->ListExperiments(other).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListExperimentsResponse> second = queries_->ListExperiments(request);
  ASSERT_OK(second);
  ASSERT_EQ(second->experiments_size(), 1);
  EXPECT_EQ(second->experiments(0).id(), "e4");
  EXPECT_TRUE(second->next_page_token().empty()) << "the last page must say so";
}

// Outcome ids in id order (ListOutcomes' order): "o10" sorts before "o3".
TEST_F(ListTest, OutcomesPageWithoutSkipsOrRepeatsWhileWritersAppend) {
  DefineCatalogue();
  CreateExperiment("e0");
  CreateExperiment("e1");
  Start("e0");
  Start("e1");
  std::vector<std::string> recorded = RecordOutcomes(23, 1);  // All on e0.
  ASSERT_EQ(recorded.size(), 23u);
  Retract("e0", recorded[4], "entered twice");
  // One more on e0 ("o27": register, start, 23 outcomes and the retraction
  // came first) and one on e1 ("o3").
  RecordOutcomes(2, 2);
  recorded.push_back("o27");
  std::vector<std::string> seen;
  int pages = 0;
  int retracted = 0;
  v1::ListOutcomesRequest request;
  request.set_experiment_id("e0");
  request.set_page_size(10);
  while (true) {
    absl::StatusOr<v1::ListOutcomesResponse> page = queries_->ListOutcomes(request, caller_);
    ASSERT_OK(page);
    ++pages;
    EXPECT_EQ(page->read_position(), store_->HeadPosition());
    EXPECT_LE(page->outcomes_size(), 10);
    for (const v1::Outcome& outcome : page->outcomes()) {
      seen.push_back(outcome.id());
      if (outcome.retracted()) ++retracted;
    }
    RecordOutcomes(1, 1);  // A writer appends between pages.
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_GE(pages, 3);
  EXPECT_EQ(retracted, 1);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << "pages come in id order";
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "an outcome was repeated";
  for (const std::string& id : recorded) EXPECT_TRUE(unique.count(id)) << id << " was skipped";

  // Each experiment's list holds its own outcomes only.
  v1::ListOutcomesRequest other;
  other.set_experiment_id("e1");
  absl::StatusOr<v1::ListOutcomesResponse> e1 = queries_->ListOutcomes(other, caller_);
  ASSERT_OK(e1);
  ASSERT_EQ(e1->outcomes_size(), 1);
  EXPECT_EQ(e1->outcomes(0).id(), "o3");
  EXPECT_TRUE(e1->next_page_token().empty());
}

TEST_F(ListTest, OutcomeListsRefuseBadRequests) {
  DefineCatalogue();
  for (const char* id : {"e0", "e1"}) {
    CreateExperiment(id);
    Start(id);
  }
  RecordOutcomes(4, 2);
  v1::ListOutcomesRequest request;
  EXPECT_THAT(queries_->ListOutcomes(request, caller_).status(), NamesField("experiment_id"));
  request.set_experiment_id("e0");
  request.set_page_size(-1);
  EXPECT_THAT(queries_->ListOutcomes(request, caller_).status(), NamesField("page_size"));
  request.set_page_size(1);
  absl::StatusOr<v1::ListOutcomesResponse> first = queries_->ListOutcomes(request, caller_);
  ASSERT_OK(first);
  ASSERT_FALSE(first->next_page_token().empty());
  // A token continues its own experiment's list only.
  v1::ListOutcomesRequest elsewhere;
  elsewhere.set_experiment_id("e1");
  elsewhere.set_page_token(first->next_page_token());
  EXPECT_THAT(queries_->ListOutcomes(elsewhere, caller_).status(), NamesField("page_token"));
  elsewhere.set_page_token("not-a-token");
  EXPECT_THAT(queries_->ListOutcomes(elsewhere, caller_).status(), NamesField("page_token"));
  v1::ListOutcomesRequest unknown;
  unknown.set_experiment_id("no-such-experiment");
  EXPECT_EQ(queries_->ListOutcomes(unknown, caller_).status().code(), absl::StatusCode::kNotFound);
}

// The BASIC view leaves the outcomes out, now and as of a position; an
// unknown view is refused.
TEST_F(ListTest, TheBasicViewOfAnExperimentHasNoOutcomes) {
  DefineCatalogue();
  CreateExperiment("e0");
  Start("e0");
  RecordOutcomes(3, 1);
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e0");
  lesson.mutable_lesson()->set_text("Start with the GP practices.");
  lesson.set_request_id(NextId());
  ASSERT_OK(commands_->CreateLesson(lesson, caller_));
  v1::GetExperimentRequest request;
  request.set_id("e0");
  for (uint64_t as_of : {uint64_t{0}, store_->HeadPosition()}) {
    request.set_as_of_position(as_of);
    request.set_view(v1::EXPERIMENT_VIEW_FULL);
    absl::StatusOr<v1::GetExperimentResponse> full = queries_->GetExperiment(request, caller_);
    ASSERT_OK(full);
    EXPECT_EQ(full->experiment().outcomes_size(), 3) << "as of " << as_of;
    request.set_view(v1::EXPERIMENT_VIEW_BASIC);
    absl::StatusOr<v1::GetExperimentResponse> basic = queries_->GetExperiment(request, caller_);
    ASSERT_OK(basic);
    EXPECT_EQ(basic->experiment().outcomes_size(), 0) << "as of " << as_of;
    EXPECT_EQ(basic->experiment().lessons_size(), 1) << "as of " << as_of;
    EXPECT_EQ(basic->experiment().version(), full->experiment().version());
  }
  request.set_view(static_cast<v1::ExperimentView>(7));
  EXPECT_THAT(queries_->GetExperiment(request, caller_).status(), NamesField("view"));
}

TEST_F(ListTest, PageSizeRules) {
  DefineCatalogue();
  v1::ListExperimentsRequest request;
  request.set_page_size(-1);
  EXPECT_EQ(queries_->ListExperiments(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_page_size(5000);  // Coerced to 1000.
  EXPECT_OK(queries_->ListExperiments(request));
  v1::ListWorkMethodsRequest methods;
  methods.set_page_size(-1);
  EXPECT_EQ(queries_->ListWorkMethods(methods).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListTest, CatalogueListsPage) {
  DefineCatalogue();
  v1::ListIndicatorsRequest request;
  request.set_page_size(1);
  absl::StatusOr<v1::ListIndicatorsResponse> first = queries_->ListIndicators(request);
  ASSERT_OK(first);
  ASSERT_EQ(first->indicators_size(), 1);
  EXPECT_EQ(first->indicators(0).id(), "loneliness");
  request.set_page_token(first->next_page_token());
  absl::StatusOr<v1::ListIndicatorsResponse> second = queries_->ListIndicators(request);
  ASSERT_OK(second);
  ASSERT_EQ(second->indicators_size(), 1);
  EXPECT_EQ(second->indicators(0).id(), "participation");
  EXPECT_TRUE(second->next_page_token().empty());
  v1::ListAreasRequest areas;
  areas.set_page_token(first->next_page_token());  // A token of another list.
  EXPECT_EQ(queries_->ListAreas(areas).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListTest, ReadEventsPagesThroughTheLogAndFiltersByExperiment) {
  DefineCatalogue();
  CreateExperiment("e1");
  CreateExperiment("e2");
  Start("e1");
  v1::ReadEventsRequest request;
  request.set_page_size(3);
  absl::StatusOr<v1::ReadEventsResponse> first = queries_->ReadEvents(request, caller_);
  ASSERT_OK(first);
  ASSERT_EQ(first->events_size(), 3);
  EXPECT_EQ(first->events(0).position(), 1u);
  EXPECT_EQ(first->next_position(), 4u);
  EXPECT_EQ(first->head_position(), 7u);
  request.set_from_position(first->next_position());
  request.set_page_size(100);
  absl::StatusOr<v1::ReadEventsResponse> rest = queries_->ReadEvents(request, caller_);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->events_size(), 4);
  EXPECT_EQ(rest->next_position(), 8u);
  v1::ReadEventsRequest one;
  one.set_experiment_id("e1");
  absl::StatusOr<v1::ReadEventsResponse> stream = queries_->ReadEvents(one, caller_);
  ASSERT_OK(stream);
  ASSERT_EQ(stream->events_size(), 2);
  EXPECT_EQ(stream->events(0).stream(), "experiments/e1");
  EXPECT_EQ(stream->events(0).stream_version(), 1u);
  EXPECT_EQ(stream->events(1).stream_version(), 2u);
  EXPECT_TRUE(stream->events(1).has_experiment_started());
  EXPECT_EQ(stream->events(1).actor(), "tester");
}

}  // namespace
}  // namespace leerlus::testing
