// The one vocabulary of experiment fields that filters and conditions share.
#include "core/experiment_fields.h"

#include <gtest/gtest.h>

#include "core/filter.h"
#include "tests/test_util.h"

namespace leerlus::core {
namespace {

TEST(ExperimentFieldsTest, EveryConditionIsAFieldTheFilterLanguageKnowsByTheSameName) {
  ASSERT_FALSE(ConditionFieldNames().empty());
  for (absl::string_view name : ConditionFieldNames()) {
    const ExperimentField* field = FindExperimentField(name);
    ASSERT_NE(field, nullptr) << name;
    EXPECT_EQ(FindConditionField(name), field) << name;
    EXPECT_NE(FilterFieldNames().find(std::string(name)), std::string::npos) << name;
  }
  EXPECT_EQ(FindExperimentField("no_such_field"), nullptr);
  EXPECT_EQ(FindConditionField("no_such_field"), nullptr);
}

TEST(ExperimentFieldsTest, ContextAttributesShareOneEntryAndReadTheirOwnValue) {
  const ExperimentField* field = FindExperimentField("context.gebied");
  ASSERT_NE(field, nullptr);
  EXPECT_EQ(field->type, FieldType::kContext);
  EXPECT_EQ(ContextAttributeName("context.gebied"), "gebied");
  v1::Experiment experiment;
  (*experiment.mutable_context())["gebied"].set_text_value("landelijk");
  const v1::AttributeValue* value = FindContextValue(experiment, "context.gebied");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(value->text_value(), "landelijk");
  EXPECT_EQ(FindContextValue(experiment, "context.other"), nullptr);
}

TEST(ExperimentFieldsTest, EnumFieldsReadFullNamesThatConditionsShorten) {
  const ExperimentField* line = FindExperimentField("line");
  ASSERT_NE(line, nullptr);
  ASSERT_EQ(line->type, FieldType::kEnum);
  v1::Experiment experiment;
  experiment.set_line(v1::LINE_AREA_BASED);
  EXPECT_EQ(line->text(experiment), "LINE_AREA_BASED");
  EXPECT_EQ(ShortEnumName(line->text(experiment), line->enum_prefix), "AREA_BASED");
  EXPECT_TRUE(line->is_enum_value("LINE_AREA_BASED"));
  EXPECT_FALSE(line->is_enum_value("AREA_BASED"));
}

TEST(ExperimentFieldsTest, TheFilterLanguageMatchesThroughTheVocabulary) {
  v1::Experiment experiment;
  experiment.set_line(v1::LINE_AREA_BASED);
  (*experiment.mutable_context())["gebied"].set_text_value("landelijk");
  absl::StatusOr<ExperimentFilter> filter =
      ExperimentFilter::Parse("line = AREA_BASED AND context.gebied = \"landelijk\"");
  ASSERT_OK(filter);
  absl::StatusOr<bool> matched = filter->Matches(experiment);
  ASSERT_OK(matched);
  EXPECT_TRUE(*matched);
  absl::StatusOr<ExperimentFilter> other = ExperimentFilter::Parse("line = CROSSOVER");
  ASSERT_OK(other);
  absl::StatusOr<bool> not_matched = other->Matches(experiment);
  ASSERT_OK(not_matched);
  EXPECT_FALSE(*not_matched);
  absl::StatusOr<ExperimentFilter> unknown = ExperimentFilter::Parse("no_such_field = 1");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace leerlus::core
