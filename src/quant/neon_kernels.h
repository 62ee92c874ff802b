// The ARM64 kernels of every type that has them, for the trait records in <type>.cpp. *_neon functions use
// ARMv8-A Advanced SIMD only; *_neon_dot functions also use the ARMv8.2 dot product (SDOT) and may only run after
// cpu_features() reported it. Each is bit-identical to its type's scalar reference. Defined in ARM64 builds only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ternion::quant {

// Float rows (f32_neon.cpp, f16_neon.cpp, bf16_neon.cpp).
void f32_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void f32_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void f16_to_float_neon(const void* src, float* dst, int64_t n);
void f16_from_float_neon(const float* src, void* dst, int64_t n);
void f16_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void f16_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void bf16_to_float_neon(const void* src, float* dst, int64_t n);
void bf16_from_float_neon(const float* src, void* dst, int64_t n);
void bf16_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void bf16_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

// Q8_0 (q8_0_neon.cpp, q8_0_neon_dot.cpp); from_float is the activation quantizer.
void q8_0_to_float_neon(const void* src, float* dst, int64_t n);
void q8_0_from_float_neon(const float* src, void* dst, int64_t n);
void q8_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void q8_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);
void q8_0_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void q8_0_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

// Q4_0 (q4_0_neon.cpp, q4_0_neon_dot.cpp).
void q4_0_to_float_neon(const void* src, float* dst, int64_t n);
void q4_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void q4_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);
void q4_0_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void q4_0_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

// Ternary (tq1_0_neon.cpp, tq1_0_neon_dot.cpp, tq2_0_neon.cpp, tq2_0_neon_dot.cpp).
void tq1_0_to_float_neon(const void* src, float* dst, int64_t n);
void tq1_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void tq1_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);
void tq1_0_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void tq1_0_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                         int64_t n_tokens, float* out, int64_t ldo);

void tq2_0_to_float_neon(const void* src, float* dst, int64_t n);
void tq2_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void tq2_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);
void tq2_0_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void tq2_0_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                         int64_t n_tokens, float* out, int64_t ldo);

}  // namespace ternion::quant
