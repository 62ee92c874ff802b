// The SentencePiece-style tokenizer on small hand-made vocabularies, where every expected id can be worked out.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace ternion {
namespace {

using Ids = std::vector<int32_t>;
const std::string kSp = "\xE2\x96\x81";  // "▁"

// <unk> <s> </s>, the 256 byte pieces (ids 3..258), then the pieces the test adds.
test::VocabBuilder spm_base() {
  test::VocabBuilder b(VocabKind::Spm);
  b.add("<unk>", 0, TokenType::Unknown);
  b.add("<s>", 0, TokenType::Control);
  b.add("</s>", 0, TokenType::Control);
  for (int i = 0; i < 256; ++i) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", i);
    b.add(hex, 0, TokenType::Byte);
  }
  b.vocab.unk = 0;
  b.vocab.bos = 1;
  b.vocab.eos = 2;
  b.vocab.eog = {2};
  return b;
}

constexpr int32_t byte_id(int b) { return 3 + b; }

TEST(Spm, MergesHighestScoreFirst) {
  auto b = spm_base();
  const int32_t sp = b.add(kSp, -10);
  const int32_t sp_a = b.add(kSp + "a", -2);
  b.add("ab", -1);
  const int32_t bc = b.add("bc", -0.5f);
  const Tokenizer tok(b.vocab);
  // Pairs "▁a" (-2), "ab" (-1), "bc" (-0.5): "bc" wins, then "ab" is gone and "▁a" merges.
  EXPECT_EQ(tok.encode("abc", false, false), (Ids{sp_a, bc}));
  // A lone space: the dummy prefix plus the space itself.
  EXPECT_EQ(tok.encode(" ", false, false), (Ids{sp, sp}));
}

TEST(Spm, EqualScoresMergeLeftmostFirst) {
  auto b = spm_base();
  b.vocab.add_space_prefix = false;
  const int32_t a = b.add("a", -5);
  const int32_t aa = b.add("aa", -1);
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("aaa", false, false), (Ids{aa, a}));
  EXPECT_EQ(tok.encode("aaaa", false, false), (Ids{aa, aa}));
}

TEST(Spm, ByteFallbackForUnknownCharacters) {
  auto b = spm_base();
  b.vocab.add_space_prefix = false;
  const int32_t x = b.add("x", -1);
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("x\xC3\xA9x", false, false), (Ids{x, byte_id(0xC3), byte_id(0xA9), x}));
  EXPECT_EQ(tok.encode("\n", false, false), (Ids{byte_id('\n')}));
  EXPECT_EQ(tok.decode(tok.encode("x\xC3\xA9x\n", false, false), true), "x\xC3\xA9x\n");
  // Invalid UTF-8 goes through byte by byte, and comes back unchanged.
  EXPECT_EQ(tok.encode("\xFF\xE3", false, false), (Ids{byte_id(0xFF), byte_id(0xE3)}));
  EXPECT_EQ(tok.decode(tok.encode("\xFF\xE3", false, false), true), "\xFF\xE3");
}

TEST(Spm, BosEosAndEmptyText) {
  auto b = spm_base();
  const int32_t sp = b.add(kSp, -1);
  b.vocab.add_bos = true;
  {
    const Tokenizer tok(b.vocab);
    EXPECT_EQ(tok.encode("", true, false), (Ids{1}));
    EXPECT_EQ(tok.encode("", false, false), (Ids{}));
    EXPECT_EQ(tok.encode(" ", true, false), (Ids{1, sp, sp}));
  }
  b.vocab.add_eos = true;
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("", true, false), (Ids{1, 2}));
  EXPECT_EQ(tok.encode(" ", true, false), (Ids{1, sp, sp, 2}));
}

TEST(Spm, SpecialTokensAndTheDummyPrefix) {
  auto b = spm_base();
  const int32_t sp = b.add(kSp, -3);
  const int32_t sp_x = b.add(kSp + "x", -1);
  const int32_t x = b.add("x", -2);
  const int32_t user = b.add("<tool>", 0, TokenType::UserDefined);
  const Tokenizer tok(b.vocab);
  // Control tokens are text unless parsing special tokens; after one, the next text gets the dummy prefix again.
  EXPECT_EQ(tok.encode("x</s>x", false, true), (Ids{sp_x, 2, sp_x}));
  const Ids as_text = tok.encode("x</s>x", false, false);
  EXPECT_EQ(as_text.front(), sp_x);
  EXPECT_GT(as_text.size(), 3u);
  // User-defined tokens are always matched, as in llama.cpp.
  EXPECT_EQ(tok.encode("x<tool>x", false, false), (Ids{sp_x, user, sp_x}));
  EXPECT_EQ(tok.encode("<s>", false, true), (Ids{1}));
  EXPECT_EQ(tok.encode("<s> x", false, true), (Ids{1, sp, sp_x}));
  EXPECT_EQ(tok.encode("<unk>", false, true), (Ids{0}));
  (void)x;
}

TEST(Spm, NoSpacePrefixWhenTheVocabSaysSo) {
  auto b = spm_base();
  b.vocab.add_space_prefix = false;
  const int32_t sp = b.add(kSp, -1);
  const int32_t x = b.add("x", -1);
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("x x", false, false), (Ids{x, sp, x}));
  EXPECT_EQ(tok.decode(Ids{sp, x}, true), " x");  // nothing to strip either
}

TEST(Spm, PiecesAndDecode) {
  auto b = spm_base();
  const int32_t sp_hi = b.add(kSp + "hi", -1);
  const int32_t sp = b.add(kSp, -2);
  const int32_t unused = b.add("zz", -3, TokenType::Unused);
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.token_to_piece(sp_hi, false), " hi");
  EXPECT_EQ(tok.token_to_piece(byte_id(0x41), false), "A");
  EXPECT_EQ(tok.token_to_piece(0, false), "");
  EXPECT_EQ(tok.token_to_piece(0, true), "<unk>");
  EXPECT_EQ(tok.token_to_piece(unused, true), "");
  EXPECT_EQ(tok.decode(Ids{1, sp_hi, sp_hi, 2}, true), "hi hi");
  EXPECT_EQ(tok.decode(Ids{1, sp_hi, sp_hi, 2}, false), "<s> hi hi</s>");
  EXPECT_EQ(tok.decode(Ids{sp, sp_hi}, true), " hi");
  EXPECT_THROW(tok.token_to_piece(-1, false), Error);
  EXPECT_THROW(tok.token_to_piece(tok.n_vocab(), false), Error);
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(1));
  EXPECT_FALSE(tok.is_eog(-5));
  EXPECT_FALSE(tok.is_eog(1 << 20));
}

TEST(Spm, InvalidVocabsAreRefused) {
  {
    Vocab v;
    EXPECT_THROW(Tokenizer{v}, Error);  // empty
  }
  {
    auto b = spm_base();
    b.vocab.scores.pop_back();
    EXPECT_THROW(Tokenizer{b.vocab}, Error);
  }
  {
    auto b = spm_base();
    b.vocab.bos = 100000;
    EXPECT_THROW(Tokenizer{b.vocab}, Error);
  }
  {
    auto b = spm_base();
    b.vocab.bos = -1;
    b.vocab.add_bos = true;
    EXPECT_THROW(Tokenizer{b.vocab}, Error);
  }
  {
    auto b = spm_base();
    b.vocab.scores.clear();  // empty scores and types mean "all zero / normal"
    b.vocab.types.clear();
    EXPECT_NO_THROW(Tokenizer{b.vocab});
  }
}

}  // namespace
}  // namespace ternion
