// The log's verifiable side (proto/leerlus/v1/transparency.proto): signed
// checkpoints of its Merkle tree, receipts for writes, and proofs. The tree
// is the store's (storage/log_tree.cc); this signs heads of it with the
// server's log key, keeps them beside the log, and answers the RPCs.
//
// A checkpoint is signed only for the store's durable head, and never for a
// tree that is not an extension of the latest one kept: a server whose
// history no longer matches its own checkpoints refuses to start (Load).
// The latest is also kept outside the data directory (the checkpoint state
// file) before it is handed out, so that an older copy of the data directory
// (a restored backup) is refused too instead of signed over: the server
// would otherwise sign a second, different tree of a size it signed before.
#ifndef LEERLUS_CORE_TRANSPARENCY_H_
#define LEERLUS_CORE_TRANSPARENCY_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/signed_note.h"
#include "core/caller.h"
#include "leerlus/v1/event_log_service.pb.h"
#include "leerlus/v1/transparency.pb.h"
#include "storage/event_store.h"

namespace leerlus::core {

// What the server signs with, and where it keeps the latest it signed
// besides the data directory.
struct TransparencyOptions {
  // The log key. Without it nothing is signed: GetCheckpoint is
  // FAILED_PRECONDITION and receipts carry no checkpoint.
  std::optional<note::Signer> signer;
  // The checkpoint state file (--checkpoint-state), outside the data
  // directory: the latest checkpoint signed, written durably before it is
  // handed out. Empty: none.
  std::string checkpoint_state;
};

class Transparency {
 public:
  Transparency(storage::EventStore* store, TransparencyOptions options);

  // At start-up: takes the latest kept checkpoint as the latest, after
  // checking that the tree still has its root (DATA_LOSS otherwise). Then
  // holds the log against the checkpoint state file (DATA_LOSS if the log is
  // shorter or differs, see CheckCheckpointState), takes its checkpoint as
  // the latest if it is newer, and makes the file hold the latest. Returns
  // what the operator should know that does not stop the start ("" if
  // nothing): a state file this key did not sign.
  absl::StatusOr<std::string> Load();

  absl::StatusOr<v1::GetCheckpointResponse> GetCheckpoint(const v1::GetCheckpointRequest& request,
                                                          const Caller& caller);
  absl::StatusOr<v1::GetInclusionProofResponse> GetInclusionProof(
      const v1::GetInclusionProofRequest& request, const Caller& caller);
  absl::StatusOr<v1::GetConsistencyProofResponse> GetConsistencyProof(
      const v1::GetConsistencyProofRequest& request, const Caller& caller);

  // Signs a checkpoint of the durable head if the log grew past the latest
  // (the server calls it every --checkpoint-interval).
  absl::Status SignIfGrown();

  // The latest checkpoint if it covers `min_size` events (0: the latest,
  // signed now only if there is none), else one signed now for the
  // durable head; OUT_OF_RANGE beyond the head.
  absl::StatusOr<v1::Checkpoint> Covering(uint64_t min_size);

  // The receipt of a durable write whose last event is at `position`.
  absl::StatusOr<v1::Receipt> ReceiptFor(uint64_t position);

  // The latest checkpoint signed; nullopt before the first, or unsigned.
  std::optional<v1::Checkpoint> Latest() const;

  // The verifier key partners pin ("" without a signer).
  const std::string& verifier_key() const { return verifier_key_; }

 private:
  // The first half of Load: the latest checkpoint kept in the data directory.
  absl::Status LoadKept();
  // Writes `signed_note` to the checkpoint state file, if there is one;
  // UNAVAILABLE naming the file if it cannot.
  absl::Status KeepState(absl::string_view signed_note);

  storage::EventStore* store_;
  std::optional<note::Signer> signer_;
  std::string checkpoint_state_;
  std::string verifier_key_;
  // Held while a checkpoint is signed and kept.
  absl::Mutex sign_mutex_;
  mutable absl::Mutex latest_mutex_;
  std::optional<v1::Checkpoint> latest_ ABSL_GUARDED_BY(latest_mutex_);
};

// A signed note as the API carries it, once its text is a checkpoint.
absl::StatusOr<v1::Checkpoint> CheckpointMessage(absl::string_view signed_note);

// What a checkpoint state file says of the log.
struct CheckpointState {
  // The checkpoint the file holds: signed by the key, and the log holds its
  // tree. Empty if there is no file or it was ignored.
  std::optional<v1::Checkpoint> checkpoint;
  // Why a file that is there was ignored (not a checkpoint signed by the
  // key, as after a key change); "" otherwise.
  std::string ignored;
};

// Holds `store`'s log against the checkpoint state file at `path`: DATA_LOSS
// if `key` signed the checkpoint it holds and the log has fewer events (an
// older copy of the data directory) or another tree at that size (a history
// that differs from what was signed); FAILED_PRECONDITION naming the file if
// it is there but cannot be read.
absl::StatusOr<CheckpointState> CheckCheckpointState(storage::EventStore& store,
                                                     const note::VerifierKey& key,
                                                     const std::string& path);

// `leerlusd --verify --public-key`: every kept checkpoint's signature by
// `key`, and its root against the store's tree. Returns how many were
// checked. DATA_LOSS names the first checkpoint the log no longer matches
// and so the positions where its history was rewritten.
absl::StatusOr<uint64_t> VerifyCheckpoints(storage::EventStore& store,
                                           const note::VerifierKey& key);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_TRANSPARENCY_H_
