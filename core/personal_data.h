// Personal data in an append-only log. Free texts that may name residents
// or staff (lesson texts, decision rationales, withdrawal and retraction
// reasons) are stored sealed: encrypted with AES-256-GCM under a data key
// of their experiment, kept in the data_keys column family, never in the
// log. Erasure destroys the key, so the sealed texts in the log, the
// projections and stored responses become unreadable without rewriting
// a byte of the log. Each erasure starts a new key generation: texts
// recorded afterwards stay readable.
//
// Stored form: "\x01lls1:" experiment id ":" generation ":" base64 of
// nonce || ciphertext || tag. Validation refuses control characters in
// every text, so no text a caller sends can look sealed.
#ifndef LEERLUS_CORE_PERSONAL_DATA_H_
#define LEERLUS_CORE_PERSONAL_DATA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "leerlus/v1/resources.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

// What an erased text reads as.
inline constexpr absl::string_view kErasedText = "[erased]";

// True if `stored` is a sealed text.
bool IsSealed(absl::string_view stored);

// The form of `text` to store in an event of `experiment`: sealed under the
// experiment's current key generation, which is created (in the decision's
// side writes, so atomically with the event) if it does not exist yet. An
// empty text stays empty.
absl::StatusOr<std::string> SealPersonalText(const storage::DecisionContext& context,
                                             const v1::Experiment& experiment,
                                             absl::string_view text);

// The fingerprint of a request that carries a personal text of experiment
// `experiment_id` (`content`: the request without its id, plaintext and
// all): an HMAC under a key derived from the experiment's current data key.
// Once the key is erased nothing stored confirms a guessed text, not even
// a replay of the request id (its fingerprint no longer matches: "" when no
// key of the current generation exists).
absl::StatusOr<std::string> PersonalTextFingerprint(storage::KeyValueReader& state,
                                                    absl::string_view experiment_id,
                                                    absl::string_view content);

// Replaces every sealed text anywhere in `message` by its plaintext, or by
// kErasedText if its key was destroyed. Keys are read from `store`'s
// current state (erasure applies to every view, as-of ones included).
absl::Status RevealPersonalTexts(storage::EventStore& store, google::protobuf::Message& message);

// The rule for what the core hands a caller: texts are stored sealed and
// answered revealed. Queries and the answers of changes apply it to every
// answer that leaves the core, so that no server code has to remember it.
// An error passes unchanged.
template <typename Answer>
absl::StatusOr<Answer> Revealed(storage::EventStore& store, absl::StatusOr<Answer> answer) {
  if (!answer.ok()) return answer;
  if (absl::Status revealed = RevealPersonalTexts(store, *answer); !revealed.ok()) return revealed;
  return answer;
}

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_PERSONAL_DATA_H_
