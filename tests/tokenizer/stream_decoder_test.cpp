// StreamDecoder: characters split across byte tokens are held back until complete; every output is valid UTF-8.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace ternion {
namespace {

const std::string kSp = "\xE2\x96\x81";

Tokenizer byte_tokenizer(int32_t& sp_hi) {
  test::VocabBuilder b(VocabKind::Spm);
  b.add("<unk>", 0, TokenType::Unknown);
  b.add("<s>", 0, TokenType::Control);
  b.add("</s>", 0, TokenType::Control);
  for (int i = 0; i < 256; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", i);
    b.add(hex, 0, TokenType::Byte);
  }
  sp_hi = b.add(kSp + "hi", -1);
  b.vocab.unk = 0;
  b.vocab.bos = 1;
  b.vocab.eos = 2;
  return Tokenizer(b.vocab);
}

constexpr int32_t byte_id(int b) { return 3 + b; }

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  int32_t sp_hi = 0;
  const Tokenizer tok = byte_tokenizer(sp_hi);
  StreamDecoder d(tok, false);
  EXPECT_EQ(d.push(1), "");  // BOS prints nothing
  EXPECT_EQ(d.push(sp_hi), " hi");
  EXPECT_EQ(d.push(byte_id(0xF0)), "");
  EXPECT_EQ(d.push(byte_id(0x9F)), "");
  EXPECT_EQ(d.push(byte_id(0x99)), "");
  EXPECT_EQ(d.push(byte_id(0x82)), "\xF0\x9F\x99\x82");  // 🙂
  EXPECT_EQ(d.push(byte_id('!')), "!");
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, ReplacesWhatCanNeverBeValid) {
  int32_t sp_hi = 0;
  const Tokenizer tok = byte_tokenizer(sp_hi);
  StreamDecoder d(tok, false);
  EXPECT_EQ(d.push(byte_id(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(d.push(byte_id(0xE3)), "");
  EXPECT_EQ(d.push(byte_id('a')),
            "\xEF\xBF\xBD"
            "a");  // the broken sequence ends at "a"
  EXPECT_EQ(d.push(byte_id(0xC3)), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // cut off at the end of the stream
  EXPECT_EQ(d.flush(), "");
  EXPECT_EQ(d.push(byte_id(0xC3)), "");
  EXPECT_EQ(d.push(byte_id(0xA9)), "\xC3\xA9");
}

TEST(StreamDecoder, StripsTheDummyPrefixOnce) {
  int32_t sp_hi = 0;
  const Tokenizer tok = byte_tokenizer(sp_hi);
  StreamDecoder d(tok, true);
  EXPECT_EQ(d.push(1), "");  // an empty piece does not use up the strip
  EXPECT_EQ(d.push(sp_hi), "hi");
  EXPECT_EQ(d.push(sp_hi), " hi");
}

TEST(StreamDecoder, EveryChunkIsValidUtf8) {
  int32_t sp_hi = 0;
  const Tokenizer tok = byte_tokenizer(sp_hi);
  // All byte tokens in a fixed pseudo-random order, plus text pieces.
  StreamDecoder d(tok, false);
  std::string all;
  uint32_t state = 12345;
  for (int i = 0; i < 5000; ++i) {
    state = state * 1664525u + 1013904223u;
    const int32_t id = (state >> 24) % 7 == 0 ? sp_hi : byte_id(static_cast<int>((state >> 8) & 0xFF));
    const std::string chunk = d.push(id);
    ASSERT_TRUE(detail::is_valid_utf8(chunk));
    all += chunk;
  }
  all += d.flush();
  EXPECT_TRUE(detail::is_valid_utf8(all));
}

}  // namespace
}  // namespace ternion
