// SHA-256 helpers (OpenSSL) used for the event hash chain, request
// fingerprints, hypothesis seals and page tokens.
#ifndef LEERLUS_COMMON_HASHING_H_
#define LEERLUS_COMMON_HASHING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace leerlus {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace leerlus

#endif  // LEERLUS_COMMON_HASHING_H_
