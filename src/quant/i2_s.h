// I2_S (bitnet.cpp's type 36): ternary codes, 2 bits each, and one float scale for the whole tensor, stored after
// its codes: value = (t - 1) * scale with t in {0, 1, 2}. bitnet.cpp's x86 layout: blocks of 128 values in 32
// bytes, byte m holding element m in bits 6-7, 32 + m in bits 4-5, 64 + m in bits 2-3 and 96 + m in bits 0-1; the
// tensor's codes (n / 4 bytes) are followed by 32 bytes whose first 4 are the scale (float). bitnet.cpp built for
// ARM writes blocks of 64 values in 16 bytes instead (byte m: 16g + m in bits 6-2g), with nothing in the file to
// tell them apart; those files are not supported (bitnet.cpp's published ones are x86).
//
// Here a block is 256 values (two of bitnet.cpp's, 64 bytes) so that dots take Q8_K activations, and a row's
// kernels see codes only: to_float gives t - 1, from_float takes values already divided by the scale
// (round, clamped to [-1, 1]), and the tensor's scale is the matrix's (WeightMatrix::scale).
//
// Dot numerics: per block the exact integer sum of (t - 1) * x; then, in order, sum = fma(float(isum), d_x, sum)
// from +0 (TQ2_0's with a block scale of 1). The code 3 never comes out of the quantizer; it decodes as +2.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kI2SBlockSize = 256;
constexpr size_t kI2SBlockBytes = 64;

// The 256 codes of a block in element order, each 0..3.
void i2_s_unpack(const uint8_t* block, uint8_t* trits);

void i2_s_to_float_ref(const void* src, float* dst, int64_t n);
void i2_s_from_float_ref(const float* src, void* dst, int64_t n);
void i2_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void i2_s_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void i2_s_to_float_avx2(const void* src, float* dst, int64_t n);
void i2_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void i2_s_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void i2_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void i2_s_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* i2_s_traits(Isa isa);

}  // namespace ternion::quant
