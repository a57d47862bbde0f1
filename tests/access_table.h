// Who may call what: every RPC against every role, about an experiment of
// team north that lists partner ggd ("north-1") and one of team south
// without partners ("south-1"). The access rules' own test and the
// gateway's test over both transports read the same table.
#ifndef LEERLUS_TESTS_ACCESS_TABLE_H_
#define LEERLUS_TESTS_ACCESS_TABLE_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::testing {

// The table's columns, in order.
inline const std::vector<std::string>& TableRoles() {
  static const auto* roles =
      new std::vector<std::string>{"admin", "evaluator", "team", "partner", "reader"};
  return *roles;
}

// Per RPC, for north-1 and south-1, one letter per role of TableRoles():
// Y allowed, n PERMISSION_DENIED.
struct AccessRow {
  const char* north;
  const char* south;
};

inline const std::map<std::string, AccessRow>& AccessTable() {
  static const auto* table = new std::map<std::string, AccessRow>{
      {"CreateWorkMethod", {"Ynnnn", "Ynnnn"}},
      {"GetWorkMethod", {"YYYYY", "YYYYY"}},
      {"ListWorkMethods", {"YYYYY", "YYYYY"}},
      {"CreateIndicator", {"Ynnnn", "Ynnnn"}},
      {"GetIndicator", {"YYYYY", "YYYYY"}},
      {"ListIndicators", {"YYYYY", "YYYYY"}},
      {"PutArea", {"Ynnnn", "Ynnnn"}},
      {"GetArea", {"YYYYY", "YYYYY"}},
      {"ListAreas", {"YYYYY", "YYYYY"}},
      {"CreateExperiment", {"YnYnn", "Ynnnn"}},
      {"GetExperiment", {"YYYYY", "YYYnY"}},
      {"ListOutcomes", {"YYYYY", "YYYnY"}},
      {"ListExperiments", {"YYYYY", "YYYYY"}},
      {"UpdateExperiment", {"YnYnn", "Ynnnn"}},
      {"StartExperiment", {"YnYnn", "Ynnnn"}},
      {"EvaluateExperiment", {"YnYnn", "Ynnnn"}},
      {"ConcludeExperiment", {"YnYnn", "Ynnnn"}},
      {"WithdrawExperiment", {"YnYnn", "Ynnnn"}},
      {"CreateHypothesis", {"YnYnn", "Ynnnn"}},
      {"CreateOutcome", {"YnYYn", "Ynnnn"}},
      {"RetractOutcome", {"YnYYn", "Ynnnn"}},
      {"CreateLesson", {"YnYYn", "Ynnnn"}},
      {"ReadEvents", {"YYYYY", "YYYnY"}},
      {"Subscribe", {"YYYYY", "YYYnY"}},
      // Sizes and hashes, for every role; an inclusion proof further needs
      // the event to be one the caller may read (GetInclusionProof's test).
      {"GetCheckpoint", {"YYYYY", "YYYYY"}},
      {"GetInclusionProof", {"YYYYY", "YYYYY"}},
      {"GetConsistencyProof", {"YYYYY", "YYYYY"}},
      {"WhatWorks", {"YYYnY", "YYYnY"}},
      {"CompareConditions", {"YYYnY", "YYYnY"}},
      {"Scorecard", {"YYYnY", "YYYnY"}},
      {"WhatChanged", {"YYYnY", "YYYnY"}},
      {"DiscoverConditions", {"YYYnY", "YYYnY"}},
      {"Contribution", {"YYYnY", "YYYnY"}},
      {"Backup", {"Ynnnn", "Ynnnn"}},
      {"CreateToken", {"Ynnnn", "Ynnnn"}},
      {"ListTokens", {"Ynnnn", "Ynnnn"}},
      {"RevokeToken", {"Ynnnn", "Ynnnn"}},
      {"ErasePersonalData", {"Ynnnn", "Ynnnn"}},
      // An import (stream or batch) is authorised row by row: each row
      // with the rule of a CreateOutcome of its experiment (above).
      {"ImportOutcomes", {"YnYYn", "Ynnnn"}},
      {"ImportOutcomeBatch", {"YnYYn", "Ynnnn"}},
  };
  return *table;
}

// Whether the table lets `role` call `rpc` about `experiment_id`; false for
// an RPC the table lacks.
inline bool AccessTableAllows(const std::string& rpc, const std::string& experiment_id,
                              const std::string& role) {
  auto row = AccessTable().find(rpc);
  if (row == AccessTable().end()) return false;
  const char* letters = experiment_id == "north-1" ? row->second.north : row->second.south;
  for (size_t i = 0; i < TableRoles().size(); ++i) {
    if (TableRoles()[i] == role) return letters[i] == 'Y';
  }
  return false;
}

// `type` about `experiment_id`: the experiment named wherever the request
// names one (experiment_id, experiment.id with its team, or the id of an
// *Experiment RPC), and `request_id` set when given.
inline std::unique_ptr<google::protobuf::Message> TableRequest(
    const google::protobuf::Descriptor* type, const std::string& rpc,
    const std::string& experiment_id, const std::string& request_id = "") {
  std::unique_ptr<google::protobuf::Message> request(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  const auto* reflection = request->GetReflection();
  if (const auto* field = type->FindFieldByName("experiment_id")) {
    reflection->SetString(request.get(), field, experiment_id);
  } else if (const auto* field = type->FindFieldByName("experiment");
             field != nullptr && field->message_type() == v1::Experiment::descriptor()) {
    auto* experiment =
        static_cast<v1::Experiment*>(reflection->MutableMessage(request.get(), field));
    experiment->set_id(experiment_id);
    experiment->set_team_id(experiment_id == "north-1" ? "north" : "south");
  } else if (const auto* field = type->FindFieldByName("id");
             field != nullptr && absl::EndsWith(rpc, "Experiment")) {
    reflection->SetString(request.get(), field, experiment_id);
  }
  if (const auto* field = type->FindFieldByName("request_id");
      field != nullptr && !request_id.empty()) {
    reflection->SetString(request.get(), field, request_id);
  }
  return request;
}

}  // namespace leerlus::testing

#endif  // LEERLUS_TESTS_ACCESS_TABLE_H_
