// AVX-512 dot kernels shared by F32, F16 and BF16 (included only by *_avx512.cpp files). A Loader reads 16
// elements, or 1, as fp32. One register holds an output's 16 lanes; tails and the lane reduction follow the
// reference order (kernel_common.h).
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

template <class Loader>
inline float finish_lanes_avx512(__m512 acc_v, int64_t i, int64_t n, const uint8_t* w, const uint8_t* x) {
  alignas(64) float acc[kFloatLanes];
  _mm512_store_ps(acc, acc_v);
  for (int64_t j = i; j < n; ++j) acc[j - i] = std::fma(Loader::load1(w, j), Loader::load1(x, j), acc[j - i]);
  return reduce_lanes16(acc);
}

template <class Loader>
void float_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes)
    acc = _mm512_fmadd_ps(Loader::load16(wb, i), Loader::load16(xb, i), acc);
  *out = finish_lanes_avx512<Loader>(acc, i, n, wb, xb);
}

// How far ahead of its loads a one-token tile asks for weight lines: the hardware prefetcher alone leaves the
// 8 row streams of a decode tile at about 80 % of the memory-read speed (matmul_decode_dram/F16).
constexpr size_t kPrefetchAhead = 1024;

template <class Loader, int R, int T>
void float_tile_avx512(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                       int64_t ldo) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    if constexpr (T == 1) {  // decode streams each row once: ask for its lines ahead of use
      if ((i * Loader::kBytes) % 64 == 0) {
        const size_t ahead = static_cast<size_t>(i) * Loader::kBytes + kPrefetchAhead;
        for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + r * w_stride + ahead), _MM_HINT_T0);
      }
    }
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Loader::load16(w + r * w_stride, i);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = Loader::load16(x + t * x_stride, i);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) {
      out[t * ldo + r] = finish_lanes_avx512<Loader>(acc[r][t], i, n, w + r * w_stride, x + t * x_stride);
    }
  }
}

// Up to 4 rows x 6 tokens: 24 accumulators + 4 weights + 1 activation out of 32 registers.
template <class Loader>
void float_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, float_tile_avx512<Loader, 8, 1>, float_tile_avx512<Loader, 1, 1>},
      {4, float_tile_avx512<Loader, 4, 2>, float_tile_avx512<Loader, 1, 2>},
      {4, float_tile_avx512<Loader, 4, 3>, float_tile_avx512<Loader, 1, 3>},
      {4, float_tile_avx512<Loader, 4, 4>, float_tile_avx512<Loader, 1, 4>},
      {4, float_tile_avx512<Loader, 4, 5>, float_tile_avx512<Loader, 1, 5>},
      {4, float_tile_avx512<Loader, 4, 6>, float_tile_avx512<Loader, 1, 6>},
  };
  run_tiles(kShapes, 6, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
