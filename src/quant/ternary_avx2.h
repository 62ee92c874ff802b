// AVX2 kernels shared by the ternary types (included by tq1_0_avx2.cpp and tq2_0_avx2.cpp; the AVX-512 files use
// them for the leftover rows and tokens of their tiles). A weight format W unpacks one super-block into eight
// registers of trits, register c holding elements 32c..32c+31 as bytes t in 0..3 (value t - 1):
//   static constexpr size_t kBlockBytes;   // bytes per super-block
//   static constexpr size_t kScaleOffset;  // byte offset of its fp16 scale (or kUnitScale: none, the scale is 1)
//   static void decode(const uint8_t* block, __m256i* t);
//
// Per super-block: VPMADDUBSW of trits (unsigned) with activations (signed) gives pairs of t * x in int16; the
// eight chunks are added in int16 (at most 8 * 2 * 3 * 128 = 6144 in magnitude), the activations' group sums
// (bsums) are subtracted to turn t into t - 1, and VPMADDWD folds the lanes to int32. The block sum is then exact,
// and each output accumulates sum = fma(isum, d_w * d_x, sum) block after block: the reference order.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8KBytes = sizeof(BlockQ8_K);
constexpr size_t kQ8KValues = 4;  // offset of qs in a Q8_K block
constexpr size_t kQ8KSums = 260;  // offset of bsums

// 8 int32 lanes whose sum is the exact dot of a decoded super-block with one Q8_K block.
inline __m256i ternary_block_lanes(const __m256i* t, const uint8_t* xb) {
  const auto* xv = reinterpret_cast<const __m256i*>(xb + kQ8KValues);
  __m256i acc = _mm256_maddubs_epi16(t[0], _mm256_loadu_si256(xv));
  for (int c = 1; c < 8; ++c) acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(t[c], _mm256_loadu_si256(xv + c)));
  acc = _mm256_sub_epi16(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kQ8KSums)));
  return _mm256_madd_epi16(acc, _mm256_set1_epi16(1));
}

// v[j] (8 lanes each) -> lane j = the sum of v[j]'s lanes. Exact (int32).
inline __m256i ternary_reduce8(const __m256i* v) {
  const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1);
  const __m256i u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

inline int32_t ternary_hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x55));
  return _mm_cvtsi128_si32(s);
}

// A block's fp16 scale; 1 for a format whose scale is the tensor's (I2_S: kUnitScale).
template <class W>
float ternary_weight_scale(const uint8_t* block) {
  if constexpr (requires { W::kUnitScale; }) {
    return 1.0f;
  } else {
    return _cvtsh_ss(load_unaligned<uint16_t>(block + W::kScaleOffset, 0));
  }
}

inline float q8_k_scale(const uint8_t* block) { return load_unaligned<float>(block, 0); }

// Dequantizes n values: (t - 1) * d, as the reference computes it.
template <class W>
void ternary_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* blk = s + b * W::kBlockBytes;
    const __m256 d = _mm256_set1_ps(ternary_weight_scale<W>(blk));
    __m256i t[8];
    W::decode(blk, t);
    float* y = dst + b * 256;
    for (int c = 0; c < 8; ++c) {
      alignas(32) uint8_t bytes[32];
      _mm256_store_si256(reinterpret_cast<__m256i*>(bytes), _mm256_sub_epi8(t[c], _mm256_set1_epi8(1)));
      for (int k = 0; k < 32; k += 8) {
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + k));
        _mm256_storeu_ps(y + 32 * c + k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
      }
    }
  }
}

template <class W>
void ternary_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t nb = n / 256;
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256i v[8];
    alignas(32) float d[8];
    for (int j = 0; j < 8; ++j) {
      const uint8_t* wb = wp + (b + j) * W::kBlockBytes;
      const uint8_t* xb = xp + (b + j) * kQ8KBytes;
      __m256i t[8];
      W::decode(wb, t);
      v[j] = ternary_block_lanes(t, xb);
      d[j] = ternary_weight_scale<W>(wb) * q8_k_scale(xb);
    }
    alignas(32) float isum[8];
    _mm256_store_ps(isum, _mm256_cvtepi32_ps(ternary_reduce8(v)));
    for (int j = 0; j < 8; ++j) sum = std::fma(isum[j], d[j], sum);
  }
  for (; b < nb; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8KBytes;
    __m256i t[8];
    W::decode(wb, t);
    const int32_t isum = ternary_hsum(ternary_block_lanes(t, xb));
    sum = std::fma(static_cast<float>(isum), ternary_weight_scale<W>(wb) * q8_k_scale(xb), sum);
  }
  *out = sum;
}

// R rows x T tokens (R * T <= 8), output t * R + r in lane t * R + r. Each row is decoded once per block and
// met with every token.
template <class W, int R, int T>
void ternary_tile_avx2(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                       int64_t ldo) {
  static_assert(R * T <= 8, "one output per lane");
  const int64_t nb = n / 256;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8KBytes;
    __m256i v[8];
    for (int j = R * T; j < 8; ++j) v[j] = _mm256_setzero_si256();
    alignas(32) float dw[8] = {};
    alignas(32) float dx[8] = {};
    for (int r = 0; r < R; ++r) {
      __m256i t[8];
      W::decode(wb + r * w_stride, t);
      for (int k = 0; k < T; ++k) v[k * R + r] = ternary_block_lanes(t, xb + k * x_stride);
    }
    for (int k = 0; k < T; ++k) {
      for (int r = 0; r < R; ++r) {
        dw[k * R + r] = ternary_weight_scale<W>(wb + r * w_stride);
        dx[k * R + r] = q8_k_scale(xb + k * x_stride);
      }
    }
    const __m256 d = _mm256_mul_ps(_mm256_load_ps(dw), _mm256_load_ps(dx));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ternary_reduce8(v)), d, acc);
  }
  alignas(32) float res[8];
  _mm256_store_ps(res, acc);
  for (int k = 0; k < T; ++k) {
    for (int r = 0; r < R; ++r) out[k * ldo + r] = res[k * R + r];
  }
}

// One row and T tokens, through the single dot.
template <class W, int T>
void ternary_tile_single_avx2(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                              float* out, int64_t ldo) {
  for (int k = 0; k < T; ++k) ternary_vec_dot_avx2<W>(n, out + k * ldo, w, x + k * x_stride);
}

template <class W>
void ternary_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, ternary_tile_avx2<W, 8, 1>, ternary_tile_single_avx2<W, 1>},
      {4, ternary_tile_avx2<W, 4, 2>, ternary_tile_single_avx2<W, 2>},
      {2, ternary_tile_avx2<W, 2, 3>, ternary_tile_single_avx2<W, 3>},
      {2, ternary_tile_avx2<W, 2, 4>, ternary_tile_single_avx2<W, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
