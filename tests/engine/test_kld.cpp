// KL divergence against a reference model: zero against itself, small and consistent with perplexity for a
// close quantization, and an error for models with different vocabularies.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/kld.h"
#include "ternion/engine/perplexity.h"

namespace ternion {
namespace {

std::string validation_text() {
  std::ifstream in(test::fixture("text/validation.txt"), std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ContextOptions eval_options() {
  ContextOptions c;
  c.n_ctx = 128;
  c.n_batch = 128;
  c.logits_all = true;
  return c;
}

class Kld : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f : {"gguf/kjv-llama-F16.gguf", "gguf/kjv-llama-Q8_0.gguf", "gguf/kjv-qwen2-F16.gguf"}) {
      TERNION_REQUIRE_FIXTURE(test::fixture(f));
    }
  }
  std::unique_ptr<Model> load(const std::string& name) { return load_model(test::fixture("gguf/" + name).string()); }
};

TEST_F(Kld, ZeroAgainstItself) {
  const auto m = load("kjv-llama-Q8_0.gguf");
  Generator a(*m, eval_options(), 2), b(*m, eval_options(), 1);
  const KldResult r = kl_divergence(a, b, validation_text(), 128, 3);
  EXPECT_EQ(r.n_chunks, 3);
  EXPECT_EQ(r.n_tokens, 3 * 63);
  EXPECT_LT(r.mean_kld, 1e-12);
  EXPECT_LT(r.max_kld, 1e-12);
  EXPECT_DOUBLE_EQ(r.same_top, 1.0);
  EXPECT_DOUBLE_EQ(r.ppl, r.ppl_reference);
  EXPECT_NEAR(r.mean_delta_p, 0, 1e-12);
  EXPECT_EQ(r.running_kld.size(), 3u);
}

TEST_F(Kld, QuantizationIsCloseAndConsistentWithPerplexity) {
  const auto q8 = load("kjv-llama-Q8_0.gguf");
  const auto f16 = load("kjv-llama-F16.gguf");
  Generator a(*q8, eval_options(), 2), b(*f16, eval_options(), 2);
  const std::string text = validation_text();
  const int64_t chunks = test::slow_build() ? 2 : 8;
  const KldResult r = kl_divergence(a, b, text, 128, chunks);
  EXPECT_GT(r.mean_kld, 0);
  EXPECT_LT(r.mean_kld, 0.01);  // Q8_0 is nearly lossless
  EXPECT_GE(r.max_kld, r.kld_p99);
  EXPECT_GE(r.kld_p99, r.kld_p90);
  EXPECT_GE(r.kld_p90, r.kld_median);
  EXPECT_GT(r.same_top, 0.9);
  EXPECT_GT(r.rms_delta_p, 0);
  EXPECT_NEAR(r.mean_ln_ppl_ratio, std::log(r.ppl / r.ppl_reference), 1e-9);
  // The same positions and protocol as perplexity().
  EXPECT_NEAR(r.ppl, perplexity(a, text, 128, chunks).ppl, 1e-9 * r.ppl);
  EXPECT_NEAR(r.ppl_reference, perplexity(b, text, 128, chunks).ppl, 1e-9 * r.ppl);
}

TEST_F(Kld, DifferentVocabulariesAreAnError) {
  const auto llama = load("kjv-llama-Q8_0.gguf");
  const auto qwen = load("kjv-qwen2-F16.gguf");
  Generator a(*llama, eval_options(), 1), b(*qwen, eval_options(), 1);
  EXPECT_THROW(kl_divergence(a, b, validation_text(), 128, 1), Error);
  EXPECT_THROW(kl_divergence(a, a, "too short", 128, 1), Error);
}

}  // namespace
}  // namespace ternion
