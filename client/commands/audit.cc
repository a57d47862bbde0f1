// checkpoint and audit: keeping the log's signed checkpoints, and checking
// with nothing but the log's pinned verifier key that what one was shown is
// still in the log and that the log only ever grew (RFC 9162 proofs over
// C2SP checkpoints; proto/leerlus/v1/transparency.proto).
//
//   leerlus checkpoint --out saved.txt
//   leerlus audit --public-key log.vkey --checkpoint saved.txt
//   leerlus audit --public-key log.vkey --receipt outcome.json
//   leerlus audit --public-key log.vkey --mirror events.jsonl --checkpoint saved.txt
//   leerlus audit --public-key log.vkey --watch witness.txt [--interval 60]
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/commands/command.h"
#include "client/commands/commands.h"
#include "common/merkle.h"
#include "common/serialize.h"
#include "common/signed_note.h"
#include "leerlus/v1/experiment_service.pb.h"

namespace leerlus::cli {
namespace {

// Exit code of an audit that found the log rewritten or a proof false.
constexpr int kExitAuditFailed = 12;

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(absl::StrCat("cannot read '", path, "'"));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// --public-key: the verifier key's text, or a file holding it.
note::VerifierKey ReadVerifierKey(const std::string& key_or_file) {
  absl::StatusOr<note::VerifierKey> key = note::ReadVerifierKeyArgument(key_or_file);
  if (!key.ok()) throw UsageError(absl::StrCat("--public-key: ", key.status().message()));
  return *key;
}

// What an audit found wrong; the command prints it and fails.
struct AuditFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

merkle::Hash ToHash(const std::string& bytes, absl::string_view what) {
  absl::StatusOr<merkle::Hash> hash = merkle::HashFromBytes(bytes, what);
  if (!hash.ok()) throw AuditFailure(std::string(hash.status().message()));
  return *hash;
}

std::vector<merkle::Hash> ToHashes(const google::protobuf::RepeatedPtrField<std::string>& all) {
  std::vector<merkle::Hash> hashes;
  for (const std::string& bytes : all) hashes.push_back(ToHash(bytes, "a proof's hash"));
  return hashes;
}

// A checkpoint whose signature by `key` verifies.
note::Checkpoint OpenSigned(absl::string_view signed_note, const note::VerifierKey& key,
                            absl::string_view what) {
  absl::StatusOr<note::Checkpoint> checkpoint = note::OpenCheckpoint(signed_note, key);
  if (!checkpoint.ok()) {
    throw AuditFailure(absl::StrCat(what, " is not a checkpoint signed by ", key.name, ": ",
                                    checkpoint.status().message()));
  }
  return *checkpoint;
}

std::string Describe(const note::Checkpoint& checkpoint) {
  return absl::StrCat("tree size ", checkpoint.size, ", root ",
                      merkle::ToHex(merkle::Hash(checkpoint.root_hash)));
}

void CheckCall(const grpc::Status& status, absl::string_view what) {
  if (!status.ok()) {
    throw AuditFailure(absl::StrCat(what, ": ", status.error_message(), " (",
                                    static_cast<int>(status.error_code()), ")"));
  }
}

// The server's current checkpoint covering `min_size` events, verified.
note::Checkpoint CurrentCheckpoint(client::Client& api, const note::VerifierKey& key,
                                   uint64_t min_size, std::string* signed_note = nullptr) {
  v1::GetCheckpointRequest request;
  request.set_min_tree_size(min_size);
  v1::GetCheckpointResponse response;
  CheckCall(
      api.Call(&v1::EventLogService::Stub::GetCheckpoint, api.event_log(), request, &response),
      "GetCheckpoint");
  if (signed_note != nullptr) *signed_note = response.checkpoint().signed_note();
  return OpenSigned(response.checkpoint().signed_note(), key, "the server's checkpoint");
}

// That `later` extends `earlier` (RFC 9162 2.1.4), with the server's proof.
void CheckGrewFrom(client::Client& api, const note::Checkpoint& earlier,
                   const note::Checkpoint& later) {
  if (later.size < earlier.size) {
    throw AuditFailure(absl::StrCat("REWRITTEN: the log now holds ", later.size,
                                    " events, fewer than the ", earlier.size, " checkpointed"));
  }
  std::vector<merkle::Hash> proof;
  if (earlier.size > 0 && earlier.size < later.size) {
    v1::GetConsistencyProofRequest request;
    request.set_from_tree_size(earlier.size);
    request.set_to_tree_size(later.size);
    v1::GetConsistencyProofResponse response;
    CheckCall(api.Call(&v1::EventLogService::Stub::GetConsistencyProof, api.event_log(), request,
                       &response),
              "GetConsistencyProof");
    proof = ToHashes(response.hashes());
  }
  absl::Status consistent = merkle::VerifyConsistency(earlier.size, later.size, earlier.root_hash,
                                                      later.root_hash, proof);
  if (!consistent.ok()) {
    throw AuditFailure(
        absl::StrCat("REWRITTEN: the log the server shows now (", Describe(later),
                     ") is not an extension of the checkpoint (", Describe(earlier),
                     "): history at or before position ", earlier.size,
                     " was changed, or the server shows different logs to different readers (",
                     consistent.message(), ")"));
  }
}

// --receipt: a write's answer as `-o json` printed it, or a bare receipt.
v1::Receipt ReadReceipt(const std::string& path) {
  const std::string json = ReadWholeFile(path);
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  v1::CreateOutcomeResponse answer;  // Any write answer: they all name it `receipt`.
  if (google::protobuf::util::JsonStringToMessage(json, &answer, options).ok() &&
      answer.has_receipt()) {
    return answer.receipt();
  }
  v1::Receipt receipt;
  if (!google::protobuf::util::JsonStringToMessage(json, &receipt, options).ok() ||
      receipt.position() == 0) {
    throw UsageError(absl::StrCat("--receipt: '", path, "' holds no receipt"));
  }
  return receipt;
}

// That the receipt's event is in `current` (and, if the receipt carries a
// checkpoint, that `current` extends it).
void AuditReceipt(client::Client& api, const note::VerifierKey& key, const v1::Receipt& receipt,
                  const note::Checkpoint& current) {
  const merkle::Hash leaf = ToHash(receipt.leaf_hash(), "the receipt's leaf hash");
  if (receipt.position() == 0 || receipt.position() > current.size) {
    throw AuditFailure(absl::StrCat("the receipt's position ", receipt.position(),
                                    " is not in the signed log of ", current.size, " events"));
  }
  v1::GetInclusionProofRequest request;
  request.set_position(receipt.position());
  request.set_tree_size(current.size);
  v1::GetInclusionProofResponse response;
  CheckCall(
      api.Call(&v1::EventLogService::Stub::GetInclusionProof, api.event_log(), request, &response),
      "GetInclusionProof");
  absl::Status included = merkle::VerifyInclusion(receipt.position() - 1, current.size, leaf,
                                                  ToHashes(response.hashes()), current.root_hash);
  if (!included.ok()) {
    throw AuditFailure(absl::StrCat("REWRITTEN: the event the receipt names at position ",
                                    receipt.position(), " is not in the signed log (",
                                    included.message(), ")"));
  }
  if (receipt.has_checkpoint()) {
    // Its signed text, not the message's copy of it, says what it covers.
    CheckGrewFrom(api,
                  OpenSigned(receipt.checkpoint().signed_note(), key, "the receipt's checkpoint"),
                  current);
  }
  std::cout << "receipt: the event at position " << receipt.position()
            << " is in the signed log of " << current.size << " events" << std::endl;
}

// --mirror: events as stored, one JSON object a line (`leerlus events --all
// --as-stored -o json`), from position 1: the leaves of the first `size`.
std::vector<merkle::Hash> ReadMirror(const std::string& path, uint64_t size) {
  std::ifstream in(path);
  if (!in) throw UsageError(absl::StrCat("--mirror: cannot read '", path, "'"));
  std::vector<merkle::Hash> leaves;
  std::string line;
  while (leaves.size() < size && std::getline(in, line)) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    v1::Event event;
    if (!google::protobuf::util::JsonStringToMessage(line, &event).ok() ||
        event.position() != leaves.size() + 1) {
      throw AuditFailure(absl::StrCat("--mirror: line for position ", leaves.size() + 1,
                                      " is not the event there"));
    }
    leaves.push_back(merkle::LeafHash(SerializeDeterministic(event)));
  }
  if (leaves.size() < size) {
    throw AuditFailure(absl::StrCat("--mirror holds ", leaves.size(),
                                    " events, fewer than the checkpoint's ", size));
  }
  return leaves;
}

// Where the server's copy of the log first differs from the mirror's
// leaves: " (first at position P)", or "" if nowhere.
std::string FirstDifference(client::Client& api, const std::vector<merkle::Hash>& leaves) {
  v1::ReadEventsRequest request;
  request.set_from_position(1);
  request.set_page_size(1000);
  request.set_as_stored(true);
  while (request.from_position() <= leaves.size()) {
    v1::ReadEventsResponse page;
    if (!api.Call(&v1::EventLogService::Stub::ReadEvents, api.event_log(), request, &page).ok() ||
        page.events().empty() || page.next_position() <= request.from_position()) {
      return "";
    }
    for (const v1::Event& event : page.events()) {
      if (event.position() <= leaves.size() &&
          merkle::LeafHash(SerializeDeterministic(event)) != leaves[event.position() - 1]) {
        return absl::StrCat("; the first event that differs from the server's is at position ",
                            event.position());
      }
    }
    request.set_from_position(page.next_position());
  }
  return "";
}

// That the mirror's leaves give `checkpoint`'s root; `difference` says
// where the server's copy differs, asked only when they do not.
void CheckMirror(const std::vector<merkle::Hash>& leaves, const note::Checkpoint& checkpoint,
                 const std::function<std::string()>& difference) {
  merkle::CompactRange range;
  for (const merkle::Hash& leaf : leaves) {
    range.Append(leaf, [](int, uint64_t, const merkle::Hash&) {});
  }
  if (range.Root() != merkle::Hash(checkpoint.root_hash)) {
    throw AuditFailure(
        absl::StrCat("the mirror does not give the checkpoint's root", difference()));
  }
  std::cout << "mirror: its first " << checkpoint.size << " events give the checkpoint's root"
            << std::endl;
}

// One round of a witness: the server's checkpoint must extend the one kept
// in `state`, which then becomes it.
void Witness(client::Client& api, const note::VerifierKey& key, const std::string& state) {
  std::string signed_note;
  const note::Checkpoint current = CurrentCheckpoint(api, key, 0, &signed_note);
  std::error_code error;
  const bool kept_before = std::filesystem::exists(state, error);
  // A state that cannot be looked at is not a first run: trust would start
  // over from whatever the server shows now.
  if (error) throw AuditFailure(absl::StrCat("cannot read the witness state '", state, "'"));
  if (kept_before) {
    const note::Checkpoint kept = OpenSigned(ReadWholeFile(state), key, "the witness's checkpoint");
    CheckGrewFrom(api, kept, current);
  }
  if (WriteOutputFile(state, signed_note) != 0) throw AuditFailure("cannot keep the checkpoint");
  std::cout << "witness: " << Describe(current) << " extends every checkpoint seen before"
            << std::endl;
}

struct AuditOptions {
  std::string public_key;
  std::string checkpoint;
  std::string receipt;
  std::string mirror;
  std::string watch;
  int interval_seconds = 60;
  bool once = false;
};

int RunAudit(client::Client& api, const AuditOptions& options) {
  const note::VerifierKey key = ReadVerifierKey(options.public_key);
  try {
    std::optional<note::Checkpoint> saved;
    std::optional<v1::Receipt> receipt;
    uint64_t needed = 0;
    if (!options.checkpoint.empty()) {
      saved = OpenSigned(ReadWholeFile(options.checkpoint), key, "--checkpoint");
      needed = saved->size;
    }
    if (!options.receipt.empty()) {
      receipt = ReadReceipt(options.receipt);
      needed = std::max(needed, receipt->position());
    }
    std::vector<merkle::Hash> mirror;
    if (saved.has_value() && !options.mirror.empty()) {
      mirror = ReadMirror(options.mirror, saved->size);
      CheckMirror(mirror, *saved, [&] { return FirstDifference(api, mirror); });
    }
    if (saved.has_value() || receipt.has_value()) {
      // One signed tree for every check of the run: a server cannot show
      // the receipt's check one log and the checkpoint's check another.
      const note::Checkpoint current = CurrentCheckpoint(api, key, needed);
      if (saved.has_value()) {
        try {
          CheckGrewFrom(api, *saved, current);
        } catch (const AuditFailure& failure) {
          // The mirror holds what the checkpoint signed: it names the event.
          if (mirror.empty()) throw;
          throw AuditFailure(absl::StrCat(failure.what(), FirstDifference(api, mirror)));
        }
        std::cout << "checkpoint: the log only grew, from " << Describe(*saved) << " to "
                  << Describe(current) << std::endl;
      }
      if (receipt.has_value()) AuditReceipt(api, key, *receipt, current);
    }
    while (!options.watch.empty()) {
      Witness(api, key, options.watch);
      if (options.once) break;
      std::this_thread::sleep_for(std::chrono::seconds(options.interval_seconds));
    }
  } catch (const AuditFailure& failure) {
    std::cerr << "AUDIT FAILED: " << failure.what() << std::endl;
    return kExitAuditFailed;
  }
  return 0;
}

}  // namespace

