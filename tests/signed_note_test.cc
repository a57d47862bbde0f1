// Signed notes and checkpoints: the published vectors of the C2SP specs
// and of Go's golang.org/x/mod/sumdb/note, then every way a note, a key or
// a checkpoint can be wrong.
#include "common/signed_note.h"

#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace leerlus::note {
namespace {

using ::testing::HasSubstr;

#define EM "\xE2\x80\x94"  // U+2014, the em dash that starts a signature line.

// The vectors stay whole, as published, to be compared with their sources.
// clang-format off
// c2sp.org/signed-note, "Example".
constexpr char kSpecVkey[] = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr char kSpecNote[] = "This is an example message.\n"
    "\n"
    EM " example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// golang.org/x/mod/sumdb/note, note_test.go (TestSign, TestOpen).
constexpr char kGoSkey[] = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr char kGoVkey[] = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr char kEnochVkey[] = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr char kGoText[] = "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr char kPeterSig[] =
    EM " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
constexpr char kEnochSig[] =
    EM " EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// A checkpoint of sum.golang.org (from transparency-dev/trillian-tessera's
// tests) and that log's key (golang/mod, gosumcheck/main.go): a real note
// whose origin is not its key's name.
constexpr char kSumdbVkey[] = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
constexpr char kSumdbNote[] = "go.sum database tree\n"
    "31700353\n"
    "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n"
    "\n"
    EM " sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n";
// clang-format on

// c2sp.org/tlog-checkpoint, the example's note text.
constexpr char kSpecCheckpoint[] =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

VerifierKey Vkey(const std::string& text) {
  absl::StatusOr<VerifierKey> key = ParseVerifierKey(text);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : VerifierKey{};
}

// A fresh signer named `name`.
Signer NewSigner(const std::string& name) {
  absl::StatusOr<std::pair<std::string, std::string>> keys = GenerateKey(name);
  EXPECT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<Signer> signer = ParseSignerKey(keys->first);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return std::move(signer).value();
}

// Asserts `result` failed with `code` and a message holding `fragment`.
template <typename T>
void ExpectError(const absl::StatusOr<T>& result, absl::StatusCode code,
                 const std::string& fragment) {
  ASSERT_FALSE(result.ok()) << "expected an error holding: " << fragment;
  EXPECT_EQ(result.status().code(), code) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(fragment));
}
template <typename T>
void ExpectInvalid(const absl::StatusOr<T>& result, const std::string& fragment) {
  ExpectError(result, absl::StatusCode::kInvalidArgument, fragment);
}

// The signature line of `signer` over `text`.
std::string SignatureLine(const Signer& signer, const std::string& text) {
  absl::StatusOr<std::string> signed_note = signer.Sign(text);
  EXPECT_TRUE(signed_note.ok()) << signed_note.status();
  return signed_note->substr(text.size() + 1);
}

TEST(SignedNoteTest, TheSpecExampleVerifiesAndItsKeyIdIsTheHashOfNameAndKey) {
  const VerifierKey key = Vkey(kSpecVkey);
  EXPECT_EQ(key.name, "example.com/foo");
  EXPECT_EQ(key.key_id, 0x530d903au);
  EXPECT_EQ(Ed25519KeyId(key.name, key.public_key), 0x530d903au);
  EXPECT_EQ(FormatVerifierKey(key), kSpecVkey);
  absl::StatusOr<std::string> text = Open(kSpecNote, {key});
  ASSERT_OK(text);
  EXPECT_EQ(*text, "This is an example message.\n");
}

TEST(SignedNoteTest, TheGoReferenceKeySignsTheGoReferenceNoteByteForByte) {
  absl::StatusOr<Signer> signer = ParseSignerKey(kGoSkey);
  ASSERT_OK(signer);
  EXPECT_EQ(signer->name(), "PeterNeumann");
  EXPECT_EQ(signer->key_id(), 0xc74f20a3u);
  EXPECT_EQ(FormatVerifierKey(signer->verifier()), kGoVkey);
  // Ed25519 is deterministic: the same key and text give the same note.
  absl::StatusOr<std::string> signed_note = signer->Sign(kGoText);
  ASSERT_OK(signed_note);
  EXPECT_EQ(*signed_note, absl::StrCat(kGoText, "\n", kPeterSig));
}

