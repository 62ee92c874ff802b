// Q5_K: super-blocks of 256 values in 8 groups of 32; 5-bit quants q, a 6-bit scale and a 6-bit min per group
// (packed in 12 bytes, see unpack_scale_min_k4) and fp16 super-block scales d and dmin:
// value = d * scale_g * q - dmin * min_g. Layout bit-exact with GGUF. Element 32c + l (c < 8, l < 32) has its
// low 4 bits in the low (c even) or high (c odd) nibble of qs[32 (c / 2) + l] and its fifth bit in bit c of
// qh[l].
//
// Dot with Q8_K activations (the reference, which every SIMD kernel reproduces bit for bit): per super-block
// the exact int32 sums isum = sum_g scale_g * sum_{i in g} q_i * x_i and msum = sum_g min_g * (bsums of g's
// two halves); then, super-block after super-block from sum = +0,
//   sum = fma(float(isum), d_w * d_x, sum);  sum = fma(float(-msum), dmin_w * d_x, sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "ternion/quant/quant.h"

namespace ternion::quant {

struct BlockQ5_K {
  uint16_t d;             // scale of the group scales, fp16
  uint16_t dmin;          // scale of the group mins, fp16
  uint8_t scales[12];     // 6-bit scales and mins
  uint8_t qh[kQK_K / 8];  // fifth bits
  uint8_t qs[kQK_K / 2];  // low 4 bits
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block must match GGUF");

void q5_k_to_float_ref(const void* src, float* dst, int64_t n);
void q5_k_from_float_ref(const float* src, void* dst, int64_t n);
void q5_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void q5_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q5_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// q5_k_avx512bw.cpp (AVX-512 without VNNI; the dot serves both AVX-512 records) and q5_k_avx512.cpp (VNNI).
void q5_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q5_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);
void q5_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q5_k_traits(Isa isa);

}  // namespace ternion::quant