void AddAuditCommands(CLI::App& app, CommandContext& ctx) {
  auto* checkpoint = app.add_subcommand(
      "checkpoint", "print (or save) the log's latest signed checkpoint, to audit against later");
  auto out = std::make_shared<std::string>();
  checkpoint->add_option("--out", *out, "write the signed checkpoint to this file");
  ctx.OnRun(checkpoint, [out](client::Client& api) {
    // The latest, then, if the log has grown since, one of everything now.
    v1::GetCheckpointRequest request;
    v1::GetCheckpointResponse response;
    for (int ask = 0; ask < 2; ++ask) {
      if (int code = CallOrPrintError(api, &v1::EventLogService::Stub::GetCheckpoint,
                                      api.event_log(), request, &response);
          code != 0) {
        return code;
      }
      if (response.checkpoint().tree_size() >= response.head_position()) break;
      request.set_min_tree_size(response.head_position());
    }
    std::cerr << "checkpoint of " << response.checkpoint().tree_size()
              << " events; verifier key: " << response.verifier_key() << std::endl;
    if (out->empty()) {
      std::cout << response.checkpoint().signed_note();
      return 0;
    }
    return WriteOutputFile(*out, response.checkpoint().signed_note());
  });

  auto* audit = app.add_subcommand(
      "audit",
      "verify, with only the log's verifier key, that the log only grew and still holds "
      "what was shown (exit 12: it does not)");
  auto options = std::make_shared<AuditOptions>();
  audit
      ->add_option("--public-key", options->public_key,
                   "the log's verifier key (its text or a file), pinned from a trusted channel")
      ->required();
  audit->add_option("--checkpoint", options->checkpoint,
                    "a saved checkpoint: the log must be an extension of it");
  audit->add_option("--receipt", options->receipt,
                    "a write's answer (-o json) or its receipt: the event must be in the log");
  audit->add_option("--mirror", options->mirror,
                    "with --checkpoint: a copy of the log (`leerlus events --as-stored -o json`) "
                    "whose events must give the checkpoint's root");
  audit->add_option("--watch", options->watch,
                    "run as a witness: keep the latest verified checkpoint in this file and fail "
                    "as soon as the log is not an extension of it");
  audit->add_option("--interval", options->interval_seconds, "seconds between witness rounds")
      ->check(CLI::Range(1, 86400));
  audit->add_flag("--once", options->once, "one witness round, then exit");
  ctx.OnRun(audit, [options](client::Client& api) { return RunAudit(api, *options); });
}

}  // namespace leerlus::cli
