// AVX2 dot kernels shared by F32, F16 and BF16 (included by their *_avx2.cpp files). A Loader says how to read
// 8 elements as fp32 and how many bytes one takes. Each output keeps its 16 lanes in two registers (lanes 0-7 and
// 8-15); the tail goes into the first lanes with one fma each (from a zero-padded copy, blended) and the lanes
// are reduced in registers in the reference order (kernel_common.h), so every result has the reference's bits.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/kernel_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// F32 elements: the activation side of every float kernel whose vec_dot_type is F32 (F32 and BF16 weights).
struct F32Loader {
  static constexpr size_t kBytes = 4;  // bytes per element
  static __m256 load8(const uint8_t* p, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i); }
  static float load1(const uint8_t* p, int64_t i) { return load_unaligned<float>(p, i); }
};

// reduce_lanes16 of one output's lanes (lo: 0-7, hi: 8-15) in registers, the same additions in the same order.
inline float reduce_register16_avx2(__m256 lo, __m256 hi) {
  const __m256 s8 = _mm256_add_ps(lo, hi);  // lane l: l + (l + 8)
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));    // lanes 0, 1: s4[0] + s4[2], s4[1] + s4[3]
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));  // their sum
}

// The tail [i, n), fewer than 16 elements, as 16 lanes (zeros past it) read from a zero-padded copy.
template <class Loader>
inline void load_tail_avx2(const uint8_t* p, int64_t i, int64_t n, __m256* half) {
  alignas(32) uint8_t buf[kFloatLanes * Loader::kBytes] = {};
  std::memcpy(buf, p + static_cast<size_t>(i) * Loader::kBytes, static_cast<size_t>(n - i) * Loader::kBytes);
  half[0] = Loader::load8(buf, 0);
  half[1] = Loader::load8(buf, 8);
}

// Lanes [0, n - i) of the two halves set: a tail element j goes into lane j - i with one fma, as the reference
// adds it, and the other lanes keep their value (a blend rather than an fma with zeros, which would turn -0 to +0).
inline void tail_lanes_avx2(int64_t i, int64_t n, __m256* mask) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i count = _mm256_set1_epi32(static_cast<int>(n - i));
  mask[0] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count, lane));
  mask[1] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(count, _mm256_add_epi32(lane, _mm256_set1_epi32(8))));
}

inline __m256 add_tail_lanes_avx2(__m256 acc, __m256 w, __m256 x, __m256 mask) {
  return _mm256_blendv_ps(acc, _mm256_fmadd_ps(w, x, acc), mask);
}

template <class Loader, class XLoader = Loader>
void float_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  __m256 lo = _mm256_setzero_ps();
  __m256 hi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    lo = _mm256_fmadd_ps(Loader::load8(wb, i), XLoader::load8(xb, i), lo);
    hi = _mm256_fmadd_ps(Loader::load8(wb, i + 8), XLoader::load8(xb, i + 8), hi);
  }
  if (i < n) {
    __m256 mask[2], wt[2], xt[2];
    tail_lanes_avx2(i, n, mask);
    load_tail_avx2<Loader>(wb, i, n, wt);
    load_tail_avx2<XLoader>(xb, i, n, xt);
    lo = add_tail_lanes_avx2(lo, wt[0], xt[0], mask[0]);
    hi = add_tail_lanes_avx2(hi, wt[1], xt[1], mask[1]);
  }
  *out = reduce_register16_avx2(lo, hi);
}

// R rows x T tokens; every output has its own two accumulators.
template <class Loader, class XLoader, int R, int T>
void float_tile_avx2(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                     int64_t ldo) {
  __m256 acc[R][T][2];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    for (int h = 0; h < 2; ++h) {
      __m256 wv[R];
      for (int r = 0; r < R; ++r) wv[r] = Loader::load8(w + r * w_stride, i + 8 * h);
      for (int t = 0; t < T; ++t) {
        const __m256 xv = XLoader::load8(x + t * x_stride, i + 8 * h);
        for (int r = 0; r < R; ++r) acc[r][t][h] = _mm256_fmadd_ps(wv[r], xv, acc[r][t][h]);
      }
    }
  }
  if (i < n) {
    __m256 mask[2];
    tail_lanes_avx2(i, n, mask);
    __m256 wt[R][2];
    for (int r = 0; r < R; ++r) load_tail_avx2<Loader>(w + r * w_stride, i, n, wt[r]);
    for (int t = 0; t < T; ++t) {
      __m256 xt[2];
      load_tail_avx2<XLoader>(x + t * x_stride, i, n, xt);
      for (int r = 0; r < R; ++r) {
        for (int h = 0; h < 2; ++h) acc[r][t][h] = add_tail_lanes_avx2(acc[r][t][h], wt[r][h], xt[h], mask[h]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = reduce_register16_avx2(acc[r][t][0], acc[r][t][1]);
  }
}

// 12 accumulators for 2 rows x 3 tokens, 8 for 4 rows x 1 token (decode), out of 16 registers.
template <class Loader, class XLoader = Loader>
void float_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, float_tile_avx2<Loader, XLoader, 4, 1>, float_tile_avx2<Loader, XLoader, 1, 1>},
      {2, float_tile_avx2<Loader, XLoader, 2, 2>, float_tile_avx2<Loader, XLoader, 1, 2>},
      {2, float_tile_avx2<Loader, XLoader, 2, 3>, float_tile_avx2<Loader, XLoader, 1, 3>},
  };
  run_tiles(kShapes, 3, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
