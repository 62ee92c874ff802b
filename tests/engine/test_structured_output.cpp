// Constrained generation on the fixture models: output under a JSON schema always parses and validates, at
// temperature 0.8 over several seeds; a grammar that allows everything leaves the tokens as they were; and the
// per-token cost of the grammar on the fixture vocabularies (printed, never asserted).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/generate.h"
#include "ternion/io/gguf.h"
#include "ternion/sampling/grammar.h"
#include "ternion/sampling/grammar_matcher.h"
#include "ternion/sampling/json_schema.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {
namespace {

using nlohmann::json;

const char* const kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer"},
    "role": {"enum": ["king", "prophet", "scribe"]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 1, "maxItems": 3},
    "alive": {"type": "boolean"},
    "note": {"anyOf": [{"type": "null"}, {"type": "number"}]}
  },
  "required": ["name", "age", "role", "tags"],
  "additionalProperties": false
})";

// The schema's rules, checked by hand on the parsed output (lengths in code points).
void expect_valid(const json& v) {
  ASSERT_TRUE(v.is_object());
  for (const char* key : {"name", "age", "role", "tags"}) ASSERT_TRUE(v.contains(key)) << key;
  for (const auto& [key, value] : v.items()) {
    if (key == "name") {
      ASSERT_TRUE(value.is_string());
    } else if (key == "age") {
      ASSERT_TRUE(value.is_number_integer());
    } else if (key == "role") {
      ASSERT_TRUE(value == "king" || value == "prophet" || value == "scribe") << value;
    } else if (key == "tags") {
      ASSERT_TRUE(value.is_array());
      ASSERT_GE(value.size(), 1u);
      ASSERT_LE(value.size(), 3u);
      for (const json& t : value) ASSERT_TRUE(t.is_string());
    } else if (key == "alive") {
      ASSERT_TRUE(value.is_boolean());
    } else if (key == "note") {
      ASSERT_TRUE(value.is_null() || value.is_number());
    } else {
      FAIL() << "unexpected key " << key;
    }
  }
  auto code_points = [](const std::string& s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  EXPECT_LE(code_points(v["name"].get<std::string>()), 12u);
  for (const json& t : v["tags"]) EXPECT_LE(code_points(t.get<std::string>()), 6u);
}

class StructuredOutput : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const auto path = test::fixture(std::string("gguf/") + GetParam() + ".gguf");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture missing: " << path;
    model_ = load_model(path.string());
    ContextOptions co;
    co.n_ctx = 512;
    gen_ = std::make_unique<Generator>(*model_, co, 2);
  }
  GenerateOptions options(uint64_t seed, std::string grammar) const {
    GenerateOptions o;
    o.max_tokens = 400;
    o.sampling.temperature = 0.8f;
    o.sampling.seed = seed;
    o.sampling.grammar = std::move(grammar);
    return o;
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<Generator> gen_;
};

TEST_P(StructuredOutput, SchemaOutputParsesAndValidates) {
  const std::string grammar = json_schema_to_gbnf(std::string_view(kSchema));
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const GenerateResult r = gen_->generate("And the king said unto", options(seed, grammar));
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + r.text);
    EXPECT_EQ(r.finish_reason, "stop");
    json v;
    ASSERT_NO_THROW(v = json::parse(r.text));
    expect_valid(v);
  }
}

TEST_P(StructuredOutput, JsonObjectAndGbnf) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    GenerateOptions o = options(seed, json_object_gbnf());
    o.max_tokens = 300;
    const GenerateResult r = gen_->generate("In the beginning", o);
    // An open object may run to the limit; what came out is then a prefix of one.
    if (r.finish_reason == "stop") {
      EXPECT_TRUE(json::parse(r.text).is_object()) << r.text;
    }
  }
  const std::string gbnf = "root ::= (\"Yea\" | \"Nay\") \", \" [a-z]{2,8} \".\"";
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const GenerateResult r = gen_->generate("And he answered", options(seed, gbnf));
    GrammarMatcher m(std::make_shared<const Grammar>(Grammar::parse(gbnf)),
                     std::make_shared<const GrammarVocab>(std::vector<std::string>{"x"}, std::vector<bool>{false}));
    EXPECT_TRUE(m.accept_text(r.text) && m.can_end()) << r.text;
    EXPECT_EQ(r.finish_reason, "stop");
  }
}

