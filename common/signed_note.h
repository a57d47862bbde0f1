// Signed notes (c2sp.org/signed-note) with Ed25519 keys, and transparency
// log checkpoints (c2sp.org/tlog-checkpoint) carried in them. The key texts
// are those of Go's golang.org/x/mod/sumdb/note, so keys and notes pass
// between leerlus and the Go tools unchanged.
//
//   auto keys = note::GenerateKey("leerlus.example/log");  // {private text, vkey}
//   auto signer = note::ParseSignerKey(keys->first);
//   auto text = note::FormatCheckpointText({"leerlus.example/log", size, root, {}});
//   auto signed_note = signer->Sign(*text);
//   ...
//   auto vkey = note::ParseVerifierKey(keys->second);
//   auto checkpoint = note::OpenCheckpoint(*signed_note, *vkey);
//
// Every malformed input is INVALID_ARGUMENT with a message naming what is
// wrong. Base64 is accepted only in its canonical padded form, so a
// signature or key has exactly one spelling.
#ifndef LEERLUS_COMMON_SIGNED_NOTE_H_
#define LEERLUS_COMMON_SIGNED_NOTE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

struct evp_pkey_st;

namespace leerlus::note {

// A signed note larger than this, or with more signature lines, is refused
// before any signature is checked (the spec asks verifiers to accept at
// least 16 signatures; Go's reference accepts 100).
inline constexpr size_t kMaxNoteBytes = 64 * 1024;
inline constexpr size_t kMaxSignatures = 100;

// A trusted Ed25519 key: the name and key id its signature lines carry.
struct VerifierKey {
  std::string name;
  uint32_t key_id = 0;
  std::array<uint8_t, 32> public_key{};
};

// `<name>+<8 hex key id>+<base64(0x01 || public key)>`; the key id must be
// the one the name and public key determine.
absl::StatusOr<VerifierKey> ParseVerifierKey(absl::string_view vkey);
std::string FormatVerifierKey(const VerifierKey& key);

// A verifier key given on a command line: its text, or the path of a file
// holding it (surrounding white space ignored). The errors name no flag:
// the caller prefixes its own.
absl::StatusOr<VerifierKey> ReadVerifierKeyArgument(const std::string& key_or_file);

// SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian.
uint32_t Ed25519KeyId(absl::string_view name, const std::array<uint8_t, 32>& public_key);

// An Ed25519 private key with its name. The private key stays inside
// OpenSSL (which wipes it when freed); the decoded bytes are wiped here.
class Signer {
 public:
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;
  ~Signer();

  const std::string& name() const { return verifier_.name; }
  uint32_t key_id() const { return verifier_.key_id; }
  const VerifierKey& verifier() const { return verifier_; }

  // The whole signed note: `text` (which must end in a newline and be a
  // valid note text), a blank line, and this key's signature line.
  absl::StatusOr<std::string> Sign(absl::string_view text) const;

 private:
  struct FreeKey {
    void operator()(evp_pkey_st* key) const;
  };
  Signer(VerifierKey verifier, evp_pkey_st* key);  // Takes ownership of `key`.
  friend absl::StatusOr<Signer> ParseSignerKey(absl::string_view text);

  VerifierKey verifier_;
  std::unique_ptr<evp_pkey_st, FreeKey> key_;
};

// `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>`; the
// key id must match the public key derived from the seed.
absl::StatusOr<Signer> ParseSignerKey(absl::string_view text);

// A fresh key named `name`: {private key text, verifier key text}. The
// first is a secret: write it with WriteNewKeyFile.
absl::StatusOr<std::pair<std::string, std::string>> GenerateKey(absl::string_view name);

// The text of `signed_note` once verified with `keys`: signatures by keys
// not among them (name and id) are ignored; one by a listed key that does
// not verify rejects the note ("... does not verify"). A well-formed note
// that no listed key signed is NOT_FOUND ("no signature by a trusted key"),
// so that a caller can tell another key's note from a damaged one.
absl::StatusOr<std::string> Open(absl::string_view signed_note, absl::Span<const VerifierKey> keys);

// A log's tree head: its origin line, tree size, RFC 6962 root hash and any
// (opaque, non-empty) extension lines.
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  std::array<uint8_t, 32> root_hash{};
  std::vector<std::string> extensions;
};

// The note text of `checkpoint`; INVALID_ARGUMENT if it would not parse
// back to the same checkpoint (an empty origin, a line break in a field).
absl::StatusOr<std::string> FormatCheckpointText(const Checkpoint& checkpoint);
absl::StatusOr<Checkpoint> ParseCheckpointText(absl::string_view text);

// Open with `key` and parse; the origin must be the key's name.
absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view signed_note, const VerifierKey& key);

// The signer in the key file at `path`: FAILED_PRECONDITION unless
// CheckKeyFileReaders accepts who may read it (the message says `chmod 600`).
absl::StatusOr<Signer> ReadSignerKeyFile(const std::string& path);

// Who may read or change a key file besides its owner, as its mode and
// POSIX access ACL say.
struct KeyFileReaders {
  uint32_t mode = 0;  // Permission bits; with an ACL the group bits are its mask.
  uint32_t owner = 0;
  // Users and groups with read access, the mask applied: the file's group,
  // or an ACL's named users and groups.
  std::vector<uint32_t> users;
  std::vector<uint32_t> groups;
};

// OK if a process running as `uid` with `groups` may sign with the key file
// at `path` that `readers` describes: nobody but its owner may change it,
// others may not read it, and read access beyond the owner is accepted only
// where it is how a non-root process is handed a root-owned secret, granted
// to this process's user or to one of its groups. Kubernetes mounts a Secret
// so under fsGroup (root:fsGroup, mode 0440 whatever defaultMode says), and
// systemd a credential on a file system with ACLs (root, 0400, an ACL entry
// letting the service's user read, shown as 0440).
absl::Status CheckKeyFileReaders(const std::string& path, const KeyFileReaders& readers,
                                 uint32_t uid, absl::Span<const uint32_t> groups);

// Creates `path` with mode 0600 holding `private_key_text` and a newline,
// synced; ALREADY_EXISTS if there is a file there (a key is never
// overwritten); INVALID_ARGUMENT if the text is not a signer key.
absl::Status WriteNewKeyFile(const std::string& path, absl::string_view private_key_text);

}  // namespace leerlus::note

#endif  // LEERLUS_COMMON_SIGNED_NOTE_H_
