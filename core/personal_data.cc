#include "core/personal_data.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/aead.h"
#include "common/hashing.h"
#include "common/status_macros.h"
#include "core/model/read_model.h"
#include "leerlus/v1/events.pb.h"

namespace leerlus::core {
namespace {

constexpr absl::string_view kSealedPrefix = "\x01lls1:";

// Binds a sealed text to its experiment and generation: it cannot be
// copied into another experiment's record and still open.
std::string AssociatedData(absl::string_view experiment_id, uint32_t generation) {
  return absl::StrCat("leerlus personal text v1\n", experiment_id, "\n", generation);
}

struct SealedParts {
  std::string experiment_id;
  uint32_t generation = 0;
  std::string bytes;
};

absl::StatusOr<SealedParts> ParseSealed(absl::string_view stored) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(stored.substr(kSealedPrefix.size()), absl::MaxSplits(':', 2));
  SealedParts sealed;
  if (parts.size() != 3 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &sealed.generation) ||
      !absl::Base64Unescape(parts[2], &sealed.bytes)) {
    return absl::DataLossError("a stored personal text is malformed");
  }
  sealed.experiment_id = std::string(parts[0]);
  return sealed;
}

// The messages that carry sealed texts (the ones SealPersonalText fills).
bool CarriesPersonalText(const google::protobuf::Descriptor* descriptor) {
  return descriptor == v1::Lesson::descriptor() || descriptor == v1::Experiment::descriptor() ||
         descriptor == v1::Outcome::descriptor() ||
         descriptor == v1::ExperimentConcluded::descriptor() ||
         descriptor == v1::ExperimentWithdrawn::descriptor() ||
         descriptor == v1::OutcomeRetracted::descriptor();
}

// Whether a message of this type can hold a carrier, however deep: answers
// that cannot (analyses, catalogue lists) are not walked at all.
bool MayHoldPersonalText(const google::protobuf::Descriptor* descriptor) {
  static absl::Mutex mutex;
  static auto* known = new absl::flat_hash_map<const google::protobuf::Descriptor*, bool>();
  {
    absl::MutexLock lock(&mutex);
    if (auto it = known->find(descriptor); it != known->end()) return it->second;
    (*known)[descriptor] = false;  // Breaks cycles of recursive types.
  }
  bool may = CarriesPersonalText(descriptor);
  for (int i = 0; !may && i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    may = field->message_type() != nullptr && !field->is_map() &&
          MayHoldPersonalText(field->message_type());
  }
  absl::MutexLock lock(&mutex);
  (*known)[descriptor] = may;
  return may;
}

// Opens sealed texts, each key read once.
class Revealer {
 public:
  explicit Revealer(std::function<storage::KeyValueReader&()> keys) : keys_(std::move(keys)) {}

  absl::Status Walk(google::protobuf::Message& message) {
    if (!MayHoldPersonalText(message.GetDescriptor())) return absl::OkStatus();
    const google::protobuf::Reflection* reflection = message.GetReflection();
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);
    for (const google::protobuf::FieldDescriptor* field : fields) {
      // Maps hold attribute values and hashes, never personal texts.
      if (field->is_map()) continue;
      if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        if (field->is_repeated()) {
          for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
            const std::string& value =
                reflection->GetRepeatedStringReference(message, field, i, nullptr);
            if (!IsSealed(value)) continue;
            LEERLUS_ASSIGN_OR_RETURN(std::string plain, Open(value));
            reflection->SetRepeatedString(&message, field, i, std::move(plain));
          }
        } else {
          const std::string& value = reflection->GetStringReference(message, field, nullptr);
          if (!IsSealed(value)) continue;
          LEERLUS_ASSIGN_OR_RETURN(std::string plain, Open(value));
          reflection->SetString(&message, field, std::move(plain));
        }
      } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
        if (field->is_repeated()) {
          for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
            LEERLUS_RETURN_IF_ERROR(Walk(*reflection->MutableRepeatedMessage(&message, field, i)));
          }
        } else {
          LEERLUS_RETURN_IF_ERROR(Walk(*reflection->MutableMessage(&message, field)));
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::string> Open(absl::string_view stored) {
    LEERLUS_ASSIGN_OR_RETURN(SealedParts sealed, ParseSealed(stored));
    std::pair<std::string, uint32_t> key_name(sealed.experiment_id, sealed.generation);
    auto it = keys_cache_.find(key_name);
    if (it == keys_cache_.end()) {
      LEERLUS_ASSIGN_OR_RETURN(
          std::optional<std::string> key,
          model::FindDataKey(keys_(), sealed.experiment_id, sealed.generation));
      it = keys_cache_.emplace(std::move(key_name), std::move(key)).first;
    }
    if (!it->second.has_value()) return std::string(kErasedText);
    return AeadOpen(*it->second, sealed.bytes,
                    AssociatedData(sealed.experiment_id, sealed.generation));
  }

  std::function<storage::KeyValueReader&()> keys_;
  // By experiment id and key generation.
  std::map<std::pair<std::string, uint32_t>, std::optional<std::string>> keys_cache_;
};

}  // namespace

bool IsSealed(absl::string_view stored) { return absl::StartsWith(stored, kSealedPrefix); }

absl::StatusOr<std::string> SealPersonalText(const storage::DecisionContext& context,
                                             const v1::Experiment& experiment,
                                             absl::string_view text) {
  if (text.empty()) return std::string();
  const uint32_t generation = experiment.personal_data_erasures();
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> key,
                           model::FindDataKey(context.state, experiment.id(), generation));
  if (!key.has_value()) {
    key = RandomBytes(kAeadKeyBytes);
    model::PutDataKey(context.side_writes, experiment.id(), generation, *key);
  }
  return absl::StrCat(
      kSealedPrefix, experiment.id(), ":", generation, ":",
      absl::Base64Escape(AeadSeal(*key, text, AssociatedData(experiment.id(), generation))));
}

absl::StatusOr<std::string> PersonalTextFingerprint(storage::KeyValueReader& state,
                                                    absl::string_view experiment_id,
                                                    absl::string_view content) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<v1::Experiment> experiment,
                           model::ExperimentRecord(state, experiment_id));
  if (!experiment.has_value()) return std::string();
  LEERLUS_ASSIGN_OR_RETURN(
      std::optional<std::string> key,
      model::FindDataKey(state, experiment_id, experiment->personal_data_erasures()));
  // No key of the current generation: nothing can match what was stored.
  if (!key.has_value()) return std::string();
  // A key of its own for fingerprints, derived from the data key.
  const std::string fingerprint_key = HmacSha256(*key, "leerlus request fingerprint v1");
  return absl::BytesToHexString(HmacSha256(fingerprint_key, content));
}

absl::Status RevealPersonalTexts(storage::EventStore& store, google::protobuf::Message& message) {
  // Most answers hold no sealed text: open a view only for the first one.
  std::unique_ptr<storage::ReadView> view;
  Revealer revealer([&]() -> storage::KeyValueReader& {
    if (view == nullptr) view = store.OpenReadView();
    return *view;
  });
  return revealer.Walk(message);
}

}  // namespace leerlus::core
