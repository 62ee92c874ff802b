// Q2_K: super-blocks of 256 values in 16 groups of 16; 2-bit quants q, a byte per group holding a 4-bit scale
// (low nibble) and a 4-bit min (high nibble), and fp16 super-block scales d and dmin:
// value = d * scale_g * q - dmin * min_g. Layout bit-exact with GGUF. Element 128h + 32s + l (h < 2, s < 4,
// l < 32) is bits 2s, 2s + 1 of qs[32h + l].
//
// Dot with Q8_K activations (the reference, which every SIMD kernel reproduces bit for bit): per super-block
// the exact int32 sums isum = sum_g scale_g * sum_{i in g} q_i * x_i and msum = sum_g min_g * bsums[g]; then,
// super-block after super-block from sum = +0,
//   sum = fma(float(isum), d_w * d_x, sum);  sum = fma(float(-msum), dmin_w * d_x, sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "ternion/quant/quant.h"

namespace ternion::quant {

struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // scale (low nibble) and min (high nibble) per group
  uint8_t qs[kQK_K / 4];       // 2-bit quants
  uint16_t d;                  // scale of the group scales, fp16
  uint16_t dmin;               // scale of the group mins, fp16
};
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block must match GGUF");

void q2_k_to_float_ref(const void* src, float* dst, int64_t n);
void q2_k_from_float_ref(const float* src, void* dst, int64_t n);
void q2_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void q2_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q2_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// q2_k_avx512bw.cpp (AVX-512 without VNNI; the dot serves both AVX-512 records) and q2_k_avx512.cpp (VNNI).
void q2_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q2_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);
void q2_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q2_k_traits(Isa isa);

}  // namespace ternion::quant
