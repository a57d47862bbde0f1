// What-works through the core on a real store: effects from every shape,
// orientation, exclusions with reasons, filters and retractions.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/effect_size.h"
#include "core/insights.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

using InsightsTest = StoreFixture;

TEST(OutcomeEffectTest, OrientsAndConvertsBetweenShapes) {
  v1::Outcome means;
  auto* m = means.mutable_two_group_continuous();
  m->set_treatment_mean(4.1);
  m->set_treatment_sd(1.2);
  m->set_treatment_n(40);
  m->set_control_mean(4.8);
  m->set_control_sd(1.3);
  m->set_control_n(38);
  absl::StatusOr<analysis::Effect> g =
      analysis::StandardizedMeanDifference({4.1, 1.2, 40}, {4.8, 1.3, 38});
  ASSERT_OK(g);
  // Lower is better: the raw g is negative, the oriented one positive.
  absl::StatusOr<analysis::Effect> oriented = core::OutcomeEffect(means, v1::EFFECT_MEASURE_SMD, true);
  ASSERT_OK(oriented);
  EXPECT_LT(g->value, 0);
  EXPECT_DOUBLE_EQ(oriented->value, -g->value);
  EXPECT_DOUBLE_EQ(oriented->variance, g->variance);
  // Means as a log odds ratio: g * pi / sqrt(3).
  absl::StatusOr<analysis::Effect> as_or = core::OutcomeEffect(means, v1::EFFECT_MEASURE_OR, false);
  ASSERT_OK(as_or);
  EXPECT_NEAR(as_or->value, g->value * M_PI / std::sqrt(3.0), 1e-15);
  // Means have no risk ratio.
  absl::StatusOr<analysis::Effect> as_rr = core::OutcomeEffect(means, v1::EFFECT_MEASURE_RR, false);
  EXPECT_EQ(as_rr.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(as_rr.status().message().find("two-group means cannot be expressed as RR"),
            std::string::npos);

  v1::Outcome direct;
  direct.mutable_direct_effect()->set_measure("SMD");
  direct.mutable_direct_effect()->set_effect(0.3);
  direct.mutable_direct_effect()->set_standard_error(0.1);
  absl::StatusOr<analysis::Effect> given = core::OutcomeEffect(direct, v1::EFFECT_MEASURE_SMD, false);
  ASSERT_OK(given);
  EXPECT_DOUBLE_EQ(given->value, 0.3);
  EXPECT_NEAR(given->variance, 0.01, 1e-17);
  EXPECT_EQ(core::OutcomeEffect(direct, v1::EFFECT_MEASURE_MD, false).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(InsightsTest, PoolsPerMethodWithReasonsForWhatWasLeftOut) {
  DefineCatalogue();
  v1::CreateWorkMethodRequest second;
  second.mutable_work_method()->set_id("team");
  second.mutable_work_method()->set_display_name("District team");
  second.set_request_id(NextId());
  ASSERT_OK(commands_->CreateWorkMethod(second, caller_));
  for (const char* id : {"a", "b", "c"}) {
    CreateExperiment(id);
    Start(id);
    ASSERT_OK(commands_->CreateOutcome(OutcomeRequest(id), caller_));
  }
  v1::CreateExperimentRequest other = ExperimentRequest("t1");
  other.mutable_experiment()->set_work_method_id("team");
  (*other.mutable_experiment()->mutable_context())["target_group"].set_text_value("youth");
  ASSERT_OK(commands_->CreateExperiment(other, caller_));
  Start("t1");
  v1::CreateOutcomeRequest pre_post = OutcomeRequest("t1");
  pre_post.mutable_outcome()->clear_two_group_continuous();
  auto* s = pre_post.mutable_outcome()->mutable_pre_post();
  s->set_pre_mean(5);
  s->set_pre_sd(1);
  s->set_post_mean(4.5);
  s->set_post_sd(1);
  s->set_n(30);
  s->set_pre_post_correlation(0.5);
  pre_post.mutable_outcome()->set_design(v1::STUDY_DESIGN_PRE_POST);
  ASSERT_OK(commands_->CreateOutcome(pre_post, caller_));

  core::Insights insights(store_.get());
  v1::WhatWorksRequest request;
  request.set_indicator_id("loneliness");
  absl::StatusOr<v1::WhatWorksResponse> answer = insights.WhatWorks(request);
  ASSERT_OK(answer);
  EXPECT_EQ(answer->read_position(), store_->HeadPosition());
  ASSERT_EQ(answer->methods_size(), 2);
  const v1::MethodResult& coach = answer->methods(0);
  EXPECT_EQ(coach.work_method_id(), "coach");
  EXPECT_EQ(coach.pooled().k(), 3);
  EXPECT_EQ(coach.studies_size(), 3);
  // Three identical outcomes: the pooled effect is that effect, positive (better).
  EXPECT_NEAR(coach.pooled().estimate(), coach.studies(0).effect(), 1e-12);
  EXPECT_GT(coach.pooled().estimate(), 0);
  EXPECT_EQ(coach.pooled().tau2(), 0);
  EXPECT_NEAR(coach.studies(0).weight_percent(), 100.0 / 3, 1e-9);
  const v1::MethodResult& team = answer->methods(1);
  EXPECT_FALSE(team.has_pooled());
  ASSERT_EQ(team.excluded_size(), 1);
  EXPECT_NE(team.excluded(0).reason().find("pre/post"), std::string::npos);
  EXPECT_NE(team.not_pooled_reason().find("all 1 outcomes left out"), std::string::npos);

  // As a standardised mean change the pre/post outcome counts (lower is better: 5 -> 4.5 is good).
  request.set_measure(v1::EFFECT_MEASURE_SMCC);
  request.add_work_method_ids("team");
  answer = insights.WhatWorks(request);
  ASSERT_OK(answer);
  ASSERT_EQ(answer->methods_size(), 1);
  EXPECT_EQ(answer->methods(0).pooled().k(), 1);
  EXPECT_GT(answer->methods(0).pooled().estimate(), 0);

  // A filter narrows the experiments.
  v1::WhatWorksRequest filtered;
  filtered.set_indicator_id("loneliness");
  filtered.set_filter("id IN (a, b)");
  answer = insights.WhatWorks(filtered);
  ASSERT_OK(answer);
  EXPECT_EQ(answer->methods(0).pooled().k(), 2);
}

TEST_F(InsightsTest, RetractedOutcomesLeaveTheAnswer) {
  DefineCatalogue();
  CreateExperiment("a");
  Start("a");
  absl::StatusOr<v1::CreateOutcomeResponse> first = commands_->CreateOutcome(OutcomeRequest("a"), caller_);
  ASSERT_OK(first);
  ASSERT_OK(commands_->CreateOutcome(OutcomeRequest("a"), caller_));
  v1::RetractOutcomeRequest retract;
  retract.set_experiment_id("a");
  retract.set_outcome_id(first->outcome().id());
  retract.set_reason("duplicate entry");
  retract.set_request_id(NextId());
  ASSERT_OK(commands_->RetractOutcome(retract, caller_));
  core::Insights insights(store_.get());
  v1::WhatWorksRequest request;
  request.set_indicator_id("loneliness");
  absl::StatusOr<v1::WhatWorksResponse> answer = insights.WhatWorks(request);
  ASSERT_OK(answer);
  EXPECT_EQ(answer->methods(0).pooled().k(), 1);
}

TEST_F(InsightsTest, BadQuestionsAreRefused) {
  DefineCatalogue();
  core::Insights insights(store_.get());
  v1::WhatWorksRequest request;
  EXPECT_EQ(insights.WhatWorks(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_indicator_id("happiness");
  EXPECT_EQ(insights.WhatWorks(request).status().code(), absl::StatusCode::kNotFound);
  request.set_indicator_id("loneliness");
  request.set_measure(static_cast<v1::EffectMeasure>(77));
  EXPECT_EQ(insights.WhatWorks(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_measure(v1::EFFECT_MEASURE_SMD);
  request.set_filter("status = FLYING");
  EXPECT_EQ(insights.WhatWorks(request).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace leerlus::testing
