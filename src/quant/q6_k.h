// Q6_K: super-blocks of 256 values in 16 groups of 16; 6-bit quants (low 4 bits in ql, high 2 in qh), an int8
// scale per group and one fp16 super-block scale: value = d * scales[g] * (q - 32). Layout bit-exact with GGUF.
// In each half of 128 values (64 bytes of ql, 32 of qh), element l, l + 32, l + 64, l + 96 (l < 32) take the
// low nibble of ql[l], of ql[l + 32], the high nibble of ql[l], of ql[l + 32], and bits 0-1, 2-3, 4-5, 6-7 of
// qh[l].
//
// Dot with Q8_K activations (the reference, which every SIMD kernel reproduces bit for bit): per super-block
// the exact int32 isum = sum_g scales[g] * sum_{i in g} (q_i - 32) * x_i; then, super-block after super-block
// from sum = +0, sum = fma(float(isum), d_w * d_x, sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "ternion/quant/quant.h"

namespace ternion::quant {

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits of each quant
  uint8_t qh[kQK_K / 4];      // high 2 bits of each quant
  int8_t scales[kQK_K / 16];  // per-group scales
  uint16_t d;                 // super-block scale, fp16
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block must match GGUF");

// Unpacks one super-block's quants into q[256] as signed values in [-32, 31], in element order.
void q6_k_unpack(const BlockQ6_K& b, int8_t* q);

void q6_k_to_float_ref(const void* src, float* dst, int64_t n);
void q6_k_from_float_ref(const float* src, void* dst, int64_t n);
// Q6_K with importance weights qw[n] used as they are in each group's search (null: the plain quantizer).
void q6_k_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw);
void q6_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void q6_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q6_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// q6_k_avx512bw.cpp (AVX-512 without VNNI; the dot serves both AVX-512 records) and q6_k_avx512.cpp (VNNI).
void q6_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q6_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);
void q6_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q6_k_traits(Isa isa);

}  // namespace ternion::quant
