// The experiment fields a question can name: in a ListExperiments filter
// (core/filter.h) and as a condition of CompareConditions and
// DiscoverConditions (core/insights.h). One table says, per field, its name,
// its type and how to read its value from a v1::Experiment; both languages
// use the same names.
//
//   const ExperimentField* field = FindExperimentField("line");
//   std::string value = field->text(experiment);  // "LINE_AREA_BASED"
//   std::string level = ShortEnumName(value, field->enum_prefix);  // "AREA_BASED"
//
// Context attributes are named `context.<attr>` and share one entry of type
// kContext; FindContextValue reads them. A condition may also be `design`,
// which is the outcome's, not the experiment's (core/insights_conditions.cc).
#ifndef LEERLUS_CORE_EXPERIMENT_FIELDS_H_
#define LEERLUS_CORE_EXPERIMENT_FIELDS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "leerlus/v1/resources.pb.h"

namespace leerlus::core {

// How a field's value is read and compared.
enum class FieldType {
  kText,      // One text; read with `text`.
  kEnum,      // A proto enum; `text` reads its full name ("LINE_AREA_BASED").
  kTextList,  // Several texts; read with `texts`.
  kNumber,    // A number; read with `number`.
  kContext,   // `context.<attr>`: a number, text or boolean per experiment.
};

// One field: its name (the same in filters and conditions), its type and
// its readers; the reader its type names is set, the others are nullptr.
struct ExperimentField {
  absl::string_view name;
  FieldType type;
  std::string (*text)(const v1::Experiment&) = nullptr;
  const google::protobuf::RepeatedPtrField<std::string>& (*texts)(const v1::Experiment&) = nullptr;
  double (*number)(const v1::Experiment&) = nullptr;
  // kEnum: the prefix of its value names ("LINE_") and whether a full name
  // is one of its values.
  absl::string_view enum_prefix = "";
  bool (*is_enum_value)(const std::string& full_name) = nullptr;
  // As a condition: whether the experiment has a level for this field.
  // nullptr: every experiment has one (an unspecified enum is a level too).
  bool (*has_level)(const v1::Experiment&) = nullptr;
};

inline constexpr absl::string_view kContextPrefix = "context.";

// The field `name` names (any `context.<attr>` gives the context entry), or
// nullptr.
const ExperimentField* FindExperimentField(absl::string_view name);

// Every field name a filter accepts, for an error message: "id, title, ...
// budget or context.<attr>".
std::string FilterFieldNames();

// The field `name` names if it can be a condition, or nullptr.
const ExperimentField* FindConditionField(absl::string_view name);

// The names of the fields usable as a condition, in the order the API
// documents them (`context.<attr>` not included).
absl::Span<const absl::string_view> ConditionFieldNames();

// The attribute `name` (`context.<attr>`) names.
absl::string_view ContextAttributeName(absl::string_view name);

// The experiment's value of the context attribute `name` names, or nullptr.
const v1::AttributeValue* FindContextValue(const v1::Experiment& experiment,
                                           absl::string_view name);

// An enum value's name without its prefix ("AREA_BASED" for "LINE_AREA_BASED").
std::string ShortEnumName(const std::string& full_name, absl::string_view prefix);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_EXPERIMENT_FIELDS_H_
