// Q5_0: blocks of 32 5-bit values with one fp16 scale, value = (q - 16) * d, q in 0..31. The low 4 bits of
// element j (0..15) are the low nibble of qs[j], those of element j + 16 the high nibble; bit 4 of element j is
// bit j of qh (a little-endian uint32). Layout bit-exact with GGUF.
//
// Dots take Q8_0 activations: per block the exact int32 sum of the 32 products (q - 16) * p; then, block by block
// in order, sum = fma(float(isum), fp32(d_w) * fp32(d_x), sum), starting from +0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kQ5_0BlockSize = 32;

struct BlockQ5_0 {
  uint16_t d;      // scale, fp16
  uint8_t qh[4];   // bit 4 of element j is bit j of this little-endian uint32
  uint8_t qs[16];  // low 4 bits: low nibble = element j, high nibble = element j + 16
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block must match GGUF");

void q5_0_to_float_ref(const void* src, float* dst, int64_t n);
void q5_0_from_float_ref(const float* src, void* dst, int64_t n);
void q5_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void q5_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo);

void q5_0_to_float_avx2(const void* src, float* dst, int64_t n);
void q5_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void q5_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);

void q5_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void q5_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* q5_0_traits(Isa isa);

}  // namespace ternion::quant
