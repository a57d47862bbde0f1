#include "common/text.h"

#include "absl/strings/str_cat.h"

namespace leerlus {
namespace {

// The length of the valid UTF-8 sequence at the front of `text` (its code
// point in `*code`), or 0 if there is none: overlong forms, surrogates and
// values past U+10FFFF are invalid.
size_t DecodeOne(absl::string_view text, uint32_t* code) {
  const unsigned char c = static_cast<unsigned char>(text[0]);
  size_t extra;
  if (c < 0x80) {
    *code = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    extra = 1;
    *code = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    extra = 2;
    *code = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    extra = 3;
    *code = c & 0x07;
  } else {
    return 0;
  }
  if (text.size() <= extra) return 0;
  for (size_t k = 1; k <= extra; ++k) {
    const unsigned char cc = static_cast<unsigned char>(text[k]);
    if ((cc & 0xc0) != 0x80) return 0;
    *code = (*code << 6) | (cc & 0x3f);
  }
  if ((extra == 1 && *code < 0x80) || (extra == 2 && *code < 0x800) ||
      (extra == 3 && *code < 0x10000) || *code > 0x10ffff || (*code >= 0xd800 && *code <= 0xdfff)) {
    return 0;
  }
  return extra + 1;
}

}  // namespace

int64_t DecodeUtf8(absl::string_view text, const std::function<bool(uint32_t)>& visit) {
  int64_t count = 0;
  while (!text.empty()) {
    uint32_t code;
    const size_t length = DecodeOne(text, &code);
    if (length == 0) return -1;
    text.remove_prefix(length);
    ++count;
    if (visit && !visit(code)) break;
  }
  return count;
}

int64_t Utf8Length(absl::string_view text) { return DecodeUtf8(text, nullptr); }

bool IsInvisibleOrReordering(uint32_t code) {
  return (code >= 0x80 && code <= 0x9f) ||      // C1 controls
         (code >= 0x200b && code <= 0x200f) ||  // zero-width, LRM, RLM
         (code >= 0x202a && code <= 0x202e) ||  // bidi embeddings and overrides
         (code >= 0x2060 && code <= 0x2069) ||  // word joiner, bidi isolates
         code == 0x061c || code == 0xfeff;      // Arabic letter mark, BOM
}

std::string EscapeForDisplay(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    uint32_t code;
    const size_t length = DecodeOne(text, &code);
    if (length == 0) {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(text[0]), absl::kZeroPad2));
      text.remove_prefix(1);
      continue;
    }
    if (code == '\n') {
      out += "\\n";
    } else if (code == '\r') {
      out += "\\r";
    } else if (code == '\t') {
      out += "\\t";
    } else if (code == '\\') {
      out += "\\\\";
    } else if (code < 0x20 || code == 0x7f || IsInvisibleOrReordering(code)) {
      absl::StrAppend(&out, "\\u{", absl::Hex(code, absl::kZeroPad4), "}");
    } else {
      out.append(text.data(), length);
    }
    text.remove_prefix(length);
  }
  return out;
}

}  // namespace leerlus
