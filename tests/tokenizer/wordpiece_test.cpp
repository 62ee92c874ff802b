// WordPiece (BERT) vocabularies: llama.cpp's own test cases for bert-bge, its normalisation, and the special tokens.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/wordpiece.h"

namespace ternion {
namespace {

constexpr std::string_view kSeparator = "\n__ggml_vocab_test__\n";

std::vector<std::string> split_inputs(const std::string& inp) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t sep = inp.find(kSeparator); sep != std::string::npos; sep = inp.find(kSeparator, pos)) {
    out.push_back(inp.substr(pos, sep - pos));
    pos = sep + kSeparator.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> parse_outputs(const std::string& out) {
  std::vector<std::vector<int32_t>> result;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream ids(line);
    std::vector<int32_t> row;
    for (int32_t id = 0; ids >> id;) row.push_back(id);
    result.push_back(std::move(row));
  }
  return result;
}

std::string bge_path() { return test::fixture("vocab/ggml-vocab-bert-bge.gguf").string(); }

TEST(WordPiece, MatchesLlamaCppTestCases) {
  TOKENIZER_REQUIRE_FIXTURE(bge_path());
  const Tokenizer tok = test::load_tokenizer(bge_path());
  EXPECT_EQ(tok.vocab().kind, VocabKind::WordPiece);
  const std::vector<std::string> inputs = split_inputs(test::read_file(bge_path() + ".inp"));
  const std::vector<std::vector<int32_t>> expected = parse_outputs(test::read_file(bge_path() + ".out"));
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(expected.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + ": '" + inputs[i] + "'");
    EXPECT_EQ(tok.encode(inputs[i], false, false), expected[i]);
  }
}

TEST(WordPiece, ClsAndSepWithAddSpecial) {
  TOKENIZER_REQUIRE_FIXTURE(bge_path());
  const Tokenizer tok = test::load_tokenizer(bge_path());
  const Vocab& v = tok.vocab();
  EXPECT_EQ(v.tokens[static_cast<size_t>(v.bos)], "[CLS]");
  EXPECT_EQ(v.tokens[static_cast<size_t>(v.eos)], "[SEP]");
  EXPECT_EQ(v.tokens[static_cast<size_t>(v.unk)], "[UNK]");
  const std::vector<int32_t> ids = tok.encode("Hello world", true, false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids.front(), v.bos);
  EXPECT_EQ(ids.back(), v.eos);
  EXPECT_EQ(tok.decode(ids, true), "hello world");
  // [SEP] in the text is a special token only when parsing them.
  const std::vector<int32_t> parsed = tok.encode("a [SEP] b", false, true);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[1], v.eos);
}

TEST(WordPiece, Normalisation) {
  using detail::wpm_words;
  EXPECT_EQ(wpm_words("Hello, World!"), (std::vector<std::string>{"hello", ",", "world", "!"}));
  EXPECT_EQ(wpm_words("Führer café"), (std::vector<std::string>{"fuhrer", "cafe"}));
  EXPECT_EQ(wpm_words("  a\t\nb  "), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(wpm_words("x$y"), (std::vector<std::string>{"x", "$", "y"}));
  EXPECT_EQ(wpm_words("我想"), (std::vector<std::string>{"我", "想"}));
  EXPECT_EQ(wpm_words(std::string("a\0b\xFF", 4)), (std::vector<std::string>{"ab"}));
  EXPECT_EQ(wpm_words(""), (std::vector<std::string>{}));
  EXPECT_EQ(detail::wpm_lowercase('A'), uint32_t{'a'});
  EXPECT_EQ(detail::wpm_lowercase(0x0410), 0x0430u);  // Cyrillic А
  EXPECT_EQ(detail::wpm_nfd_first(0xE9), uint32_t{'e'});
  EXPECT_EQ(detail::wpm_nfd_first(0xAC01), 0x1100u);  // Hangul syllable -> leading jamo
}

// A word with a character no token covers becomes one [UNK]; without an unknown token it is dropped.
TEST(WordPiece, UnknownWords) {
  test::VocabBuilder b(VocabKind::WordPiece);
  const int32_t unk = b.add("[UNK]", 0, TokenType::Unknown);
  const int32_t ab = b.add(
      "\xE2\x96\x81"
      "ab");
  const int32_t c = b.add("c");
  b.vocab.unk = unk;
  const Tokenizer tok(b.vocab);
  EXPECT_EQ(tok.encode("ab abc abd", false, false), (std::vector<int32_t>{ab, ab, c, unk}));
  b.vocab.unk = -1;
  const Tokenizer no_unk(b.vocab);
  EXPECT_EQ(no_unk.encode("abd ab", false, false), (std::vector<int32_t>{ab}));
}

}  // namespace
}  // namespace ternion
