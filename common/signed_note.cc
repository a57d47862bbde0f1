#include "common/signed_note.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/aead.h"
#include "common/status_macros.h"
#include "common/text.h"

namespace leerlus::note {
namespace {

constexpr char kEmDashSpace[] = "\xE2\x80\x94 ";  // U+2014, then a space.
constexpr char kPrivatePrefix[] = "PRIVATE+KEY+";
constexpr unsigned char kEd25519 = 0x01;  // The signature type byte.
constexpr size_t kEd25519Bytes = 32;      // A seed or a public key.
constexpr size_t kEd25519SignatureBytes = 64;
constexpr size_t kMaxKeyFileBytes = 4096;

struct PKeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PKey = std::unique_ptr<EVP_PKEY, PKeyFree>;
struct MdContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextFree>;

// Bytes that must not outlive their use: wiped, whole buffer, when dropped.
struct Secret {
  std::string bytes;
  ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.capacity()); }
};

const unsigned char* Bytes(absl::string_view data) {
  return reinterpret_cast<const unsigned char*>(data.data());
}

absl::Status Malformed(absl::string_view what, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", problem));
}

// absl's decoder also takes missing padding, whitespace and stray low bits;
// accepting only what it would encode again gives each value one spelling.
bool DecodeBase64(absl::string_view text, std::string* out) {
  return absl::Base64Unescape(text, out) && absl::Base64Escape(*out) == text;
}

// Unicode White_Space, as Go's unicode.IsSpace, which the reference uses.
bool IsUnicodeSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

bool IsValidName(absl::string_view name) {
  bool clean = true;
  const int64_t length = DecodeUtf8(name, [&clean](uint32_t c) {
    clean = clean && c >= 0x20 && c != '+' && !IsUnicodeSpace(c);
    return clean;
  });
  return clean && length > 0;
}

// What every note text and signed note must be: UTF-8 with no control
// character but the newline.
absl::Status CheckNoteChars(absl::string_view text, absl::string_view what) {
  bool clean = true;
  const int64_t length = DecodeUtf8(text, [&clean](uint32_t c) {
    clean = c >= 0x20 || c == '\n';
    return clean;
  });
  if (length < 0) return Malformed(what, "not valid UTF-8");
  if (!clean) return Malformed(what, "holds a control character other than a newline");
  return absl::OkStatus();
}

std::string KeyIdHex(uint32_t key_id) { return absl::StrCat(absl::Hex(key_id, absl::kZeroPad8)); }

absl::StatusOr<uint32_t> ParseKeyIdHex(absl::string_view hex, absl::string_view what) {
  uint32_t key_id = 0;
  if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdef") != hex.npos ||
      !absl::SimpleHexAtoi(hex, &key_id)) {
    return Malformed(what, "the key id is not 8 lower-case hex digits");
  }
  return key_id;
}

// The part after the type byte of base64(0x01 || 32 bytes), into `out`.
absl::Status DecodeKeyBytes(absl::string_view base64, std::string* out, absl::string_view what) {
  if (!DecodeBase64(base64, out)) return Malformed(what, "the key is not canonical base64");
  if (out->empty() || static_cast<unsigned char>((*out)[0]) != kEd25519) {
    return Malformed(what, "the key is not of type Ed25519 (0x01)");
  }
  if (out->size() != 1 + kEd25519Bytes) return Malformed(what, "the key is not 32 bytes");
  out->erase(0, 1);
  return absl::OkStatus();
}

std::string EncodeKeyBytes(absl::string_view key) {
  Secret typed{std::string(1, static_cast<char>(kEd25519))};
  typed.bytes.append(key.data(), key.size());
  return absl::Base64Escape(typed.bytes);
}

// The private key for a 32-byte seed, its public key in `public_key`.
absl::StatusOr<PKey> PrivateKeyFromSeed(absl::string_view seed,
                                        std::array<uint8_t, 32>* public_key) {
  PKey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed), seed.size()));
  size_t length = public_key->size();
  if (key == nullptr || EVP_PKEY_get_raw_public_key(key.get(), public_key->data(), &length) != 1 ||
      length != public_key->size()) {
    return absl::InternalError("signer key: OpenSSL cannot derive the Ed25519 public key");
  }
  return key;
}