TEST_P(StructuredOutput, UnconstrainedTokensAreUnchanged) {
  GenerateOptions free = options(5, "");
  free.max_tokens = 48;
  const GenerateResult before = gen_->generate("And God said", free);
  // A constrained request in between builds the token texts; the next unconstrained one is as before.
  GenerateOptions constrained = options(5, json_object_gbnf());
  constrained.max_tokens = 8;
  gen_->generate("And God said", constrained);
  const GenerateResult after = gen_->generate("And God said", free);
  EXPECT_EQ(before.tokens, after.tokens);
  // A grammar that allows any text takes the same draws (the lazy check keeps every one).
  const GenerateResult any = gen_->generate("And God said", options(5, "root ::= .*"));
  GenerateOptions free_full = options(5, "");
  free_full.max_tokens = 400;
  const GenerateResult plain = gen_->generate("And God said", free_full);
  EXPECT_EQ(any.tokens, plain.tokens);
}

TEST_P(StructuredOutput, ABadGrammarIsAnErrorAndTheSessionGoesOn) {
  try {
    gen_->generate("And God said", options(1, "root ::= (\"a\""));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "grammar: line 1, column 14: expected ')' to close the group");
  }
  const GenerateResult r = gen_->generate("And God said", options(1, "root ::= \"Amen.\""));
  EXPECT_EQ(r.text, "Amen.");
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_LE(r.tokens.size(), 5u);  // ended when the grammar was complete, without an end token
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StructuredOutput, ::testing::Values("kjv-llama-Q8_0", "kjv-qwen2-F16"));

// The grammar's cost per token on the fixture vocabularies: the mask (every token checked through the trie) and
// the lazy check of one sampled token, at each character of a JSON document. Printed only.
TEST(StructuredOutputSpeed, MaskAndCheckPerToken) {
  const std::string doc = R"({"name": "Ruth", "age": 31, "tags": ["moab", "field"], "ok": true, "n": -2.5e3})";
  const auto grammar = std::make_shared<const Grammar>(Grammar::parse(json_object_gbnf()));
  for (const char* name : {"gguf/kjv-llama-Q8_0.gguf", "gguf/kjv-qwen2-F16.gguf", "vocab/ggml-vocab-llama-spm.gguf",
                           "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-deepseek-llm.gguf"}) {
    const auto path = test::fixture(name);
    if (!std::filesystem::exists(path)) continue;
    const Tokenizer tok(vocab_from_gguf(GgufFile::open(path.string())));
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    std::vector<std::string> pieces;
    std::vector<bool> eog;
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
      pieces.push_back(tok.token_to_piece(id, false));
      eog.push_back(tok.is_eog(id));
    }
    auto vocab = std::make_shared<const GrammarVocab>(std::move(pieces), std::move(eog));
    const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    GrammarMatcher m(grammar, vocab);
    std::vector<uint8_t> mask;
    double mask_ms = 0, check_ms = 0;
    size_t allowed = 0;
    for (size_t i = 0; i < doc.size(); ++i) {
      const auto a = Clock::now();
      m.allowed_tokens(mask);
      const auto b = Clock::now();
      for (int32_t id = 0; id < 16; ++id) (void)m.allows(id * 97 % tok.n_vocab());
      const auto c = Clock::now();
      mask_ms += std::chrono::duration<double, std::milli>(b - a).count();
      check_ms += std::chrono::duration<double, std::milli>(c - b).count() / 16;
      for (uint8_t x : mask) allowed += x;
      ASSERT_TRUE(m.accept_text(doc.substr(i, 1)));
    }
    const double n = static_cast<double>(doc.size());
    std::printf(
        "[ speed    ] %-36s %6d tokens: texts+trie %.1f ms; mask %.3f ms/token (%.0f allowed on average); "
        "lazy check %.4f ms/token\n",
        name, tok.n_vocab(), build_ms, mask_ms / n, static_cast<double>(allowed) / n, check_ms / n);
  }
}

}  // namespace
}  // namespace ternion
