// IQ2_XXS, IQ2_XS and IQ2_S: super-blocks of 256 values in 8 blocks of 32, each block 4 groups of 8; a group is a
// point of an 8-dimensional grid of magnitudes (iq_grids.h) with 8 signs. Layouts bit-exact with GGUF.
//
//  - IQ2_XXS (2.06 bpw): per block two little-endian uint32 a0, a1: byte l of a0 is group l's grid index
//    (kIq2XxsGrid), bits 7l .. 7l+6 of a1 its sign code (kIqSigns), bits 28 .. 31 the block scale s.
//    value = d * (0.5 + s) * 0.25 * grid * sign.
//  - IQ2_XS (2.31 bpw): per group a uint16: bits 0 .. 8 the grid index (kIq2XsGrid), bits 9 .. 15 the sign code;
//    per block a byte of two 4-bit scales, the low one for groups 0 and 1, the high one for groups 2 and 3.
//  - IQ2_S (2.56 bpw): per group a byte of the index's low 8 bits (qs[0 .. 31]) and a byte of 8 plain signs
//    (qs[32 .. 63]); bits 2l, 2l+1 of qh[ib] are the index's bits 8, 9 (kIq2SGrid); scales as IQ2_XS.
//
// Dots take Q8_K activations (q8_k.h): per super-block the exact int32 isum = sum over blocks (or half blocks) of
// (2s + 1) * sum(grid * sign * x); then, super-block by super-block in order, starting from +0,
// sum = fma(float(isum), fp32(d_w) * d_x, sum), and the result is 0.125 * sum.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kIq2BlockSize = 256;

struct BlockIq2Xxs {
  uint16_t d;       // super-block scale, fp16
  uint16_t qs[32];  // per block: 4 grid indices, then 4 sign codes and the scale
};
static_assert(sizeof(BlockIq2Xxs) == 66, "IQ2_XXS block must match GGUF");

struct BlockIq2Xs {
  uint16_t d;
  uint16_t qs[32];    // per group: 9-bit grid index, 7-bit sign code
  uint8_t scales[8];  // per block: two 4-bit scales
};
static_assert(sizeof(BlockIq2Xs) == 74, "IQ2_XS block must match GGUF");

struct BlockIq2S {
  uint16_t d;
  uint8_t qs[64];     // 32 index low bytes, then 32 sign bytes
  uint8_t qh[8];      // per block: the index high bits of its 4 groups
  uint8_t scales[8];  // per block: two 4-bit scales
};
static_assert(sizeof(BlockIq2S) == 82, "IQ2_S block must match GGUF");

void iq2_xxs_to_float_ref(const void* src, float* dst, int64_t n);
void iq2_xxs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq2_xs_to_float_ref(const void* src, float* dst, int64_t n);
void iq2_xs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq2_s_to_float_ref(const void* src, float* dst, int64_t n);
void iq2_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void iq2_xxs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq2_xs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq2_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);

void iq2_xxs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void iq2_xs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void iq2_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);

// Quantizes n_rows rows of n_per_row values (a multiple of 256) to IQ2_XXS with GGUF's reference algorithm, the
// columns weighted by importance[n_per_row] (an imatrix's per-column mean of squared activations; required).
// Byte-identical with llama.cpp's quantize_iq2_xxs. Throws ternion::Error without importance.
void iq2_xxs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
// The same for IQ2_XS (llama.cpp's quantize_iq2_xs).
void iq2_xs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
// The same for IQ2_S (quantize_iq2_s), which also runs without importance (weights x^2 + sigma^2 / 4): its
// from_float (quantize_row_iq2_s_ref).
void iq2_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
void iq2_s_from_float_ref(const float* src, void* dst, int64_t n);

const QuantTraits* iq2_xxs_traits(Isa isa);
const QuantTraits* iq2_xs_traits(Isa isa);
const QuantTraits* iq2_s_traits(Isa isa);

}  // namespace ternion::quant