TEST(SignedNoteTest, EachTrustedKeyOfADoublySignedNoteSufficesAndNoneIsRejected) {
  const std::string doubly = absl::StrCat(kGoText, "\n", kPeterSig, kEnochSig);
  const VerifierKey peter = Vkey(kGoVkey);
  const VerifierKey enoch = Vkey(kEnochVkey);
  for (const std::vector<VerifierKey>& keys :
       {std::vector<VerifierKey>{peter}, {enoch}, {peter, enoch}}) {
    absl::StatusOr<std::string> text = Open(doubly, keys);
    ASSERT_OK(text);
    EXPECT_EQ(*text, kGoText);
  }
  ExpectError(Open(doubly, {}), absl::StatusCode::kNotFound, "no signature by a trusted key");
}

TEST(SignedNoteTest, ATrustedKeyWhoseIdIsNotItsOwnIsRefused) {
  VerifierKey peter = Vkey(kGoVkey);
  peter.public_key[0] ^= 1;  // The id no longer belongs to the key.
  ExpectInvalid(Open(absl::StrCat(kGoText, "\n", kPeterSig), {peter}),
                "trusted keys: PeterNeumann's key id does not match its key");
}

TEST(SignedNoteTest, ARealSumdbCheckpointVerifiesButItsOriginIsNotItsKeyName) {
  const VerifierKey key = Vkey(kSumdbVkey);
  absl::StatusOr<std::string> text = Open(kSumdbNote, {key});
  ASSERT_OK(text);
  absl::StatusOr<Checkpoint> checkpoint = ParseCheckpointText(*text);
  ASSERT_OK(checkpoint);
  EXPECT_EQ(checkpoint->origin, "go.sum database tree");
  EXPECT_EQ(checkpoint->size, 31700353u);
  ExpectInvalid(OpenCheckpoint(kSumdbNote, key),
                "origin 'go.sum database tree' is not the key's name 'sum.golang.org'");
}

TEST(SignedNoteTest, AGeneratedKeyRoundTripsThroughItsTexts) {
  absl::StatusOr<std::pair<std::string, std::string>> keys = GenerateKey("leerlus.example/log");
  ASSERT_OK(keys);
  EXPECT_THAT(keys->first, ::testing::StartsWith("PRIVATE+KEY+leerlus.example/log+"));
  absl::StatusOr<Signer> signer = ParseSignerKey(keys->first);
  ASSERT_OK(signer);
  EXPECT_EQ(FormatVerifierKey(signer->verifier()), keys->second);
  const VerifierKey vkey = Vkey(keys->second);
  const std::string text = "line one\n\nline three after an empty line\n";
  absl::StatusOr<std::string> signed_note = signer->Sign(text);
  ASSERT_OK(signed_note);
  absl::StatusOr<std::string> opened = Open(*signed_note, {vkey});
  ASSERT_OK(opened);
  EXPECT_EQ(*opened, text);
  EXPECT_NE(GenerateKey("leerlus.example/log")->second, keys->second);
  ExpectInvalid(GenerateKey("has space"), "key name");
  ExpectInvalid(GenerateKey("has+plus"), "key name");
  ExpectInvalid(GenerateKey(""), "key name");
}

TEST(SignedNoteTest, ATamperedTextOrSignatureDoesNotVerify) {
  const Signer signer = NewSigner("leerlus.example/log");
  const std::string text = "tree 5\n";
  const std::string signed_note = *signer.Sign(text);
  std::string changed_text = signed_note;
  changed_text[5] = '6';
  ExpectInvalid(Open(changed_text, {signer.verifier()}),
                absl::StrCat("signature by leerlus.example/log+",
                             absl::Hex(signer.key_id(), absl::kZeroPad8), " does not verify"));

  // One bit of the signature itself (after the 4-byte key id) flipped.
  const size_t start = text.size() + 1 + std::string(EM " leerlus.example/log ").size();
  std::string raw;
  ASSERT_TRUE(
      absl::Base64Unescape(signed_note.substr(start, signed_note.size() - start - 1), &raw));
  raw[10] ^= 0x01;
  const std::string changed_signature =
      absl::StrCat(signed_note.substr(0, start), absl::Base64Escape(raw), "\n");
  ExpectInvalid(Open(changed_signature, {signer.verifier()}), "does not verify");
}

