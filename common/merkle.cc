#include "common/merkle.h"

#include <openssl/evp.h>

#include <bit>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace leerlus::merkle {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// The largest power of two below n (n >= 2): where RFC 9162 splits a tree.
uint64_t SplitPoint(uint64_t n) { return uint64_t{1} << (63 - std::countl_zero(n - 1)); }

// SHA-256 of the pieces concatenated. One context per thread, reused: the
// log hashes every event it appends, and a fresh context costs more than
// hashing a small event.
template <typename... Pieces>
Hash Sha256Of(const Pieces&... pieces) {
  struct Context {
    EVP_MD_CTX* context = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(context); }
  };
  thread_local Context reused;
  // SHA-256 over memory fails only when out of memory.
  EVP_DigestInit_ex(reused.context, EVP_sha256(), nullptr);
  (EVP_DigestUpdate(reused.context, pieces.data(), pieces.size()), ...);
  Hash out;
  EVP_DigestFinal_ex(reused.context, out.data(), nullptr);
  return out;
}

bool IsPowerOfTwo(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// MTH(D[begin:end]) read from stored perfect subtrees. `begin` is aligned
// to the subtree sizes RFC 9162's recursion gives, so every perfect part is
// one stored node, and at most log2(n) of them are read.
absl::StatusOr<Hash> SubtreeHash(uint64_t begin, uint64_t end, const NodeReader& read) {
  const uint64_t n = end - begin;
  if (IsPowerOfTwo(n)) {
    const int level = std::countr_zero(n);
    return read(level, begin >> level);
  }
  const uint64_t k = SplitPoint(n);
  LEERLUS_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, begin + k, read));
  LEERLUS_ASSIGN_OR_RETURN(Hash right, SubtreeHash(begin + k, end, read));
  return NodeHash(left, right);
}

// PATH(m, D[begin:end]), leaf first.
absl::Status AppendPath(uint64_t m, uint64_t begin, uint64_t end, const NodeReader& read,
                        std::vector<Hash>& proof) {
  const uint64_t n = end - begin;
  if (n == 1) return absl::OkStatus();
  const uint64_t k = SplitPoint(n);
  if (m < k) {
    LEERLUS_RETURN_IF_ERROR(AppendPath(m, begin, begin + k, read, proof));
    LEERLUS_ASSIGN_OR_RETURN(proof.emplace_back(), SubtreeHash(begin + k, end, read));
  } else {
    LEERLUS_RETURN_IF_ERROR(AppendPath(m - k, begin + k, end, read, proof));
    LEERLUS_ASSIGN_OR_RETURN(proof.emplace_back(), SubtreeHash(begin, begin + k, read));
  }
  return absl::OkStatus();
}

// SUBPROOF(m, D[begin:end], whole), deepest first.
absl::Status AppendSubproof(uint64_t m, uint64_t begin, uint64_t end, bool whole,
                            const NodeReader& read, std::vector<Hash>& proof) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!whole) {
      LEERLUS_ASSIGN_OR_RETURN(proof.emplace_back(), SubtreeHash(begin, end, read));
    }
    return absl::OkStatus();
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    LEERLUS_RETURN_IF_ERROR(AppendSubproof(m, begin, begin + k, whole, read, proof));
    LEERLUS_ASSIGN_OR_RETURN(proof.emplace_back(), SubtreeHash(begin + k, end, read));
  } else {
    LEERLUS_RETURN_IF_ERROR(AppendSubproof(m - k, begin + k, end, false, read, proof));
    LEERLUS_ASSIGN_OR_RETURN(proof.emplace_back(), SubtreeHash(begin, begin + k, read));
  }
  return absl::OkStatus();
}

// Right-shifts both until fn's lowest bit is set or fn is 0.
void ShiftPastZeros(uint64_t& fn, uint64_t& sn) {
  while (fn != 0 && (fn & 1) == 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

absl::Status Mismatch(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("the proof does not verify: ", what));
}

}  // namespace

Hash LeafHash(absl::string_view leaf_bytes) {
  return Sha256Of(absl::string_view(reinterpret_cast<const char*>(&kLeafPrefix), 1), leaf_bytes);
}

