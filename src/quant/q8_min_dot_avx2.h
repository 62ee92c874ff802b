// AVX2 kernels for weights with a per-block minimum (Q4_1, Q5_1) dotted with Q8_0 activations, included by
// their *_avx2.cpp and *_avx512.cpp. A weight format W says how big a block is and unpacks its 32 quants as
// unsigned bytes in element order; its fp16 scale d sits at byte 0 and its fp16 minimum m at byte 2.
//
// Per block the sums isum = sum(q * p) and psum = sum(p) are exact in int32 lanes; the lanes of 8 outputs are
// reduced together (one output per lane), each block's value is v = fma(isum, d_w * d_x, psum * (m * d_x)), and
// each output adds them up block after block: the order of the reference, for any tile shape.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// 8 int32 lanes whose sum is the dot of 32 unsigned bytes u (at most 127) with 32 signed bytes s (a dot policy;
// the AVX-512 files bring one with VNNI). With u <= 127 the int16 pair sums of maddubs cannot saturate.
struct MaddUnsignedDot {
  static __m256i lanes(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  }
};

// The fp16 values h[0..7] as fp32.
inline __m256 halves8(const uint16_t* h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

template <class W, class D = MaddUnsignedDot>
void q8_min_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const __m256i ones = _mm256_set1_epi8(1);
  const int64_t nb = n / kQ8_0BlockSize;
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    __m256i v[8];
    __m256i s[8];
    for (int j = 0; j < 8; ++j) {
      const __m256i xq = load_q8_values(xb + j * kQ8Bytes);
      v[j] = D::lanes(W::load_values(wb + j * W::kBlockBytes), xq);
      s[j] = D::lanes(ones, xq);
    }
    const __m256 dx = load_scales8(xb, kQ8Bytes);
    const __m256 psum_m =
        _mm256_mul_ps(_mm256_cvtepi32_ps(reduce8_epi32(s)), _mm256_mul_ps(load_scales8(wb + 2, W::kBlockBytes), dx));
    alignas(32) float value[8];
    _mm256_store_ps(value, _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8_epi32(v)),
                                           _mm256_mul_ps(load_scales8(wb, W::kBlockBytes), dx), psum_m));
    for (int j = 0; j < 8; ++j) sum += value[j];
  }
  for (; b < nb; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    const __m256i xq = load_q8_values(xb);
    const int32_t isum = hsum_epi32(D::lanes(W::load_values(wb), xq));
    const int32_t psum = hsum_epi32(D::lanes(ones, xq));
    const float dx = _cvtsh_ss(load_scale(xb));
    sum += std::fma(static_cast<float>(isum), _cvtsh_ss(load_scale(wb)) * dx,
                    static_cast<float>(psum) * (_cvtsh_ss(load_scale(wb + 2)) * dx));
  }
  *out = sum;
}

// R rows x T tokens = 8 outputs, output j = t * R + r in lane j.
template <class W, class D, int R, int T>
void q8_min_tile_avx2(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                      int64_t ldo) {
  static_assert(R * T == 8, "one output per lane");
  const __m256i ones = _mm256_set1_epi8(1);
  const int64_t nb = n / kQ8_0BlockSize;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8Bytes;
    __m256i wq[R];
    for (int r = 0; r < R; ++r) wq[r] = W::load_values(wb + r * w_stride);
    __m256i v[8];
    int32_t ps[T];
    for (int t = 0; t < T; ++t) {
      const __m256i xq = load_q8_values(xb + t * x_stride);
      for (int r = 0; r < R; ++r) v[t * R + r] = D::lanes(wq[r], xq);
      ps[t] = hsum_epi32(D::lanes(ones, xq));
    }
    alignas(16) uint16_t dw[8];
    alignas(16) uint16_t mw[8];
    alignas(16) uint16_t dx[8];
    for (int j = 0; j < 8; ++j) {
      dw[j] = load_scale(wb + (j % R) * w_stride);
      mw[j] = load_scale(wb + (j % R) * w_stride + 2);
      dx[j] = load_scale(xb + (j / R) * x_stride);
    }
    const __m256 psum = _mm256_cvtepi32_ps(
        _mm256_setr_epi32(ps[0 / R], ps[1 / R], ps[2 / R], ps[3 / R], ps[4 / R], ps[5 / R], ps[6 / R], ps[7 / R]));
    const __m256 dxv = halves8(dx);
    const __m256 psum_m = _mm256_mul_ps(psum, _mm256_mul_ps(halves8(mw), dxv));
    acc = _mm256_add_ps(acc,
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8_epi32(v)), _mm256_mul_ps(halves8(dw), dxv), psum_m));
  }
  alignas(32) float res[8];
  _mm256_store_ps(res, acc);
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = res[t * R + r];
  }
}

// One row and T tokens, through the single dot.
template <class W, class D, int T>
void q8_min_tile_single_avx2(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                             float* out, int64_t ldo) {
  for (int t = 0; t < T; ++t) q8_min_vec_dot_avx2<W, D>(n, out + t * ldo, w, x + t * x_stride);
}

template <class W, class D = MaddUnsignedDot>
void q8_min_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, q8_min_tile_avx2<W, D, 8, 1>, q8_min_tile_single_avx2<W, D, 1>},
      {4, q8_min_tile_avx2<W, D, 4, 2>, q8_min_tile_single_avx2<W, D, 2>},
  };
  run_tiles(kShapes, 2, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Dequantizes blocks of 32 unsigned quants: y = fma(q, d, m).
template <class W>
void q8_min_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* blk = s + b * W::kBlockBytes;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_scale(blk)));
    const __m256 m = _mm256_set1_ps(_cvtsh_ss(load_scale(blk + 2)));
    alignas(32) uint8_t q[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), W::load_values(blk));
    for (int j = 0; j < 32; j += 8) {
      const __m256 qf =
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j))));
      _mm256_storeu_ps(dst + b * 32 + j, _mm256_fmadd_ps(qf, d, m));
    }
  }
}

}  // namespace
}  // namespace ternion::quant