TEST(SignedNoteTest, SignaturesByOtherKeysAreIgnoredButDoNotSuffice) {
  const Signer log = NewSigner("leerlus.example/log");
  const Signer other = NewSigner("witness.example");
  const Signer same_name = NewSigner("leerlus.example/log");  // Another key: another id.
  const std::string text = "checkpoint\n";
  const std::string signed_note = *log.Sign(text);

  ExpectError(Open(signed_note, {other.verifier()}), absl::StatusCode::kNotFound,
              "no signature by a trusted key");
  ExpectError(Open(signed_note, {same_name.verifier()}), absl::StatusCode::kNotFound,
              "no signature by a trusted key");

  // An unknown key's signature beside the trusted one, before or after it.
  const std::string witnessed = signed_note + SignatureLine(other, text);
  EXPECT_EQ(Open(witnessed, {log.verifier()}).value_or(""), text);
  const std::string first =
      absl::StrCat(text, "\n", SignatureLine(other, text), SignatureLine(log, text));
  EXPECT_EQ(Open(first, {log.verifier()}).value_or(""), text);

  // The trusted name with another id (a garbage signature): not the key, ignored.
  std::string foreign_id(4 + 64, '\x07');
  const std::string renamed =
      absl::StrCat(signed_note, EM " leerlus.example/log ", absl::Base64Escape(foreign_id), "\n");
  EXPECT_EQ(Open(renamed, {log.verifier()}).value_or(""), text);
  // Also a garbage signature by the trusted id under another name.
  std::string same_id = foreign_id;
  for (int i = 0; i < 4; ++i) same_id[i] = static_cast<char>(log.key_id() >> (24 - 8 * i));
  const std::string other_name =
      absl::StrCat(signed_note, EM " impostor ", absl::Base64Escape(same_id), "\n");
  EXPECT_EQ(Open(other_name, {log.verifier()}).value_or(""), text);
  // But that garbage under the trusted name and id is the trusted key's, and bad.
  const std::string bad_second =
      absl::StrCat(signed_note, EM " leerlus.example/log ", absl::Base64Escape(same_id), "\n");
  ExpectInvalid(Open(bad_second, {log.verifier()}), "does not verify");
}

TEST(SignedNoteTest, MalformedNotesAreRefusedWithTheReason) {
  const VerifierKey peter = Vkey(kGoVkey);
  const std::string text = kGoText;
  const std::string sig = kPeterSig;
  const std::string sig_body = sig.substr(std::string(EM " PeterNeumann ").size());
  ASSERT_OK(Open(text + "\n" + sig, {peter}));  // The control for all below.
  ExpectInvalid(Open(text + sig, {peter}), "no blank line");
  ExpectInvalid(Open(text + "\n", {peter}), "signature lines are missing");
  ExpectInvalid(Open(text + "\n" + sig.substr(0, sig.size() - 1), {peter}), "do not end");
  ExpectInvalid(Open("\x01" + text + "\n" + sig, {peter}), "control character");
  ExpectInvalid(Open("a\r\n" + text + "\n" + sig, {peter}), "control character");
  ExpectInvalid(Open("a\tb\n\n" + sig, {peter}), "control character");
  ExpectInvalid(Open("\xff" + text + "\n" + sig, {peter}), "not valid UTF-8");
  ExpectInvalid(Open(text + "\n- PeterNeumann " + sig_body, {peter}), "em dash");
  ExpectInvalid(Open(text + "\n" EM "PeterNeumann " + sig_body, {peter}), "em dash");
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann\n", {peter}), "no space");
  ExpectInvalid(Open(text + "\n" EM " Peter+Neumann " + sig_body, {peter}), "key name");
  ExpectInvalid(Open(text + "\n" EM "  " + sig_body, {peter}), "key name");
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann !!!!\n", {peter}), "base64");
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann AAAAAA==\n", {peter}), "too short");
  // Base64 in any but its canonical form: no padding, a space, stray low bits.
  const std::string unpadded = sig_body.substr(0, sig_body.size() - 2) + "\n";
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann " + unpadded, {peter}), "base64");
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann  " + sig_body, {peter}), "base64");
  ExpectInvalid(Open(text + "\n" EM " PeterNeumann AAAAAAF=\n", {peter}), "base64");
  ExpectInvalid(Open(text + "\n" + sig + "Unexpected line.\n", {peter}), "signature line 2");
}