bool VerifyEd25519(const VerifierKey& key, absl::string_view text, absl::string_view signature) {
  PKey public_key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.public_key.data(),
                                              key.public_key.size()));
  MdContext context(EVP_MD_CTX_new());
  return public_key != nullptr && context != nullptr &&
         EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, public_key.get()) == 1 &&
         EVP_DigestVerify(context.get(), Bytes(signature), signature.size(), Bytes(text),
                          text.size()) == 1;
}

}  // namespace

uint32_t Ed25519KeyId(absl::string_view name, const std::array<uint8_t, 32>& public_key) {
  std::string input = absl::StrCat(name, "\n");
  input.push_back(static_cast<char>(kEd25519));
  input.append(reinterpret_cast<const char*>(public_key.data()), public_key.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // SHA-256 of in-memory bytes fails only when out of memory.
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) |
         uint32_t{digest[3]};
}

absl::StatusOr<VerifierKey> ParseVerifierKey(absl::string_view vkey) {
  constexpr absl::string_view kWhat = "verifier key";
  const std::vector<absl::string_view> parts = absl::StrSplit(vkey, absl::MaxSplits('+', 2));
  if (parts.size() != 3) return Malformed(kWhat, "not <name>+<key id>+<key>");
  if (!IsValidName(parts[0])) return Malformed(kWhat, "the name is empty or has a space or '+'");
  VerifierKey key;
  key.name = std::string(parts[0]);
  LEERLUS_ASSIGN_OR_RETURN(key.key_id, ParseKeyIdHex(parts[1], kWhat));
  std::string bytes;
  LEERLUS_RETURN_IF_ERROR(DecodeKeyBytes(parts[2], &bytes, kWhat));
  std::memcpy(key.public_key.data(), bytes.data(), key.public_key.size());
  if (key.key_id != Ed25519KeyId(key.name, key.public_key)) {
    return Malformed(kWhat, "the key id does not match the name and key");
  }
  return key;
}

std::string FormatVerifierKey(const VerifierKey& key) {
  return absl::StrCat(key.name, "+", KeyIdHex(key.key_id), "+",
                      EncodeKeyBytes(absl::string_view(
                          reinterpret_cast<const char*>(key.public_key.data()), kEd25519Bytes)));
}

