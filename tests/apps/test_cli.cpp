// The `ternion` program as users run it: flags, output formats, and one clear line for every mistake.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

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

std::string model_path() { return test::fixture("gguf/kjv-llama-Q8_0.gguf").string(); }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { TERNION_REQUIRE_FIXTURE(model_path()); }
};

TEST_F(Cli, GeneratesAndStreamsText) {
  const Outcome o = run_cli("run -m " + model_path() + " -p 'In the beginning God created' -n 12 --temp 0");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_GT(o.out.size(), 10u);
  EXPECT_NE(o.err.find("tok/s"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("load"), std::string::npos) << o.err;
}

TEST_F(Cli, PositionalModelAndJson) {
  const Outcome o = run_cli("run " + model_path() + " -p 'The LORD is my shepherd;' -n 8 --temp 0 --json");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["tokens"].size(), 8u);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_EQ(j["prompt_tokens"][0], 1);  // BOS
  EXPECT_TRUE(j["text"].is_string());
  EXPECT_TRUE(j["timings"]["generate_tokens_per_s"].is_number());
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1);
}

TEST_F(Cli, NoBosDropsTheBeginningToken) {
  const Outcome o = run_cli("run -m " + model_path() + " -p 'ROMEO:' -n 1 --temp 0 --json --no-bos");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(nlohmann::json::parse(o.out)["prompt_tokens"][0], 1);
}

TEST_F(Cli, ThreadCountDoesNotChangeTokens) {
  const std::string base = "run -m " + model_path() + " -p 'Blessed are the' -n 16 --json --seed 5 --temp 0.9 ";
  const auto a = nlohmann::json::parse(run_cli(base + "-t 1").out);
  const auto b = nlohmann::json::parse(run_cli(base + "-t 2").out);
  EXPECT_EQ(a["tokens"], b["tokens"]);
}

TEST_F(Cli, MappedWeightsGiveTheSameTokens) {
  const std::string base = "run -m " + model_path() + " -p 'Blessed are the' -n 16 --json --seed 5 --temp 0.9 ";
  const auto copied = nlohmann::json::parse(run_cli(base).out);
  const Outcome o = run_cli(base + "--mmap");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out)["tokens"], copied["tokens"]);
  const std::string ppl =
      "perplexity -m " + model_path() + " -f " + test::fixture("text/validation.txt").string() + " -c 128 --chunks 2";
  const Outcome a = run_cli(ppl);
  const Outcome b = run_cli(ppl + " --mmap");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out.substr(a.out.find("PPL = ")), b.out.substr(b.out.find("PPL = ")));
}

TEST_F(Cli, SameSeedSameText) {
  const std::string cmd = "run -m " + model_path() + " -p 'First Citizen:' -n 24 --json --temp 1.0 --seed 1234";
  const auto a = nlohmann::json::parse(run_cli(cmd).out);
  const auto b = nlohmann::json::parse(run_cli(cmd).out);
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_EQ(a["text"], b["text"]);
  const auto c = nlohmann::json::parse(
      run_cli("run -m " + model_path() + " -p 'First Citizen:' -n 24 --json --temp 1.0 --seed 99").out);
  EXPECT_NE(a["tokens"], c["tokens"]);
}

TEST_F(Cli, PromptFromFile) {
  const fs::path p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_ternion_prompt.txt");
  std::ofstream(p) << "And God said";
  const Outcome o = run_cli("run -m " + model_path() + " -f " + p.string() + " -n 2 --temp 0 --json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out)["prompt_tokens"].size(), 4u);
}

TEST_F(Cli, Info) {
  const Outcome o = run_cli("info -m " + model_path());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("general.architecture"), std::string::npos);
  EXPECT_NE(o.out.find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(o.out.find("Q8_0"), std::string::npos);
}

TEST_F(Cli, Perplexity) {
  const Outcome o = run_cli("perplexity -m " + model_path() + " -f " + test::fixture("text/validation.txt").string() +
                            " -c 128 --chunks 2");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("PPL = "), std::string::npos) << o.out;
}

TEST_F(Cli, MissingModel) {
  expect_one_line_error(run_cli("run -m /nonexistent/model.gguf -p hi"), "/nonexistent/model.gguf");
}

TEST_F(Cli, DirectoryAsModel) { expect_one_line_error(run_cli("run -m /tmp -p hi"), "/tmp"); }

TEST_F(Cli, NotAGgufFile) {
  const fs::path p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_ternion_not_gguf.txt");
  std::ofstream(p) << "this is plainly not a model file, but it is long enough to hold a header";
  expect_one_line_error(run_cli("run -m " + p.string() + " -p hi"), p.string());
}

TEST_F(Cli, TruncatedModel) {
  const fs::path p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_ternion_truncated.gguf");
  const std::string bytes = slurp(model_path());
  for (size_t cut : {size_t{3}, size_t{200}, size_t{100000}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    expect_one_line_error(run_cli("run -m " + p.string() + " -p hi"), p.string());
  }
  fs::remove(p);
}

TEST_F(Cli, EmptyPrompt) { expect_one_line_error(run_cli("run -m " + model_path() + " -p ''"), "prompt"); }

TEST_F(Cli, NonPositiveTokenCount) {
  expect_one_line_error(run_cli("run -m " + model_path() + " -p hi -n 0"), "-n");
  expect_one_line_error(run_cli("run -m " + model_path() + " -p hi -n -3"), "-n");
}

TEST_F(Cli, UnknownFlag) { expect_one_line_error(run_cli("run -m " + model_path() + " -p hi --bogus"), "--bogus"); }

TEST_F(Cli, BadFlagValue) { expect_one_line_error(run_cli("run -m " + model_path() + " -p hi -n many"), "many"); }

TEST_F(Cli, ContextOverflow) {
  // A prompt that fills the context is an error; -n past it is not (test_cli_compat.cpp).
  expect_one_line_error(run_cli("run -m " + model_path() + " -p 'And God said unto them' -n 100 -c 4"),
                        "fills the context");
}

TEST_F(Cli, InfoNamesTheArchitecturesBlock) {
  const Outcome o = run_cli("info -m " + model_path());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("architecture: llama: RMSNorm before each branch, SwiGLU FFN, RoPE (adjacent pairs)"),
            std::string::npos)
      << o.out.substr(0, 400);
  const auto gemma2 = test::fixture("arch/gemma2");
  if (!std::filesystem::exists(gemma2 / "model.safetensors")) return;
  const Outcome f = run_cli("info " + gemma2.string());
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_NE(f.out.find("architecture: gemma2: RMSNorm before and after each branch, GeGLU FFN"), std::string::npos)
      << f.out.substr(0, 400);
}

TEST_F(Cli, BadSamplingValue) {
  expect_one_line_error(run_cli("run -m " + model_path() + " -p hi --top-p 0"), "--top-p must be in (0, 1], got 0");
}

TEST_F(Cli, MissingPromptFile) {
  expect_one_line_error(run_cli("run -m " + model_path() + " -f /nonexistent/prompt.txt"), "/nonexistent/prompt.txt");
}

}  // namespace
}  // namespace ternion
