// IQ4_XS: super-blocks of 256 values in 8 blocks of 32; 4-bit indices into the IQ4 grid (kIq4Values, iq4_nl.h),
// a 6-bit scale per block and one fp16 super-block scale: value = d * (ls - 32) * kIq4Values[index]. Block ib's
// scale ls has its low 4 bits in nibble ib % 2 of scales_l[ib / 2] and its high 2 bits in bits 2ib, 2ib+1 of
// scales_h; its indices are qs[16ib .. 16ib+15] (low nibble = element j, high nibble = element j + 16 of the
// block). Layout bit-exact with GGUF.
//
// Dots take Q8_K activations (q8_k.h): per super-block the exact int32 isum = sum over blocks of
// (ls - 32) * sum(kIq4Values[index] * p); then, super-block by super-block in order, starting from +0,
// sum = fma(float(isum), fp32(d_w) * d_x, sum).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kIq4XsBlockSize = 256;

struct BlockIq4Xs {
  uint16_t d;           // super-block scale, fp16
  uint16_t scales_h;    // high 2 bits of the 8 block scales
  uint8_t scales_l[4];  // low 4 bits of the 8 block scales
  uint8_t qs[128];      // grid indices, 16 bytes per block of 32
};
static_assert(sizeof(BlockIq4Xs) == 136, "IQ4_XS block must match GGUF");

// Block ib's scale minus 32, in [-32, 31].
inline int iq4_xs_block_scale(const BlockIq4Xs& b, int ib) {
  const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
  const int high = (b.scales_h >> (2 * ib)) & 3;
  return (low | (high << 4)) - 32;
}

void iq4_xs_to_float_ref(const void* src, float* dst, int64_t n);
void iq4_xs_from_float_ref(const float* src, void* dst, int64_t n);
// IQ4_XS with importance weights qw[n] (null: the plain quantizer).
void iq4_xs_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw);
void iq4_xs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq4_xs_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo);

void iq4_xs_to_float_avx2(const void* src, float* dst, int64_t n);
void iq4_xs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq4_xs_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

void iq4_xs_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

const QuantTraits* iq4_xs_traits(Isa isa);

}  // namespace ternion::quant
