// AVX-512 dot kernels shared by F32, F16 and BF16 (included only by *_avx512bw.cpp files). A Loader reads 16
// elements as fp32, or the masked ones of 16 (zero elsewhere). One register holds an output's 16 lanes; the
// tail goes into the first lanes with a masked fma and the lane reduction follows the reference order
// (kernel_common.h), so every result has the reference's bits.
#pragma once
// GCC 12 takes the self-initialised register of _mm512_undefined_ps, the pass-through of permutes and extracts,
// for an uninitialised value once the tail's masked fmas sit before the reduction (a false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// F32 elements: the activation side of every float kernel whose vec_dot_type is F32 (F32 and BF16 weights).
struct F32Loader {
  static constexpr size_t kBytes = 4;  // bytes per element
  static __m512 load16(const uint8_t* p, int64_t i) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p) + i); }
  // Elements [i, i + 16) where `m` is set, zero elsewhere; nothing outside the mask is read.
  static __m512 load16_masked(const uint8_t* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p) + i);
  }
};

// The tail [i, n), fewer than 16 elements: element j goes into lane j - i with one fma, as the reference adds it
// (lanes past the tail keep their value).
template <class Loader>
inline __m512 add_tail_avx512(__m512 acc, __m512 w_tail, const uint8_t* x, int64_t i, __mmask16 m) {
  return _mm512_mask3_fmadd_ps(w_tail, Loader::load16_masked(x, i, m), acc, m);
}

inline __mmask16 tail_mask(int64_t i, int64_t n) { return static_cast<__mmask16>((1u << (n - i)) - 1); }

inline float reduce_register16(__m512 acc_v) {
  alignas(64) float acc[kFloatLanes];
  _mm512_store_ps(acc, acc_v);
  return reduce_lanes16(acc);
}

template <class Loader, class XLoader = Loader>
void float_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes)
    acc = _mm512_fmadd_ps(Loader::load16(wb, i), XLoader::load16(xb, i), acc);
  if (i < n) {
    const __mmask16 m = tail_mask(i, n);
    acc = add_tail_avx512<XLoader>(acc, Loader::load16_masked(wb, i, m), xb, i, m);
  }
  *out = reduce_register16(acc);
}

// reduce_lanes16 of 8 outputs at once, in registers: lanes l and l + 8 first, then l and l + 4, then (0, 2) and
// (1, 3), then those two sums: the same additions as the reference, so the same bits. Lane r is output r.
inline __m256 reduce_lanes16_x8(const __m512* acc) {
  const __m512i lo8 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const __m512i hi8 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  __m512 s8[4];  // s8[p]: output 2p's 8 sums, then output 2p + 1's
  for (int p = 0; p < 4; ++p) {
    s8[p] = _mm512_add_ps(_mm512_permutex2var_ps(acc[2 * p], lo8, acc[2 * p + 1]),
                          _mm512_permutex2var_ps(acc[2 * p], hi8, acc[2 * p + 1]));
  }
  const __m512i lo4 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i hi4 = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  __m512 s4[2];  // s4[q]: the 4 sums of outputs 4q .. 4q + 3
  for (int q = 0; q < 2; ++q) {
    s4[q] = _mm512_add_ps(_mm512_permutex2var_ps(s8[2 * q], lo4, s8[2 * q + 1]),
                          _mm512_permutex2var_ps(s8[2 * q], hi4, s8[2 * q + 1]));
  }
  const __m512i lo2 = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
  const __m512i hi2 = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  // Lanes 2r, 2r + 1: output r's s4[0] + s4[2] and s4[1] + s4[3].
  const __m512 s2 = _mm512_add_ps(_mm512_permutex2var_ps(s4[0], lo2, s4[1]), _mm512_permutex2var_ps(s4[0], hi2, s4[1]));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps256(_mm512_add_ps(_mm512_permutexvar_ps(even, s2), _mm512_permutexvar_ps(odd, s2)));
}

// How far ahead of its loads a one-token tile asks for weight lines: the hardware prefetcher alone leaves the
// 8 row streams of a decode tile at about 80 % of the memory-read speed (matmul_decode_dram/F16).
constexpr size_t kPrefetchAhead = 1024;

template <class Loader, class XLoader, int R, int T>
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
        for (int r = 0; r < R; ++r) prefetch_bytes(w + r * w_stride, ahead, 1);
      }
    }
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Loader::load16(w + r * w_stride, i);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = XLoader::load16(x + t * x_stride, i);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (i < n) {
    const __mmask16 m = tail_mask(i, n);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Loader::load16_masked(w + r * w_stride, i, m);
    for (int t = 0; t < T; ++t) {
      for (int r = 0; r < R; ++r) acc[r][t] = add_tail_avx512<XLoader>(acc[r][t], wv[r], x + t * x_stride, i, m);
    }
  }
  // 8 reductions at a time in registers where the shape allows (short rows, such as attention's, gain most).
  if constexpr (R == 8 && T == 1) {
    _mm256_storeu_ps(out, reduce_lanes16_x8(&acc[0][0]));  // acc[r][0]: 8 registers in a row
    return;
  }
  constexpr int kPaired = R == 4 ? T / 2 * 2 : 0;  // tokens whose 4 rows are reduced two tokens at a time
  if constexpr (kPaired > 0) {
    for (int t = 0; t < kPaired; t += 2) {
      const __m512 pair[8] = {acc[0][t],     acc[1][t],     acc[2][t],     acc[3][t],
                              acc[0][t + 1], acc[1][t + 1], acc[2][t + 1], acc[3][t + 1]};
      const __m256 sums = reduce_lanes16_x8(pair);
      _mm_storeu_ps(out + t * ldo, _mm256_castps256_ps128(sums));
      _mm_storeu_ps(out + (t + 1) * ldo, _mm256_extractf128_ps(sums, 1));
    }
  }
  for (int t = kPaired; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = reduce_register16(acc[r][t]);
  }
}

// Up to 4 rows x 6 tokens: 24 accumulators + 4 weights + 1 activation out of 32 registers.
template <class Loader, class XLoader = Loader>
void float_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, float_tile_avx512<Loader, XLoader, 8, 1>, float_tile_avx512<Loader, XLoader, 1, 1>},
      {4, float_tile_avx512<Loader, XLoader, 4, 2>, float_tile_avx512<Loader, XLoader, 1, 2>},
      {4, float_tile_avx512<Loader, XLoader, 4, 3>, float_tile_avx512<Loader, XLoader, 1, 3>},
      {4, float_tile_avx512<Loader, XLoader, 4, 4>, float_tile_avx512<Loader, XLoader, 1, 4>},
      {4, float_tile_avx512<Loader, XLoader, 4, 5>, float_tile_avx512<Loader, XLoader, 1, 5>},
      {4, float_tile_avx512<Loader, XLoader, 4, 6>, float_tile_avx512<Loader, XLoader, 1, 6>},
  };
  run_tiles(kShapes, 6, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
