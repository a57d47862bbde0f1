// The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1,
// with SHA-256: what the log keeps over its stored events, what the server
// proves and what an auditor checks, all in one place.
//
//   leaf hash = SHA-256(0x00 || leaf bytes)
//   node hash = SHA-256(0x01 || left || right)
//
// Leaves are numbered from 0 (the log's position p is leaf p - 1). A
// "node" (level, index) is the root of the perfect subtree over the leaves
// [index * 2^level, (index + 1) * 2^level): once the tree holds those
// leaves its hash never changes, so a store keeps nodes (or hashes them
// again from their leaves) and answers roots and proofs of any earlier size
// from them.
//
//   merkle::CompactRange range;
//   range.Append(merkle::LeafHash(bytes), [&](int level, uint64_t index, const Hash& h) {
//     store node (level, index) = h;
//   });
//   merkle::Hash root = range.Root();
#ifndef LEERLUS_COMMON_MERKLE_H_
#define LEERLUS_COMMON_MERKLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus::merkle {

using Hash = std::array<uint8_t, 32>;

Hash LeafHash(absl::string_view leaf_bytes);
Hash NodeHash(const Hash& left, const Hash& right);
// The root of the empty tree: SHA-256 of nothing.
Hash EmptyRoot();

std::string ToHex(const Hash& hash);
// The hash of 32 raw bytes; INVALID_ARGUMENT naming `what` otherwise.
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes, absl::string_view what);
inline absl::string_view AsBytes(const Hash& hash) {
  return absl::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// Reads the stored hash of node (level, index).
using NodeReader = std::function<absl::StatusOr<Hash>(int level, uint64_t index)>;

// The tree's right edge: the perfect subtrees that make up the first
// `size()` leaves, largest first. Enough to append (O(log n)) and to give
// the root, and nothing more.
class CompactRange {
 public:
  // Told of every node an append completes (the leaf itself at level 0).
  using NodeVisitor = std::function<void(int level, uint64_t index, const Hash& hash)>;

  CompactRange() = default;
  // The range of a stored tree of `size` leaves.
  static absl::StatusOr<CompactRange> Load(uint64_t size, const NodeReader& read);

  void Append(const Hash& leaf_hash, const NodeVisitor& visit);
  uint64_t size() const { return size_; }
  Hash Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> peaks_;  // one per set bit of size_, the highest first
};

// RFC 9162 2.1.1: the root of the first `size` leaves.
absl::StatusOr<Hash> RootAt(uint64_t size, const NodeReader& read);

// RFC 9162 2.1.3.1: the audit path of leaf `index` in the tree of `size`
// leaves. Needs index < size.
absl::StatusOr<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size,
                                                 const NodeReader& read);

// RFC 9162 2.1.4.1: that the tree of `from` leaves is a prefix of the tree
// of `to` leaves. Needs 0 < from <= to.
absl::StatusOr<std::vector<Hash>> ConsistencyProof(uint64_t from, uint64_t to,
                                                   const NodeReader& read);

// RFC 9162 2.1.3.2: OK if `proof` shows `leaf_hash` is leaf `index` of the
// tree of `size` leaves whose root is `root`; otherwise INVALID_ARGUMENT
// saying why. Uses nothing but its arguments.
absl::Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             const std::vector<Hash>& proof, const Hash& root);

// RFC 9162 2.1.4.2: OK if `proof` shows the tree of `from` leaves with root
// `from_root` is a prefix of the tree of `to` leaves with root `to_root`.
absl::Status VerifyConsistency(uint64_t from, uint64_t to, const Hash& from_root,
                               const Hash& to_root, const std::vector<Hash>& proof);

}  // namespace leerlus::merkle

#endif  // LEERLUS_COMMON_MERKLE_H_