absl::StatusOr<VerifierKey> ReadVerifierKeyArgument(const std::string& key_or_file) {
  std::string text = key_or_file;
  if (std::error_code error; std::filesystem::is_regular_file(key_or_file, error)) {
    std::ifstream in(key_or_file, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", key_or_file, "'"));
    std::stringstream contents;
    contents << in.rdbuf();
    text = contents.str();
  }
  return ParseVerifierKey(absl::StripAsciiWhitespace(text));
}

Signer::Signer(VerifierKey verifier, evp_pkey_st* key)
    : verifier_(std::move(verifier)), key_(key) {}
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::~Signer() = default;

void Signer::FreeKey::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

// Errors never quote the text: it is a secret.
absl::StatusOr<Signer> ParseSignerKey(absl::string_view text) {
  constexpr absl::string_view kWhat = "signer key";
  if (!absl::ConsumePrefix(&text, kPrivatePrefix)) {
    return Malformed(kWhat, "does not start with PRIVATE+KEY+");
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('+', 2));
  if (parts.size() != 3) return Malformed(kWhat, "not PRIVATE+KEY+<name>+<key id>+<key>");
  if (!IsValidName(parts[0])) return Malformed(kWhat, "the name is empty or has a space or '+'");
  VerifierKey verifier;
  verifier.name = std::string(parts[0]);
  LEERLUS_ASSIGN_OR_RETURN(verifier.key_id, ParseKeyIdHex(parts[1], kWhat));
  Secret seed;
  LEERLUS_RETURN_IF_ERROR(DecodeKeyBytes(parts[2], &seed.bytes, kWhat));
  LEERLUS_ASSIGN_OR_RETURN(PKey key, PrivateKeyFromSeed(seed.bytes, &verifier.public_key));
  if (verifier.key_id != Ed25519KeyId(verifier.name, verifier.public_key)) {
    return Malformed(kWhat, "the key id does not match the name and key");
  }
  return Signer(std::move(verifier), key.release());
}

absl::StatusOr<std::pair<std::string, std::string>> GenerateKey(absl::string_view name) {
  if (!IsValidName(name)) {
    return Malformed("key name", "empty or has a space, a control character or '+'");
  }
  VerifierKey verifier;
  verifier.name = std::string(name);
  Secret seed{RandomBytes(kEd25519Bytes)};
  LEERLUS_ASSIGN_OR_RETURN(PKey key, PrivateKeyFromSeed(seed.bytes, &verifier.public_key));
  verifier.key_id = Ed25519KeyId(name, verifier.public_key);
  std::string private_text = absl::StrCat(kPrivatePrefix, name, "+", KeyIdHex(verifier.key_id), "+",
                                          EncodeKeyBytes(seed.bytes));
  return std::make_pair(std::move(private_text), FormatVerifierKey(verifier));
}

absl::StatusOr<std::string> Signer::Sign(absl::string_view text) const {
  constexpr absl::string_view kWhat = "note text";
  if (text.empty() || text.back() != '\n') return Malformed(kWhat, "does not end in a newline");
  LEERLUS_RETURN_IF_ERROR(CheckNoteChars(text, kWhat));
  std::string signature(4 + kEd25519SignatureBytes, '\0');
  for (int i = 0; i < 4; ++i) signature[i] = static_cast<char>(key_id() >> (24 - 8 * i));
  size_t length = kEd25519SignatureBytes;
  MdContext context(EVP_MD_CTX_new());
  if (context == nullptr ||
      EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()) + 4, &length,
                     Bytes(text), text.size()) != 1 ||
      length != kEd25519SignatureBytes) {
    return absl::InternalError("note: OpenSSL failed to make an Ed25519 signature");
  }
  std::string signed_note =
      absl::StrCat(text, "\n", kEmDashSpace, name(), " ", absl::Base64Escape(signature), "\n");
  if (signed_note.size() > kMaxNoteBytes) {
    return Malformed(kWhat, absl::StrCat("signed, larger than ", kMaxNoteBytes, " bytes"));
  }
  return signed_note;
}