TEST(SignedNoteTest, SixteenSignaturesAreAcceptedAndTooManyOrTooLargeAreNot) {
  const VerifierKey peter = Vkey(kGoVkey);
  std::string others;
  for (int i = 0; i < 15; ++i) others += kEnochSig;
  EXPECT_OK(Open(absl::StrCat(kGoText, "\n", others, kPeterSig), {peter}));

  std::string too_many;
  for (size_t i = 0; i < kMaxSignatures; ++i) too_many += kEnochSig;
  ExpectInvalid(Open(absl::StrCat(kGoText, "\n", too_many, kPeterSig), {peter}),
                absl::StrCat("more than ", kMaxSignatures, " signatures"));

  const std::string large_text(kMaxNoteBytes, 'a');
  ExpectInvalid(Open(absl::StrCat(large_text, "\n\n", kPeterSig), {peter}), "larger than");
  ExpectInvalid(ParseSignerKey(kGoSkey)->Sign(large_text + "\n"), "larger than");
}

TEST(SignedNoteTest, SigningRefusesWhatCouldNotBeOpened) {
  const Signer signer = NewSigner("leerlus.example/log");
  ExpectInvalid(signer.Sign("no final newline"), "does not end in a newline");
  ExpectInvalid(signer.Sign(""), "does not end in a newline");
  ExpectInvalid(signer.Sign("tab\there\n"), "control character");
  ExpectInvalid(signer.Sign("bad \xc3\n"), "not valid UTF-8");
}

TEST(SignerKeyTest, MangledVerifierKeysAreRefused) {
  // Go's own: a wrong-length key (also not canonical base64) and an unknown
  // type, each with a fitting id.
  ExpectInvalid(ParseVerifierKey(
                    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
                "verifier key: ");
  ExpectInvalid(ParseVerifierKey("PeterNeumann+c74f20a3+" +
                                 absl::Base64Escape("\x01" + std::string(31, 'k'))),
                "not 32 bytes");
  ExpectInvalid(
      ParseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "not of type Ed25519");
  ExpectInvalid(
      ParseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "key id does not match");
  ExpectInvalid(
      ParseVerifierKey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
      "lower-case hex");
  ExpectInvalid(ParseVerifierKey("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"), "name");
  ExpectInvalid(ParseVerifierKey("PeterNeumann+c74f20a3"), "not <name>+<key id>+<key>");
  // Every change of one byte (Go's TestNewVerifier does the same).
  const std::string vkey = kGoVkey;
  for (size_t i = 0; i < vkey.size(); ++i) {
    std::string changed = vkey;
    ++changed[i];
    EXPECT_FALSE(ParseVerifierKey(changed).ok()) << changed;
  }
}

TEST(SignerKeyTest, EveryPartOfTheSignerKeyIsNeededAndErrorsDoNotQuoteIt) {
  const std::string skey = kGoSkey;
  const std::string secret = skey.substr(skey.rfind('+') + 1);
  for (size_t i = 0; i < skey.size(); ++i) {
    for (size_t j = i + 1; j <= skey.size(); ++j) {
      if (i == 0 && j == skey.size()) continue;
      absl::StatusOr<Signer> signer = ParseSignerKey(skey.substr(i, j - i));
      ASSERT_FALSE(signer.ok()) << skey.substr(i, j - i);
      EXPECT_EQ(std::string(signer.status().message()).find(secret.substr(0, 8)),
                std::string::npos);
    }
  }
  ExpectInvalid(ParseSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a4+"
                               "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"),
                "key id does not match");
  ExpectInvalid(ParseSignerKey(kGoVkey), "PRIVATE+KEY+");
}

