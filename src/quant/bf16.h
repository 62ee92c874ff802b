// BF16 rows: the top half of an fp32. Activations are rounded to bf16 (RNE) and the products summed in fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

void bf16_to_float_ref(const void* src, float* dst, int64_t n);
void bf16_from_float_ref(const float* src, void* dst, int64_t n);
void bf16_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void bf16_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void bf16_to_float_avx2(const void* src, float* dst, int64_t n);
void bf16_from_float_avx2(const float* src, void* dst, int64_t n);
void bf16_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void bf16_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void bf16_to_float_avx512(const void* src, float* dst, int64_t n);
void bf16_from_float_avx512(const float* src, void* dst, int64_t n);
void bf16_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void bf16_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* bf16_traits(Isa isa);

}  // namespace ternion::quant
