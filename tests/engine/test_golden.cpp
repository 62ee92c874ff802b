// End-to-end checks against the reference outputs in fixtures/golden (llama.cpp at the commit named in
// the fixtures README): tokenization, greedy continuations, logits and perplexity.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/golden.h"
#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/engine/generate.h"
#include "ternion/engine/perplexity.h"

namespace ternion {
namespace {

using nlohmann::json;

using test::greedy;
using test::load_golden;

class GoldenModel : public ::testing::TestWithParam<std::string> {};

// Float models: all six prompts continue exactly as the reference for 48 tokens, and the logits of the
// first prompt's last position are within 1e-2.
TEST_P(GoldenModel, GreedyContinuationsAndLogits) {
  const std::string name = GetParam();
  const auto path = test::fixture("gguf/" + name + ".gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const json g = load_golden(name);
  const auto model = load_model(path.string());
  ContextOptions copt;
  copt.n_ctx = 512;
  Generator gen(*model, copt, 2);
  const auto& prompts = g["prompts"];
  const size_t n_prompts = test::slow_build() ? 2 : prompts.size();
  for (size_t i = 0; i < n_prompts; ++i) {
    const auto& p = prompts[i];
    const GenerateResult r = gen.generate(p["prompt"].get<std::string>(), greedy(48));
    EXPECT_EQ(r.prompt_tokens, p["tokens"].get<std::vector<int32_t>>()) << name << " prompt " << i;
    EXPECT_EQ(r.tokens, p["greedy_tokens"].get<std::vector<int32_t>>()) << name << " prompt " << i;
    EXPECT_EQ(r.text, p["greedy_text"].get<std::string>()) << name << " prompt " << i;
  }
  // Logits at the last position of the first prompt.
  const auto ids = prompts[0]["tokens"].get<std::vector<int32_t>>();
  gen.context().clear();
  const auto logits = gen.context().decode(ids);
  const auto expected = g["first_prompt_last_logits"]["logits"].get<std::vector<float>>();
  ASSERT_EQ(logits.size(), expected.size());
  float max_diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) max_diff = std::max(max_diff, std::abs(logits[i] - expected[i]));
  EXPECT_LT(max_diff, 1e-2f) << name;
  std::printf("%s: max |logit - reference| = %.3g\n", name.c_str(), static_cast<double>(max_diff));
}

INSTANTIATE_TEST_SUITE_P(Float, GoldenModel, ::testing::Values("kjv-llama-F16", "kjv-qwen2-F16"));

class GoldenQuantModel : public ::testing::TestWithParam<std::string> {};

// Quantized models: the first generated token of every prompt equals the reference's.
TEST_P(GoldenQuantModel, FirstTokens) {
  const std::string name = GetParam();
  const auto path = test::fixture("gguf/" + name + ".gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const json g = load_golden(name);
  const auto model = load_model(path.string());
  ContextOptions copt;
  copt.n_ctx = 128;
  Generator gen(*model, copt, 2);
  for (const auto& p : g["prompts"]) {
    const GenerateResult r = gen.generate(p["prompt"].get<std::string>(), greedy(1));
    ASSERT_EQ(r.tokens.size(), 1u);
    EXPECT_EQ(r.tokens[0], p["greedy_tokens"][0].get<int32_t>()) << name << ": " << p["prompt"];
  }
}

// Perplexity over text/validation.txt with the reference protocol (context 128) within 0.3 %. Sanitizer
// and coverage builds score the first 8 chunks against the reference's running value after 8 chunks.
TEST_P(GoldenQuantModel, Perplexity) {
  const std::string name = GetParam();
  const auto path = test::fixture("gguf/" + name + ".gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const json g = load_golden(name);
  std::ifstream in(test::fixture("text/validation.txt"), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto model = load_model(path.string());
  ContextOptions copt;
  copt.n_ctx = 128;
  copt.n_batch = 128;
  copt.logits_all = true;
  Generator gen(*model, copt, 2);
  const bool quick = test::slow_build();
  const PerplexityResult r = perplexity(gen, text, 128, quick ? 8 : 0);
  const double expected =
      quick ? g["perplexity"]["running_ppl_first50"][7].get<double>() : g["perplexity"]["ppl"].get<double>();
  if (!quick) {
    EXPECT_EQ(r.n_chunks, g["perplexity"]["n_chunks"].get<int64_t>());
  }
  EXPECT_NEAR(r.ppl, expected, expected * 0.003) << name;
  std::printf("%s: perplexity %.4f (reference %.4f, %lld chunks)\n", name.c_str(), r.ppl, expected,
              static_cast<long long>(r.n_chunks));
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenQuantModel,
                         ::testing::Values("kjv-llama-Q8_0", "kjv-llama-Q4_0", "kjv-llama-F16", "kjv-qwen2-F16",
                                           "kjv-llama-Q4_K_M", "kjv-llama-Q5_K_M", "kjv-llama-Q6_K", "kjv-llama-Q3_K_M",
                                           "kjv-llama-Q2_K", "kjv-llama-Q4_1", "kjv-llama-Q5_0", "kjv-llama-Q5_1",
                                           "kjv-llama-IQ4_NL", "kjv-trilm-TQ1_0", "kjv-trilm-TQ2_0"));

}  // namespace
}  // namespace ternion
