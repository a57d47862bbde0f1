// Lifecycle rules, pre-registration and the validation of every request
// field, through the real commands on a real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/errors.h"
#include "core/personal_data.h"
#include "core/validation.h"
#include "google/rpc/error_details.pb.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

using CommandsTest = StoreFixture;

TEST_F(CommandsTest, FullLifecycleEndsConcludedWithDecision) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  v1::EvaluateExperimentRequest evaluate;
  evaluate.set_id("e1");
  evaluate.set_request_id(NextId());
  ASSERT_OK(commands_->EvaluateExperiment(evaluate, caller_));
  v1::ConcludeExperimentRequest conclude;
  conclude.set_id("e1");
  conclude.set_decision(v1::DECISION_SCALE_UP);
  conclude.set_rationale("Loneliness fell by more than the smallest effect that matters");
  conclude.set_request_id(NextId());
  absl::StatusOr<v1::ConcludeExperimentResponse> concluded =
      commands_->ConcludeExperiment(conclude, caller_);
  ASSERT_OK(concluded);
  EXPECT_EQ(concluded->experiment().status(), v1::EXPERIMENT_STATUS_CONCLUDED);
  EXPECT_EQ(concluded->experiment().decision(), v1::DECISION_SCALE_UP);
  EXPECT_EQ(concluded->experiment().version(), 4u);
}

