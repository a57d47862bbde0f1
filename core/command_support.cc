#include "core/command_support.h"

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "core/validation.h"

namespace leerlus::core {

std::string FingerprintContent(absl::string_view method, const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  const google::protobuf::FieldDescriptor* field =
      copy->GetDescriptor()->FindFieldByName("request_id");
  if (field != nullptr) copy->GetReflection()->ClearField(copy.get(), field);
  return absl::StrCat(method, "\n", SerializeDeterministic(*copy));
}

bool CarriesPersonalText(absl::string_view method) {
  return method == "CreateLesson" || method == "ConcludeExperiment" ||
         method == "WithdrawExperiment" || method == "RetractOutcome";
}

absl::Status NotFound(absl::string_view what, absl::string_view id, absl::string_view field) {
  absl::Status status = absl::NotFoundError(absl::StrCat(what, " '", id, "' does not exist"));
  return WithErrorInfo(status, "NOT_FOUND",
                       {{"field", std::string(field)}, {"resource", absl::StrCat(what, "/", id)}});
}

absl::StatusOr<v1::Experiment> LoadExperiment(KeyValueReader& state, absl::string_view id,
                                              absl::string_view field) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                           model::ExperimentRecord(state, id));
  if (!experiment.has_value()) return NotFound("experiment", id, field);
  return std::move(*experiment);
}

absl::Status WrongState(const v1::Experiment& experiment, absl::string_view action,
                        absl::string_view allowed) {
  absl::Status status =
      PreconditionError("STATUS", absl::StrCat("experiments/", experiment.id()),
                        absl::StrCat("cannot ", action, ": experiment '", experiment.id(), "' is ",
                                     StatusName(experiment.status()), "; this needs ", allowed));
  return WithErrorInfo(status, "ILLEGAL_TRANSITION",
                       {{"current_status", StatusName(experiment.status())}});
}

bool IsOpen(v1::ExperimentStatus status) {
  return status == v1::EXPERIMENT_STATUS_DESIGNED || status == v1::EXPERIMENT_STATUS_RUNNING ||
         status == v1::EXPERIMENT_STATUS_EVALUATING;
}

absl::StatusOr<std::vector<v1::Event>> One(v1::Event event) {
  std::vector<v1::Event> events;
  events.push_back(std::move(event));
  return events;
}

absl::StatusOr<std::string> ChildId(
    absl::string_view given, absl::string_view prefix, uint64_t next_version,
    const std::function<absl::StatusOr<bool>(const std::string&)>& taken) {
  if (!given.empty()) return std::string(given);
  // Bounded: a caller who claimed many suffixed ids cannot keep the writer
  // searching.
  constexpr int kMaxSuffixes = 100;
  std::string id = absl::StrCat(prefix, next_version);
  for (int suffix = 1; suffix <= kMaxSuffixes; ++suffix) {
    LEERLUS_ASSIGN_OR_RETURN(bool is_taken, taken(id));
    if (!is_taken) return id;
    id = absl::StrCat(prefix, next_version, "-", suffix);
  }
  return WithErrorInfo(
      absl::AlreadyExistsError(absl::StrCat("the ids the server would give (", prefix, next_version,
                                            " and ", kMaxSuffixes, " more) are taken; give an id")),
      "ALREADY_EXISTS", {{"field", "id"}});
}

absl::StatusOr<bool> OutcomeExists(KeyValueReader& state, absl::string_view experiment_id,
                                   const std::string& id) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Outcome> row,
                           model::FindOutcome(state, experiment_id, id));
  return row.has_value();
}

absl::StatusOr<bool> LessonExists(KeyValueReader& state, absl::string_view experiment_id,
                                  const std::string& id) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Lesson> row,
                           model::FindLesson(state, experiment_id, id));
  return row.has_value();
}

}  // namespace leerlus::core
