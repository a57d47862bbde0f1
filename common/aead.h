// Authenticated encryption (AES-256-GCM via OpenSSL) for the texts that are
// kept encrypted at rest so they can be erased by destroying their key.
#ifndef LEERLUS_COMMON_AEAD_H_
#define LEERLUS_COMMON_AEAD_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace leerlus {

inline constexpr size_t kAeadKeyBytes = 32;    // AES-256.
inline constexpr size_t kAeadNonceBytes = 12;  // GCM's standard nonce.
inline constexpr size_t kAeadTagBytes = 16;

// `size` bytes from OpenSSL's CSPRNG; aborts when it has no entropy (no key
// or token may be issued then).
std::string RandomBytes(size_t size);

// nonce || ciphertext || tag, with a fresh random nonce. `associated_data`
// is authenticated, not encrypted: opening needs the same bytes.
std::string AeadSeal(absl::string_view key, absl::string_view plaintext,
                     absl::string_view associated_data);

// The plaintext of AeadSeal's output; DATA_LOSS if the bytes, key or
// associated data do not match.
absl::StatusOr<std::string> AeadOpen(absl::string_view key, absl::string_view sealed,
                                     absl::string_view associated_data);

}  // namespace leerlus

#endif  // LEERLUS_COMMON_AEAD_H_