TEST_F(CommandsTest, IllegalTransitionsAreFailedPreconditionNamingTheState) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::EvaluateExperimentRequest evaluate;
  evaluate.set_id("e1");
  evaluate.set_request_id(NextId());
  absl::StatusOr<v1::EvaluateExperimentResponse> early =
      commands_->EvaluateExperiment(evaluate, caller_);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find("is DESIGNED"), std::string::npos) << early.status();
  EXPECT_EQ(ErrorReason(early.status()), "ILLEGAL_TRANSITION");

  Start("e1");
  v1::StartExperimentRequest again;
  again.set_id("e1");
  again.set_request_id(NextId());
  absl::StatusOr<v1::StartExperimentResponse> twice = commands_->StartExperiment(again, caller_);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(twice.status().message().find("is RUNNING"), std::string::npos);

  v1::ConcludeExperimentRequest conclude;
  conclude.set_id("e1");
  conclude.set_decision(v1::DECISION_STOP);
  conclude.set_rationale("too early");
  conclude.set_request_id(NextId());
  EXPECT_EQ(commands_->ConcludeExperiment(conclude, caller_).status().code(),
            absl::StatusCode::kFailedPrecondition);

  v1::WithdrawExperimentRequest withdraw;
  withdraw.set_id("e1");
  withdraw.set_reason("partner left");
  withdraw.set_request_id(NextId());
  ASSERT_OK(commands_->WithdrawExperiment(withdraw, caller_));
  withdraw.set_request_id(NextId());
  absl::StatusOr<v1::WithdrawExperimentResponse> withdrawn =
      commands_->WithdrawExperiment(withdraw, caller_);
  EXPECT_EQ(withdrawn.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(withdrawn.status().message().find("is WITHDRAWN"), std::string::npos);
  // No outcomes on a withdrawn experiment.
  EXPECT_EQ(commands_->CreateOutcome(OutcomeRequest("e1"), caller_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(CommandsTest, OutcomesNeedARunningExperiment) {
  DefineCatalogue();
  CreateExperiment("e1");
  absl::StatusOr<v1::CreateOutcomeResponse> early =
      commands_->CreateOutcome(OutcomeRequest("e1"), caller_);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  Start("e1");
  EXPECT_OK(commands_->CreateOutcome(OutcomeRequest("e1"), caller_));
}

TEST_F(CommandsTest, HypothesesBeforeStartAreSealedLaterOnesArePostHoc) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::CreateHypothesisRequest before;
  before.set_experiment_id("e1");
  before.mutable_hypothesis()->set_id("h-main");
  before.mutable_hypothesis()->set_statement("Loneliness falls");
  before.mutable_hypothesis()->set_indicator_id("loneliness");
  before.mutable_hypothesis()->set_expected_direction(v1::EXPECTED_DIRECTION_DECREASE);
  before.mutable_hypothesis()->set_smallest_effect_of_interest(0.5);
  before.set_request_id(NextId());
  absl::StatusOr<v1::CreateHypothesisResponse> registered =
      commands_->CreateHypothesis(before, caller_);
  ASSERT_OK(registered);
  EXPECT_TRUE(registered->hypothesis().pre_registered());
  EXPECT_TRUE(registered->hypothesis().sealed_hash().empty());
  Start("e1");
  v1::CreateHypothesisRequest after = before;
  after.mutable_hypothesis()->set_id("h-extra");
  after.set_request_id(NextId());
  absl::StatusOr<v1::CreateHypothesisResponse> post_hoc =
      commands_->CreateHypothesis(after, caller_);
  ASSERT_OK(post_hoc);
  EXPECT_FALSE(post_hoc->hypothesis().pre_registered());

  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> experiment = queries_->GetExperiment(get, caller_);
  ASSERT_OK(experiment);
  ASSERT_EQ(experiment->experiment().hypotheses_size(), 2);
  const v1::Hypothesis& sealed = experiment->experiment().hypotheses(0);
  EXPECT_EQ(sealed.sealed_hash(), core::HypothesisSeal(sealed));
  EXPECT_EQ(sealed.sealed_hash().size(), 64u);
  EXPECT_TRUE(experiment->experiment().hypotheses(1).sealed_hash().empty());
  // The seal covers the content: another statement seals differently.
  v1::Hypothesis changed = sealed;
  changed.set_statement("Loneliness falls a lot");
  EXPECT_NE(core::HypothesisSeal(changed), sealed.sealed_hash());
}

TEST_F(CommandsTest, AreaSnapshotIsTakenAtRegistrationAndNotRewrittenLater) {
  DefineCatalogue();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  request.mutable_experiment()->mutable_area()->set_code("GM0855");
  // A value given by the team wins over the area's.
  (*request.mutable_experiment()->mutable_context())["urbanity"].set_number_value(1);
  absl::StatusOr<v1::CreateExperimentResponse> created =
      commands_->CreateExperiment(request, caller_);
  ASSERT_OK(created);
  const v1::Experiment& e = created->experiment();
  EXPECT_EQ(e.area().display_name(), "Tilburg");
  EXPECT_EQ(e.area().level(), v1::AREA_LEVEL_MUNICIPALITY);
  EXPECT_EQ(e.context().at("urbanity").number_value(), 1);
  EXPECT_EQ(e.context().at("region").text_value(), "Hart van Brabant");
  EXPECT_EQ(e.area_snapshot().at("urbanity").number_value(), 2);

  // A new monitor edition changes the area, not the experiment.
  v1::PutAreaRequest edition;
  edition.mutable_area()->set_code("GM0855");
  edition.mutable_area()->set_display_name("Tilburg");
  (*edition.mutable_area()->mutable_attributes())["region"].set_text_value("Midden-Brabant");
  edition.set_request_id(NextId());
  ASSERT_OK(commands_->PutArea(edition, caller_));
  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> later = queries_->GetExperiment(get, caller_);
  ASSERT_OK(later);
  EXPECT_EQ(later->experiment().context().at("region").text_value(), "Hart van Brabant");
  v1::GetAreaRequest area;
  area.set_code("GM0855");
  absl::StatusOr<v1::GetAreaResponse> current = queries_->GetArea(area);
  ASSERT_OK(current);
  EXPECT_EQ(current->area().attributes().at("region").text_value(), "Midden-Brabant");
}

TEST_F(CommandsTest, RetractAndCorrectAnOutcome) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  absl::StatusOr<v1::CreateOutcomeResponse> wrong =
      commands_->CreateOutcome(OutcomeRequest("e1"), caller_);
  ASSERT_OK(wrong);
  // A correction must name a retracted outcome.
  v1::CreateOutcomeRequest premature = OutcomeRequest("e1");
  premature.mutable_outcome()->set_corrects_outcome_id(wrong->outcome().id());
  EXPECT_EQ(commands_->CreateOutcome(premature, caller_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::RetractOutcomeRequest retract;
  retract.set_experiment_id("e1");
  retract.set_outcome_id(wrong->outcome().id());
  retract.set_reason("control group mean entered wrongly");
  retract.set_request_id(NextId());
  absl::StatusOr<v1::RetractOutcomeResponse> retracted =
      commands_->RetractOutcome(retract, caller_);
  ASSERT_OK(retracted);
  EXPECT_TRUE(retracted->outcome().retracted());
  retract.set_request_id(NextId());
  EXPECT_EQ(commands_->RetractOutcome(retract, caller_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::CreateOutcomeRequest corrected = OutcomeRequest("e1");
  corrected.mutable_outcome()->set_corrects_outcome_id(wrong->outcome().id());
  ASSERT_OK(commands_->CreateOutcome(corrected, caller_));

  v1::GetExperimentRequest get;
  get.set_id("e1");
  absl::StatusOr<v1::GetExperimentResponse> experiment = queries_->GetExperiment(get, caller_);
  ASSERT_OK(experiment);
  ASSERT_EQ(experiment->experiment().outcomes_size(), 2);
  EXPECT_TRUE(experiment->experiment().outcomes(0).retracted());
  EXPECT_EQ(experiment->experiment().outcomes(0).retraction_reason(),
            "control group mean entered wrongly");
  EXPECT_FALSE(experiment->experiment().outcomes(1).retracted());
}

TEST_F(CommandsTest, GetAsOfAPositionShowsThePastState) {
  DefineCatalogue();
  CreateExperiment("e1");
  const uint64_t designed_at = store_->HeadPosition();
  Start("e1");
  ASSERT_OK(commands_->CreateOutcome(OutcomeRequest("e1"), caller_));
  v1::GetExperimentRequest get;
  get.set_id("e1");
  get.set_as_of_position(designed_at);
  absl::StatusOr<v1::GetExperimentResponse> past = queries_->GetExperiment(get, caller_);
  ASSERT_OK(past);
  EXPECT_EQ(past->read_position(), designed_at);
  EXPECT_EQ(past->experiment().status(), v1::EXPERIMENT_STATUS_DESIGNED);
  EXPECT_EQ(past->experiment().outcomes_size(), 0);
  EXPECT_EQ(past->history_size(), 0);
  get.set_include_history(true);
  past = queries_->GetExperiment(get, caller_);
  ASSERT_OK(past);
  ASSERT_EQ(past->history_size(), 1);
  EXPECT_TRUE(past->history(0).has_experiment_registered());
  get.set_as_of_position(0);
  absl::StatusOr<v1::GetExperimentResponse> now = queries_->GetExperiment(get, caller_);
  ASSERT_OK(now);
  ASSERT_EQ(now->history_size(), 3);
  EXPECT_TRUE(now->history(2).has_outcome_recorded());
  get.set_include_history(false);
  now = queries_->GetExperiment(get, caller_);
  ASSERT_OK(now);
  EXPECT_EQ(now->experiment().status(), v1::EXPERIMENT_STATUS_RUNNING);
  EXPECT_EQ(now->experiment().outcomes_size(), 1);
  get.set_as_of_position(designed_at - 1);
  EXPECT_EQ(queries_->GetExperiment(get, caller_).status().code(), absl::StatusCode::kNotFound);
  get.set_as_of_position(store_->HeadPosition() + 1);
  EXPECT_THAT(queries_->GetExperiment(get, caller_).status(), NamesField("as_of_position"));
}

TEST_F(CommandsTest, UnknownReferencesAreNotFoundAndWriteNothing) {
  DefineCatalogue();
  const uint64_t head = store_->HeadPosition();
  v1::CreateExperimentRequest unknown_area = ExperimentRequest("e1");
  unknown_area.mutable_experiment()->mutable_area()->set_code("GM9999");
  EXPECT_EQ(commands_->CreateExperiment(unknown_area, caller_).status().code(),
            absl::StatusCode::kNotFound);
  v1::CreateExperimentRequest unknown_parent = ExperimentRequest("e1");
  unknown_parent.mutable_experiment()->set_parent_experiment_id("nope");
  EXPECT_EQ(commands_->CreateExperiment(unknown_parent, caller_).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->HeadPosition(), head);
  CreateExperiment("e1");
  Start("e1");
  v1::CreateOutcomeRequest unknown_indicator = OutcomeRequest("e1");
  unknown_indicator.mutable_outcome()->set_indicator_id("happiness");
  EXPECT_EQ(commands_->CreateOutcome(unknown_indicator, caller_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CommandsTest, IterationsReferToTheirParent) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::CreateExperimentRequest child = ExperimentRequest("e1-v2");
  child.mutable_experiment()->set_parent_experiment_id("e1");
  absl::StatusOr<v1::CreateExperimentResponse> created =
      commands_->CreateExperiment(child, caller_);
  ASSERT_OK(created);
  EXPECT_EQ(created->experiment().parent_experiment_id(), "e1");
}

TEST_F(CommandsTest, DuplicateExperimentIdIsAlreadyExists) {
  DefineCatalogue();
  CreateExperiment("e1");
  EXPECT_EQ(commands_->CreateExperiment(ExperimentRequest("e1"), caller_).status().code(),
            absl::StatusCode::kAlreadyExists);
}

// ------------------------------------------------------------ validation

struct ExperimentCase {
  const char* name;
  std::function<void(v1::CreateExperimentRequest&)> mutate;
  const char* field;
};

TEST_F(CommandsTest, EveryBadExperimentFieldIsNamed) {
  DefineCatalogue();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<ExperimentCase> cases = {
      {"missing request id", [](auto& r) { r.clear_request_id(); }, "request_id"},
      {"request id with space", [](auto& r) { r.set_request_id("a b"); }, "request_id"},
      {"request id too long", [](auto& r) { r.set_request_id(std::string(129, 'a')); },
       "request_id"},
      {"bad id", [](auto& r) { r.mutable_experiment()->set_id("Bad_Id"); }, "experiment.id"},
      {"id too long", [](auto& r) { r.mutable_experiment()->set_id(std::string(64, 'a')); },
       "experiment.id"},
      {"no kind", [](auto& r) { r.mutable_experiment()->clear_kind(); }, "experiment.kind"},
      {"unknown kind",
       [](auto& r) { r.mutable_experiment()->set_kind(static_cast<v1::ExperimentKind>(99)); },
       "experiment.kind"},
      {"empty title", [](auto& r) { r.mutable_experiment()->set_title(""); }, "experiment.title"},
      {"title too long", [](auto& r) { r.mutable_experiment()->set_title(std::string(201, 'x')); },
       "experiment.title"},
      {"invalid utf8", [](auto& r) { r.mutable_experiment()->set_title("caf\xc3"); },
       "experiment.title"},
      {"no method", [](auto& r) { r.mutable_experiment()->clear_work_method_id(); },
       "experiment.work_method_id"},
      {"no line", [](auto& r) { r.mutable_experiment()->clear_line(); }, "experiment.line"},
      {"crossover without task",
       [](auto& r) { r.mutable_experiment()->set_line(v1::LINE_CROSSOVER); },
       "experiment.societal_task"},
      {"bad area code", [](auto& r) { r.mutable_experiment()->mutable_area()->set_code("GM85"); },
       "experiment.area.code"},
      {"no team", [](auto& r) { r.mutable_experiment()->clear_team_id(); }, "experiment.team_id"},
      {"repeated partner", [](auto& r) { r.mutable_experiment()->add_partner_ids("ggd"); },
       "experiment.partner_ids[1]"},
      {"negative budget", [](auto& r) { r.mutable_experiment()->set_budget_cents(-1); },
       "experiment.budget_cents"},
      {"impossible date", [](auto& r) { r.mutable_experiment()->set_planned_start("2019-02-30"); },
       "experiment.planned_start"},
      {"end before start", [](auto& r) { r.mutable_experiment()->set_planned_end("2018-12-31"); },
       "experiment.planned_end"},
      {"NaN context",
       [nan](auto& r) {
         (*r.mutable_experiment()->mutable_context())["score"].set_number_value(nan);
       },
       "experiment.context.score"},
      {"inf context",
       [](auto& r) {
         (*r.mutable_experiment()->mutable_context())["score"].set_number_value(INFINITY);
       },
       "experiment.context.score"},
      {"empty context value",
       [](auto& r) { (*r.mutable_experiment()->mutable_context())["score"]; },
       "experiment.context.score"},
      {"bad attribute name",
       [](auto& r) {
         (*r.mutable_experiment()->mutable_context())["Bad Name"].set_bool_value(true);
       },
       "experiment.context[Bad Name]"},
      {"self parent", [](auto& r) { r.mutable_experiment()->set_parent_experiment_id("e1"); },
       "experiment.parent_experiment_id"},
  };
  for (const ExperimentCase& c : cases) {
    v1::CreateExperimentRequest request = ExperimentRequest("e1");
    c.mutate(request);
    absl::StatusOr<v1::CreateExperimentResponse> result =
        commands_->CreateExperiment(request, caller_);
    EXPECT_THAT(result.status(), NamesField(c.field)) << c.name;
  }
  // Limits: exactly at the maximum is accepted.
  v1::CreateExperimentRequest at_limit = ExperimentRequest("e-limit");
  at_limit.mutable_experiment()->set_title(std::string(200, 'x'));
  at_limit.mutable_experiment()->set_id(std::string(63, 'a'));
  for (int i = 0; i < 99; ++i) {
    (*at_limit.mutable_experiment()->mutable_context())["a" + std::to_string(i)].set_bool_value(
        true);
  }
  EXPECT_OK(commands_->CreateExperiment(at_limit, caller_));
  v1::CreateExperimentRequest over_limit = ExperimentRequest("e-over");
  for (int i = 0; i < 101; ++i) {
    (*over_limit.mutable_experiment()->mutable_context())["a" + std::to_string(i)].set_bool_value(
        true);
  }
  EXPECT_THAT(commands_->CreateExperiment(over_limit, caller_).status(),
              NamesField("experiment.context"));
  // Multi-byte text counts characters, not bytes: 200 'é' is fine.
  v1::CreateExperimentRequest accents = ExperimentRequest("e-accents");
  std::string title;
  for (int i = 0; i < 200; ++i) title += "\xc3\xa9";
  accents.mutable_experiment()->set_title(title);
  EXPECT_OK(commands_->CreateExperiment(accents, caller_));
}

TEST_F(CommandsTest, OneReplyNamesEveryBadField) {
  DefineCatalogue();
  v1::CreateExperimentRequest request = ExperimentRequest("e1");
  request.mutable_experiment()->set_title("");
  request.mutable_experiment()->set_budget_cents(-5);
  absl::StatusOr<v1::CreateExperimentResponse> result =
      commands_->CreateExperiment(request, caller_);
  std::vector<std::string> fields = Fields(result.status());
  EXPECT_EQ(fields, (std::vector<std::string>{"experiment.title", "experiment.budget_cents"}));
}

struct OutcomeCase {
  const char* name;
  std::function<void(v1::Outcome&)> mutate;
  const char* field;
};

TEST_F(CommandsTest, EveryBadOutcomeFieldIsNamed) {
  DefineCatalogue();
  CreateExperiment("e1");
  Start("e1");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto counts = [](v1::Outcome& o, int te, int tt, int ce, int ct) {
    auto* s = o.mutable_two_group_counts();
    s->set_treatment_events(te);
    s->set_treatment_total(tt);
    s->set_control_events(ce);
    s->set_control_total(ct);
  };
  const std::vector<OutcomeCase> cases = {
      {"no indicator", [](auto& o) { o.clear_indicator_id(); }, "outcome.indicator_id"},
      {"no date", [](auto& o) { o.clear_measured_on(); }, "outcome.measured_on"},
      {"bad date", [](auto& o) { o.set_measured_on("01-06-2019"); }, "outcome.measured_on"},
      {"no design", [](auto& o) { o.clear_design(); }, "outcome.design"},
      {"unknown risk of bias", [](auto& o) { o.set_risk_of_bias(static_cast<v1::RiskOfBias>(9)); },
       "outcome.risk_of_bias"},
      {"negative follow-up", [](auto& o) { o.set_follow_up_months(-1); },
       "outcome.follow_up_months"},
      {"follow-up beyond 50 years", [](auto& o) { o.set_follow_up_months(601); },
       "outcome.follow_up_months"},
      {"no statistics", [](auto& o) { o.clear_two_group_continuous(); }, "outcome.statistics"},
      {"negative sd", [](auto& o) { o.mutable_two_group_continuous()->set_treatment_sd(-1); },
       "outcome.two_group_continuous.treatment_sd"},
      {"zero sd", [](auto& o) { o.mutable_two_group_continuous()->set_control_sd(0); },
       "outcome.two_group_continuous.control_sd"},
      {"NaN mean", [nan](auto& o) { o.mutable_two_group_continuous()->set_treatment_mean(nan); },
       "outcome.two_group_continuous.treatment_mean"},
      {"tiny group", [](auto& o) { o.mutable_two_group_continuous()->set_control_n(1); },
       "outcome.two_group_continuous.control_n"},
      {"negative n", [](auto& o) { o.mutable_two_group_continuous()->set_treatment_n(-3); },
       "outcome.two_group_continuous.treatment_n"},
      {"events over total", [counts](auto& o) { counts(o, 11, 10, 1, 10); },
       "outcome.two_group_counts.treatment_events"},
      {"negative events", [counts](auto& o) { counts(o, 1, 10, -1, 10); },
       "outcome.two_group_counts.control_events"},
      {"zero total", [counts](auto& o) { counts(o, 0, 0, 1, 10); },
       "outcome.two_group_counts.treatment_total"},
      {"correlation over 1",
       [](auto& o) {
         auto* s = o.mutable_pre_post();
         s->set_pre_sd(1);
         s->set_post_sd(1);
         s->set_n(10);
         s->set_pre_post_correlation(1.5);
       },
       "outcome.pre_post.pre_post_correlation"},
      {"unknown measure",
       [](auto& o) {
         auto* s = o.mutable_direct_effect();
         s->set_measure("XYZ");
         s->set_variance(0.1);
       },
       "outcome.direct_effect.measure"},
      {"no uncertainty", [](auto& o) { o.mutable_direct_effect()->set_measure("SMD"); },
       "outcome.direct_effect.variance"},
      {"zero variance",
       [](auto& o) {
         auto* s = o.mutable_direct_effect();
         s->set_measure("SMD");
         s->set_variance(0);
       },
       "outcome.direct_effect.variance"},
      {"inverted ci",
       [](auto& o) {
         auto* s = o.mutable_direct_effect();
         s->set_measure("MD");
         s->set_effect(0.1);
         s->mutable_ci95()->set_lower(0.5);
         s->mutable_ci95()->set_upper(-0.5);
       },
       "outcome.direct_effect.ci95.upper"},
      {"effect outside ci",
       [](auto& o) {
         auto* s = o.mutable_direct_effect();
         s->set_measure("MD");
         s->set_effect(2);
         s->mutable_ci95()->set_lower(-0.5);
         s->mutable_ci95()->set_upper(0.5);
       },
       "outcome.direct_effect.effect"},
      {"unknown design", [](auto& o) { o.set_design(static_cast<v1::StudyDesign>(42)); },
       "outcome.design"},
  };
  const uint64_t head = store_->HeadPosition();
  for (const OutcomeCase& c : cases) {
    v1::CreateOutcomeRequest request = OutcomeRequest("e1");
    c.mutate(*request.mutable_outcome());
    EXPECT_THAT(commands_->CreateOutcome(request, caller_).status(), NamesField(c.field)) << c.name;
  }
  EXPECT_EQ(store_->HeadPosition(), head);
}

TEST_F(CommandsTest, UpdateMaskRefusesUnknownAndImmutablePaths) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::UpdateExperimentRequest update;
  update.mutable_experiment()->set_id("e1");
  update.set_request_id(NextId());
  EXPECT_THAT(commands_->UpdateExperiment(update, caller_).status(), NamesField("update_mask"));
  update.mutable_update_mask()->add_paths("work_method_id");
  absl::StatusOr<v1::UpdateExperimentResponse> immutable =
      commands_->UpdateExperiment(update, caller_);
  EXPECT_THAT(immutable.status(), NamesField("update_mask"));
  EXPECT_NE(immutable.status().message().find("cannot be changed"), std::string::npos);
  update.mutable_update_mask()->set_paths(0, "colour");
  EXPECT_THAT(commands_->UpdateExperiment(update, caller_).status(), NamesField("update_mask"));
  update.mutable_update_mask()->set_paths(0, "planned_end");
  update.mutable_experiment()->set_planned_end("2018-01-01");
  EXPECT_THAT(commands_->UpdateExperiment(update, caller_).status(),
              NamesField("experiment.planned_end"));
  update.mutable_update_mask()->set_paths(0, "budget_cents");
  update.mutable_experiment()->set_budget_cents(42);
  absl::StatusOr<v1::UpdateExperimentResponse> amended =
      commands_->UpdateExperiment(update, caller_);
  ASSERT_OK(amended);
  EXPECT_EQ(amended->experiment().budget_cents(), 42);
  EXPECT_EQ(amended->experiment().title(), "Coach in e1");  // Untouched.
}

TEST_F(CommandsTest, CatalogueValidation) {
  v1::CreateIndicatorRequest indicator;
  indicator.mutable_indicator()->set_id("x");
  indicator.mutable_indicator()->set_display_name("X");
  indicator.set_request_id(NextId());
  absl::StatusOr<v1::CreateIndicatorResponse> result =
      commands_->CreateIndicator(indicator, caller_);
  std::vector<std::string> fields = Fields(result.status());
  EXPECT_EQ(fields, (std::vector<std::string>{"indicator.better_direction", "indicator.domain"}));
  v1::PutAreaRequest area;
  area.mutable_area()->set_code("XX0855");
  area.mutable_area()->set_display_name("?");
  area.set_request_id(NextId());
  EXPECT_THAT(commands_->PutArea(area, caller_).status(), NamesField("area.code"));
  for (const char* code : {"PV30", "GM0855", "WK085501", "BU08550101"}) {
    EXPECT_TRUE(core::ParseAreaCode(code, nullptr)) << code;
  }
  for (const char* code : {"", "GM085", "GM08555", "gm0855", "WK0855", "BU0855010", "GMabcd"}) {
    EXPECT_FALSE(core::ParseAreaCode(code, nullptr)) << code;
  }
}

}  // namespace
}  // namespace leerlus::testing