TEST(CheckpointTest, TheSpecExampleParsesAndFormatsBackExactly) {
  absl::StatusOr<Checkpoint> checkpoint = ParseCheckpointText(kSpecCheckpoint);
  ASSERT_OK(checkpoint);
  EXPECT_EQ(checkpoint->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(checkpoint->size, 20852163u);
  std::string root;
  ASSERT_TRUE(absl::Base64Unescape("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", &root));
  EXPECT_EQ(std::string(checkpoint->root_hash.begin(), checkpoint->root_hash.end()), root);
  EXPECT_TRUE(checkpoint->extensions.empty());
  EXPECT_EQ(FormatCheckpointText(*checkpoint).value_or(""), kSpecCheckpoint);
}

TEST(CheckpointTest, TreeSizesAreCanonicalDecimals) {
  const std::string root = "\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  EXPECT_EQ(ParseCheckpointText("log\n0" + root)->size, 0u);
  EXPECT_EQ(ParseCheckpointText("log\n18446744073709551615" + root)->size, UINT64_MAX);
  ExpectInvalid(ParseCheckpointText("log\n00" + root), "line 2 (tree size) has a leading zero");
  ExpectInvalid(ParseCheckpointText("log\n012" + root), "leading zero");
  ExpectInvalid(ParseCheckpointText("log\n18446744073709551616" + root), "larger than");
  for (const char* size : {"", "-1", "+5", " 5", "5 ", "0x10", "1e3"}) {
    ExpectInvalid(ParseCheckpointText(absl::StrCat("log\n", size, root)), "not a decimal number");
  }
}

TEST(CheckpointTest, MalformedCheckpointTextsAreRefusedWithTheReason) {
  const std::string b64_31(absl::Base64Escape(std::string(31, 'x')));
  const std::string b64_33(absl::Base64Escape(std::string(33, 'x')));
  const std::string b64_32(absl::Base64Escape(std::string(32, 'x')));
  ASSERT_OK(ParseCheckpointText("log\n1\n" + b64_32 + "\n"));  // The control.
  ExpectInvalid(ParseCheckpointText("\n1\n" + b64_32 + "\n"), "line 1 (origin) is empty");
  ExpectInvalid(ParseCheckpointText("log\n1\n" + b64_31 + "\n"), "line 3 (root hash)");
  ExpectInvalid(ParseCheckpointText("log\n1\n" + b64_33 + "\n"), "line 3 (root hash)");
  ExpectInvalid(ParseCheckpointText("log\n1\n" + b64_32.substr(0, 43) + "\n"), "line 3");
  ExpectInvalid(ParseCheckpointText("log\n1\n"), "fewer than 3 lines");
  ExpectInvalid(ParseCheckpointText("log\n1\n" + b64_32), "does not end in a newline");
  ExpectInvalid(ParseCheckpointText("log\n1\n" + b64_32 + "\next\n\n"), "line 5 is empty");
  ExpectInvalid(ParseCheckpointText("log\x7f\x01\n1\n" + b64_32 + "\n"), "control character");
}

TEST(CheckpointTest, ExtensionLinesAreKeptInOrder) {
  Checkpoint checkpoint;
  checkpoint.origin = "leerlus.example/log";
  checkpoint.size = 7;
  checkpoint.root_hash.fill(0xab);
  checkpoint.extensions = {"first extension", "second"};
  absl::StatusOr<std::string> text = FormatCheckpointText(checkpoint);
  ASSERT_OK(text);
  EXPECT_EQ(*text, "leerlus.example/log\n7\n" + absl::Base64Escape(std::string(32, '\xab')) +
                       "\nfirst extension\nsecond\n");
  absl::StatusOr<Checkpoint> parsed = ParseCheckpointText(*text);
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->extensions, checkpoint.extensions);
  EXPECT_EQ(parsed->root_hash, checkpoint.root_hash);
}

TEST(CheckpointTest, FormattingRefusesFieldsThatWouldNotParseBack) {
  Checkpoint checkpoint;
  checkpoint.origin = "log\n99";
  ExpectInvalid(FormatCheckpointText(checkpoint), "line break");
  checkpoint.origin = "";
  ExpectInvalid(FormatCheckpointText(checkpoint), "origin) is empty");
  checkpoint.origin = "log";
  checkpoint.extensions = {""};
  ExpectInvalid(FormatCheckpointText(checkpoint), "line 4 is empty");
  checkpoint.extensions = {"a\nb"};
  ExpectInvalid(FormatCheckpointText(checkpoint), "line break");
}

TEST(CheckpointTest, OpenCheckpointWantsTheLogsKeyAndItsNameAsOrigin) {
  const Signer log = NewSigner("leerlus.example/log");
  Checkpoint checkpoint{"leerlus.example/log", 3, {}, {}};
  checkpoint.root_hash[0] = 1;
  const std::string signed_note = *log.Sign(*FormatCheckpointText(checkpoint));
  absl::StatusOr<Checkpoint> opened = OpenCheckpoint(signed_note, log.verifier());
  ASSERT_OK(opened);
  EXPECT_EQ(opened->size, 3u);
  EXPECT_EQ(opened->root_hash, checkpoint.root_hash);

  ExpectError(OpenCheckpoint(signed_note, NewSigner("leerlus.example/log").verifier()),
              absl::StatusCode::kNotFound, "no signature by a trusted key");
  checkpoint.origin = "leerlus.example/other";
  const std::string misnamed = *log.Sign(*FormatCheckpointText(checkpoint));
  ASSERT_OK(Open(misnamed, {log.verifier()}));
  ExpectInvalid(OpenCheckpoint(misnamed, log.verifier()),
                "origin 'leerlus.example/other' is not the key's name");
}

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 0777;
}

