// IQ3_XXS and IQ3_S: super-blocks of 256 values in 8 blocks of 32, each block 8 points of a 4-dimensional grid of
// magnitudes (iq_grids.h) with signs per group of 8 values. Layouts bit-exact with GGUF.
//
//  - IQ3_XXS (3.06 bpw): qs[0 .. 63] are the grid indices (kIq3XxsGrid), 8 per block; then per block a
//    little-endian uint32 whose bits 7l .. 7l+6 are group l's sign code (kIqSigns) and bits 28 .. 31 the block
//    scale s. value = d * (0.5 + s) * 0.5 * grid * sign.
//  - IQ3_S (3.44 bpw): qs[8ib + k] is the low 8 bits of block ib's index k (kIq3SGrid), bit k of qh[ib] its bit 8;
//    signs[4ib + l] are group l's 8 plain signs; nibble ib % 2 of scales[ib / 2] is the block scale s.
//    value = d * (1 + 2s) * grid * sign.
//
// Dots take Q8_K activations (q8_k.h): per super-block the exact int32 isum = sum over blocks of
// (2s + 1) * sum(grid * sign * x); then, super-block by super-block in order, starting from +0,
// sum = fma(float(isum), fp32(d_w) * d_x, sum); the result is 0.25 * sum (IQ3_XXS) or sum (IQ3_S).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

constexpr int kIq3BlockSize = 256;

struct BlockIq3Xxs {
  uint16_t d;      // super-block scale, fp16
  uint8_t qs[96];  // 64 grid indices, then 8 uint32 of sign codes and scale
};
static_assert(sizeof(BlockIq3Xxs) == 98, "IQ3_XXS block must match GGUF");

struct BlockIq3S {
  uint16_t d;
  uint8_t qs[64];     // grid index low bits
  uint8_t qh[8];      // grid index bit 8, one byte per block
  uint8_t signs[32];  // 8 signs per group
  uint8_t scales[4];  // two 4-bit block scales per byte
};
static_assert(sizeof(BlockIq3S) == 110, "IQ3_S block must match GGUF");

void iq3_xxs_to_float_ref(const void* src, float* dst, int64_t n);
void iq3_xxs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);
void iq3_s_to_float_ref(const void* src, float* dst, int64_t n);
void iq3_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x);

void iq3_xxs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq3_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x);
void iq3_xxs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);
void iq3_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x);

// Quantizes n_rows rows of n_per_row values (a multiple of 256) to IQ3_XXS with GGUF's reference algorithm,
// byte-identical with llama.cpp's quantize_iq3_xxs: the columns weighted by importance[n_per_row] (an imatrix's
// per-column mean of squared activations), or by x^2 where importance is null.
void iq3_xxs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
// from_float: one row without an importance matrix (GGUF's quantize_row_iq3_xxs_ref).
void iq3_xxs_from_float_ref(const float* src, void* dst, int64_t n);

// The same for IQ3_S (llama.cpp's quantize_iq3_s and quantize_row_iq3_s_ref).
void iq3_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance);
void iq3_s_from_float_ref(const float* src, void* dst, int64_t n);

const QuantTraits* iq3_xxs_traits(Isa isa);
const QuantTraits* iq3_s_traits(Isa isa);

}  // namespace ternion::quant
