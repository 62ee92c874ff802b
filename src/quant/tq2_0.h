// TQ2_0 (ternary, BitNet b1.58): super-blocks of 256 values, 2 bits each, and one fp16 scale:
// value = (t - 1) * d with t in {0, 1, 2}. Byte m of qs[32 g .. 32 g + 32) holds in bits 2l, 2l+1 the trit of
// element 128 g + 32 l + m (g = 0, 1; l = 0..3). The code 3 never comes out of the quantizer; it decodes as +2.
// Layout bit-exact with GGUF (66 bytes). Dots take Q8_K activations.
//
// Dot numerics: per super-block the exact integer sum of (t - 1) * x; then, in order,
// sum = fma(float(isum), fp32(d_w) * d_x, sum) from +0. The SIMD kernels read the activations' bsums (which every
// Q8_K quantizer writes as the group sums of qs) to take the offset of 1 back out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kTQ2_0BlockSize = 256;

struct BlockTQ2_0 {
  uint8_t qs[64];  // 4 trits per byte, see above
  uint16_t d;      // scale, fp16
};
static_assert(sizeof(BlockTQ2_0) == 66, "TQ2_0 block must match GGUF");

// The 256 trits of a block in element order, each 0..3.
void tq2_0_unpack(const BlockTQ2_0& b, uint8_t* trits);

void tq2_0_to_float_ref(const void* src, float* dst, int64_t n);
void tq2_0_from_float_ref(const float* src, void* dst, int64_t n);
void tq2_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void tq2_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void tq2_0_to_float_avx2(const void* src, float* dst, int64_t n);
void tq2_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void tq2_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);

void tq2_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void tq2_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* tq2_0_traits(Isa isa);

}  // namespace ternion::quant
