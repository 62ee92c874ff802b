// IQ4_NL: blocks of 32 4-bit indices into a fixed non-linear grid of 16 int8 values, with one fp16 scale:
// value = d * kIq4Values[index]. Element j (0..15) is the low nibble of qs[j], element j + 16 the high nibble.
// Layout bit-exact with GGUF.
//
// Dots take Q8_0 activations: per block the exact int32 sum of the 32 products kIq4Values[index] * p; then,
// block by block in order, sum = fma(float(isum), fp32(d_w) * fp32(d_x), sum), starting from +0.
//
// The grid and the scale search are shared with IQ4_XS (iq4_xs.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kIq4NlBlockSize = 32;

// The grid of the IQ4 formats, ascending.
alignas(16) inline constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                      1,    13,   25,  38,  53,  69,  89,  113};

struct BlockIq4Nl {
  uint16_t d;      // scale, fp16
  uint8_t qs[16];  // grid indices: low nibble = element j, high nibble = element j + 16
};
static_assert(sizeof(BlockIq4Nl) == 18, "IQ4_NL block must match GGUF");

// Index of the grid value nearest v (between two equally near values, the upper one; NaN gives 15).
int iq4_nearest_index(float v);

// The scale of one block of 32 values, as GGUF's IQ4 quantizers choose it without an importance matrix: with
// weights w_j = x_j^2, the least-squares scale sum(w x q) / sum(w q^2) for the grid points q nearest x / d, over
// the candidates d = max / 127 and d = max / (127 - k) for k = -7..7 (max: the value of largest magnitude, with
// its sign), keeping the one that explains most of sum(w x^2). 0 when every |x| is below 1e-15. With
// `weights` (importance weights, see iq4_importance) those replace x^2.
float iq4_block_scale(const float* x, const float* weights = nullptr);

// The importance weights of the IQ4 quantizers for a block of 32 values xb: qw[j] * sqrt(sigma2 + xb[j]^2), where
// sigma2 = iq4_sigma2 of the super-block (2 * the mean of x^2 over its n values).
float iq4_sigma2(const float* x, int n);
void iq4_importance(float sigma2, const float* xb, const float* qw, float* weight);

// IQ4_NL with importance weights qw[n] (null: the plain quantizer).
void iq4_nl_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw);

void iq4_nl_to_float_ref(const void* src, float* dst, int64_t n);
void iq4_nl_from_float_ref(const float* src, void* dst, int64_t n);
void iq4_nl_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq4_nl_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);

void iq4_nl_to_float_avx2(const void* src, float* dst, int64_t n);
void iq4_nl_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq4_nl_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

void iq4_nl_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void iq4_nl_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* iq4_nl_traits(Isa isa);

}  // namespace ternion::quant
