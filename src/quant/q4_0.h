// Q4_0: blocks of 32 4-bit values with one fp16 scale, value = (nibble - 8) * d. Element j (0..15) is the low
// nibble of qs[j], element j + 16 the high nibble. Layout bit-exact with GGUF. Dots take Q8_0 activations.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kQ4_0BlockSize = 32;

struct BlockQ4_0 {
  uint16_t d;      // scale, fp16
  uint8_t qs[16];  // nibbles: low = element j, high = element j + 16
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must match GGUF");

void q4_0_to_float_ref(const void* src, float* dst, int64_t n);
void q4_0_from_float_ref(const float* src, void* dst, int64_t n);
void q4_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void q4_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void q4_0_to_float_avx2(const void* src, float* dst, int64_t n);
void q4_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q4_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void q4_0_to_float_avx512(const void* src, float* dst, int64_t n);
void q4_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q4_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q4_0_traits(Isa isa);

}  // namespace ternion::quant