TEST(KeyFileTest, ANewKeyFileIsOwnerOnlyAndNeverOverwritten) {
  testing::TempDir dir;
  const std::string path = dir.File("log.key");
  const mode_t old_mask = ::umask(0);  // Whatever the umask, the key is 0600.
  const absl::Status written = WriteNewKeyFile(path, kGoSkey);
  ::umask(old_mask);
  ASSERT_OK(written);
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(testing::ReadFile(path), std::string(kGoSkey) + "\n");
  absl::StatusOr<Signer> signer = ReadSignerKeyFile(path);
  ASSERT_OK(signer);
  EXPECT_EQ(FormatVerifierKey(signer->verifier()), kGoVkey);

  const absl::Status again = WriteNewKeyFile(path, GenerateKey("other")->first);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(testing::ReadFile(path), std::string(kGoSkey) + "\n");

  const absl::Status garbage = WriteNewKeyFile(dir.File("garbage.key"), "not a key");
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument) << garbage;
  struct stat info {};
  EXPECT_NE(::stat(dir.File("garbage.key").c_str(), &info), 0);
}

TEST(KeyFileTest, AKeyFileOthersCanReadIsRefused) {
  testing::TempDir dir;
  const std::string path = dir.File("log.key");
  ASSERT_OK(WriteNewKeyFile(path, kGoSkey));
  for (const mode_t mode : {0644, 0640, 0604, 0620}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<Signer> signer = ReadSignerKeyFile(path);
    ExpectError(signer, absl::StatusCode::kFailedPrecondition, "chmod 600 " + path);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_OK(ReadSignerKeyFile(path));

  ExpectError(ReadSignerKeyFile(dir.File("missing.key")), absl::StatusCode::kNotFound,
              dir.File("missing.key"));
  ::chmod(dir.path().c_str(), 0700);
  ExpectError(ReadSignerKeyFile(dir.path()), absl::StatusCode::kFailedPrecondition,
              "is not a file");
  const std::string broken = dir.File("broken.key");
  testing::WriteFile(broken, "PRIVATE+KEY+x+00000000+AAAA\n");
  ASSERT_EQ(::chmod(broken.c_str(), 0600), 0);
  ExpectInvalid(ReadSignerKeyFile(broken), "key file " + broken + ": signer key");
}

TEST(VerifierKeyArgumentTest, TakesTheKeysTextOrAFileHoldingIt) {
  absl::StatusOr<VerifierKey> from_text = ReadVerifierKeyArgument(kGoVkey);
  ASSERT_OK(from_text);
  EXPECT_EQ(FormatVerifierKey(*from_text), kGoVkey);

  testing::TempDir dir;
  testing::WriteFile(dir.File("log.vkey"), absl::StrCat("\n ", kGoVkey, " \n\n"));
  absl::StatusOr<VerifierKey> from_file = ReadVerifierKeyArgument(dir.File("log.vkey"));
  ASSERT_OK(from_file);
  EXPECT_EQ(FormatVerifierKey(*from_file), kGoVkey);

  ExpectInvalid(ReadVerifierKeyArgument("not-a-key"), "verifier key: not <name>+<key id>+<key>");
  testing::WriteFile(dir.File("wrong.vkey"), kGoSkey);
  ExpectInvalid(ReadVerifierKeyArgument(dir.File("wrong.vkey")), "verifier key");
  // A path that is no file is taken as the key's text, and is no key.
  ExpectInvalid(ReadVerifierKeyArgument(dir.File("missing.vkey")), "verifier key");
}

// The facts of a key file and the process reading it.
struct Access {
  uint32_t mode;
  uint32_t owner;
  std::vector<uint32_t> users;
  std::vector<uint32_t> groups;
  uint32_t uid;
  std::vector<uint32_t> process_groups;
};

absl::Status Check(const Access& access) {
  return CheckKeyFileReaders("log.key", {access.mode, access.owner, access.users, access.groups},
                             access.uid, access.process_groups);
}

TEST(KeyFileTest, ReadAccessBeyondTheOwnerIsOnlyHowARootOwnedSecretReachesThisProcess) {
  // Kubernetes, fsGroup 10001: root:10001, 0440 whatever defaultMode says.
  const Access kubernetes{0440, 0, {}, {10001}, 10001, {10001}};
  EXPECT_OK(Check(kubernetes));
  // systemd's credential on tmpfs: root, 0400 plus user:61234:r (mask r).
  const Access systemd{0440, 0, {61234}, {}, 61234, {61234}};
  EXPECT_OK(Check(systemd));
  EXPECT_OK(Check({0600, 10001, {}, {}, 10001, {10001}}));
  EXPECT_OK(Check({0400, 0, {}, {}, 0, {0}}));

  const std::vector<Access> refused = {
      {0444, 0, {}, {10001}, 10001, {10001}},        // others read
      {0460, 0, {}, {10001}, 10001, {10001}},        // the group may replace it
      {0450, 0, {}, {10001}, 10001, {10001}},        // or run it
      {0440, 0, {}, {10002}, 10001, {10001}},        // a group not ours
      {0440, 0, {61234, 1000}, {}, 61234, {61234}},  // another user too
      {0440, 0, {}, {0}, 61234, {61234}},            // root's group
      {0640, 10001, {}, {10001}, 10001, {10001}},    // our own key: chmod 600
      {0440, 1000, {}, {10001}, 10001, {10001}},     // another user's key
      {0440, 0, {}, {0}, 0, {0}},                    // root needs no group
  };
  for (const Access& access : refused) {
    const absl::Status status = Check(access);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition)
        << std::oct << access.mode << " " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("chmod 600 log.key"));
  }
}

