// Register-tile kernels for K-quant weights (Q2_K .. Q6_K) dotted with Q8_K activations: the vec_dot and the
// gemm tiles of the AVX2 records, and (with the 512-bit step of q8_k_dot_avx512.h) of the AVX-512 ones.
// A weight format W describes one super-block of one row:
//   - chunk(block, c): its quants 32c .. 32c + 31 as unsigned bytes u (at most 63), in element order;
//   - prepare(block, KPrep&): the 16 group scales s_g (groups of 16 values; a group of 32 gives its scale
//     twice), a coefficient k_g per group multiplied with the activation group sum bsums[g], and d, dmin.
// The exact integer dot of the super-block is sum_g s_g * sum_{i in g} u_i * x_i + sum_g k_g * bsums[g]: for
// types whose value is s * (u - offset), k_g = -offset * s_g folds the offset in (kHasMins false); for types
// with a min term (kHasMins) that second sum is msum, kept apart since it is scaled by dmin instead.
//
// maddubs multiplies u (unsigned, <= 63) with x (signed) and adds pairs without saturating (2 * 63 * 128 <
// 32767); madd then applies the group scales. Per super-block the lanes of 8 outputs are reduced together (one
// output per lane) and each output accumulates, super-block after super-block,
//   sum = fma(float(isum), d_w * d_x, sum);  [kHasMins: sum = fma(float(-msum), dmin_w * d_x, sum)]
// which is the order of the scalar references. A step policy (Avx2Step here) says how many values one register
// takes; it changes how the exact integer sums are formed, never their value.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8KBytes = sizeof(BlockQ8_K);
constexpr size_t kQ8KValues = offsetof(BlockQ8_K, qs);
constexpr size_t kQ8KSums = offsetof(BlockQ8_K, bsums);

// What a super-block of one weight row contributes besides its quants.
struct KPrep {
  alignas(32) int16_t scale[16];  // s_g
  alignas(32) int16_t coef[16];   // k_g
  float d;
  float dmin;
};

inline __m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Scales of chunk c for the int16 pair sums of maddubs: lanes 0-7 (values 0-15) s_{2c}, lanes 8-15 s_{2c+1}.
inline __m256i chunk_scales(const int16_t* scale, int c) {
  const __m256i spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,  //
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  return _mm256_shuffle_epi8(_mm256_set1_epi32(load_unaligned<int32_t>(scale, c)), spread);
}

// v[j] (8 lanes each) -> lane j = the sum of v[j]'s lanes. Exact (int32).
inline __m256i kq_reduce8(const __m256i* v) {
  const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1);
  const __m256i u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

// Q4_K / Q5_K: d, dmin, then the 12 packed bytes of 8 scales and 8 mins (see unpack_scale_min_k4). Each
// scale and min serves a group of 32, so it is written twice into the 16 entries of KPrep.
inline void prepare_scale_min_k4(const uint8_t* block, KPrep& p) {
  uint32_t a[3];
  std::memcpy(a, block + 4, 12);
  const uint32_t sc_lo = a[0] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 2) & 0x30303030u);
  const uint32_t m_lo = a[1] & 0x3f3f3f3fu;
  const uint32_t m_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 2) & 0x30303030u);
  const __m128i sc = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0));
  const __m128i m = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(m_lo), static_cast<int>(m_hi), 0, 0));
  _mm256_store_si256(reinterpret_cast<__m256i*>(p.scale),
                     _mm256_set_m128i(_mm_unpackhi_epi16(sc, sc), _mm_unpacklo_epi16(sc, sc)));
  _mm256_store_si256(reinterpret_cast<__m256i*>(p.coef),
                     _mm256_set_m128i(_mm_unpackhi_epi16(m, m), _mm_unpacklo_epi16(m, m)));
  p.d = _cvtsh_ss(load_unaligned<uint16_t>(block, 0));
  p.dmin = _cvtsh_ss(load_unaligned<uint16_t>(block, 1));
}

// The AVX2 step: one chunk of 32 values per register. A step policy S gives the register type V, the steps per
// super-block, a chunk's weights (from W), activations and scales, the scaled pair sums, and fold(), which adds
// a V down to the 8 int32 lanes of a __m256i (the order of integer additions does not matter: they are exact).
struct Avx2Step {
  using V = __m256i;
  static constexpr int kSteps = 8;
  template <class W>
  static V weights(const uint8_t* wb, int c) {
    return W::chunk(wb, c);
  }
  static V activations(const uint8_t* xq, int c) { return load256(xq + 32 * c); }
  static V scales(const KPrep& p, int c) { return chunk_scales(p.scale, c); }
  static V dot(V u, V x, V s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), s); }
  static V add(V a, V b) { return _mm256_add_epi32(a, b); }
  static V zero() { return _mm256_setzero_si256(); }
  static __m256i fold(V a) { return a; }
};

// The 8 int32 lanes of sum_g s_g * sum u * x for one super-block of one row and one token.
template <class W, class S>
inline __m256i kq_block_lanes(const uint8_t* wb, const KPrep& p, const uint8_t* xq) {
  typename S::V acc = S::zero();
#pragma GCC unroll 8
  for (int c = 0; c < S::kSteps; ++c) {
    acc = S::add(acc, S::dot(S::template weights<W>(wb, c), S::activations(xq, c), S::scales(p, c)));
  }
  return S::fold(acc);
}

inline __m256i kq_coef_lanes(const KPrep& p, const uint8_t* xb) {
  return _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.coef)), load256(xb + kQ8KSums));
}