namespace {

struct SignatureLine {
  absl::string_view name;
  uint32_t key_id = 0;
  std::string signature;  // Without the key id.
};

absl::StatusOr<SignatureLine> ParseSignatureLine(absl::string_view line, size_t number) {
  const std::string what = absl::StrCat("signed note: signature line ", number);
  if (!absl::ConsumePrefix(&line, kEmDashSpace)) {
    return Malformed(what, "does not start with an em dash (U+2014) and a space");
  }
  const size_t space = line.find(' ');
  if (space == line.npos) return Malformed(what, "has no space between key name and signature");
  SignatureLine parsed;
  parsed.name = line.substr(0, space);
  if (!IsValidName(parsed.name))
    return Malformed(what, "the key name is empty or has a space or '+'");
  if (!DecodeBase64(line.substr(space + 1), &parsed.signature)) {
    return Malformed(what, "the signature is not canonical base64");
  }
  if (parsed.signature.size() < 5) return Malformed(what, "the signature is too short");
  for (int i = 0; i < 4; ++i) {
    parsed.key_id = (parsed.key_id << 8) | static_cast<unsigned char>(parsed.signature[i]);
  }
  parsed.signature.erase(0, 4);
  return parsed;
}

// The trusted key with this name and id; nullptr if none. Two trusted keys
// sharing both would take a ground 32-bit collision; the first is checked,
// so the other's signatures fail to verify: the note is refused, not trusted.
const VerifierKey* FindKey(absl::Span<const VerifierKey> keys, absl::string_view name,
                           uint32_t key_id) {
  for (const VerifierKey& key : keys) {
    if (key.name == name && key.key_id == key_id) return &key;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::string> Open(absl::string_view signed_note,
                                 absl::Span<const VerifierKey> keys) {
  constexpr absl::string_view kWhat = "signed note";
  if (signed_note.size() > kMaxNoteBytes) {
    return Malformed(kWhat, absl::StrCat("larger than ", kMaxNoteBytes, " bytes"));
  }
  LEERLUS_RETURN_IF_ERROR(CheckNoteChars(signed_note, kWhat));
  const size_t split = signed_note.rfind("\n\n");
  if (split == signed_note.npos) return Malformed(kWhat, "no blank line before the signatures");
  const absl::string_view text = signed_note.substr(0, split + 1);
  absl::string_view signatures = signed_note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') {
    return Malformed(kWhat, "the signature lines are missing or do not end in a newline");
  }
  signatures.remove_suffix(1);
  const std::vector<absl::string_view> lines = absl::StrSplit(signatures, '\n');
  if (lines.size() > kMaxSignatures) {
    return Malformed(kWhat, absl::StrCat("more than ", kMaxSignatures, " signatures"));
  }
  for (const VerifierKey& key : keys) {
    if (key.key_id != Ed25519KeyId(key.name, key.public_key)) {
      return Malformed("trusted keys", absl::StrCat(key.name, "'s key id does not match its key"));
    }
  }
  bool verified = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    LEERLUS_ASSIGN_OR_RETURN(const SignatureLine line, ParseSignatureLine(lines[i], i + 1));
    const VerifierKey* key = FindKey(keys, line.name, line.key_id);
    if (key == nullptr) continue;  // Another party's key: the spec says to ignore it.
    if (!VerifyEd25519(*key, text, line.signature)) {
      return Malformed(kWhat, absl::StrCat("the signature by ", key->name, "+",
                                           KeyIdHex(key->key_id), " does not verify"));
    }
    verified = true;
  }
  if (!verified) return absl::NotFoundError("signed note: no signature by a trusted key");
  return std::string(text);
}

namespace {

absl::StatusOr<uint64_t> ParseTreeSize(absl::string_view line) {
  constexpr absl::string_view kWhat = "checkpoint";
  uint64_t size = 0;
  if (line.empty() || line.find_first_not_of("0123456789") != line.npos) {
    return Malformed(kWhat, "line 2 (tree size) is not a decimal number");
  }
  if (line.size() > 1 && line[0] == '0') {
    return Malformed(kWhat, "line 2 (tree size) has a leading zero");
  }
  if (!absl::SimpleAtoi(line, &size)) {
    return Malformed(kWhat, "line 2 (tree size) is larger than 2^64 - 1");
  }
  return size;
}

}  // namespace

absl::StatusOr<Checkpoint> ParseCheckpointText(absl::string_view text) {
  constexpr absl::string_view kWhat = "checkpoint";
  LEERLUS_RETURN_IF_ERROR(CheckNoteChars(text, kWhat));
  if (text.empty() || text.back() != '\n') return Malformed(kWhat, "does not end in a newline");
  text.remove_suffix(1);
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) return Malformed(kWhat, "fewer than 3 lines");
  Checkpoint checkpoint;
  if (lines[0].empty()) return Malformed(kWhat, "line 1 (origin) is empty");
  checkpoint.origin = std::string(lines[0]);
  LEERLUS_ASSIGN_OR_RETURN(checkpoint.size, ParseTreeSize(lines[1]));
  std::string root;
  if (!DecodeBase64(lines[2], &root) || root.size() != checkpoint.root_hash.size()) {
    return Malformed(kWhat, "line 3 (root hash) is not the canonical base64 of 32 bytes");
  }
  std::memcpy(checkpoint.root_hash.data(), root.data(), root.size());
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Malformed(kWhat, absl::StrCat("line ", i + 1, " is empty"));
    checkpoint.extensions.emplace_back(lines[i]);
  }
  return checkpoint;
}

