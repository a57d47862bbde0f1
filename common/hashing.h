// SHA-256 helpers (OpenSSL) used for the event hash chain, request
// fingerprints, hypothesis seals and page tokens.
#ifndef LEERLUS_COMMON_HASHING_H_
#define LEERLUS_COMMON_HASHING_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

struct evp_md_ctx_st;

namespace leerlus {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// HMAC-SHA-256 of `data` under `key`: 32 raw bytes.
std::string HmacSha256(absl::string_view key, absl::string_view data);

// SHA-256 of input given in pieces, for data too large to hold at once:
// the hex digest equals Sha256Hex of the pieces concatenated.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  void Add(absl::string_view piece);
  // Lower-case hex; call once, after the last Add.
  std::string HexDigest();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> context_;
};

}  // namespace leerlus

#endif  // LEERLUS_COMMON_HASHING_H_
