// Q4_1: blocks of 32 unsigned 4-bit values with an fp16 scale and an fp16 minimum, value = q * d + m
// (q in 0..15). Element j (0..15) is the low nibble of qs[j], element j + 16 the high nibble. Layout bit-exact
// with GGUF.
//
// Dots take Q8_0 activations (x_j = d_x * p_j). Since w_j * x_j = d_w * d_x * q_j * p_j + m * d_x * p_j, each
// block gives two exact int32 sums, isum = sum(q_j * p_j) and psum = sum(p_j) (the activation quants' own sum,
// exact, where ggml's Q8_1 keeps it as an fp16 of d_x * sum). Each block's value is
//   v = fma(float(isum), fp32(d_w) * fp32(d_x), float(psum) * (fp32(m) * fp32(d_x)))
// and the blocks add up in order, sum = sum + v, starting from +0 (one add per block in the dependency chain).
// to_float gives fma(q, d, m) (one rounding).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kQ4_1BlockSize = 32;

struct BlockQ4_1 {
  uint16_t d;      // scale, fp16
  uint16_t m;      // minimum (value of q = 0), fp16
  uint8_t qs[16];  // nibbles: low = element j, high = element j + 16
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block must match GGUF");

void q4_1_to_float_ref(const void* src, float* dst, int64_t n);
void q4_1_from_float_ref(const float* src, void* dst, int64_t n);
void q4_1_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void q4_1_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void q4_1_to_float_avx2(const void* src, float* dst, int64_t n);
void q4_1_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q4_1_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void q4_1_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q4_1_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q4_1_traits(Isa isa);

}  // namespace ternion::quant