// Whether a process running as `uid` with `gid` as its only group reads the
// key at `path` (forked: the test runs as root).
bool ReadsAs(const std::string& path, uid_t uid, gid_t gid) {
  const pid_t child = ::fork();
  if (child == 0) {
    const bool became = ::setgroups(1, &gid) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0;
    ::_exit(became && ReadSignerKeyFile(path).ok() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A POSIX access ACL in Linux's xattr form: the owner and `users` read,
// the file's group and others nothing, mask r.
std::string AclLettingRead(const std::vector<uint32_t>& users) {
  std::string acl("\x02\0\0\0", 4);
  auto entry = [&acl](uint16_t tag, uint16_t permissions, uint32_t id) {
    for (int i = 0; i < 2; ++i) acl.push_back(static_cast<char>(tag >> (8 * i)));
    for (int i = 0; i < 2; ++i) acl.push_back(static_cast<char>(permissions >> (8 * i)));
    for (int i = 0; i < 4; ++i) acl.push_back(static_cast<char>(id >> (8 * i)));
  };
  entry(0x01, 4, 0xffffffff);  // the owner
  for (uint32_t user : users) entry(0x02, 4, user);
  entry(0x04, 0, 0xffffffff);  // the file's group
  entry(0x10, 4, 0xffffffff);  // the mask
  entry(0x20, 0, 0xffffffff);  // others
  return acl;
}

TEST(KeyFileTest, ANonRootServerReadsASecretAsKubernetesAndSystemdHandItOver) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to hand a root-owned file to another user";
  testing::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  const std::string path = dir.File("log.key");
  ASSERT_OK(WriteNewKeyFile(path, kGoSkey));

  // Kubernetes under fsGroup 10001.
  ASSERT_EQ(::chown(path.c_str(), 0, 10001), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0440), 0);
  EXPECT_TRUE(ReadsAs(path, 10001, 10001));
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  EXPECT_FALSE(ReadsAs(path, 10001, 10001));

  // systemd on a file system with ACLs.
  ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  auto set_acl = [&path](const std::string& acl) {
    return ::setxattr(path.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) == 0;
  };
  if (!set_acl(AclLettingRead({61234}))) {
    GTEST_SKIP() << "no POSIX ACLs here: " << std::strerror(errno);
  }
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0440u);  // the mask, shown as the group's
  EXPECT_TRUE(ReadsAs(path, 61234, 61234));
  ASSERT_TRUE(set_acl(AclLettingRead({1000, 61234})));
  EXPECT_FALSE(ReadsAs(path, 61234, 61234));
}

}  // namespace
}  // namespace leerlus::note
