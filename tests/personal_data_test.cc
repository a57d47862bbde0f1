// Personal texts are sealed at rest, revealed on the way out, and erased
// for good: after ErasePersonalData and the purge it runs, neither the
// texts nor their key are anywhere in the data directory, while every
// number, hash and position is unchanged.
#include "core/personal_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/errors.h"
#include "common/hashing.h"
#include "common/serialize.h"
#include "leerlus/internal/v1/records.pb.h"
#include "core/model/experiment_state.h"
#include "core/model/read_model.h"
#include "storage/log_keys.h"
#include "tests/store_fixture.h"

namespace leerlus::testing {
namespace {

using PersonalDataTest = StoreFixture;

// Texts no other part of the test writes, so finding them means a leak.
constexpr char kLessonText[] = "Mevrouw Q. Vriesendorp-Zwaneveld (Lindenlaan 7) belde elke week";
constexpr char kRationale[] = "Besproken met wijkcoach J. Oudenhoven-Tempelaar";
constexpr char kRetraction[] = "Ingevoerd door K. Baldewsingh-Verhoeven, verkeerde wijk";

// True if any file under `directory` holds `needle` verbatim.
bool AnyFileContains(const std::string& directory, const std::string& needle) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

class ErasureTest : public StoreFixture {
 protected:
  // e1 running with an outcome, a retracted outcome, a lesson; then
  // evaluated and concluded with a rationale.
  void RecordPersonalTexts() {
    DefineCatalogue();
    v1::CreateExperimentRequest create = ExperimentRequest("e1");
    create.mutable_experiment()->set_title("Coach Zuidoost titel-marker-PLAIN");
    ASSERT_OK(commands_->CreateExperiment(create, caller_));
    Start("e1");
    absl::StatusOr<v1::CreateOutcomeResponse> kept =
        commands_->CreateOutcome(OutcomeRequest("e1"), caller_);
    ASSERT_OK(kept);
    kept_outcome_ = kept->outcome();
    absl::StatusOr<v1::CreateOutcomeResponse> wrong =
        commands_->CreateOutcome(OutcomeRequest("e1"), caller_);
    ASSERT_OK(wrong);
    v1::RetractOutcomeRequest retract;
    retract.set_experiment_id("e1");
    retract.set_outcome_id(wrong->outcome().id());
    retract.set_reason(kRetraction);
    retract.set_request_id(NextId());
    ASSERT_OK(commands_->RetractOutcome(retract, caller_));
    v1::CreateLessonRequest lesson;
    lesson.set_experiment_id("e1");
    lesson.mutable_lesson()->set_text(kLessonText);
    lesson.set_request_id(NextId());
    ASSERT_OK(commands_->CreateLesson(lesson, caller_));
    v1::EvaluateExperimentRequest evaluate;
    evaluate.set_id("e1");
    evaluate.set_request_id(NextId());
    ASSERT_OK(commands_->EvaluateExperiment(evaluate, caller_));
    v1::ConcludeExperimentRequest conclude;
    conclude.set_id("e1");
    conclude.set_decision(v1::DECISION_ADAPT);
    conclude.set_rationale(kRationale);
    conclude.set_request_id(NextId());
    ASSERT_OK(commands_->ConcludeExperiment(conclude, caller_));
  }

  // The experiment as a client sees it: as the core answers.
  v1::Experiment Visible() {
    v1::GetExperimentRequest get;
    get.set_id("e1");
    absl::StatusOr<v1::GetExperimentResponse> response = queries_->GetExperiment(get, caller_);
    EXPECT_OK(response);
    if (!response.ok()) return v1::Experiment();
    return response->experiment();
  }

  // The log of e1 as a client sees it.
  v1::ReadEventsResponse VisibleEvents() {
    v1::ReadEventsRequest read;
    read.set_experiment_id("e1");
    absl::StatusOr<v1::ReadEventsResponse> response = queries_->ReadEvents(read, caller_);
    EXPECT_OK(response);
    if (!response.ok()) return v1::ReadEventsResponse();
    return *response;
  }

