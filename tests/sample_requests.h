// Requests the tests share.
#ifndef LEERLUS_TESTS_SAMPLE_REQUESTS_H_
#define LEERLUS_TESTS_SAMPLE_REQUESTS_H_

#include <string>
#include <vector>

#include "leerlus/v1/admin_service.pb.h"
#include "leerlus/v1/catalog_service.pb.h"
#include "leerlus/v1/experiment_service.pb.h"

namespace leerlus::testing {

// Work method "coach".
inline v1::CreateWorkMethodRequest SampleWorkMethodRequest(const std::string& request_id) {
  v1::CreateWorkMethodRequest request;
  request.mutable_work_method()->set_id("coach");
  request.mutable_work_method()->set_display_name("Coach");
  request.set_request_id(request_id);
  return request;
}

// Indicator "loneliness" (social domain; lower is better).
inline v1::CreateIndicatorRequest SampleIndicatorRequest(const std::string& request_id) {
  v1::CreateIndicatorRequest request;
  request.mutable_indicator()->set_id("loneliness");
  request.mutable_indicator()->set_display_name("Loneliness");
  request.mutable_indicator()->set_better_direction(v1::BETTER_DIRECTION_LOWER);
  request.mutable_indicator()->set_domain(v1::RESOURCE_DOMAIN_SOCIAL);
  request.set_request_id(request_id);
  return request;
}

// Experiment `id` of work method "coach" (area-based project) owned by
// `team`, listing `partner` if given.
inline v1::CreateExperimentRequest SampleExperimentRequest(const std::string& id,
                                                           const std::string& team,
                                                           const std::string& partner,
                                                           const std::string& request_id) {
  v1::CreateExperimentRequest request;
  v1::Experiment* e = request.mutable_experiment();
  e->set_id(id);
  e->set_kind(v1::EXPERIMENT_KIND_PROJECT);
  e->set_title("Coach " + id);
  e->set_work_method_id("coach");
  e->set_line(v1::LINE_AREA_BASED);
  e->set_team_id(team);
  if (!partner.empty()) e->add_partner_ids(partner);
  request.set_request_id(request_id);
  return request;
}

// A two-group outcome of indicator "loneliness" (means 4.1 vs 4.8).
inline v1::CreateOutcomeRequest SampleOutcomeRequest(const std::string& experiment_id,
                                                     const std::string& request_id) {
  v1::CreateOutcomeRequest request;
  request.set_experiment_id(experiment_id);
  v1::Outcome* o = request.mutable_outcome();
  o->set_indicator_id("loneliness");
  o->set_measured_on("2019-06-01");
  o->set_design(v1::STUDY_DESIGN_RCT);
  auto* s = o->mutable_two_group_continuous();
  s->set_treatment_mean(4.1);
  s->set_treatment_sd(1.2);
  s->set_treatment_n(40);
  s->set_control_mean(4.8);
  s->set_control_sd(1.3);
  s->set_control_n(38);
  request.set_request_id(request_id);
  return request;
}

// Token `id` (also its name) of `role`, for `teams` or `partner`; request
// id "token-<id>".
inline v1::CreateTokenRequest SampleTokenRequest(const std::string& id, v1::Role role,
                                                 const std::vector<std::string>& teams,
                                                 const std::string& partner) {
  v1::CreateTokenRequest request;
  request.mutable_token()->set_id(id);
  request.mutable_token()->set_display_name(id);
  request.mutable_token()->set_role(role);
  for (const std::string& team : teams) request.mutable_token()->add_team_ids(team);
  request.mutable_token()->set_partner_id(partner);
  request.set_request_id("token-" + id);
  return request;
}

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_SAMPLE_REQUESTS_H_