absl::StatusOr<std::string> FormatCheckpointText(const Checkpoint& checkpoint) {
  const absl::string_view root(reinterpret_cast<const char*>(checkpoint.root_hash.data()),
                               checkpoint.root_hash.size());
  std::string text =
      absl::StrCat(checkpoint.origin, "\n", checkpoint.size, "\n", absl::Base64Escape(root), "\n");
  bool broken = checkpoint.origin.find('\n') != std::string::npos;
  for (const std::string& extension : checkpoint.extensions) {
    broken = broken || extension.find('\n') != std::string::npos;
    absl::StrAppend(&text, extension, "\n");
  }
  if (broken) return Malformed("checkpoint", "the origin or an extension holds a line break");
  // The parser holds the rules (an empty line, a control character).
  LEERLUS_RETURN_IF_ERROR(ParseCheckpointText(text).status());
  return text;
}

absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view signed_note, const VerifierKey& key) {
  LEERLUS_ASSIGN_OR_RETURN(const std::string text, Open(signed_note, {key}));
  LEERLUS_ASSIGN_OR_RETURN(Checkpoint checkpoint, ParseCheckpointText(text));
  if (checkpoint.origin != key.name) {
    return Malformed("checkpoint", absl::StrCat("the origin '", checkpoint.origin,
                                                "' is not the key's name '", key.name, "'"));
  }
  return checkpoint;
}

namespace {

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

absl::Status FileError(const std::string& path, absl::string_view doing) {
  return absl::ErrnoToStatus(errno, absl::StrCat("key file ", path, ": cannot ", doing));
}

uint32_t LittleEndian(const unsigned char* bytes, int size) {
  uint32_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// Who besides its owner may read the open file `fd`: with a POSIX access
// ACL its entries (the mask applied), else its group.
absl::StatusOr<KeyFileReaders> ReadersOf(int fd, const struct stat& info, const std::string& path) {
  KeyFileReaders readers;
  readers.mode = info.st_mode & 07777;
  readers.owner = info.st_uid;
  std::array<unsigned char, 1024> acl;
  const ssize_t size = ::fgetxattr(fd, "system.posix_acl_access", acl.data(), acl.size());
  if (size < 0) {
    if (errno != ENODATA && errno != ENOTSUP) return FileError(path, "read its ACL");
    if ((info.st_mode & 040) != 0) readers.groups.push_back(info.st_gid);
    return readers;
  }
  // Linux's form of it (linux/posix_acl_xattr.h): version 2, then entries
  // of a 2-byte tag, 2-byte permissions and 4-byte id, little-endian.
  constexpr uint32_t kUserObject = 0x01, kUser = 0x02, kGroupObject = 0x04, kGroup = 0x08,
                     kMask = 0x10, kOther = 0x20;
  constexpr uint32_t kRead = 4;
  if (size < 4 || (size - 4) % 8 != 0 || LittleEndian(acl.data(), 4) != 2) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, ": its ACL is not in a form this server knows"));
  }
  uint32_t mask = 7;
  for (ssize_t at = 4; at < size; at += 8) {
    if (LittleEndian(&acl[at], 2) == kMask) mask = LittleEndian(&acl[at + 2], 2);
  }
  for (ssize_t at = 4; at < size; at += 8) {
    const uint32_t tag = LittleEndian(&acl[at], 2);
    if (tag != kUserObject && tag != kUser && tag != kGroupObject && tag != kGroup &&
        tag != kMask && tag != kOther) {
      return absl::FailedPreconditionError(
          absl::StrCat("key file ", path, ": its ACL has an entry this server does not know"));
    }
    if ((LittleEndian(&acl[at + 2], 2) & mask & kRead) == 0) continue;
    const uint32_t id = LittleEndian(&acl[at + 4], 4);
    if (tag == kUser) readers.users.push_back(id);
    if (tag == kGroup) readers.groups.push_back(id);
    if (tag == kGroupObject) readers.groups.push_back(info.st_gid);
  }
  return readers;
}

