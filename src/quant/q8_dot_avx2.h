// AVX2 kernels for weights dotted with Q8_0 activations (Q8_0 and Q4_0 weights), included by their *_avx2.cpp.
// A weight format W says how big a block is and how to unpack its 32 values to int8.
//
// Per block the 32 products are summed exactly in int32 lanes, the lanes of 8 outputs are reduced together
// (one output per lane), and each output accumulates sum = fma(isum, d_w * d_x, sum) block after block: the
// order of the reference, for any tile shape.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8Bytes = sizeof(BlockQ8_0);

inline __m256i load_q8_values(const uint8_t* block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 2));
}

inline uint16_t load_scale(const uint8_t* block) { return load_unaligned<uint16_t>(block, 0); }

// 8 int32 lanes whose sum is the dot of two blocks of int8 (a dot policy; the AVX-512 files bring one with
// VNNI). w may hold -128; x must not (activations from the Q8_0 quantizer lie in [-127, 127]), since sign(x, w)
// negates x.
struct MaddDot {
  static __m256i lanes(__m256i abs_w, __m256i w, __m256i x) {
    const __m256i p16 = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
  }
};

// v[j] (8 lanes each) -> lane j = the sum of v[j]'s lanes. Exact (int32).
inline __m256i reduce8_epi32(const __m256i* v) {
  const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1);  // [v0..v3 low halves | v0..v3 high halves]
  const __m256i u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x55));
  return _mm_cvtsi128_si32(s);
}

// Scales of 8 blocks `stride` bytes apart, as fp32.
inline __m256 load_scales8(const uint8_t* p, size_t stride) {
  return _mm256_cvtph_ps(
      _mm_setr_epi16(static_cast<short>(load_scale(p)), static_cast<short>(load_scale(p + stride)),
                     static_cast<short>(load_scale(p + 2 * stride)), static_cast<short>(load_scale(p + 3 * stride)),
                     static_cast<short>(load_scale(p + 4 * stride)), static_cast<short>(load_scale(p + 5 * stride)),
                     static_cast<short>(load_scale(p + 6 * stride)), static_cast<short>(load_scale(p + 7 * stride))));
}

template <class W, class D = MaddDot>
void q8_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t nb = n / kQ8_0BlockSize;
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    __m256i v[8];
    for (int j = 0; j < 8; ++j) {
      const __m256i wq = W::load_values(wb + j * W::kBlockBytes);
      v[j] = D::lanes(_mm256_sign_epi8(wq, wq), wq, load_q8_values(xb + j * kQ8Bytes));
    }
    alignas(32) float isum[8];
    alignas(32) float d[8];
    _mm256_store_ps(isum, _mm256_cvtepi32_ps(reduce8_epi32(v)));
    _mm256_store_ps(d, _mm256_mul_ps(load_scales8(wb, W::kBlockBytes), load_scales8(xb, kQ8Bytes)));
    for (int j = 0; j < 8; ++j) sum = std::fma(isum[j], d[j], sum);
  }
  for (; b < nb; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    const __m256i wq = W::load_values(wb);
    const int32_t isum = hsum_epi32(D::lanes(_mm256_sign_epi8(wq, wq), wq, load_q8_values(xb)));
    const float d = _cvtsh_ss(load_scale(wb)) * _cvtsh_ss(load_scale(xb));
    sum = std::fma(static_cast<float>(isum), d, sum);
  }
  *out = sum;
}

// R rows x T tokens = 8 outputs, output j = t * R + r in lane j.
template <class W, class D, int R, int T>
void q8_tile_avx2(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                  int64_t ldo) {
  static_assert(R * T == 8, "one output per lane");
  const int64_t nb = n / kQ8_0BlockSize;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8Bytes;
    __m256i wq[R];
    __m256i aw[R];
    for (int r = 0; r < R; ++r) {
      wq[r] = W::load_values(wb + r * w_stride);
      aw[r] = _mm256_sign_epi8(wq[r], wq[r]);
    }
    __m256i v[8];
    for (int t = 0; t < T; ++t) {
      const __m256i xq = load_q8_values(xb + t * x_stride);
      for (int r = 0; r < R; ++r) v[t * R + r] = D::lanes(aw[r], wq[r], xq);
    }
    uint16_t dw[R];
    uint16_t dx[T];
    for (int r = 0; r < R; ++r) dw[r] = load_scale(wb + r * w_stride);
    for (int t = 0; t < T; ++t) dx[t] = load_scale(xb + t * x_stride);
    const __m256 dwv = _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(dw[0 % R]), static_cast<short>(dw[1 % R]),
                                                      static_cast<short>(dw[2 % R]), static_cast<short>(dw[3 % R]),
                                                      static_cast<short>(dw[4 % R]), static_cast<short>(dw[5 % R]),
                                                      static_cast<short>(dw[6 % R]), static_cast<short>(dw[7 % R])));
    const __m256 dxv = _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(dx[0 / R]), static_cast<short>(dx[1 / R]),
                                                      static_cast<short>(dx[2 / R]), static_cast<short>(dx[3 / R]),
                                                      static_cast<short>(dx[4 / R]), static_cast<short>(dx[5 / R]),
                                                      static_cast<short>(dx[6 / R]), static_cast<short>(dx[7 / R])));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8_epi32(v)), _mm256_mul_ps(dwv, dxv), acc);
  }
  alignas(32) float res[8];
  _mm256_store_ps(res, acc);
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = res[t * R + r];
  }
}

// One row and T tokens, through the single dot.
template <class W, class D, int T>
void q8_tile_single_avx2(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                         float* out, int64_t ldo) {
  for (int t = 0; t < T; ++t) q8_vec_dot_avx2<W, D>(n, out + t * ldo, w, x + t * x_stride);
}

template <class W, class D = MaddDot>
void q8_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                  int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, q8_tile_avx2<W, D, 8, 1>, q8_tile_single_avx2<W, D, 1>},
      {4, q8_tile_avx2<W, D, 4, 2>, q8_tile_single_avx2<W, D, 2>},
  };
  run_tiles(kShapes, 2, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
