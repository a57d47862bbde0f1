#include "core/transparency.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/files.h"
#include "common/merkle.h"
#include "common/status_macros.h"
#include "core/access.h"
#include "core/model/events.h"

namespace leerlus::core {
namespace {

// The text of a signed note: everything up to and including the newline
// before the last blank line (c2sp.org/signed-note).
absl::StatusOr<absl::string_view> NoteText(absl::string_view signed_note) {
  const size_t blank = signed_note.rfind("\n\n");
  if (blank == absl::string_view::npos) {
    return absl::InvalidArgumentError("a signed note without a blank line before its signatures");
  }
  return signed_note.substr(0, blank + 1);
}

std::string Bytes(const merkle::Hash& hash) { return std::string(merkle::AsBytes(hash)); }

absl::Status CannotReadState(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot read the checkpoint state file ", path, " (--checkpoint-state): ", why));
}

// The contents of `path`, up to a byte more than a signed note may have (a
// larger file is no checkpoint); nullopt if there is no such file.
absl::StatusOr<std::optional<std::string>> ReadIfThere(const std::string& path) {
  // Not through a symbolic link (the check that it lies outside the data
  // directory saw the link's target, the rename that replaces it would not),
  // and never blocking on a FIFO.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  if (fd < 0 && errno == ELOOP) return CannotReadState(path, "it is a symbolic link");
  if (fd < 0) return CannotReadState(path, std::strerror(errno));
  if (struct stat info; ::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return CannotReadState(path, "it is not a regular file");
  }
  std::string contents(note::kMaxNoteBytes + 1, '\0');
  size_t filled = 0;
  ssize_t got = 0;
  while (filled < contents.size()) {
    got = ::read(fd, contents.data() + filled, contents.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    filled += static_cast<size_t>(got);
  }
  const absl::Status read =
      got < 0 ? CannotReadState(path, std::strerror(errno)) : absl::OkStatus();
  ::close(fd);
  LEERLUS_RETURN_IF_ERROR(read);
  contents.resize(filled);
  return contents;
}

// The directory the state file is renamed into.
std::string StateDirectory(const std::string& path) {
  const std::string directory = std::filesystem::path(path).parent_path().string();
  return directory.empty() ? "." : directory;
}

absl::Status NoSigningKey() {
  return WithErrorInfo(absl::FailedPreconditionError(
                           "this server signs no checkpoints: start leerlusd with --signing-key"),
                       "NO_SIGNING_KEY");
}

}  // namespace

absl::StatusOr<v1::Checkpoint> CheckpointMessage(absl::string_view signed_note) {
  LEERLUS_ASSIGN_OR_RETURN(absl::string_view text, NoteText(signed_note));
  LEERLUS_ASSIGN_OR_RETURN(note::Checkpoint checkpoint, note::ParseCheckpointText(text));
  v1::Checkpoint message;
  message.set_signed_note(std::string(signed_note));
  message.set_origin(checkpoint.origin);
  message.set_tree_size(checkpoint.size);
  message.set_root_hash(Bytes(checkpoint.root_hash));
  return message;
}

absl::StatusOr<CheckpointState> CheckCheckpointState(storage::EventStore& store,
                                                     const note::VerifierKey& key,
                                                     const std::string& path) {
  LEERLUS_ASSIGN_OR_RETURN(std::optional<std::string> signed_note, ReadIfThere(path));
  CheckpointState state;
  if (!signed_note.has_value()) return state;
  absl::StatusOr<note::Checkpoint> signed_by_key = note::OpenCheckpoint(*signed_note, key);
  if (signed_by_key.status().code() == absl::StatusCode::kNotFound) {
    // Another key's (a key change): it guards nothing this key signed.
    state.ignored = absl::StrCat("the checkpoint state file ", path,
                                 " holds a checkpoint signed by another log key");
    return state;
  }
  if (!signed_by_key.ok()) {
    // Damaged, or this key's signature fails: what it guarded is unknown.
    return absl::FailedPreconditionError(absl::StrCat(
        "the checkpoint state file ", path, " (--checkpoint-state) holds no valid checkpoint (",
        signed_by_key.status().message(),
        "): restore it from a copy; only if the data directory surely holds every event this "
        "key signed, remove it"));
  }
  const uint64_t size = signed_by_key->size;
  std::unique_ptr<storage::ReadView> view = store.OpenReadView();
  const uint64_t head = view->head_position();
  if (head < size) {
    return absl::DataLossError(absl::StrCat(
        "the log ends at position ", head, ", but this log key already signed a checkpoint of ",
        size, " events (kept in ", path,
        "): the data directory is older than what was signed (a restored backup?), and events ",
        head + 1, "..", size, " are missing. Restore a backup that holds at least ", size,
        " events; if they are truly lost, start a new log key (a new origin) and tell partners"));
  }
  absl::StatusOr<merkle::Hash> root = view->TreeRoot(size);
  if (!root.ok() || *root != signed_by_key->root_hash) {
    return absl::DataLossError(absl::StrCat(
        "the log's history differs from what this log key signed at tree size ", size, " (kept in ",
        path, "): its first ", size,
        " events are not those signed (an older copy of the data written to since?). Restore a "
        "backup that holds the ",
        size, " events as signed, or start a new log key (a new origin) and tell partners",
        root.ok() ? "" : absl::StrCat(" (", root.status().message(), ")")));
  }
  LEERLUS_ASSIGN_OR_RETURN(state.checkpoint, CheckpointMessage(*signed_note));
  return state;
}

Transparency::Transparency(storage::EventStore* store, TransparencyOptions options)
    : store_(store),
      signer_(std::move(options.signer)),
      checkpoint_state_(std::move(options.checkpoint_state)) {
  if (signer_.has_value()) verifier_key_ = note::FormatVerifierKey(signer_->verifier());
}

absl::StatusOr<std::string> Transparency::Load() {
  LEERLUS_RETURN_IF_ERROR(LoadKept());
  if (!signer_.has_value() || checkpoint_state_.empty()) return std::string();
  // Found now rather than at the first signing, which would fail.
  if (const std::string directory = StateDirectory(checkpoint_state_);
      ::access(directory.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write the checkpoint state file ", checkpoint_state_,
                     " (--checkpoint-state): ", directory, ": ", std::strerror(errno)));
  }
  LEERLUS_ASSIGN_OR_RETURN(CheckpointState state,
                           CheckCheckpointState(*store_, signer_->verifier(), checkpoint_state_));
  std::optional<v1::Checkpoint> latest = Latest();
  const uint64_t latest_size = latest.has_value() ? latest->tree_size() : 0;
  if (state.checkpoint.has_value() && state.checkpoint->tree_size() > latest_size) {
    // Signed and handed out, but this data directory does not keep it (a
    // copy taken in between): kept again, and the latest.
    LEERLUS_RETURN_IF_ERROR(
        store_->KeepCheckpoint(state.checkpoint->tree_size(), state.checkpoint->signed_note()));
    absl::MutexLock lock(&latest_mutex_);
    latest_ = std::move(state.checkpoint);
  } else if (latest.has_value() &&
             (!state.checkpoint.has_value() || state.checkpoint->tree_size() < latest_size)) {
    // The file lags (its first start, or a key change): from now on it
    // guards what was signed.
    LEERLUS_RETURN_IF_ERROR(KeepState(latest->signed_note()));
  }
  if (state.ignored.empty()) return std::string();
  return absl::StrCat(state.ignored, "; as after a key change, this key's checkpoints replace it");
}

absl::Status Transparency::KeepState(absl::string_view signed_note) {
  if (checkpoint_state_.empty()) return absl::OkStatus();
  if (absl::Status written = WriteFileDurably(checkpoint_state_, signed_note, 0600);
      !written.ok()) {
    return absl::UnavailableError(
        absl::StrCat(written.message(),
                     ": a checkpoint is handed out only once the checkpoint state file holds it"));
  }
  return absl::OkStatus();
}

absl::Status Transparency::LoadKept() {
  LEERLUS_ASSIGN_OR_RETURN(auto kept, store_->LatestCheckpoint());
  if (!kept.has_value()) return absl::OkStatus();
  // Checked whatever the key: a server must not serve (or sign on top of) a
  // history that no longer matches what it signed.
  LEERLUS_ASSIGN_OR_RETURN(v1::Checkpoint checkpoint, CheckpointMessage(kept->second));
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  absl::StatusOr<merkle::Hash> root = view->TreeRoot(checkpoint.tree_size());
  if (!root.ok() || Bytes(*root) != checkpoint.root_hash()) {
    return absl::DataLossError(absl::StrCat(
        "the log no longer matches the checkpoint this server signed at tree size ",
        checkpoint.tree_size(),
        ": its history was changed; run leerlusd --verify --public-key to see where"));
  }
  // Handed out as the latest only if this server's key signed it: after a
  // key change the first checkpoint is signed afresh.
  if (signer_.has_value() && note::OpenCheckpoint(kept->second, signer_->verifier()).ok()) {
    absl::MutexLock lock(&latest_mutex_);
    latest_ = std::move(checkpoint);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Checkpoint> Transparency::Covering(uint64_t min_size) {
  if (!signer_.has_value()) return NoSigningKey();
  // 0: the latest, signed only if there is none yet.
  if (std::optional<v1::Checkpoint> latest = Latest();
      latest.has_value() && latest->tree_size() >= min_size) {
    return *std::move(latest);
  }
  // One signer at a time: checkpoints are signed in the order of their
  // sizes, and a burst of callers shares one signature. Readers of the
  // latest (every write's receipt) do not wait for it.
  absl::MutexLock signing(&sign_mutex_);
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  const uint64_t size = view->head_position();
  if (min_size > size) {
    return absl::OutOfRangeError(
        absl::StrCat("min_tree_size ", min_size, " is beyond the log's head (", size, ")"));
  }
  if (std::optional<v1::Checkpoint> latest = Latest();
      latest.has_value() && latest->tree_size() >= std::max<uint64_t>(size, 1)) {
    return *std::move(latest);
  }
  LEERLUS_ASSIGN_OR_RETURN(merkle::Hash root, view->TreeRoot(size));
  note::Checkpoint checkpoint;
  checkpoint.origin = signer_->name();
  checkpoint.size = size;
  checkpoint.root_hash = root;
  LEERLUS_ASSIGN_OR_RETURN(std::string text, note::FormatCheckpointText(checkpoint));
  LEERLUS_ASSIGN_OR_RETURN(std::string signed_note, signer_->Sign(text));
  // Outside the data directory first: once handed out, no copy of the data
  // directory may take it back.
  LEERLUS_RETURN_IF_ERROR(KeepState(signed_note));
  LEERLUS_RETURN_IF_ERROR(store_->KeepCheckpoint(size, signed_note));
  LEERLUS_ASSIGN_OR_RETURN(v1::Checkpoint message, CheckpointMessage(signed_note));
  absl::MutexLock lock(&latest_mutex_);
  latest_ = message;
  return message;
}

absl::Status Transparency::SignIfGrown() {
  if (!signer_.has_value()) return absl::OkStatus();
  const uint64_t head = store_->HeadPosition();
  if (head == 0) return absl::OkStatus();
  if (std::optional<v1::Checkpoint> latest = Latest();
      latest.has_value() && latest->tree_size() >= head) {
    return absl::OkStatus();
  }
  return Covering(std::max<uint64_t>(head, 1)).status();
}

std::optional<v1::Checkpoint> Transparency::Latest() const {
  absl::MutexLock lock(&latest_mutex_);
  return latest_;
}

absl::StatusOr<v1::Receipt> Transparency::ReceiptFor(uint64_t position) {
  v1::Receipt receipt;
  receipt.set_position(position);
  LEERLUS_ASSIGN_OR_RETURN(merkle::Hash leaf, store_->OpenReadView()->TreeLeafHash(position));
  receipt.set_leaf_hash(Bytes(leaf));
  if (std::optional<v1::Checkpoint> latest = Latest(); latest.has_value()) {
    *receipt.mutable_checkpoint() = *std::move(latest);
  }
  return receipt;
}

absl::StatusOr<v1::GetCheckpointResponse> Transparency::GetCheckpoint(
    const v1::GetCheckpointRequest& request, const Caller& caller) {
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "GetCheckpoint", request, *store_->OpenReadView()));
  v1::GetCheckpointResponse response;
  LEERLUS_ASSIGN_OR_RETURN(*response.mutable_checkpoint(), Covering(request.min_tree_size()));
  response.set_verifier_key(verifier_key_);
  response.set_head_position(store_->HeadPosition());
  return response;
}

absl::StatusOr<v1::GetInclusionProofResponse> Transparency::GetInclusionProof(
    const v1::GetInclusionProofRequest& request, const Caller& caller) {
  if (request.position() == 0) return FieldError("position", "must be at least 1");
  if (request.tree_size() < request.position()) {
    return FieldError("tree_size", "must be at least the position");
  }
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "GetInclusionProof", request, *view));
  if (request.tree_size() > view->head_position()) {
    return absl::OutOfRangeError(absl::StrCat("tree_size ", request.tree_size(),
                                              " is beyond the log's head (",
                                              view->head_position(), ")"));
  }
  // The proof names the event's leaf hash: only for one the caller may read.
  LEERLUS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           model::ReadEvents(*view, request.position(), 1, ""));
  if (events.empty() || events.front().position() != request.position()) {
    return absl::DataLossError("the log has no event where its tree has one");
  }
  LEERLUS_ASSIGN_OR_RETURN(bool visible, MayReadEvent(caller, events.front(), *view));
  if (!visible) {
    return WithErrorInfo(absl::PermissionDeniedError(absl::StrCat(
                             "position ", request.position(), " holds no event you may read")),
                         "PERMISSION_DENIED", {{"rpc", "GetInclusionProof"}});
  }
  v1::GetInclusionProofResponse response;
  response.set_position(request.position());
  response.set_tree_size(request.tree_size());
  LEERLUS_ASSIGN_OR_RETURN(merkle::Hash leaf, view->TreeLeafHash(request.position()));
  response.set_leaf_hash(Bytes(leaf));
  LEERLUS_ASSIGN_OR_RETURN(std::vector<merkle::Hash> proof,
                           view->InclusionProof(request.position(), request.tree_size()));
  for (const merkle::Hash& hash : proof) response.add_hashes(Bytes(hash));
  return response;
}