template <class W, class S = Avx2Step>
void kq_vec_dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t nb = n / kQK_K;
  float sum = 0.0f;
  for (int64_t b0 = 0; b0 < nb; b0 += 8) {
    const int cnt = static_cast<int>(std::min<int64_t>(8, nb - b0));
    __m256i v[8];
    __m256i m[8];
    alignas(32) float dd[8];
    alignas(32) float dm[8];
    for (int j = 0; j < 8; ++j) {
      v[j] = _mm256_setzero_si256();
      m[j] = _mm256_setzero_si256();
    }
    for (int j = 0; j < cnt; ++j) {
      const uint8_t* wb = wp + (b0 + j) * W::kBlockBytes;
      const uint8_t* xb = xp + (b0 + j) * kQ8KBytes;
      KPrep p;
      W::prepare(wb, p);
      const float xd = load_unaligned<float>(xb, 0);
      v[j] = kq_block_lanes<W, S>(wb, p, xb + kQ8KValues);
      if constexpr (W::kHasMins) {
        m[j] = kq_coef_lanes(p, xb);
      } else {
        v[j] = _mm256_add_epi32(v[j], kq_coef_lanes(p, xb));
      }
      dd[j] = p.d * xd;
      dm[j] = p.dmin * xd;
    }
    alignas(32) int32_t isum[8];
    alignas(32) int32_t msum[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(isum), kq_reduce8(v));
    if constexpr (W::kHasMins) _mm256_store_si256(reinterpret_cast<__m256i*>(msum), kq_reduce8(m));
    for (int j = 0; j < cnt; ++j) {
      sum = std::fma(static_cast<float>(isum[j]), dd[j], sum);
      if constexpr (W::kHasMins) sum = std::fma(static_cast<float>(-msum[j]), dm[j], sum);
    }
  }
  *out = sum;
}

// R rows x T tokens (R * T <= 8 outputs), output t * R + r in lane t * R + r.
template <class W, class S, int R, int T>
void kq_tile(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out, int64_t ldo) {
  static_assert(R * T <= 8, "one output per lane");
  const int64_t nb = n / kQK_K;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb[R];
    const uint8_t* xb[T];
    KPrep p[R];
    for (int r = 0; r < R; ++r) {
      wb[r] = w + r * w_stride + b * W::kBlockBytes;
      W::prepare(wb[r], p[r]);
    }
    for (int t = 0; t < T; ++t) xb[t] = x + t * x_stride + b * kQ8KBytes;
    typename S::V acc_i[R * T];
    for (int j = 0; j < R * T; ++j) acc_i[j] = S::zero();
#pragma GCC unroll 8
    for (int c = 0; c < S::kSteps; ++c) {
      for (int r = 0; r < R; ++r) {
        const auto u = S::template weights<W>(wb[r], c);
        const auto s = S::scales(p[r], c);
        for (int t = 0; t < T; ++t) {
          acc_i[t * R + r] = S::add(acc_i[t * R + r], S::dot(u, S::activations(xb[t] + kQ8KValues, c), s));
        }
      }
    }
    __m256i v[8];
    __m256i m[8];
    for (int j = 0; j < 8; ++j) {
      v[j] = j < R * T ? S::fold(acc_i[j]) : _mm256_setzero_si256();
      m[j] = _mm256_setzero_si256();
    }
    for (int t = 0; t < T; ++t) {
      for (int r = 0; r < R; ++r) {
        const __m256i k = kq_coef_lanes(p[r], xb[t]);
        if constexpr (W::kHasMins) {
          m[t * R + r] = k;
        } else {
          v[t * R + r] = _mm256_add_epi32(v[t * R + r], k);
        }
      }
    }
    alignas(32) float dw[8] = {};
    alignas(32) float dmw[8] = {};
    alignas(32) float dx[8] = {};
    for (int t = 0; t < T; ++t) {
      const float xd = load_unaligned<float>(xb[t], 0);
      for (int r = 0; r < R; ++r) {
        dw[t * R + r] = p[r].d;
        dmw[t * R + r] = p[r].dmin;
        dx[t * R + r] = xd;
      }
    }
    const __m256 xdv = _mm256_load_ps(dx);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_reduce8(v)), _mm256_mul_ps(_mm256_load_ps(dw), xdv), acc);
    if constexpr (W::kHasMins) {
      const __m256i neg = _mm256_sub_epi32(_mm256_setzero_si256(), kq_reduce8(m));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(neg), _mm256_mul_ps(_mm256_load_ps(dmw), xdv), acc);
    }
  }
  alignas(32) float res[8];
  _mm256_store_ps(res, acc);
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = res[t * R + r];
  }
}

// One row and T tokens, through the single dot.
template <class W, class S, int T>
void kq_tile_single(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride, float* out,
                    int64_t ldo) {
  for (int t = 0; t < T; ++t) kq_vec_dot<W, S>(n, out + t * ldo, w, x + t * x_stride);
}

template <class W, class S = Avx2Step>
void kq_gemm(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
             int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {8, kq_tile<W, S, 8, 1>, kq_tile_single<W, S, 1>},
      {4, kq_tile<W, S, 4, 2>, kq_tile_single<W, S, 2>},
      {2, kq_tile<W, S, 2, 3>, kq_tile_single<W, S, 3>},
      {2, kq_tile<W, S, 2, 4>, kq_tile_single<W, S, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
