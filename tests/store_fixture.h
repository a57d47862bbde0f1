// A fixture with a real RocksDB store in a temporary directory and helpers
// that build a small catalogue through the real commands.
#ifndef LEERLUS_TESTS_STORE_FIXTURE_H_
#define LEERLUS_TESTS_STORE_FIXTURE_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/errors.h"
#include "core/commands.h"
#include "core/queries.h"
#include "google/rpc/error_details.pb.h"
#include "core/model/families.h"
#include "storage/event_store.h"
#include "tests/sample_requests.h"
#include "tests/test_util.h"

namespace leerlus::testing {

// The field paths named by a status' BadRequest detail.
inline std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> fields;
  auto payload = status.GetPayload(kBadRequestUrl);
  if (!payload.has_value()) return fields;
  google::rpc::BadRequest bad_request;
  bad_request.ParseFromString(std::string(*payload));
  for (const auto& violation : bad_request.field_violations()) fields.push_back(violation.field());
  return fields;
}

// INVALID_ARGUMENT naming `field`.
MATCHER_P(NamesField, field, "") {
  const absl::Status& status = arg;
  std::vector<std::string> fields = Fields(status);
  *result_listener << "status " << status;
  return status.code() == absl::StatusCode::kInvalidArgument &&
         std::find(fields.begin(), fields.end(), field) != fields.end();
}

class StoreFixture : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    absl::StatusOr<std::unique_ptr<storage::EventStore>> store =
        model::OpenStore({.path = dir_.File("db")});
    ASSERT_OK(store);
    store_ = std::move(*store);
    commands_ = std::make_unique<core::Commands>(store_.get());
    queries_ = std::make_unique<core::Queries>(store_.get());
  }

  void Close() {
    commands_.reset();
    queries_.reset();
    store_.reset();
  }

  void Reopen() {
    Close();
    Open();
  }

  std::string NextId() { return "req-" + std::to_string(++request_counter_); }

  // Work method "coach", indicators "loneliness" (lower is better) and
  // "participation" (higher is better), area GM0855 with two attributes.
  void DefineCatalogue() {
    v1::CreateWorkMethodRequest method;
    method.mutable_work_method()->set_id("coach");
    method.mutable_work_method()->set_display_name("Neighbourhood coach");
    method.set_request_id(NextId());
    ASSERT_OK(commands_->CreateWorkMethod(method, caller_));
    for (auto [id, better] : {std::pair{"loneliness", v1::BETTER_DIRECTION_LOWER},
                              std::pair{"participation", v1::BETTER_DIRECTION_HIGHER}}) {
      v1::CreateIndicatorRequest indicator;
      indicator.mutable_indicator()->set_id(id);
      indicator.mutable_indicator()->set_display_name(id);
      indicator.mutable_indicator()->set_better_direction(better);
      indicator.mutable_indicator()->set_domain(v1::RESOURCE_DOMAIN_SOCIAL);
      indicator.set_request_id(NextId());
      ASSERT_OK(commands_->CreateIndicator(indicator, caller_));
    }
    v1::PutAreaRequest area;
    area.mutable_area()->set_code("GM0855");
    area.mutable_area()->set_display_name("Tilburg");
    (*area.mutable_area()->mutable_attributes())["urbanity"].set_number_value(2);
    (*area.mutable_area()->mutable_attributes())["region"].set_text_value("Hart van Brabant");
    area.set_request_id(NextId());
    ASSERT_OK(commands_->PutArea(area, caller_));
  }

  v1::CreateExperimentRequest ExperimentRequest(const std::string& id) {
    v1::CreateExperimentRequest request;
    v1::Experiment* e = request.mutable_experiment();
    e->set_id(id);
    e->set_kind(v1::EXPERIMENT_KIND_PROJECT);
    e->set_title("Coach in " + id);
    e->set_work_method_id("coach");
    e->set_line(v1::LINE_AREA_BASED);
    e->set_team_id("team-north");
    e->add_partner_ids("ggd");
    e->set_budget_cents(1'500'000);
    e->set_planned_start("2019-01-01");
    e->set_planned_end("2019-12-31");
    (*e->mutable_context())["target_group"].set_text_value("elderly");
    request.set_request_id(NextId());
    return request;
  }

  void CreateExperiment(const std::string& id) {
    ASSERT_OK(commands_->CreateExperiment(ExperimentRequest(id), caller_));
  }

  v1::CreateOutcomeRequest OutcomeRequest(const std::string& experiment_id) {
    return SampleOutcomeRequest(experiment_id, NextId());
  }

  // Records `count` outcomes on experiments e0, e1, ... e<experiments - 1>
  // in turn (registered and started already); returns their ids.
  std::vector<std::string> RecordOutcomes(int count, int experiments) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<v1::CreateOutcomeResponse> outcome =
          commands_->CreateOutcome(OutcomeRequest("e" + std::to_string(i % experiments)), caller_);
      EXPECT_OK(outcome);
      if (outcome.ok()) ids.push_back(outcome->outcome().id());
    }
    return ids;
  }

  void Retract(const std::string& experiment_id, const std::string& outcome_id,
               const std::string& reason) {
    v1::RetractOutcomeRequest request;
    request.set_experiment_id(experiment_id);
    request.set_outcome_id(outcome_id);
    request.set_reason(reason);
    request.set_request_id(NextId());
    ASSERT_OK(commands_->RetractOutcome(request, caller_));
  }

  void Start(const std::string& id) {
    v1::StartExperimentRequest request;
    request.set_id(id);
    request.set_request_id(NextId());
    ASSERT_OK(commands_->StartExperiment(request, caller_));
  }

  TempDir dir_;
  std::unique_ptr<storage::EventStore> store_;
  std::unique_ptr<core::Commands> commands_;
  std::unique_ptr<core::Queries> queries_;
  core::Caller caller_{"tester", v1::ROLE_ADMIN, {}, "", ""};
  std::atomic<int> request_counter_{0};
};

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_STORE_FIXTURE_H_
