// The Merkle tree against RFC 9162's definitions: published vectors of the
// Certificate Transparency reference implementation, and a reference
// written here straight from the RFC's recursive definitions over the leaf
// data (MTH, PATH, PROOF in section 2.1), which shares no code with
// common/merkle.cc beyond SHA-256.
#include "common/merkle.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"

namespace leerlus::merkle {
namespace {

std::string Sha256(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// --- The reference, from RFC 9162 2.1.1-2.1.4, over byte strings. ---
using Leaves = std::vector<std::string>;

size_t K(size_t n) {  // the largest power of two smaller than n
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
Leaves Slice(const Leaves& d, size_t begin, size_t end) {
  return Leaves(d.begin() + begin, d.begin() + end);
}
std::string Mth(const Leaves& d) {
  if (d.empty()) return Sha256("");
  if (d.size() == 1) return Sha256(std::string(1, '\0') + d[0]);
  const size_t k = K(d.size());
  return Sha256(std::string(1, '\1') + Mth(Slice(d, 0, k)) + Mth(Slice(d, k, d.size())));
}
std::vector<std::string> Path(size_t m, const Leaves& d) {
  if (d.size() == 1) return {};
  const size_t k = K(d.size());
  std::vector<std::string> path;
  if (m < k) {
    path = Path(m, Slice(d, 0, k));
    path.push_back(Mth(Slice(d, k, d.size())));
  } else {
    path = Path(m - k, Slice(d, k, d.size()));
    path.push_back(Mth(Slice(d, 0, k)));
  }
  return path;
}
std::vector<std::string> Subproof(size_t m, const Leaves& d, bool b) {
  if (m == d.size()) return b ? std::vector<std::string>{} : std::vector<std::string>{Mth(d)};
  const size_t k = K(d.size());
  std::vector<std::string> proof;
  if (m <= k) {
    proof = Subproof(m, Slice(d, 0, k), b);
    proof.push_back(Mth(Slice(d, k, d.size())));
  } else {
    proof = Subproof(m - k, Slice(d, k, d.size()), false);
    proof.push_back(Mth(Slice(d, 0, k)));
  }
  return proof;
}

// --- Helpers. ---
Hash FromHex(const std::string& hex) {
  return *HashFromBytes(absl::HexStringToBytes(hex), "test vector");
}
std::vector<Hash> FromHex(const std::vector<std::string>& hexes) {
  std::vector<Hash> out;
  for (const std::string& hex : hexes) out.push_back(FromHex(hex));
  return out;
}
Hash FromBytes(const std::string& bytes) { return *HashFromBytes(bytes, "reference"); }
std::vector<Hash> FromBytes(const std::vector<std::string>& all) {
  std::vector<Hash> out;
  for (const std::string& bytes : all) out.push_back(FromBytes(bytes));
  return out;
}

// A tree kept the way a store keeps it: every node an append completes.
class StoredTree {
 public:
  void Append(const std::string& leaf) {
    range_.Append(LeafHash(leaf), [this](int level, uint64_t index, const Hash& hash) {
      nodes_[{level, index}] = hash;
    });
  }
  NodeReader Reader() const {
    return [this](int level, uint64_t index) -> absl::StatusOr<Hash> {
      auto it = nodes_.find({level, index});
      if (it == nodes_.end()) return absl::NotFoundError("node not stored");
      return it->second;
    };
  }
  const CompactRange& range() const { return range_; }

 private:
  CompactRange range_;
  std::map<std::pair<int, uint64_t>, Hash> nodes_;
};

// The Certificate Transparency reference implementation's test leaves and
// the roots of their first n (its merkle_tree_test: kSHA256Roots).
const Leaves kCtLeaves = {"",
                          std::string(1, '\x00'),
                          "\x10",
                          "\x20\x21",
                          "\x30\x31",
                          "\x40\x41\x42\x43",
                          "\x50\x51\x52\x53\x54\x55\x56\x57",
                          "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
const std::vector<std::string> kCtRoots = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

TEST(MerkleTree, RootsEqualTheCertificateTransparencyVectors) {
  StoredTree tree;
  EXPECT_EQ(ToHex(tree.range().Root()), kCtRoots[0]);
  EXPECT_EQ(ToHex(*RootAt(0, tree.Reader())), kCtRoots[0]);
  for (size_t n = 1; n <= kCtLeaves.size(); ++n) {
    tree.Append(kCtLeaves[n - 1]);
    EXPECT_EQ(ToHex(tree.range().Root()), kCtRoots[n]) << n;
    for (size_t size = 1; size <= n; ++size) {
      EXPECT_EQ(ToHex(*RootAt(size, tree.Reader())), kCtRoots[size]) << size;
    }
  }
}

TEST(MerkleTree, ProofsEqualTheCertificateTransparencyVectors) {
  StoredTree tree;
  for (const std::string& leaf : kCtLeaves) tree.Append(leaf);
  const std::vector<Hash> leaf0_of_8 =
      FromHex({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"});
  const std::vector<Hash> leaf5_of_8 =
      FromHex({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"});
  EXPECT_EQ(*InclusionProof(0, 8, tree.Reader()), leaf0_of_8);
  EXPECT_EQ(*InclusionProof(5, 8, tree.Reader()), leaf5_of_8);
  const Hash root8 = FromHex(kCtRoots[8]);
  EXPECT_TRUE(VerifyInclusion(0, 8, LeafHash(kCtLeaves[0]), leaf0_of_8, root8).ok());
  EXPECT_TRUE(VerifyInclusion(5, 8, LeafHash(kCtLeaves[5]), leaf5_of_8, root8).ok());

  struct Vector {
    uint64_t from, to;
    std::vector<std::string> proof;
  };
  const std::vector<Vector> consistency = {
      {1,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
      {1, 1, {}}};
  for (const Vector& v : consistency) {
    EXPECT_EQ(*ConsistencyProof(v.from, v.to, tree.Reader()), FromHex(v.proof))
        << v.from << " " << v.to;
    EXPECT_TRUE(VerifyConsistency(v.from, v.to, FromHex(kCtRoots[v.from]), FromHex(kCtRoots[v.to]),
                                  FromHex(v.proof))
                    .ok());
  }
}

// Leaves of varying length, so that no two are alike.
Leaves MakeLeaves(size_t n) {
  Leaves leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(std::string(i % 7, 'x') + std::to_string(i));
  return leaves;
}

TEST(MerkleTree, EveryRootAndInclusionProofEqualsTheRfcDefinitions) {
  const Leaves leaves = MakeLeaves(70);
  StoredTree tree;
  for (const std::string& leaf : leaves) tree.Append(leaf);
  for (size_t n = 1; n <= leaves.size(); ++n) {
    const Leaves d = Slice(leaves, 0, n);
    const Hash root = FromBytes(Mth(d));
    ASSERT_EQ(*RootAt(n, tree.Reader()), root) << n;
    for (size_t m = 0; m < n; ++m) {
      const std::vector<Hash> proof = *InclusionProof(m, n, tree.Reader());
      ASSERT_EQ(proof, FromBytes(Path(m, d))) << m << " in " << n;
      ASSERT_TRUE(VerifyInclusion(m, n, LeafHash(leaves[m]), proof, root).ok()) << m << " " << n;
    }
  }
}

TEST(MerkleTree, EveryConsistencyProofEqualsTheRfcDefinitions) {
  const Leaves leaves = MakeLeaves(40);
  StoredTree tree;
  for (const std::string& leaf : leaves) tree.Append(leaf);
  for (size_t n = 1; n <= leaves.size(); ++n) {
    const Hash to_root = FromBytes(Mth(Slice(leaves, 0, n)));
    for (size_t m = 1; m <= n; ++m) {
      const Hash from_root = FromBytes(Mth(Slice(leaves, 0, m)));
      const std::vector<Hash> proof = *ConsistencyProof(m, n, tree.Reader());
      ASSERT_EQ(proof, FromBytes(Subproof(m, Slice(leaves, 0, n), true))) << m << " to " << n;
      ASSERT_TRUE(VerifyConsistency(m, n, from_root, to_root, proof).ok()) << m << " to " << n;
    }
  }
}

TEST(MerkleTree, ATamperedInclusionProofFails) {
  const Leaves leaves = MakeLeaves(13);
  StoredTree tree;
  for (const std::string& leaf : leaves) tree.Append(leaf);
  const Hash root = tree.range().Root();
  for (uint64_t m = 0; m < 13; ++m) {
    const std::vector<Hash> proof = *InclusionProof(m, 13, tree.Reader());
    const Hash leaf = LeafHash(leaves[m]);
    for (size_t i = 0; i < proof.size(); ++i) {
      std::vector<Hash> tampered = proof;
      tampered[i][0] ^= 1;
      EXPECT_FALSE(VerifyInclusion(m, 13, leaf, tampered, root).ok());
    }
    std::vector<Hash> longer = proof;
    longer.push_back(root);
    EXPECT_FALSE(VerifyInclusion(m, 13, leaf, longer, root).ok());
    std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
    EXPECT_FALSE(VerifyInclusion(m, 13, leaf, shorter, root).ok());
    EXPECT_FALSE(VerifyInclusion((m + 1) % 13, 13, leaf, proof, root).ok());
    EXPECT_FALSE(VerifyInclusion(m, 13, LeafHash("another leaf"), proof, root).ok());
    EXPECT_FALSE(VerifyInclusion(m, 13, leaf, proof, LeafHash("another root")).ok());
  }
  EXPECT_FALSE(VerifyInclusion(13, 13, LeafHash(leaves[0]), {}, root).ok());
  EXPECT_FALSE(InclusionProof(13, 13, tree.Reader()).ok());
}

TEST(MerkleTree, ARewrittenOrTamperedHistoryFailsConsistency) {
  Leaves leaves = MakeLeaves(21);
  StoredTree before;
  for (size_t i = 0; i < 9; ++i) before.Append(leaves[i]);
  const Hash old_root = before.range().Root();
  // The same first 9 leaves but one changed, then grown to 21.
  leaves[4] = "rewritten";
  StoredTree after;
  for (const std::string& leaf : leaves) after.Append(leaf);
  const std::vector<Hash> proof = *ConsistencyProof(9, 21, after.Reader());
  EXPECT_FALSE(VerifyConsistency(9, 21, old_root, after.range().Root(), proof).ok());

  const Leaves honest = MakeLeaves(21);
  StoredTree grown;
  for (const std::string& leaf : honest) grown.Append(leaf);
  const std::vector<Hash> good = *ConsistencyProof(9, 21, grown.Reader());
  const Hash new_root = grown.range().Root();
  ASSERT_TRUE(VerifyConsistency(9, 21, old_root, new_root, good).ok());
  for (size_t i = 0; i < good.size(); ++i) {
    std::vector<Hash> tampered = good;
    tampered[i][31] ^= 0x80;
    EXPECT_FALSE(VerifyConsistency(9, 21, old_root, new_root, tampered).ok()) << i;
  }
  EXPECT_FALSE(VerifyConsistency(9, 21, old_root, new_root, {}).ok());
  EXPECT_FALSE(VerifyConsistency(21, 9, new_root, old_root, good).ok());
  EXPECT_FALSE(VerifyConsistency(9, 9, old_root, new_root, {}).ok());
  EXPECT_TRUE(VerifyConsistency(9, 9, old_root, old_root, {}).ok());
  EXPECT_FALSE(ConsistencyProof(0, 9, grown.Reader()).ok());
  EXPECT_FALSE(ConsistencyProof(10, 9, grown.Reader()).ok());
}

TEST(MerkleTree, ALoadedRangeContinuesAsTheOriginal) {
  const Leaves leaves = MakeLeaves(45);
  StoredTree tree;
  for (size_t i = 0; i < 27; ++i) tree.Append(leaves[i]);
  absl::StatusOr<CompactRange> loaded = CompactRange::Load(27, tree.Reader());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->Root(), tree.range().Root());
  for (size_t i = 27; i < leaves.size(); ++i) {
    loaded->Append(LeafHash(leaves[i]), [](int, uint64_t, const Hash&) {});
  }
  EXPECT_EQ(loaded->Root(), FromBytes(Mth(leaves)));
  EXPECT_FALSE(CompactRange::Load(28, tree.Reader()).ok());
}

}  // namespace
}  // namespace leerlus::merkle
