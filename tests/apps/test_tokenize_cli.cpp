// `ternion tokenize` / `ternion detokenize` as users run them, on GGUF files and HuggingFace tokenizer folders.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;
using test::slurp;

std::string fixture(const std::string& relative) { return test::fixture(relative).string(); }

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    TERNION_REQUIRE_FIXTURE(fixture("gguf/kjv-llama-Q8_0.gguf"));
    TERNION_REQUIRE_FIXTURE(fixture("hf/kjv-qwen2/tokenizer.json"));
  }
};

TEST_F(TokenizeCli, IdsFromGguf) {
  const Outcome o = run_cli("tokenize -m " + fixture("gguf/kjv-llama-Q8_0.gguf") + " 'And God said'");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "1 306 405 413\n");
  const Outcome no_bos =
      run_cli("tokenize --ids --no-bos -m " + fixture("gguf/kjv-llama-Q8_0.gguf") + " 'And God said'");
  EXPECT_EQ(no_bos.out, "306 405 413\n");
}

TEST_F(TokenizeCli, StdinFileAndHfFolder) {
  const std::string qwen2 = fixture("hf/kjv-qwen2");
  const Outcome from_stdin = run_cli("tokenize -m " + qwen2, "Blessed are the");
  ASSERT_EQ(from_stdin.code, 0) << from_stdin.err;
  const Outcome from_gguf = run_cli("tokenize -m " + fixture("gguf/kjv-qwen2-F16.gguf") + " 'Blessed are the'");
  EXPECT_EQ(from_stdin.out, from_gguf.out);
  const fs::path text = test::cli_scratch_dir() / "text.txt";
  std::ofstream(text, std::ios::binary) << "Blessed are the";
  EXPECT_EQ(run_cli("tokenize -m " + qwen2 + "/tokenizer.json -f " + text.string()).out, from_stdin.out);
}

TEST_F(TokenizeCli, PiecesAndSpecialTokens) {
  const std::string qwen2 = fixture("hf/kjv-qwen2");
  const Outcome plain = run_cli("tokenize --pieces -m " + qwen2 + " 'a\n<|im_end|>'");
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("'<|im_end|>'"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("'\\n'"), std::string::npos) << plain.out;  // the newline's piece, escaped
  const Outcome parsed = run_cli("tokenize --pieces --parse-special -m " + qwen2 + " 'a<|im_end|>'");
  EXPECT_NE(parsed.out.find("4095 '<|im_end|>'\n"), std::string::npos) << parsed.out;
}

TEST_F(TokenizeCli, DetokenizeRoundTrip) {
  const std::string model = fixture("gguf/kjv-llama-Q8_0.gguf");
  const Outcome o = run_cli("detokenize -m " + model + " 1 306 405 413");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.out, "<s> And God said\n");
  EXPECT_EQ(run_cli("detokenize --skip-special -m " + model + " '1,306,405,413'").out, "And God said\n");
  EXPECT_EQ(run_cli("detokenize -m " + fixture("hf/kjv-qwen2") + " 4095").out, "<|im_end|>\n");
}

TEST_F(TokenizeCli, Errors) {
  const std::string model = fixture("gguf/kjv-llama-Q8_0.gguf");
  expect_one_line_error(run_cli("detokenize -m " + model + " 1 abc"), "'abc' is not a token id");
  expect_one_line_error(run_cli("detokenize -m " + model + " 99999"), "99999");
  expect_one_line_error(run_cli("tokenize -m /nonexistent/tokenizer.json hi"), "/nonexistent/tokenizer.json");
  expect_one_line_error(run_cli("tokenize --ids --pieces -m " + model + " hi"), "--pieces");
  const fs::path bad = test::cli_scratch_dir() / "tokenizer.json";
  std::ofstream(bad, std::ios::binary) << R"({"model": {"type": "Unigram"}})";
  expect_one_line_error(run_cli("tokenize -m " + bad.string() + " hi"), "model.type");
}

}  // namespace
}  // namespace ternion
