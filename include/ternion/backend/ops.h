// Element-wise and row-wise CPU ops of the transformer, besides matmul (matmul.h) and attention
// (attention.h). Each follows the arithmetic of the reference engine whose outputs our goldens hold
// (llama.cpp): where it sums in double or scales in a particular order, so do we, and the comment says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ternion {

// y = x / sqrt(mean(x²) + eps) * weight, for one row of n values. The mean is summed in double;
// x is first scaled, then multiplied by the weight (two roundings, as the reference does).
void rms_norm_row(const float* x, const float* weight, float* y, int64_t n, float eps);

// y[i] = silu(gate[i]) * up[i], silu(v) = v / (1 + exp(-v)).
void silu_mul(const float* gate, const float* up, float* y, int64_t n);

// y[i] += x[i].
void add_in_place(float* y, const float* x, int64_t n);

// In-place softmax over n values, each first multiplied by `scale` (in the same pass as the maximum): exponentials
// (within 2 ulp; 0 where more than 87 below the maximum, and for -inf) summed in 16 float lanes in one fixed
// order, then one scale by 1/sum. All values -inf: all become 0.
void softmax_in_place(float* x, int64_t n, float scale = 1.0f);

// y = (x - mean) / sqrt(var + eps) * weight + bias (LayerNorm); weight or bias may be null. Sums in double.
void layer_norm_row(const float* x, const float* weight, const float* bias, float* y, int64_t n, float eps);

// The activations an architecture record names. Gated forms (SwiGLU, GeGLU) apply it to the gate and multiply by up.
enum class Activation : uint8_t {
  kSilu,         // x·σ(x): SwiGLU when gated (llama, qwen, mistral, ...)
  kGeluTanh,     // GELU, tanh approximation: GeGLU when gated (gemma), plain (starcoder2)
  kGeluErf,      // exact GELU (gpt-neox, bloom)
  kReluSquared,  // max(x, 0)²
};
float gelu_tanh(float x);
float gelu_erf(float x);
void activate_in_place(Activation act, float* x, int64_t n);
// y[i] = act(gate[i]) * up[i] (y may alias gate); kSilu is silu_mul's arithmetic.
void gated_activation(Activation act, const float* gate, const float* up, float* y, int64_t n);
// x = cap · tanh(x / cap) (gemma 2's attention and final logit soft-capping).
void softcap_in_place(float* x, int64_t n, float cap);
void scale_in_place(float* x, int64_t n, float s);
// ALiBi's per-head slopes for max_bias (8 in BLOOM).
std::vector<float> alibi_slopes(int64_t n_head, float max_bias);

enum class RopeKind {
  Adjacent,  // rotate pairs (2i, 2i+1): llama's GGUF layout (its converter permutes Q/K rows for it)
  NeoX,      // rotate pairs (i, i + n_rot/2): qwen2, and HF checkpoints of every family
};

// How a model stretches RoPE beyond its training context (GGUF rope.scaling.type, or rope_freqs / LongRoPE factor
// tensors).
enum class RopeScaling {
  None,      // plain RoPE; llama-3 scaling is this plus per-pair freq_factors (rope_freqs.weight)
  Linear,    // positions divided by the factor (freq_scale = 1 / factor)
  Yarn,      // per pair, a ramp between interpolation (freq_scale) and extrapolation; cos/sin scaled by attn_factor
  LongRope,  // per-pair frequency divisors, long or short by the context size; cos/sin scaled by attn_factor
};

// Rotary position embedding tables: cos/sin of pos · θ_i for every position and pair, precomputed at load.
// None and Linear follow the reference engine's float arithmetic (our goldens come from it). Yarn and LongRope have
// no golden and are meant for long contexts, where float angles drift: their tables are computed in double from
// transformers' formulas (modeling_rope_utils.py) and rounded once.
struct RopeConfig {
  RopeKind kind = RopeKind::Adjacent;
  int64_t n_rot = 0;           // dimensions rotated per head (≤ head size)
  float freq_base = 10000.0f;  // θ base
  RopeScaling scaling = RopeScaling::None;
  float freq_scale = 1.0f;          // 1 / scaling factor (Linear, Yarn)
  std::vector<float> freq_factors;  // [n_rot / 2] per pair divisor of the frequency (llama-3's rope_freqs, LongRoPE's
                                    // short factors), empty for none
  std::vector<float> freq_factors_long;  // [n_rot / 2] LongRoPE: used instead of freq_factors when the table holds
                                         // more than n_ctx_orig positions (as llama.cpp picks by context size)
  int64_t n_ctx_orig = 0;                // training context before scaling (YaRN's correction range, LongRoPE's pick)
  float yarn_ext_factor = 1.0f;          // YaRN: weight of the extrapolation ramp (llama.cpp's ext_factor)
  float yarn_beta_fast = 32.0f;          // YaRN: rotations where the ramp starts (pairs below extrapolate) ...
  float yarn_beta_slow = 1.0f;           // ... and ends (pairs beyond interpolate)
  float attn_factor = 1.0f;              // cos and sin are multiplied by it (YaRN's mscale, LongRoPE's factor)
  // Each pair's frequency rounded to bfloat16 first, as a transformers model cast to bf16 and back holds them (its
  // inv_freq buffer): only to reproduce references computed that way (tests/engine/test_arch_golden.cpp).
  bool bf16_frequencies = false;
};

class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(const RopeConfig& config, int64_t n_positions);
  // Rotates the first n_rot dims of each of n_heads heads (head_dim apart) of one token at position pos.
  void apply(float* heads, int64_t n_heads, int64_t head_dim, int64_t pos) const;
  int64_t n_positions() const { return n_positions_; }
  const RopeConfig& config() const { return config_; }
  // cos and sin of pos · θ_i, [pos][n_rot / 2] (a GPU backend copies them to its memory).
  const std::vector<float>& cos_table() const { return cos_; }
  const std::vector<float>& sin_table() const { return sin_; }

 private:
  RopeConfig config_;
  int64_t n_positions_ = 0;
  std::vector<float> cos_;  // [pos][n_rot / 2]
  std::vector<float> sin_;
};

}  // namespace ternion
