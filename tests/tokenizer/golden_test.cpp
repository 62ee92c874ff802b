// The tokenizer on the project's own models against llama.cpp's golden output (fixtures/golden/*.json): the 24
// strings both with and without special-token parsing, and the pieces and streamed text of greedy generations.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace ternion {
namespace {

class GoldenTokenization : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTokenization, MatchesLlamaCpp) {
  const auto gguf_path = test::fixture("gguf/" + GetParam() + ".gguf");
  TOKENIZER_REQUIRE_FIXTURE(gguf_path);
  const auto golden_path = test::fixture("golden/" + GetParam() + ".json");
  TOKENIZER_REQUIRE_FIXTURE(golden_path);
  const nlohmann::json golden = nlohmann::json::parse(test::read_file(golden_path.string()));
  const Tokenizer tok = test::load_tokenizer(gguf_path.string());

  const auto& cases = golden.at("tokenization");
  ASSERT_EQ(cases.size(), 24u);
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    SCOPED_TRACE("text: " + text);
    EXPECT_EQ(tok.encode(text, true, false), c.at("ids").get<std::vector<int32_t>>());
    EXPECT_EQ(tok.encode(text, true, true), c.at("ids_parse_special").get<std::vector<int32_t>>());
  }
  for (const auto& p : golden.at("prompts")) {
    EXPECT_EQ(tok.encode(p.at("prompt").get<std::string>(), true, false), p.at("tokens").get<std::vector<int32_t>>());
  }
}

INSTANTIATE_TEST_SUITE_P(KjvModels, GoldenTokenization,
                         ::testing::Values("kjv-llama-F16", "kjv-llama-IQ4_NL", "kjv-llama-Q2_K", "kjv-llama-Q3_K_M",
                                           "kjv-llama-Q4_0", "kjv-llama-Q4_1", "kjv-llama-Q4_K_M", "kjv-llama-Q5_0",
                                           "kjv-llama-Q5_1", "kjv-llama-Q5_K_M", "kjv-llama-Q6_K", "kjv-llama-Q8_0",
                                           "kjv-qwen2-F16", "kjv-trilm-TQ1_0", "kjv-trilm-TQ2_0"),
                         test::param_name);

class GoldenGeneration : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenGeneration, PiecesAndStreamedText) {
  const auto gguf_path = test::fixture("gguf/" + GetParam() + ".gguf");
  TOKENIZER_REQUIRE_FIXTURE(gguf_path);
  const auto golden_path = test::fixture("golden/" + GetParam() + ".json");
  TOKENIZER_REQUIRE_FIXTURE(golden_path);
  const nlohmann::json golden = nlohmann::json::parse(test::read_file(golden_path.string()));
  const Tokenizer tok = test::load_tokenizer(gguf_path.string());

  for (const auto& p : golden.at("prompts")) {
    SCOPED_TRACE("prompt: " + p.at("prompt").get<std::string>());
    const auto ids = p.at("greedy_tokens").get<std::vector<int32_t>>();
    const auto pieces = p.at("greedy_pieces").get<std::vector<std::string>>();
    ASSERT_EQ(ids.size(), pieces.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(test::escape_invalid_utf8(tok.token_to_piece(ids[i], false)), pieces[i]) << "token " << ids[i];
    }

    StreamDecoder decoder(tok, false);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string chunk = decoder.push(id);
      EXPECT_TRUE(detail::is_valid_utf8(chunk)) << "token " << id;
      streamed += chunk;
    }
    streamed += decoder.flush();
    EXPECT_EQ(streamed, p.at("greedy_text").get<std::string>());
    EXPECT_EQ(tok.decode(ids, true),
              tok.vocab().add_space_prefix && !streamed.empty() && streamed[0] == ' ' ? streamed.substr(1) : streamed);
  }
}

INSTANTIATE_TEST_SUITE_P(KjvModels, GoldenGeneration, ::testing::Values("kjv-llama-F16", "kjv-qwen2-F16"),
                         test::param_name);

TEST(GoldenVocab, KjvMetadata) {
  const auto gguf_path = test::fixture("gguf/kjv-llama-F16.gguf");
  TOKENIZER_REQUIRE_FIXTURE(gguf_path);
  const Tokenizer llama = test::load_tokenizer(gguf_path.string());
  const Vocab& v = llama.vocab();
  EXPECT_EQ(v.kind, VocabKind::Spm);
  EXPECT_EQ(llama.n_vocab(), 4096);
  EXPECT_EQ(v.bos, 1);
  EXPECT_EQ(v.eos, 2);
  EXPECT_EQ(v.unk, 0);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(v.add_space_prefix);
  EXPECT_EQ(v.eog, std::vector<int32_t>{2});
  EXPECT_TRUE(llama.is_eog(2));
  EXPECT_FALSE(llama.is_eog(1));
  EXPECT_EQ(llama.token_to_piece(13, false), "\n");  // <0x0A>
  EXPECT_EQ(llama.token_to_piece(1, false), "");
  EXPECT_EQ(llama.token_to_piece(1, true), "<s>");

  const auto qwen_path = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TOKENIZER_REQUIRE_FIXTURE(qwen_path);
  const Tokenizer qwen = test::load_tokenizer(qwen_path.string());
  const Vocab& q = qwen.vocab();
  EXPECT_EQ(q.kind, VocabKind::Bpe);
  EXPECT_EQ(q.pre, "qwen2");
  EXPECT_EQ(q.merges.size(), 3837u);
  EXPECT_EQ(q.bos, 4093);
  EXPECT_EQ(q.eos, 4093);
  EXPECT_FALSE(q.add_bos);
  EXPECT_FALSE(q.add_space_prefix);
  EXPECT_EQ(q.eog, (std::vector<int32_t>{4093, 4095}));  // <|endoftext|>, <|im_end|>
  EXPECT_EQ(qwen.token_to_piece(4094, true), "<|im_start|>");
  EXPECT_EQ(qwen.token_to_piece(4094, false), "");
  EXPECT_EQ(qwen.token_to_piece(220, false), " ");
  EXPECT_EQ(qwen.token_to_piece(198, false), "\n");
}

}  // namespace
}  // namespace ternion

namespace ternion {
namespace {

// The SPM encoder cuts text into words when no token can span a word start; a token with "▁" after another
// character turns that off. Both paths must give the same ids on real text.
TEST(GoldenVocab, SpmWordSplitMatchesWholeText) {
  for (const char* name : {"gguf/kjv-llama-F16.gguf", "vocab/ggml-vocab-llama-spm.gguf"}) {
    const auto gguf_path = test::fixture(name);
    TOKENIZER_REQUIRE_FIXTURE(gguf_path);
    TOKENIZER_REQUIRE_FIXTURE(test::fixture("text/validation.txt"));
    SCOPED_TRACE(name);
    Vocab vocab = vocab_from_gguf(GgufFile::open(gguf_path.string()));
    const Tokenizer split(vocab);
    vocab.tokens.push_back("\x01\xE2\x96\x81");  // never formed: the text has no \x01
    vocab.scores.push_back(-1e9f);
    vocab.types.push_back(TokenType::Normal);
    const Tokenizer whole(vocab);

    std::string text = test::read_file(test::fixture("text/validation.txt").string()).substr(0, 30000);
    text += "  two  spaces   three    four\n\t tab  \xC2\xA0 nbsp caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC  ";
    EXPECT_EQ(split.encode(text, true, false), whole.encode(text, true, false));
    EXPECT_EQ(split.encode(text, true, true), whole.encode(text, true, true));
  }
}

}  // namespace
}  // namespace ternion