  // e1 as the projections hold it: its record, outcomes and lessons, with
  // their texts as stored.
  v1::Experiment Stored() {
    std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
    absl::StatusOr<std::optional<v1::Experiment>> record = model::ReadExperiment(*view, "e1");
    EXPECT_OK(record);
    if (!record.ok() || !record->has_value()) return v1::Experiment();
    v1::Experiment experiment = std::move(**record);
    auto parse_into = [](auto add) {
      return [add](absl::string_view, absl::string_view value) {
        return add()->ParseFromArray(value.data(), static_cast<int>(value.size()));
      };
    };
    EXPECT_OK(model::ScanOutcomeRows(*view, "e1", "",
                                     parse_into([&] { return experiment.add_outcomes(); })));
    EXPECT_OK(model::ScanLessonRows(*view, "e1", "",
                                    parse_into([&] { return experiment.add_lessons(); })));
    return experiment;
  }

  std::string DataKey(uint32_t generation) {
    absl::StatusOr<std::optional<std::string>> key =
        model::FindDataKey(*store_->OpenReadView(), "e1", generation);
    EXPECT_OK(key);
    return key.ok() ? key->value_or("") : "";
  }

  v1::ErasePersonalDataRequest EraseRequest() {
    v1::ErasePersonalDataRequest erase;
    erase.set_experiment_id("e1");
    erase.set_request_id(NextId());
    return erase;
  }

