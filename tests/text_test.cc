// Text as code points: decoding, and showing any text on one visible line.
#include "common/text.h"

#include <gtest/gtest.h>

namespace leerlus {
namespace {

TEST(Utf8Test, CountsCodePointsAndRejectsMalformedInput) {
  EXPECT_EQ(Utf8Length("abc"), 3);
  EXPECT_EQ(Utf8Length("caf\xc3\xa9"), 4);
  EXPECT_EQ(Utf8Length("\xf0\x9f\x98\x80"), 1);
  EXPECT_EQ(Utf8Length("\xc3"), -1);          // Truncated.
  EXPECT_EQ(Utf8Length("\xc0\xaf"), -1);      // Overlong '/'.
  EXPECT_EQ(Utf8Length("\xed\xa0\x80"), -1);  // Surrogate.
  EXPECT_EQ(Utf8Length("\xff"), -1);
  EXPECT_EQ(Utf8Length("\xf4\x90\x80\x80"), -1);  // Past U+10FFFF.
}

TEST(TextTest, EscapeForDisplayLeavesOneVisibleLine) {
  EXPECT_EQ(EscapeForDisplay("Buurtcoach caf\xc3\xa9"), "Buurtcoach caf\xc3\xa9");
  EXPECT_EQ(EscapeForDisplay("a\nb\rc\td\\e"), "a\\nb\\rc\\td\\\\e");
  EXPECT_EQ(EscapeForDisplay("\x1b[2J"), "\\u{001b}[2J");            // A terminal escape.
  EXPECT_EQ(EscapeForDisplay("x\xc2\x85y"), "x\\u{0085}y");          // C1 next line.
  EXPECT_EQ(EscapeForDisplay("\xe2\x80\xae" "evil"), "\\u{202e}evil");  // Right-to-left override.
  EXPECT_EQ(EscapeForDisplay("a\xe2\x80\x8b"
                             "b"),
            "a\\u{200b}b");  // Zero-width space.
  EXPECT_EQ(EscapeForDisplay("bad\xff"), "bad\\xff");
}

}  // namespace
}  // namespace leerlus
