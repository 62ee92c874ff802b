// F32 rows: plain floats. Kernels of every instruction-set level (the record is in f32.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

void f32_copy_ref(const void* src, float* dst, int64_t n);
void f32_from_float_ref(const float* src, void* dst, int64_t n);
void f32_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void f32_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                  int64_t n_tokens, float* out, int64_t ldo);

void f32_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void f32_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);
void f32_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void f32_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);

// The record for exactly this level, or nullptr when the type has no kernels of that level.
const QuantTraits* f32_traits(Isa isa);

}  // namespace ternion::quant
