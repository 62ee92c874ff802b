// RoPE scaling tables (linear, YaRN, LongRoPE) against transformers' formulas (support/hf_rope.h), for settings
// unlike any fixture: partial rotary, factors 4 to 32, other betas, an attention factor given or derived, both pair
// layouts, positions far past the original context.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "support/hf_rope.h"
#include "ternion/backend/ops.h"
#include "ternion/core/fp16.h"

namespace ternion {
namespace {

using test::HfLongRope;
using test::HfYarn;

RopeConfig config(RopeKind kind, int64_t n_rot, float base, RopeScaling scaling) {
  RopeConfig c;
  c.kind = kind;
  c.n_rot = n_rot;
  c.freq_base = base;
  c.scaling = scaling;
  return c;
}

// Linear scaling keeps the reference engine's float angles (llama.cpp's arithmetic), so positions stay where float
// angles are good to 1e-5.
TEST(RopeScaling, LinearMatchesTransformers) {
  struct Case {
    RopeKind kind;
    int64_t head_dim, n_rot;
    float base, factor;
  };
  for (const Case k : {Case{RopeKind::NeoX, 64, 32, 10000.0f, 4.0f}, Case{RopeKind::Adjacent, 32, 32, 500000.0f, 2.5f},
                       Case{RopeKind::NeoX, 48, 24, 1000000.0f, 32.0f}}) {
    RopeConfig c = config(k.kind, k.n_rot, k.base, RopeScaling::Linear);
    c.freq_scale = 1.0f / k.factor;
    const RopeTable table(c, 256);
    test::expect_table_matches(table, c, k.head_dim, test::hf_linear(k.base, k.n_rot, k.factor), {0, 1, 17, 100, 255},
                               1e-5, "linear factor " + std::to_string(k.factor));
  }
}

// bf16_frequencies: each pair's frequency rounded to bfloat16 (what a transformers model cast to bf16 and back
// holds), the angle position · frequency; exact frequencies differ from it by far more than the tolerance.
TEST(RopeScaling, Bf16FrequenciesAsARoundTrippedModelHoldsThem) {
  const int64_t n_rot = 32;
  RopeConfig c = config(RopeKind::NeoX, n_rot, 500000.0f, RopeScaling::None);
  c.bf16_frequencies = true;
  const RopeTable rounded(c, 128);
  test::HfRope ref{test::hf_default_inv_freq(500000.0, n_rot), 1.0};
  for (double& f : ref.inv_freq) f = bf16_to_fp32(fp32_to_bf16(static_cast<float>(f)));
  test::expect_table_matches(rounded, c, n_rot, ref, {0, 1, 31, 127}, 2e-5, "bf16 frequencies");
  c.bf16_frequencies = false;
  const RopeTable exact(c, 128);
  float v_exact[n_rot], v_rounded[n_rot];
  for (int64_t i = 0; i < n_rot; ++i) v_exact[i] = v_rounded[i] = 1.0f;
  exact.apply(v_exact, 1, n_rot, 127);
  rounded.apply(v_rounded, 1, n_rot, 127);
  float most = 0.0f;
  for (int64_t i = 0; i < n_rot; ++i) most = std::max(most, std::abs(v_exact[i] - v_rounded[i]));
  EXPECT_GT(most, 1e-3f) << "rounding the frequencies should move position 127 visibly";
}

// The settings RopeConfig takes from a YaRN model, as Model derives them (freq_scale = 1 / factor, the reference's
// attention factor).
RopeConfig yarn_config(RopeKind kind, const HfYarn& p, const test::HfRope& ref) {
  RopeConfig c = config(kind, p.dim, static_cast<float>(p.base), RopeScaling::Yarn);
  c.freq_scale = static_cast<float>(1.0 / *p.factor);
  c.n_ctx_orig = p.original_max_position_embeddings;
  c.yarn_beta_fast = static_cast<float>(p.beta_fast.value_or(32.0));
  c.yarn_beta_slow = static_cast<float>(p.beta_slow.value_or(1.0));
  c.attn_factor = static_cast<float>(ref.attention_factor);
  return c;
}

HfYarn yarn(double base, int64_t dim, double factor, int64_t original) {
  return test::hf_yarn_params(base, dim, factor, 0, original);
}

TEST(RopeScaling, YarnMatchesTransformers) {
  struct Case {
    const char* what;
    RopeKind kind;
    int64_t head_dim;
    HfYarn p;
    int64_t n_positions;
  };
  // Partial rotary (half of 96), other betas, an attention factor given.
  HfYarn partial = yarn(10000, 48, 8.0, 2048);
  partial.attention_factor = 0.8;
  partial.beta_fast = 16.0;
  partial.beta_slow = 2.0;
  // Adjacent pairs, a factor that is no power of two, DeepSeek's mscale form of the attention factor.
  HfYarn mscale = yarn(10000, 64, 2.5, 512);
  mscale.mscale = 0.707;
  mscale.mscale_all_dim = 1.0;
  const Case cases[] = {
      // Qwen3 with YaRN as its model card sets it: factor 4 over 32768.
      {"qwen-like", RopeKind::NeoX, 128, yarn(1e6, 128, 4.0, 32768), 40000},
      // gpt-oss's numbers (factor 32 over 4096), truncated.
      {"factor 32", RopeKind::NeoX, 64, yarn(150000, 64, 32.0, 4096), 20000},
      {"partial, betas, attention factor", RopeKind::NeoX, 96, partial, 9000},
      {"adjacent, mscale", RopeKind::Adjacent, 64, mscale, 3000},
  };
  for (const Case& k : cases) {
    const test::HfRope ref = test::hf_yarn(k.p);
    const RopeConfig c = yarn_config(k.kind, k.p, ref);
    const RopeTable table(c, k.n_positions);
    const int64_t last = k.n_positions - 1;
    test::expect_table_matches(table, c, k.head_dim, ref,
                               {0, 1, 7, 100, k.p.original_max_position_embeddings - 1, last}, 1e-5, k.what);
  }
}

// The ramp is what YaRN adds to linear scaling: its short wavelengths keep their trained frequency, its long ones are
// interpolated, and cos/sin carry 1 + 0.1 ln(factor).
TEST(RopeScaling, YarnBlendsExtrapolationAndInterpolation) {
  const HfYarn p = yarn(10000, 64, 16.0, 4096);
  const test::HfRope ref = test::hf_yarn(p);
  EXPECT_DOUBLE_EQ(ref.inv_freq.front(), 1.0);                                                    // extrapolated
  EXPECT_NEAR(ref.inv_freq.back(), test::hf_linear(p.base, p.dim, 16.0).inv_freq.back(), 1e-15);  // interpolated
  EXPECT_NEAR(ref.attention_factor, 1.0 + 0.1 * std::log(16.0), 1e-15);
  const RopeConfig c = yarn_config(RopeKind::NeoX, p, ref);
  const RopeTable table(c, 8192);
  test::expect_table_matches(table, c, 64, ref, {1, 4095, 8191}, 1e-5, "factor 16");
}

HfLongRope phi4_mini_like(std::optional<double> attention_factor) {
  // Phi-4-mini: head 128, partial rotary 0.75 (48 pairs), 4096 positions stretched to 131072.
  HfLongRope p;
  p.dim = 96;
  p.attention_factor = attention_factor;
  p.max_position_embeddings = 131072;
  p.original_max_position_embeddings = 4096;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> shrt(1.0, 1.5), lng(1.0, 40.0);
  for (int i = 0; i < 48; ++i) {
    p.short_factor.push_back(static_cast<float>(shrt(rng)));  // the values a GGUF stores, F32
    p.long_factor.push_back(static_cast<float>(lng(rng)));
  }
  std::sort(p.long_factor.begin(), p.long_factor.end());
  return p;
}

TEST(RopeScaling, LongRopePicksFactorsByContextSize) {
  for (const std::optional<double> given : {std::optional<double>(), std::optional<double>(1.3)}) {
    const HfLongRope p = phi4_mini_like(given);
    RopeConfig c = config(RopeKind::NeoX, p.dim, static_cast<float>(p.base), RopeScaling::LongRope);
    c.freq_factors.assign(p.short_factor.begin(), p.short_factor.end());
    c.freq_factors_long.assign(p.long_factor.begin(), p.long_factor.end());
    c.n_ctx_orig = p.original_max_position_embeddings;
    // Up to the original context the short factors hold; one position more, the long ones (as llama.cpp picks by
    // context size, and transformers by sequence length).
    for (const int64_t n : {int64_t{4096}, int64_t{4097}, int64_t{32768}}) {
      const test::HfRope ref = test::hf_longrope(p, n);
      if (!given) {
        EXPECT_NEAR(ref.attention_factor, std::sqrt(1 + std::log(32.0) / std::log(4096.0)), 1e-12);
      }
      c.attn_factor = static_cast<float>(ref.attention_factor);
      const RopeTable table(c, n);
      test::expect_table_matches(table, c, 128, ref, {0, 1, 100, 4095, n - 1}, 1e-5,
                                 "longrope, " + std::to_string(n) + " positions");
    }
  }
}

}  // namespace
}  // namespace ternion
