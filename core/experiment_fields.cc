#include "core/experiment_fields.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace leerlus::core {
namespace {

using v1::Experiment;

// Whether `name` is the full name of a value of `Enum` (`parse`: its _Parse).
template <typename Enum, auto parse>
bool IsValueOf(const std::string& name) {
  Enum value;
  return parse(name, &value);
}

// In the order the ListExperiments filter documents them.
constexpr ExperimentField kFields[] = {
    {.name = "id",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.id(); }},
    {.name = "title",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.title(); }},
    {.name = "method",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.work_method_id(); }},
    {.name = "line",
     .type = FieldType::kEnum,
     .text = [](const Experiment& e) -> std::string { return v1::Line_Name(e.line()); },
     .enum_prefix = "LINE_",
     .is_enum_value = IsValueOf<v1::Line, v1::Line_Parse>},
    {.name = "status",
     .type = FieldType::kEnum,
     .text = [](const Experiment& e) -> std::string {
       return v1::ExperimentStatus_Name(e.status());
     },
     .enum_prefix = "EXPERIMENT_STATUS_",
     .is_enum_value = IsValueOf<v1::ExperimentStatus, v1::ExperimentStatus_Parse>},
    {.name = "kind",
     .type = FieldType::kEnum,
     .text = [](const Experiment& e) -> std::string { return v1::ExperimentKind_Name(e.kind()); },
     .enum_prefix = "EXPERIMENT_KIND_",
     .is_enum_value = IsValueOf<v1::ExperimentKind, v1::ExperimentKind_Parse>},
    {.name = "area",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.area().code(); }},
    {.name = "area_level",
     .type = FieldType::kEnum,
     .text = [](const Experiment& e) -> std::string {
       return v1::AreaLevel_Name(e.area().level());
     },
     .enum_prefix = "AREA_LEVEL_",
     .is_enum_value = IsValueOf<v1::AreaLevel, v1::AreaLevel_Parse>,
     // Without an area there is no level, not an unspecified one.
     .has_level = [](const Experiment& e) { return e.has_area(); }},
    {.name = "team",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.team_id(); }},
    {.name = "partner",
     .type = FieldType::kTextList,
     .texts = [](const Experiment& e) -> const google::protobuf::RepeatedPtrField<std::string>& {
       return e.partner_ids();
     }},
    {.name = "societal_task",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.societal_task(); },
     .has_level = [](const Experiment& e) { return !e.societal_task().empty(); }},
    {.name = "parent",
     .type = FieldType::kText,
     .text = [](const Experiment& e) -> std::string { return e.parent_experiment_id(); }},
    {.name = "budget",
     .type = FieldType::kNumber,
     .number = [](const Experiment& e) { return static_cast<double>(e.budget_cents()); }},
};

constexpr ExperimentField kContextField = {.name = "context.<attr>", .type = FieldType::kContext};

// The fields a condition may name, in the order CompareConditionsRequest
// documents them. Text and enum fields only: a condition's level is text.
constexpr absl::string_view kConditionFields[] = {"line",       "kind",   "societal_task",
                                                  "area_level", "method", "team"};

}  // namespace

const ExperimentField* FindExperimentField(absl::string_view name) {
  if (absl::StartsWith(name, kContextPrefix)) return &kContextField;
  for (const ExperimentField& field : kFields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

const ExperimentField* FindConditionField(absl::string_view name) {
  if (!absl::StartsWith(name, kContextPrefix) &&
      std::find(std::begin(kConditionFields), std::end(kConditionFields), name) ==
          std::end(kConditionFields)) {
    return nullptr;
  }
  return FindExperimentField(name);
}

std::string FilterFieldNames() {
  std::string names;
  for (const ExperimentField& field : kFields) absl::StrAppend(&names, field.name, ", ");
  names.resize(names.size() - 2);
  return absl::StrCat(names, " or ", kContextField.name);
}

absl::Span<const absl::string_view> ConditionFieldNames() { return kConditionFields; }

absl::string_view ContextAttributeName(absl::string_view name) {
  return name.substr(kContextPrefix.size());
}

const v1::AttributeValue* FindContextValue(const v1::Experiment& experiment,
                                           absl::string_view name) {
  auto it = experiment.context().find(std::string(ContextAttributeName(name)));
  return it == experiment.context().end() ? nullptr : &it->second;
}

std::string ShortEnumName(const std::string& full_name, absl::string_view prefix) {
  return absl::StartsWith(full_name, prefix) ? full_name.substr(prefix.size()) : full_name;
}

}  // namespace leerlus::core
