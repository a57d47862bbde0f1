// The log's verifiable side (proto/leerlus/v1/transparency.proto): signed
// checkpoints of its Merkle tree, receipts for writes, and proofs. The tree
// is the store's (storage/log_tree.cc); this signs heads of it with the
// server's log key, keeps them beside the log, and answers the RPCs.
//
// A checkpoint is signed only for the store's durable head, and never for a
// tree that is not an extension of the latest one kept: a server whose
// history no longer matches its own checkpoints refuses to start (Load).
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

class Transparency {
 public:
  // Without `signer` nothing is signed: GetCheckpoint is
  // FAILED_PRECONDITION and receipts carry no checkpoint.
  Transparency(storage::EventStore* store, std::optional<note::Signer> signer);

  // At start-up: takes the latest kept checkpoint as the latest, after
  // checking that the tree still has its root (DATA_LOSS otherwise).
  absl::Status Load();

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
  storage::EventStore* store_;
  std::optional<note::Signer> signer_;
  std::string verifier_key_;
  // Held while a checkpoint is signed and kept.
  absl::Mutex sign_mutex_;
  mutable absl::Mutex latest_mutex_;
  std::optional<v1::Checkpoint> latest_ ABSL_GUARDED_BY(latest_mutex_);
};

// A signed note as the API carries it, once its text is a checkpoint.
absl::StatusOr<v1::Checkpoint> CheckpointMessage(absl::string_view signed_note);

// `leerlusd --verify --public-key`: every kept checkpoint's signature by
// `key`, and its root against the store's tree. Returns how many were
// checked. DATA_LOSS names the first checkpoint the log no longer matches
// and so the positions where its history was rewritten.
absl::StatusOr<uint64_t> VerifyCheckpoints(storage::EventStore& store,
                                           const note::VerifierKey& key);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_TRANSPARENCY_H_
