// UTF-8 helpers and the GPT-2 byte alphabet.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tokenizer/unicode.h"

namespace ternion::detail {
namespace {

TEST(Unicode, EncodeDecodeRoundTrip) {
  for (uint32_t cpt :
       {0x0u, 0x41u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFDu, 0xFFFFu, 0x10000u, 0x1F642u, 0x10FFFFu}) {
    std::string s;
    append_utf8(s, cpt);
    uint32_t back = 0;
    EXPECT_EQ(decode_utf8(s, 0, back), s.size()) << cpt;
    EXPECT_EQ(back, cpt);
    EXPECT_TRUE(is_valid_utf8(s));
  }
}

TEST(Unicode, RejectsMalformedSequences) {
  uint32_t cpt = 0;
  for (const char* bad : {"\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF5",
                          "\xFF", "\xE3\x81", "\xC3"}) {
    EXPECT_EQ(decode_utf8(bad, 0, cpt), 0u) << bad;
    EXPECT_FALSE(is_valid_utf8(bad));
  }
}

TEST(Unicode, SanitizeReplacesEachBadByte) {
  EXPECT_EQ(sanitize_utf8("abc"), "abc");
  EXPECT_EQ(sanitize_utf8("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitize_utf8("\xE3\x81"
                          "A"),
            "\xEF\xBF\xBD\xEF\xBF\xBD"
            "A");  // llama.cpp: one U+FFFD per byte
  EXPECT_EQ(sanitize_utf8("\xC3\xA9"), "\xC3\xA9");
  // Overlong forms are read as llama.cpp reads them and re-encoded; surrogates and values past U+10FFFF are bad bytes.
  EXPECT_EQ(sanitize_utf8("\xE0\x80\xAF"), "/");
  EXPECT_EQ(sanitize_utf8(std::string_view("\xC0\x80", 2)), std::string(1, '\0'));
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Unicode, StreamingValidationUsesMaximalSubparts) {
  std::string out;
  EXPECT_EQ(append_valid_utf8("ab\xE3\x81", out), 2u);  // held back, maybe completed later
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(append_valid_utf8("\xE3\x81"
                              "A",
                              out),
            0u);  // one U+FFFD for the broken sequence, as Python does
  EXPECT_EQ(out,
            "\xEF\xBF\xBD"
            "A");
  out.clear();
  EXPECT_EQ(append_valid_utf8("\xFF\xC3\xA9\xF0\x9F", out), 2u);
  EXPECT_EQ(out, "\xEF\xBF\xBD\xC3\xA9");
  out.clear();
  EXPECT_EQ(append_valid_utf8("\xED\xA0", out), 0u);  // a surrogate can never complete
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Unicode, Gpt2AlphabetIsABijection) {
  std::set<uint32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cpt = gpt2_byte_to_codepoint(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(cpt).second);
    EXPECT_EQ(gpt2_codepoint_to_byte(cpt), b);
  }
  EXPECT_EQ(gpt2_byte_to_utf8(' '), "\xC4\xA0");   // "Ġ"
  EXPECT_EQ(gpt2_byte_to_utf8('\n'), "\xC4\x8A");  // "Ċ"
  EXPECT_EQ(gpt2_byte_to_utf8('a'), "a");
  EXPECT_EQ(gpt2_byte_to_codepoint(0xAD), 0x143u);  // the last of the remapped bytes
  EXPECT_EQ(gpt2_codepoint_to_byte(0x20), -1);
  EXPECT_EQ(gpt2_codepoint_to_byte(0x1F642), -1);
}

TEST(Unicode, LeadLengthFollowsLlamaCpp) {
  EXPECT_EQ(utf8_lead_length('a'), 1u);
  EXPECT_EQ(utf8_lead_length(0x80), 1u);  // stray continuation byte
  EXPECT_EQ(utf8_lead_length(0xC3), 2u);
  EXPECT_EQ(utf8_lead_length(0xE3), 3u);
  EXPECT_EQ(utf8_lead_length(0xF0), 4u);
  EXPECT_EQ(utf8_lead_length(0xFF), 4u);
}

}  // namespace
}  // namespace ternion::detail
