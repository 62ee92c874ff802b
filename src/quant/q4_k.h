// Q4_K: super-blocks of 256 values in 8 groups of 32; 4-bit quants q, a 6-bit scale and a 6-bit min per group
// (packed in 12 bytes, see unpack_scale_min_k4) and fp16 super-block scales d and dmin:
// value = d * scale_g * q - dmin * min_g. Layout bit-exact with GGUF. Element 64k + l (l < 32) is the low
// nibble of qs[32k + l], element 64k + 32 + l its high nibble.
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

struct BlockQ4_K {
  uint16_t d;             // scale of the group scales, fp16
  uint16_t dmin;          // scale of the group mins, fp16
  uint8_t scales[12];     // 6-bit scales and mins
  uint8_t qs[kQK_K / 2];  // nibbles
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block must match GGUF");

void q4_k_to_float_ref(const void* src, float* dst, int64_t n);
void q4_k_from_float_ref(const float* src, void* dst, int64_t n);
void q4_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void q4_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q4_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// q4_k_avx512bw.cpp (AVX-512 without VNNI; the dot serves both AVX-512 records) and q4_k_avx512.cpp (VNNI).
void q4_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q4_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);
void q4_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q4_k_traits(Isa isa);

}  // namespace ternion::quant
