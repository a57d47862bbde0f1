// Text as code points: decoding UTF-8, and the characters that let a text
// change how what surrounds it is shown (line breaks, C1 controls,
// bidirectional overrides, invisible characters).
//
//   if (Utf8Length(text) < 0) ...;                  // not valid UTF-8
//   std::cout << EscapeForDisplay(title);           // one safe line
#ifndef LEERLUS_COMMON_TEXT_H_
#define LEERLUS_COMMON_TEXT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace leerlus {

// Calls `visit` with each code point of `text` until it returns false;
// returns the number of code points visited, or -1 if `text` is not valid
// UTF-8 (overlong forms, surrogates and values past U+10FFFF included).
int64_t DecodeUtf8(absl::string_view text, const std::function<bool(uint32_t)>& visit);

// The number of code points, -1 if not valid UTF-8.
int64_t Utf8Length(absl::string_view text);

// C1 controls, zero-width characters, bidirectional marks, embeddings,
// overrides and isolates, the byte-order mark.
bool IsInvisibleOrReordering(uint32_t code);

// `text` as one visible line: every C0 or C1 control, DEL and invisible or
// reordering character written as \n, \r, \t or \u{XXXX}, every byte that
// is not valid UTF-8 as \xNN, and a backslash as \\; everything else as is.
std::string EscapeForDisplay(absl::string_view text);

}  // namespace leerlus

#endif  // LEERLUS_COMMON_TEXT_H_
