// Byte-level BPE on small hand-made vocabularies: merge order, merge parts that are not tokens, llama3's
// ignore_merges, special tokens, invalid UTF-8 and concurrent use.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace ternion {
namespace {

using Ids = std::vector<int32_t>;

// The 256 byte tokens (id = byte value) in the byte-level alphabet, then what the test adds.
test::VocabBuilder bpe_base(const std::string& pre) {
  test::VocabBuilder b(VocabKind::Bpe);
  b.vocab.pre = pre;
  b.vocab.add_space_prefix = false;
  for (int i = 0; i < 256; ++i) b.add(detail::gpt2_byte_to_utf8(static_cast<uint8_t>(i)));
  return b;
}

TEST(Bpe, LowestRankMergesFirst) {
  auto b = bpe_base("gpt-2");
  const int32_t bc = b.add("bc");
  const int32_t ab = b.add("ab");
  b.vocab.merges = {"b c", "a b"};
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("abc", false, false), (Ids{'a', bc}));
  EXPECT_EQ(tok.encode("abd", false, false), (Ids{ab, 'd'}));
  EXPECT_EQ(tok.encode("", true, false), (Ids{}));
}

TEST(Bpe, MergePartsThatAreNotTokens) {
  auto b = bpe_base("gpt-2");
  const int32_t xyz = b.add("xyz");
  b.vocab.merges = {"x y", "xy z"};  // "xy" is only an intermediate
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("xyz", false, false), (Ids{xyz}));
  // A final symbol that is no token falls back to the tokens of its single bytes (llama.cpp's last resort).
  EXPECT_EQ(tok.encode("xy", false, false), (Ids{'x', 'y'}));
}

TEST(Bpe, SpaceAndNewlineUseTheByteAlphabet) {
  auto b = bpe_base("gpt-2");
  const int32_t sp_h = b.add("\xC4\xA0h");  // "Ġh"
  const int32_t sp_hi = b.add("\xC4\xA0hi");
  b.vocab.merges = {"\xC4\xA0 h", "\xC4\xA0h i"};
  const Tokenizer tok(b.vocab);
  const Ids ids = tok.encode("hi hi\n", false, false);
  EXPECT_EQ(ids, (Ids{'h', 'i', sp_hi, '\n'}));
  EXPECT_EQ(tok.token_to_piece(sp_h, false), " h");
  EXPECT_EQ(tok.token_to_piece('\n', false), "\n");
  EXPECT_EQ(tok.decode(ids, true), "hi hi\n");
}

TEST(Bpe, Llama3TakesWholeWordTokensWithoutMerging) {
  for (const char* pre : {"gpt-2", "llama-bpe"}) {
    auto b = bpe_base(pre);
    const int32_t abc = b.add("abc");
    const Tokenizer tok(b.vocab);  // no merges at all
    const Ids expected = std::string(pre) == "gpt-2" ? Ids{'a', 'b', 'c'} : Ids{abc};
    EXPECT_EQ(tok.encode("abc", false, false), expected) << pre;
  }
}

TEST(Bpe, SpecialTokens) {
  auto b = bpe_base("qwen2");
  const int32_t eot = b.add("<|endoftext|>", 0, TokenType::Control);
  const int32_t start = b.add("<|im_start|>", 0, TokenType::Control);
  const int32_t user = b.add("<think>", 0, TokenType::UserDefined);
  b.vocab.eos = b.vocab.bos = eot;
  b.vocab.eog = {eot};
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("<|im_start|>a", false, true), (Ids{start, 'a'}));
  EXPECT_EQ(tok.encode("<|im_start|>a", false, false).size(), 13u);  // plain text, byte by byte
  EXPECT_EQ(tok.encode("a<think>b", false, false), (Ids{'a', user, 'b'}));
  EXPECT_EQ(tok.encode("<|endoftext|><|im_start|>", true, true), (Ids{eot, start}));  // add_bos is off
  EXPECT_EQ(tok.token_to_piece(start, false), "");
  EXPECT_EQ(tok.token_to_piece(user, false), "<think>");  // user-defined text is shown
  EXPECT_EQ(tok.decode(Ids{start, 'a', eot}, false), "<|im_start|>a<|endoftext|>");
  EXPECT_EQ(tok.decode(Ids{start, 'a', eot}, true), "a");
  EXPECT_TRUE(tok.is_eog(eot));
}

TEST(Bpe, InvalidUtf8BecomesReplacementCharacters) {
  const Tokenizer tok(bpe_base("gpt-2").vocab);
  // As in llama.cpp: the regexes and merges see U+FFFD (EF BF BD) for every byte that is not valid UTF-8.
  EXPECT_EQ(tok.encode("a\xFF", false, false), (Ids{'a', 0xEF, 0xBF, 0xBD}));
  EXPECT_EQ(tok.encode("\xC3\xA9", false, false), (Ids{0xC3, 0xA9}));
}

TEST(Bpe, UnsupportedPreTokenizerIsRefused) {
  auto b = bpe_base("no-such-pre");
  try {
    const Tokenizer tok(b.vocab);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'no-such-pre'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("supported: default, gpt-2"), std::string::npos) << e.what();
  }
}

TEST(Bpe, ConcurrentEncodesAgree) {
  auto b = bpe_base("qwen2");
  b.add("\xC4\xA0t");
  b.add("\xC4\xA0th");
  b.add("\xC4\xA0the");
  b.vocab.merges = {"\xC4\xA0 t", "\xC4\xA0t h", "\xC4\xA0th e"};
  const Tokenizer tok(b.vocab);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "and the word the then 12 the\n";
  const Ids expected = tok.encode(text, false, false);
  std::vector<Ids> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] { results[t] = Tokenizer(tok).encode(text, false, false); });
  }
  for (auto& th : threads) th.join();
  for (const Ids& r : results) EXPECT_EQ(r, expected);
  EXPECT_EQ(tok.decode(expected, true), text);
}

}  // namespace
}  // namespace ternion