// The effective group only: a supplementary group (adm, say) is shared
// with others, and its members would all read the key.
std::vector<uint32_t> ProcessGroups() { return {::getegid()}; }

}  // namespace

absl::Status CheckKeyFileReaders(const std::string& path, const KeyFileReaders& readers,
                                 uint32_t uid, absl::Span<const uint32_t> groups) {
  const uint32_t mode = readers.mode;
  auto refused = [&](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " is open to group or others (mode ", (mode >> 6) & 7,
                     (mode >> 3) & 7, mode & 7, "): chmod 600 ", path, why));
  };
  // Others may not read it, and nobody but its owner change it: whoever
  // replaces the key signs with theirs.
  if ((mode & 007) != 0 || (mode & 030) != 0) return refused("");
  if ((mode & 040) == 0) return absl::OkStatus();
  const bool ours =
      std::all_of(readers.users.begin(), readers.users.end(),
                  [uid](uint32_t user) { return user == uid; }) &&
      std::all_of(readers.groups.begin(), readers.groups.end(), [groups](uint32_t group) {
        return std::find(groups.begin(), groups.end(), group) != groups.end();
      });
  // Read access beyond a root-owned file's owner is how a non-root process
  // is handed a secret; a key of the process's own has no need of it.
  if (readers.owner != 0 || uid == 0 || !ours) {
    return refused(
        " (read access besides the owner is accepted only on a root-owned file, for this "
        "process's own user or groups)");
  }
  return absl::OkStatus();
}

// Follows a symbolic link on purpose (mounted secrets are links): the mode
// checked is that of the file read, through the same descriptor.
absl::StatusOr<Signer> ReadSignerKeyFile(const std::string& path) {
  const FileCloser file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return FileError(path, "open it");
  struct stat info;
  if (::fstat(file.fd, &info) != 0) return FileError(path, "stat it");
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("key file ", path, " is not a file"));
  }
  LEERLUS_ASSIGN_OR_RETURN(const KeyFileReaders readers, ReadersOf(file.fd, info, path));
  LEERLUS_RETURN_IF_ERROR(CheckKeyFileReaders(path, readers, ::geteuid(), ProcessGroups()));
  Secret contents{std::string(kMaxKeyFileBytes + 1, '\0')};
  size_t filled = 0;
  while (filled < contents.bytes.size()) {
    const ssize_t got =
        ::read(file.fd, contents.bytes.data() + filled, contents.bytes.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return FileError(path, "read it");
    if (got == 0) break;
    filled += static_cast<size_t>(got);
  }
  if (filled > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path, " is too large for a key"));
  }
  absl::string_view text(contents.bytes.data(), filled);
  absl::ConsumeSuffix(&text, "\n");
  absl::StatusOr<Signer> signer = ParseSignerKey(text);
  if (!signer.ok()) {
    return absl::Status(signer.status().code(),
                        absl::StrCat("key file ", path, ": ", signer.status().message()));
  }
  return signer;
}

absl::Status WriteNewKeyFile(const std::string& path, absl::string_view private_key_text) {
  LEERLUS_RETURN_IF_ERROR(ParseSignerKey(private_key_text).status());
  const FileCloser file{
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (file.fd < 0 && errno == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat("key file ", path, " exists already; a key is never overwritten"));
  }
  if (file.fd < 0) return FileError(path, "create it");
  Secret line{absl::StrCat(private_key_text, "\n")};
  // 0600 whatever the umask; a partial key is removed so a retry can create it.
  bool written = ::fchmod(file.fd, 0600) == 0;
  for (size_t done = 0; written && done < line.bytes.size();) {
    const ssize_t put = ::write(file.fd, line.bytes.data() + done, line.bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    written = put > 0;
    done += written ? static_cast<size_t>(put) : 0;
  }
  if (!written || ::fsync(file.fd) != 0) {
    const absl::Status error = FileError(path, "write it");
    ::unlink(path.c_str());
    return error;
  }
  return absl::OkStatus();
}

}  // namespace leerlus::note