Hash NodeHash(const Hash& left, const Hash& right) {
  return Sha256Of(absl::string_view(reinterpret_cast<const char*>(&kNodePrefix), 1), AsBytes(left),
                  AsBytes(right));
}

Hash EmptyRoot() { return Sha256Of(); }

std::string ToHex(const Hash& hash) { return absl::BytesToHexString(AsBytes(hash)); }

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes, absl::string_view what) {
  Hash hash;
  if (bytes.size() != hash.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be 32 bytes (a SHA-256 hash); got ", bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

absl::StatusOr<CompactRange> CompactRange::Load(uint64_t size, const NodeReader& read) {
  CompactRange range;
  uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    if ((size >> level & 1) == 0) continue;
    LEERLUS_ASSIGN_OR_RETURN(range.peaks_.emplace_back(), read(level, begin >> level));
    begin += uint64_t{1} << level;
  }
  range.size_ = size;
  return range;
}

void CompactRange::Append(const Hash& leaf_hash, const NodeVisitor& visit) {
  uint64_t index = size_;
  int level = 0;
  Hash hash = leaf_hash;
  visit(level, index, hash);
  // Each set low bit of the index is a left sibling waiting on the edge.
  while ((index & 1) == 1) {
    hash = NodeHash(peaks_.back(), hash);
    peaks_.pop_back();
    index >>= 1;
    ++level;
    visit(level, index, hash);
  }
  peaks_.push_back(hash);
  ++size_;
}

Hash CompactRange::Root() const {
  if (peaks_.empty()) return EmptyRoot();
  Hash root = peaks_.back();
  for (auto peak = peaks_.rbegin() + 1; peak != peaks_.rend(); ++peak) {
    root = NodeHash(*peak, root);
  }
  return root;
}

absl::StatusOr<Hash> RootAt(uint64_t size, const NodeReader& read) {
  if (size == 0) return EmptyRoot();
  return SubtreeHash(0, size, read);
}

absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size,
                                                 const NodeReader& read) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf ", index, " is not in a tree of ", size, " leaves"));
  }
  std::vector<Hash> proof;
  LEERLUS_RETURN_IF_ERROR(AppendPath(index, 0, size, read, proof));
  return proof;
}

absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to,
                                                   const NodeReader& read) {
  if (from == 0 || from > to) {
    return absl::InvalidArgumentError(
        absl::StrCat("no consistency proof from ", from, " to ", to, " leaves"));
  }
  std::vector<Hash> proof;
  LEERLUS_RETURN_IF_ERROR(AppendSubproof(from, 0, to, /*whole=*/true, read, proof));
  return proof;
}

absl::Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) return Mismatch(absl::StrCat("leaf ", index, " is beyond size ", size));
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Mismatch("it is longer than the tree is deep");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) ShiftPastZeros(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Mismatch("it is shorter than the tree is deep");
  if (r != root) return Mismatch("the leaf and path give another root");
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t from, uint64_t to, const Hash& from_root,
                               const Hash& to_root, const std::vector<Hash>& proof) {
  if (from > to) return Mismatch(absl::StrCat("the tree shrank from ", from, " to ", to));
  if (from == to) {
    if (!proof.empty()) return Mismatch("trees of one size need an empty proof");
    if (from_root != to_root) return Mismatch("two different roots for the same size");
    return absl::OkStatus();
  }
  if (from == 0) {
    if (!proof.empty()) return Mismatch("the empty tree needs an empty proof");
    if (from_root != EmptyRoot()) return Mismatch("the empty tree has another root");
    return absl::OkStatus();
  }
  if (proof.empty()) return Mismatch("the proof is empty");
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (IsPowerOfTwo(from)) path.push_back(from_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = from - 1;
  uint64_t sn = to - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path.front();
  Hash sr = path.front();
  for (size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return Mismatch("it is longer than the trees are deep");
    if ((fn & 1) == 1 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if ((fn & 1) == 0) ShiftPastZeros(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Mismatch("it is shorter than the trees are deep");
  if (fr != from_root) return Mismatch("it does not lead to the earlier root");
  if (sr != to_root) return Mismatch("it does not lead to the later root");
  return absl::OkStatus();
}

}  // namespace leerlus::merkle
