// LoRA adapters as users run them: convert --lora, run --lora / --lora-scaled, export-lora, and one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/cli_runner.h"
#include "support/test_support.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;

using test::expect_one_line_error;
using test::Outcome;
using test::run_cli;

std::string base() { return test::fixture("hf/kjv-llama").string(); }
std::string peft() { return test::fixture("arch/lora-kjv-llama").string(); }

std::vector<int32_t> tokens_of(const Outcome& o) {
  EXPECT_EQ(o.code, 0) << o.err;
  return nlohmann::json::parse(o.out)["tokens"].get<std::vector<int32_t>>();
}

TEST(LoraCli, ConvertRunAndExport) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/lora-kjv-llama/adapter_model.safetensors"));
  TERNION_REQUIRE_FIXTURE(test::fixture("hf/kjv-llama/model.safetensors"));
  const fs::path dir = test::cli_scratch_dir();
  const std::string adapter = (dir / "adapter.gguf").string();
  Outcome o = run_cli("convert --lora " + peft() + " --base " + base() + " " + adapter);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("a LoRA adapter of 84 tensors"), std::string::npos) << o.out;

  std::ifstream in(test::fixture("arch/lora-kjv-llama/golden.json"));
  const auto golden = nlohmann::json::parse(in);
  const auto& p = golden["prompts"][0];
  const auto want = p["greedy_tokens"].get<std::vector<int32_t>>();
  const std::string run = "run -m " + base() + " -p '" + p["prompt"].get<std::string>() + "' -n 8 --temp 0 --json ";
  const auto adapted = tokens_of(run_cli(run + "--lora " + adapter));
  EXPECT_EQ(adapted, std::vector<int32_t>(want.begin(), want.begin() + 8));
  EXPECT_EQ(tokens_of(run_cli(run + "--lora-scaled " + adapter + " 0")), tokens_of(run_cli(run)));
  EXPECT_EQ(tokens_of(run_cli(run + "--lora-scaled " + adapter + " 0.5 --lora-scaled " + adapter + " 0.5")), adapted);

  const std::string f16 = (dir / "base-f16.gguf").string();
  ASSERT_EQ(run_cli("convert " + base() + " " + f16 + " --type f16").code, 0);
  const std::string merged = (dir / "merged.gguf").string();
  o = run_cli("export-lora -m " + f16 + " --lora " + adapter + " -o " + merged);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("42 with 1 adapter merged"), std::string::npos) << o.out;
  const std::string run_merged =
      "run -m " + merged + " -p '" + p["prompt"].get<std::string>() + "' -n 8 --temp 0 --json";
  EXPECT_EQ(tokens_of(run_cli(run_merged)), adapted);

  // perplexity and bench take the same flags.
  const std::string ppl =
      "perplexity -m " + f16 + " -f " + test::fixture("text/validation.txt").string() + " -c 64 --chunks 2";
  const Outcome plain = run_cli(ppl);
  const Outcome with = run_cli(ppl + " --lora " + adapter);
  ASSERT_EQ(with.code, 0) << with.err;
  EXPECT_NE(with.out.find("PPL = "), std::string::npos);
  EXPECT_NE(with.out, plain.out);
  EXPECT_EQ(run_cli(ppl + " --lora-scaled " + adapter + " 0").out, plain.out);
  o = run_cli("bench -m " + f16 + " -p 8 -n 4 -r 1 -t 1 -o json --lora " + adapter);
  ASSERT_EQ(o.code, 0) << o.err;
  expect_one_line_error(run_cli(run + "--lora-scaled " + adapter + " x"), "finite number");

  expect_one_line_error(run_cli(run + "--lora " + f16), "not a LoRA adapter");
  expect_one_line_error(run_cli("export-lora -m " + f16 + " --lora " + adapter + " -o " + adapter), "");
  expect_one_line_error(run_cli("convert --lora " + peft() + " " + adapter), "--base");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ternion
