// `ternion convert`, and HuggingFace folders given to run / info / perplexity, as users run them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/golden.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;
using test::slurp;

std::string folder() { return test::fixture("hf/kjv-llama").string(); }

class HfCli : public ::testing::Test {
 protected:
  void SetUp() override { TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-llama/model.safetensors")); }
};

TEST_F(HfCli, ConvertWritesLlamaCppsF16File) {
  const auto reference = test::fixture("gguf/kjv-llama-F16.gguf");
  TERNION_REQUIRE_FIXTURE(reference);
  const fs::path out = test::cli_scratch_dir() / "kjv-llama-F16.gguf";
  const Outcome o = run_cli("convert " + folder() + " " + out.string() + " --type f16");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("57 tensors (F32 13, F16 44)"), std::string::npos) << o.out;
  EXPECT_EQ(slurp(out), slurp(reference));
  fs::remove(out);
}

TEST_F(HfCli, RunAndInfoOnAFolder) {
  // generation_config.json says do_sample: false, so the folder runs greedy without --temp: transformers' tokens.
  const Outcome o = run_cli("run -m " + folder() + " -p 'Blessed are the' -n 12 --json");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto golden = test::load_golden("hf-kjv-llama");
  const auto& prompt = golden["prompts"][4];
  ASSERT_EQ(prompt["prompt"], "Blessed are the");
  const std::vector<int32_t> greedy = prompt["greedy_tokens"].get<std::vector<int32_t>>();
  EXPECT_EQ(nlohmann::json::parse(o.out)["tokens"].get<std::vector<int32_t>>(),
            std::vector<int32_t>(greedy.begin(), greedy.begin() + 12));
  const Outcome info = run_cli("info " + folder());
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("HuggingFace checkpoint"), std::string::npos);
  EXPECT_NE(info.out.find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(info.out.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos);
}

TEST_F(HfCli, PerplexityOnAFolder) {
  const Outcome o = run_cli("perplexity -m " + folder() + " -f " + test::fixture("text/validation.txt").string() +
                            " -c 128 --chunks 2");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("PPL = "), std::string::npos) << o.out;
}

TEST(ConvertCli, MistakesAreOneLine) {
  expect_one_line_error(run_cli("convert " + folder() + " /tmp/x.gguf --type q9_9"), "unknown type 'q9_9'");
  expect_one_line_error(run_cli("convert " + folder() + " /tmp/x.gguf --type q8_k"), "cannot convert to Q8_K");
  expect_one_line_error(run_cli("convert /nonexistent-folder /tmp/x.gguf"), "not a HuggingFace model folder");
  expect_one_line_error(run_cli("convert --from llama2c a.bin /tmp/x.gguf"), "--from llama2c needs --tokenizer");
  expect_one_line_error(run_cli("convert --from gguf a b"), "unknown source format 'gguf'");
  expect_one_line_error(run_cli("convert --from llama2c /nonexistent.bin /tmp/x.gguf --tokenizer t.bin"),
                        "/nonexistent.bin: cannot open");
  const fs::path empty = test::cli_scratch_dir() / "empty-folder";
  fs::create_directories(empty);
  expect_one_line_error(run_cli("run -m " + empty.string() + " -p hi"), "a folder without config.json");
}

}  // namespace
}  // namespace ternion
