// IQ1_S and IQ1_M: super-blocks of 256 values in 8 blocks of 32, each block 4 groups of 8; a group is a point of
// the 8-dimensional ternary grid kIq1Grid (iq_grids.h, 2048 points) shifted by delta = +-1/8. Layouts bit-exact
// with GGUF.
//
//  - IQ1_S (1.56 bpw): qs[4ib + l] is the low 8 bits of group l's 11-bit index; qh[ib] (uint16) holds the high 3
//    bits of group l at bits 3l .. 3l+2, the block scale s at bits 12 .. 14 and delta's sign at bit 15 (set:
//    -1/8). value = d * (2s + 1) * (grid + delta).
//  - IQ1_M (1.75 bpw): no d field; qs as IQ1_S; qh[2ib + l / 2] holds group l's high 3 bits in nibble l % 2 and
//    its delta's sign at bit 3 of that nibble; scales (4 little-endian uint16 sc[0..3]): the 3-bit scale of half
//    h of block ib at bits 6 (ib % 2) + 3h of sc[ib / 2]; the fp16 super-block scale d is the top nibbles of
//    sc[0], sc[1], sc[2], sc[3] (bits 0-3, 4-7, 8-11, 12-15 of d).
//
// Dots take Q8_K activations (q8_k.h): with w = 8 * grid + (delta < 0 ? -1 : 1), per super-block the exact int32
// isum = sum over blocks (IQ1_M: half blocks) of (2s + 1) * sum(w * x); then, super-block by super-block in order,
// starting from +0, sum = fma(float(isum), fp32(d_w) * d_x, sum), and the result is 0.125 * sum.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kIq1BlockSize = 256;

struct BlockIq1S {
  uint16_t d;      // super-block scale, fp16
  uint8_t qs[32];  // index low bits
  uint16_t qh[8];  // per block: index high bits, scale, delta sign
};
static_assert(sizeof(BlockIq1S) == 50, "IQ1_S block must match GGUF");

struct BlockIq1M {
  uint8_t qs[32];     // index low bits
  uint8_t qh[16];     // index high bits and delta signs, two groups per byte
  uint8_t scales[8];  // 3-bit half-block scales and the fp16 super-block scale's nibbles
};
static_assert(sizeof(BlockIq1M) == 56, "IQ1_M block must match GGUF");

// IQ1_M's fp16 super-block scale, gathered from the top nibbles of its scales.
inline uint16_t iq1_m_scale(const uint8_t* scales) {
  uint16_t sc[4];
  for (int k = 0; k < 4; ++k) sc[k] = static_cast<uint16_t>(scales[2 * k] | (scales[2 * k + 1] << 8));
  return static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
}

void iq1_s_to_float_ref(const void* src, float* dst, int64_t n);
void iq1_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq1_m_to_float_ref(const void* src, float* dst, int64_t n);
void iq1_m_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void iq1_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq1_m_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq1_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void iq1_m_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);

// Quantizes n_rows rows of n_per_row values (a multiple of 256) to IQ1_S with GGUF's reference algorithm, the
// columns weighted by importance[n_per_row] (an imatrix's per-column mean of squared activations; required).
// Byte-identical with llama.cpp's quantize_iq1_s. Throws ternion::Error without importance.
void iq1_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);

// The same for IQ1_M (llama.cpp's quantize_iq1_m); without importance the weights are x^2, as there (llama-quantize
// itself asks for an imatrix).
void iq1_m_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);

const QuantTraits* iq1_s_traits(Isa isa);
const QuantTraits* iq1_m_traits(Isa isa);

}  // namespace ternion::quant