absl::StatusOr<v1::GetConsistencyProofResponse> Transparency::GetConsistencyProof(
    const v1::GetConsistencyProofRequest& request, const Caller& caller) {
  if (request.from_tree_size() == 0) return FieldError("from_tree_size", "must be at least 1");
  if (request.to_tree_size() < request.from_tree_size()) {
    return FieldError("to_tree_size", "must be at least from_tree_size");
  }
  std::unique_ptr<storage::ReadView> view = store_->OpenReadView();
  LEERLUS_RETURN_IF_ERROR(CheckAccess(caller, "GetConsistencyProof", request, *view));
  LEERLUS_ASSIGN_OR_RETURN(
      std::vector<merkle::Hash> proof,
      view->ConsistencyProof(request.from_tree_size(), request.to_tree_size()));
  v1::GetConsistencyProofResponse response;
  response.set_from_tree_size(request.from_tree_size());
  response.set_to_tree_size(request.to_tree_size());
  for (const merkle::Hash& hash : proof) response.add_hashes(Bytes(hash));
  return response;
}

absl::StatusOr<uint64_t> VerifyCheckpoints(storage::EventStore& store,
                                           const note::VerifierKey& key) {
  std::unique_ptr<storage::ReadView> view = store.OpenReadView();
  uint64_t checked = 0;
  uint64_t last_matching = 0;
  absl::Status problem;
  LEERLUS_RETURN_IF_ERROR(store.ScanCheckpoints([&](uint64_t size, absl::string_view signed_note) {
    absl::StatusOr<note::Checkpoint> checkpoint = note::OpenCheckpoint(signed_note, key);
    if (!checkpoint.ok() || checkpoint->size != size) {
      problem = absl::DataLossError(absl::StrCat(
          "the checkpoint kept for tree size ", size, " is not signed by ", key.name, ": ",
          checkpoint.ok() ? "it states another size" : checkpoint.status().message()));
      return false;
    }
    absl::StatusOr<merkle::Hash> root = view->TreeRoot(size);
    if (!root.ok() || *root != checkpoint->root_hash) {
      problem = absl::DataLossError(absl::StrCat(
          "history rewritten: the log no longer matches the checkpoint signed at tree size ",
          size, last_matching == 0 ? "" : absl::StrCat(" (it still matches the one at ", last_matching, ")"),
          ": an event at positions ", last_matching + 1, "..", size, " differs",
          root.ok() ? "" : absl::StrCat(" (", root.status().message(), ")")));
      return false;
    }
    last_matching = size;
    ++checked;
    return true;
  }));
  LEERLUS_RETURN_IF_ERROR(problem);
  return checked;
}

}  // namespace leerlus::core
