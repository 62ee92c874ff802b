// Q3_K: super-blocks of 256 values in 16 groups of 16; 3-bit quants (low 2 bits in qs, high bit in hmask), a
// 6-bit scale per group (packed in 12 bytes) and one fp16 super-block scale:
// value = d * (scale_g - 32) * (q - 4). Layout bit-exact with GGUF. Element 128h + 32s + l (h < 2, s < 4,
// l < 32) has its low bits in bits 2s, 2s + 1 of qs[32h + l] and its high bit in bit 4h + s of hmask[l].
// Scale g has its low 4 bits in the low (g < 8) or high nibble of scales[g % 8] and its top 2 bits in bits
// 2 (g / 4), 2 (g / 4) + 1 of scales[8 + g % 4].
//
// Dot with Q8_K activations (the reference, which every SIMD kernel reproduces bit for bit): per super-block
// the exact int32 isum = sum_g (scale_g - 32) * sum_{i in g} (q_i - 4) * x_i; then, super-block after
// super-block from sum = +0, sum = fma(float(isum), d_w * d_x, sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "ternion/quant/quant.h"

namespace ternion::quant {

struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // high bits
  uint8_t qs[kQK_K / 4];     // low 2 bits
  uint8_t scales[12];        // 6-bit group scales
  uint16_t d;                // super-block scale, fp16
};
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block must match GGUF");

// The 16 group scales of the packed 12 bytes, scale_g - 32 in [-32, 31].
void unpack_q3_k_scales(const uint8_t* packed, int* sc);

void q3_k_to_float_ref(const void* src, float* dst, int64_t n);
void q3_k_from_float_ref(const float* src, void* dst, int64_t n);
void q3_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void q3_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q3_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// q3_k_avx512bw.cpp (AVX-512 without VNNI; the dot serves both AVX-512 records) and q3_k_avx512.cpp (VNNI).
void q3_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q3_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);
void q3_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q3_k_traits(Isa isa);

}  // namespace ternion::quant
