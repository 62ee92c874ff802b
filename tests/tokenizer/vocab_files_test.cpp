// llama.cpp's own tokenizer test cases (fixtures/vocab/*.gguf with .inp/.out), run with add_special = false and
// parse_special = false as llama.cpp's test-tokenizer-0 does; vocabularies we do not support must fail clearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

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
  EXPECT_EQ(pos, inp.size()) << "text after the last separator";
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

class VocabFile : public ::testing::TestWithParam<std::string> {};

// Every .inp string tokenizes to the .out ids, and decodes back to itself.
TEST_P(VocabFile, MatchesLlamaCppTestCases) {
  const std::string base = "vocab/ggml-vocab-" + GetParam() + ".gguf";
  const auto gguf_path = test::fixture(base);
  TOKENIZER_REQUIRE_FIXTURE(gguf_path);
  const auto inp_path = test::fixture(base + ".inp");
  TOKENIZER_REQUIRE_FIXTURE(inp_path);
  const Tokenizer tok = test::load_tokenizer(gguf_path.string());
  const std::vector<std::string> inputs = split_inputs(test::read_file(inp_path.string()));
  const std::vector<std::vector<int32_t>> expected = parse_outputs(test::read_file(gguf_path.string() + ".out"));
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(expected.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + ": '" + inputs[i] + "'");
    const std::vector<int32_t> ids = tok.encode(inputs[i], false, false);
    EXPECT_EQ(ids, expected[i]);
    EXPECT_EQ(tok.decode(ids, true), inputs[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, VocabFile,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "mpt", "starcoder", "refact", "falcon",
                                           "deepseek-coder", "deepseek-llm"),
                         test::param_name);

// Vocabularies without test cases still load and round-trip text.
TEST(VocabFiles, WithoutTestCasesLoadAndRoundTrip) {
  for (const std::string name : {"baichuan", "gpt-neox"}) {
    const auto gguf_path = test::fixture("vocab/ggml-vocab-" + name + ".gguf");
    TOKENIZER_REQUIRE_FIXTURE(gguf_path);
    SCOPED_TRACE(name);
    const Tokenizer tok = test::load_tokenizer(gguf_path.string());
    const std::string text = "Hello world, it's 2025!\n\tcafé 日本語 🙂";
    const std::vector<int32_t> ids = tok.encode(text, false, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok.decode(ids, true), text);
  }
}

// bert-bge (WordPiece) has its own test: wordpiece_test.cpp.

}  // namespace
}  // namespace ternion