  v1::Outcome kept_outcome_;
};

// Item 4 of the trust review: once erased, nothing stored confirms a
// guessed text. A retry before the erasure is answered as always; after it,
// the right guess and a wrong one get the same REQUEST_ID_REUSED, and the
// stored request record holds no plain hash of the request.
TEST_F(ErasureTest, AnErasedTextCannotBeConfirmedByReplayingItsRequest) {
  DefineCatalogue();
  ASSERT_OK(commands_->CreateExperiment(ExperimentRequest("e1"), caller_));
  Start("e1");
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e1");
  lesson.mutable_lesson()->set_text(kLessonText);
  lesson.set_request_id("lesson-with-a-name");
  absl::StatusOr<v1::CreateLessonResponse> first = commands_->CreateLesson(lesson, caller_);
  ASSERT_OK(first);
  absl::StatusOr<v1::CreateLessonResponse> retried = commands_->CreateLesson(lesson, caller_);
  ASSERT_OK(retried);  // Idempotent as ever before an erasure.
  EXPECT_EQ(retried->lesson().id(), first->lesson().id());

  // The stored record is no plain hash of what was sent.
  v1::CreateLessonRequest content = lesson;
  content.clear_request_id();
  const std::string plain_hash =
      Sha256Hex(absl::StrCat("CreateLesson\n", SerializeDeterministic(content)));
  absl::StatusOr<std::optional<std::string>> stored =
      store_->OpenReadView()->Get(storage::ColumnFamily::kRequests,
                                  storage::RequestKey(caller_.actor, "lesson-with-a-name"));
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  internal::v1::RequestRecord record;
  ASSERT_TRUE(record.ParseFromString(**stored));
  EXPECT_NE(record.fingerprint(), plain_hash);
  EXPECT_EQ(record.fingerprint().find(plain_hash), std::string::npos);

  ASSERT_OK(commands_->ErasePersonalData(EraseRequest(), caller_));
  v1::CreateLessonRequest wrong = lesson;
  wrong.mutable_lesson()->set_text("Een verkeerde gok");
  const absl::Status right_guess = commands_->CreateLesson(lesson, caller_).status();
  const absl::Status wrong_guess = commands_->CreateLesson(wrong, caller_).status();
  EXPECT_EQ(right_guess.code(), absl::StatusCode::kAlreadyExists) << right_guess;
  EXPECT_EQ(wrong_guess.code(), absl::StatusCode::kAlreadyExists) << wrong_guess;
  EXPECT_EQ(ErrorReason(right_guess), "REQUEST_ID_REUSED");
  EXPECT_EQ(right_guess.message(), wrong_guess.message());
}

// Item 17: request ids are scoped to the principal (AIP-155): another
// principal's id neither blocks nor replays mine.
TEST_F(ErasureTest, RequestIdsAreThePrincipalsOwn) {
  DefineCatalogue();
  core::Caller other = caller_;
  other.actor = "someone-else";
  v1::CreateExperimentRequest mine = ExperimentRequest("e1");
  mine.set_request_id("predictable-row-7");
  v1::CreateExperimentRequest theirs = ExperimentRequest("e2");
  theirs.set_request_id("predictable-row-7");
  // The other principal claims the id first, with other content.
  absl::StatusOr<v1::CreateExperimentResponse> claimed = commands_->CreateExperiment(theirs, other);
  ASSERT_OK(claimed);
  absl::StatusOr<v1::CreateExperimentResponse> created = commands_->CreateExperiment(mine, caller_);
  ASSERT_OK(created);
  EXPECT_EQ(created->experiment().id(), "e1");
  // Each retry answers its own principal's original.
  absl::StatusOr<v1::CreateExperimentResponse> again = commands_->CreateExperiment(mine, caller_);
  ASSERT_OK(again);
  EXPECT_EQ(again->experiment().id(), "e1");
  absl::StatusOr<v1::CreateExperimentResponse> theirs_again =
      commands_->CreateExperiment(theirs, other);
  ASSERT_OK(theirs_again);
  EXPECT_EQ(theirs_again->experiment().id(), "e2");
}

TEST_F(ErasureTest, TextsAreSealedAtRestAndReadableThroughTheApi) {
  RecordPersonalTexts();
  // Stored: sealed, in the projection and in the log.
  const v1::Experiment stored = Stored();
  ASSERT_EQ(stored.lessons_size(), 1);
  ASSERT_EQ(stored.outcomes_size(), 2);
  EXPECT_TRUE(core::IsSealed(stored.lessons(0).text()));
  EXPECT_TRUE(core::IsSealed(stored.decision_rationale()));
  EXPECT_TRUE(core::IsSealed(stored.outcomes(1).retraction_reason()));
  // Seen by a client: the plaintext.
  v1::Experiment visible = Visible();
  EXPECT_EQ(visible.lessons(0).text(), kLessonText);
  EXPECT_EQ(visible.decision_rationale(), kRationale);
  EXPECT_EQ(visible.outcomes(1).retraction_reason(), kRetraction);
  int texts_in_log = 0;
  const v1::ReadEventsResponse log = VisibleEvents();
  for (const v1::Event& event : log.events()) {
    if (event.has_lesson_recorded()) {
      EXPECT_EQ(event.lesson_recorded().lesson().text(), kLessonText);
      ++texts_in_log;
    }
    if (event.has_experiment_concluded()) {
      EXPECT_EQ(event.experiment_concluded().rationale(), kRationale);
      ++texts_in_log;
    }
  }
  EXPECT_EQ(texts_in_log, 2);
  // On disk: never the plaintext. The title is not a personal text and is
  // found, which shows the scan sees what is stored.
  ASSERT_OK(model::PurgeErasedDataKeys(*store_));  // Flushes the memtables.
  EXPECT_TRUE(AnyFileContains(dir_.File("db"), "titel-marker-PLAIN"));
  EXPECT_FALSE(AnyFileContains(dir_.File("db"), kLessonText));
  EXPECT_FALSE(AnyFileContains(dir_.File("db"), kRationale));
  EXPECT_FALSE(AnyFileContains(dir_.File("db"), kRetraction));
}

// Revealing is the core's rule: the answers of changes carry the plaintext
// too (a change answers with what it stored, sealed), so no server code has
// to remember to open them.
TEST_F(ErasureTest, TheAnswersOfChangesComeRevealed) {
  RecordPersonalTexts();
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e1");
  lesson.mutable_lesson()->set_text(kLessonText);
  lesson.set_request_id(NextId());
  absl::StatusOr<v1::CreateLessonResponse> recorded = commands_->CreateLesson(lesson, caller_);
  ASSERT_OK(recorded);
  EXPECT_EQ(recorded->lesson().text(), kLessonText);
  // A retry is answered from the stored response, revealed the same way.
  absl::StatusOr<v1::CreateLessonResponse> retried = commands_->CreateLesson(lesson, caller_);
  ASSERT_OK(retried);
  EXPECT_EQ(retried->lesson().text(), kLessonText);
  ASSERT_EQ(Stored().lessons_size(), 2);
  EXPECT_TRUE(core::IsSealed(Stored().lessons(1).text()));
  // Erased: the answer says so.
  absl::StatusOr<v1::ErasePersonalDataResponse> erased =
      commands_->ErasePersonalData(EraseRequest(), caller_);
  ASSERT_OK(erased);
  EXPECT_EQ(erased->experiment().decision_rationale(), core::kErasedText);
}

TEST_F(ErasureTest, ErasureLeavesNoKeyOnDiskAndKeepsEveryNumber) {
  RecordPersonalTexts();
  const std::string key = DataKey(0);
  ASSERT_EQ(key.size(), 32u);
  ASSERT_OK(model::PurgeErasedDataKeys(*store_));
  // Positive control: the scan finds the key where RocksDB keeps it.
  ASSERT_TRUE(AnyFileContains(dir_.File("db"), key));
  const uint64_t head_before = store_->HeadPosition();

  absl::StatusOr<v1::ErasePersonalDataResponse> erased =
      commands_->ErasePersonalData(EraseRequest(), caller_);
  ASSERT_OK(erased);
  EXPECT_EQ(erased->position(), head_before + 1);
  EXPECT_EQ(erased->experiment().personal_data_erasures(), 1u);

  EXPECT_FALSE(AnyFileContains(dir_.File("db"), key));
  EXPECT_EQ(DataKey(0), "");
  v1::Experiment visible = Visible();
  EXPECT_EQ(visible.lessons(0).text(), core::kErasedText);
  EXPECT_EQ(visible.decision_rationale(), core::kErasedText);
  EXPECT_EQ(visible.outcomes(1).retraction_reason(), core::kErasedText);
  const v1::ReadEventsResponse log = VisibleEvents();
  for (const v1::Event& event : log.events()) {
    if (event.has_lesson_recorded()) {
      EXPECT_EQ(event.lesson_recorded().lesson().text(), core::kErasedText);
    }
  }
  // Numbers, status and decision are untouched; the log still verifies and
  // the projections still equal a rebuild from it.
  EXPECT_EQ(visible.outcomes(0).two_group_continuous().treatment_mean(),
            kept_outcome_.two_group_continuous().treatment_mean());
  EXPECT_EQ(visible.status(), v1::EXPERIMENT_STATUS_CONCLUDED);
  EXPECT_EQ(visible.decision(), v1::DECISION_ADAPT);
  absl::StatusOr<uint64_t> events = store_->VerifyLog();
  ASSERT_OK(events);
  EXPECT_EQ(*events, head_before + 1);
  absl::StatusOr<std::string> live = store_->ProjectionDigest();
  ASSERT_OK(live);
  ASSERT_OK(store_->RebuildProjections());
  absl::StatusOr<std::string> rebuilt = store_->ProjectionDigest();
  ASSERT_OK(rebuilt);
  EXPECT_EQ(*live, *rebuilt);
  // A reopened store and a later backup read the same.
  Reopen();
  EXPECT_EQ(Visible().lessons(0).text(), core::kErasedText);
  ASSERT_OK(store_->Backup(dir_.File("backup")));
  EXPECT_FALSE(AnyFileContains(dir_.File("backup"), key));
}

TEST_F(ErasureTest, TextsAfterAnErasureUseANewKeyAndCanBeErasedAgain) {
  RecordPersonalTexts();
  ASSERT_OK(commands_->ErasePersonalData(EraseRequest(), caller_));
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e1");
  lesson.mutable_lesson()->set_text("Een nieuwe les na het wissen");
  lesson.set_request_id(NextId());
  // Lessons may be recorded in any status, concluded included.
  ASSERT_OK(commands_->CreateLesson(lesson, caller_));
  EXPECT_EQ(DataKey(1).size(), 32u);
  v1::Experiment visible = Visible();
  ASSERT_EQ(visible.lessons_size(), 2);
  EXPECT_EQ(visible.lessons(0).text(), core::kErasedText);
  EXPECT_EQ(visible.lessons(1).text(), "Een nieuwe les na het wissen");

  ASSERT_OK(commands_->ErasePersonalData(EraseRequest(), caller_));
  visible = Visible();
  EXPECT_EQ(visible.personal_data_erasures(), 2u);
  EXPECT_EQ(visible.lessons(1).text(), core::kErasedText);
}

TEST_F(ErasureTest, ARetriedErasureAnswersTheSameAndAnUnknownExperimentIsNotFound) {
  RecordPersonalTexts();
  v1::ErasePersonalDataRequest erase = EraseRequest();
  absl::StatusOr<v1::ErasePersonalDataResponse> first =
      commands_->ErasePersonalData(erase, caller_);
  ASSERT_OK(first);
  absl::StatusOr<v1::ErasePersonalDataResponse> retry =
      commands_->ErasePersonalData(erase, caller_);
  ASSERT_OK(retry);
  EXPECT_EQ(retry->position(), first->position());
  EXPECT_EQ(retry->experiment().personal_data_erasures(), 1u);

  v1::ErasePersonalDataRequest unknown = EraseRequest();
  unknown.set_experiment_id("nope");
  EXPECT_EQ(commands_->ErasePersonalData(unknown, caller_).status().code(),
            absl::StatusCode::kNotFound);
  v1::ErasePersonalDataRequest no_id = EraseRequest();
  no_id.clear_experiment_id();
  EXPECT_EQ(commands_->ErasePersonalData(no_id, caller_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ErasureTest, ASealedTextMovedToAnotherExperimentDoesNotOpen) {
  RecordPersonalTexts();
  CreateExperiment("e2");
  Start("e2");
  const v1::Experiment stored = Stored();
  ASSERT_EQ(stored.lessons_size(), 1);
  // Claim e1's sealed lesson belongs to e2 (a key that exists): the
  // associated data binds it to e1, so it must not open.
  std::string moved = stored.lessons(0).text();
  moved.replace(moved.find(":e1:"), 4, ":e2:");
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e2");
  lesson.mutable_lesson()->set_text("creates e2's key");
  lesson.set_request_id(NextId());
  ASSERT_OK(commands_->CreateLesson(lesson, caller_));
  v1::Lesson forged;
  forged.set_text(moved);
  EXPECT_EQ(core::RevealPersonalTexts(*store_, forged).code(), absl::StatusCode::kDataLoss);
}

TEST_F(PersonalDataTest, ATextThatLooksSealedIsRefused) {
  DefineCatalogue();
  CreateExperiment("e1");
  v1::CreateLessonRequest lesson;
  lesson.set_experiment_id("e1");
  lesson.mutable_lesson()->set_text("\x01lls1:e1:0:AAAA");
  lesson.set_request_id(NextId());
  EXPECT_EQ(commands_->CreateLesson(lesson, caller_).status().code(),
            absl::StatusCode::kInvalidArgument);
  lesson.mutable_lesson()->set_text("Regel een\n\tregel twee\r\n");
  EXPECT_OK(commands_->CreateLesson(lesson, caller_));
}

}  // namespace
}  // namespace leerlus::testing
