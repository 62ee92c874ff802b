// Q8_0: blocks of 32 int8 values with one fp16 scale, value = qs[j] * d. Layout bit-exact with GGUF.
// Q8_0 is also the form activations take before a dot with Q8_0 or Q4_0 weights.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kQ8_0BlockSize = 32;

struct BlockQ8_0 {
  uint16_t d;     // scale, fp16
  int8_t qs[32];  // values
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must match GGUF");

void q8_0_to_float_ref(const void* src, float* dst, int64_t n);
void q8_0_from_float_ref(const float* src, void* dst, int64_t n);
// The stored-weight quantizer: as from_float, but exact .5 ties round away from zero (llama-quantize's files).
void q8_0_quantize_weights_ref(const float* src, void* dst, int64_t n);
void q8_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void q8_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void q8_0_to_float_avx2(const void* src, float* dst, int64_t n);
void q8_0_from_float_avx2(const float* src, void* dst, int64_t n);
void q8_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q8_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void q8_0_to_float_avx512(const void* src, float* dst, int64_t n);
void q8_0_from_float_avx512(const float* src, void* dst, int64_t n);
void q8_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q8_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q8_0_traits(Isa isa);

}  // namespace ternion::quant
