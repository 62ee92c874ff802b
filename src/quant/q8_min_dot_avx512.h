// AVX-512 kernels for weights with a per-block minimum (Q4_1, Q5_1) dotted with Q8_0 activations (included only
// by *_avx512.cpp files). Few tokens use the AVX2 tiles of q8_min_dot_avx2.h with a VNNI dot; prompt batches use
// the packed layout of q8_dot_avx512.h: 16 rows regrouped so that one VPDPBUSD with 4 broadcast activation
// bytes advances 16 outputs. The quants are unsigned already, so each block's accumulator starts from 0 and ends
// as the exact isum; the activation block sums psum come from prepare_activations (with c = -1). Each output
// then adds fma(isum, d_w * d_x, psum * (m * d_x)) block after block, as the reference.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/q8_dot_avx512.h"
#include "quant/q8_min_dot_avx2.h"

namespace ternion::quant {
namespace {

struct VnniUnsignedDot {
  static __m256i lanes(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
};

// The fp16 minimums of one block of 16 rows (at byte 2 of each block), as fp32.
inline __m512 gather_mins16(const uint8_t* block, __m512i offsets) { return gather_scales16(block + 2, offsets); }

struct PackedMinRows {
  PackedRows rows;
  alignas(64) float min[kPackBlocks][kPackRows];
};

template <class W>
void pack_min_rows(PackedMinRows& p, const uint8_t* w, size_t w_stride, int64_t b0, int kb) {
  pack_rows<W>(p.rows, w, w_stride, b0, kb);
  const __m512i offsets = row_offsets(w_stride);
  for (int b = 0; b < kb; ++b) {
    _mm512_store_ps(p.min[b], gather_mins16(w + static_cast<size_t>(b0 + b) * W::kBlockBytes, offsets));
  }
}

// T tokens x 16 rows over kb packed blocks; a.neg_corr holds the activation block sums (c = -1).
template <int T>
void packed_min_tile(const PackedMinRows& p, const ActivationChunk& a, int t0, const uint8_t* x, size_t x_stride,
                     int64_t b0, int kb, bool first_chunk, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t)
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes + 2;
  for (int b = 0; b < kb; ++b) {
    __m512i s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm512_setzero_si512();
    for (int k = 0; k < 8; ++k) {
      const __m512i wv = _mm512_load_si512(&p.rows.values[b][k]);
      for (int t = 0; t < T; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], wv, _mm512_set1_epi32(load_unaligned<int32_t>(xt[t] + b * kQ8Bytes, k)));
      }
    }
    const __m512 dw = _mm512_load_ps(p.rows.scale[b]);
    const __m512 mw = _mm512_load_ps(p.min[b]);
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(a.scale[t0 + t][b]);
      const __m512 psum_m =
          _mm512_mul_ps(_mm512_set1_ps(static_cast<float>(a.neg_corr[t0 + t][b])), _mm512_mul_ps(mw, dx));
      acc[t] = _mm512_add_ps(acc[t], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dw, dx), psum_m));
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * ldo, acc[t]);
}

using PackedMinTileFn = void (*)(const PackedMinRows&, const ActivationChunk&, int, const uint8_t*, size_t, int64_t,
                                 int, bool, float*, int64_t);
constexpr PackedMinTileFn kPackedMinTiles[kPackTileTokens] = {
    packed_min_tile<1>, packed_min_tile<2>, packed_min_tile<3>, packed_min_tile<4>,
    packed_min_tile<5>, packed_min_tile<6>, packed_min_tile<7>, packed_min_tile<8>};

template <class W>
void q8_min_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  if (n_tokens < kPackMinTokens || n_rows < kPackRows) {
    q8_min_gemm_avx2<W, VnniUnsignedDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
    return;
  }
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t nb = n / kQ8_0BlockSize;
  const int64_t full_rows = n_rows / kPackRows * kPackRows;
  ActivationChunk act;   // 64 KiB
  PackedMinRows packed;  // 40 KiB
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kPackTokens, n_tokens - t0));
    const uint8_t* xs = xb + static_cast<size_t>(t0) * x_stride;
    for (int64_t b0 = 0; b0 < nb; b0 += kPackBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kPackBlocks, nb - b0));
      prepare_activations(act, xs, x_stride, ts, b0, kb, -1);  // neg_corr = +sum(p)
      for (int64_t r0 = 0; r0 < full_rows; r0 += kPackRows) {
        pack_min_rows<W>(packed, wb + static_cast<size_t>(r0) * w_stride, w_stride, b0, kb);
        for (int t = 0; t < ts; t += kPackTileTokens) {
          const int tt = std::min(kPackTileTokens, ts - t);
          kPackedMinTiles[tt - 1](packed, act, t, xs, x_stride, b0, kb, b0 == 0, out + (t0 + t) * ldo + r0, ldo);
        }
      }
    }
  }
  if (full_rows < n_rows) {  // the last rows, fewer than a packed group: the unpacked tiles
    q8_min_gemm_avx2<W, VnniUnsignedDot>(n, wb + static_cast<size_t>(full_rows) * w_stride, w_stride,
                                         n_rows - full_rows, x, x_stride, n_tokens, out + full_rows, ldo);
  }
}

}  // namespace
}  // namespace ternion::quant
