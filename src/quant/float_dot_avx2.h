// AVX2 dot kernels shared by F32, F16 and BF16 (included by their *_avx2.cpp files). A Loader says how to read
// 8 elements, or 1, as fp32. Each output keeps its 16 lanes in two registers (lanes 0-7 and 8-15) and the tail
// and lane reduction follow the reference order (kernel_common.h).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// Finishes one output: the 16 lanes so far, the tail elements [i, n) one by one, then the fixed reduction.
template <class Loader>
inline float finish_lanes_avx2(__m256 lo, __m256 hi, int64_t i, int64_t n, const uint8_t* w, const uint8_t* x) {
  alignas(32) float acc[kFloatLanes];
  _mm256_store_ps(acc, lo);
  _mm256_store_ps(acc + 8, hi);
  for (int64_t j = i; j < n; ++j) acc[j - i] = std::fma(Loader::load1(w, j), Loader::load1(x, j), acc[j - i]);
  return reduce_lanes16(acc);
}

template <class Loader>
void float_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  __m256 lo = _mm256_setzero_ps();
  __m256 hi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    lo = _mm256_fmadd_ps(Loader::load8(wb, i), Loader::load8(xb, i), lo);
    hi = _mm256_fmadd_ps(Loader::load8(wb, i + 8), Loader::load8(xb, i + 8), hi);
  }
  *out = finish_lanes_avx2<Loader>(lo, hi, i, n, wb, xb);
}

// R rows x T tokens; every output has its own two accumulators.
template <class Loader, int R, int T>
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
        const __m256 xv = Loader::load8(x + t * x_stride, i + 8 * h);
        for (int r = 0; r < R; ++r) acc[r][t][h] = _mm256_fmadd_ps(wv[r], xv, acc[r][t][h]);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) {
      out[t * ldo + r] =
          finish_lanes_avx2<Loader>(acc[r][t][0], acc[r][t][1], i, n, w + r * w_stride, x + t * x_stride);
    }
  }
}

// 12 accumulators for 2 rows x 3 tokens, 8 for 4 rows x 1 token (decode), out of 16 registers.
template <class Loader>
void float_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, float_tile_avx2<Loader, 4, 1>, float_tile_avx2<Loader, 1, 1>},
      {2, float_tile_avx2<Loader, 2, 2>, float_tile_avx2<Loader, 1, 2>},
      {2, float_tile_avx2<Loader, 2, 3>, float_tile_avx2<Loader, 1, 3>},
  };
  run_tiles(kShapes, 3, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
