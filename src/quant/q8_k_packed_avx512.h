// AVX-512 VNNI gemm for K-quant weights and prompt batches (included only by *_avx512.cpp files).
//
// 16 weight rows are regrouped so that one register holds the same 4 quants (one dword, as unsigned bytes u)
// of a super-block for all 16 rows, one lane per row. One VPDPBUSD with 4 activation bytes broadcast then
// advances 16 outputs; the dwords of a group give each row's exact group sum, which VPMULLD scales by the
// row's group scale. The group-sum term sum_g k_g * bsums[g] (see q8_k_dot_avx2.h) is one VPDPWSSD per pair
// of groups, with k_g packed as int16 pairs. The integer sums are therefore exactly those of the reference,
// and each output accumulates fma(isum, d_w * d_x, sum) (and the min term) super-block after super-block in
// order, so results are the same bits as the single dot.
//
// A weight format W used here gives, besides prepare() of q8_k_dot_avx2.h:
//   kGroupSize (16 or 32) and pack_values(block, row_offsets, out[64]): dword k (values 4k .. 4k + 3) of the
//   super-block for each of the 16 rows at block + row_offsets.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

constexpr int kKPackRows = 16;          // rows per packed group (one zmm lane each)
constexpr int kKPackBlocks = 8;         // super-blocks per packed K chunk: 32 KiB of packed quants
constexpr int kKPackTokens = 128;       // tokens that reuse one packing
constexpr int kKPackTileTokens = 8;     // tokens per micro-kernel call
constexpr int64_t kKPackMinTokens = 8;  // fewer tokens do not repay the packing

struct KPackedRows {
  alignas(64) __m512i values[kKPackBlocks][64];  // dword k of each super-block, 16 rows
  alignas(64) __m512i scale[kKPackBlocks][16];   // s_g as int32, 16 rows (groups of 32: the first 8)
  alignas(64) __m512i coef[kKPackBlocks][8];     // (k_{2j}, k_{2j+1}) as int16 pairs, 16 rows
  alignas(64) float d[kKPackBlocks][kKPackRows];
  alignas(64) float dmin[kKPackBlocks][kKPackRows];
};

inline __m512i kpack_row_offsets(size_t w_stride) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(w_stride)));
}

// Rows [0, 16) x super-blocks [b0, b0 + kb) of w.
template <class W>
void kpack_rows(KPackedRows& p, const uint8_t* w, size_t w_stride, int64_t b0, int kb) {
  constexpr int kGroups = kQK_K / W::kGroupSize;
  const __m512i offsets = kpack_row_offsets(w_stride);
  for (int b = 0; b < kb; ++b) {
    const size_t block_offset = static_cast<size_t>(b0 + b) * W::kBlockBytes;
    W::pack_values(w + block_offset, offsets, p.values[b]);
    alignas(64) int32_t scale[16][kKPackRows];
    alignas(64) int32_t coef[8][kKPackRows];
    for (int r = 0; r < kKPackRows; ++r) {
      KPrep prep;
      W::prepare(w + r * w_stride + block_offset, prep);
      for (int g = 0; g < kGroups; ++g) scale[g][r] = prep.scale[g * (W::kGroupSize / 16)];
      for (int j = 0; j < 8; ++j) {
        coef[j][r] = static_cast<int32_t>(static_cast<uint16_t>(prep.coef[2 * j]) |
                                          (static_cast<uint32_t>(static_cast<uint16_t>(prep.coef[2 * j + 1])) << 16));
      }
      p.d[b][r] = prep.d;
      p.dmin[b][r] = prep.dmin;
    }
    for (int g = 0; g < kGroups; ++g) p.scale[b][g] = _mm512_load_si512(scale[g]);
    for (int j = 0; j < 8; ++j) p.coef[b][j] = _mm512_load_si512(coef[j]);
  }
}

inline __m512i broadcast_dword(const uint8_t* p) { return _mm512_set1_epi32(load_unaligned<int32_t>(p, 0)); }

// T tokens x 16 rows over kb packed super-blocks; x[t] points at token t's super-block b0. acc starts from out
// (a later K chunk) or from zero.
template <class W, int T>
void kpacked_tile(const KPackedRows& p, int kb, const uint8_t* const* x, bool first_chunk, float* out, int64_t ldo) {
  constexpr int kGroups = kQK_K / W::kGroupSize;
  constexpr int kDwords = W::kGroupSize / 4;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) xb[t] = x[t] + static_cast<size_t>(b) * kQ8KBytes;
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int g = 0; g < kGroups; ++g) {
      __m512i gs[T];
      for (int t = 0; t < T; ++t) gs[t] = _mm512_setzero_si512();
      for (int k = 0; k < kDwords; ++k) {
        const __m512i wv = _mm512_load_si512(&p.values[b][g * kDwords + k]);
        const size_t at = kQ8KValues + 4 * static_cast<size_t>(g * kDwords + k);
        for (int t = 0; t < T; ++t) gs[t] = _mm512_dpbusd_epi32(gs[t], wv, broadcast_dword(xb[t] + at));
      }
      const __m512i sc = _mm512_load_si512(&p.scale[b][g]);
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(gs[t], sc));
    }
    const __m512 dw = _mm512_load_ps(p.d[b]);
    const __m512 dmw = _mm512_load_ps(p.dmin[b]);
    for (int t = 0; t < T; ++t) {
      __m512i c = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) c = _mm512_dpwssd_epi32(c, p.coef[b][j], broadcast_dword(xb[t] + kQ8KSums + 4 * j));
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      if constexpr (W::kHasMins) {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, dx), acc[t]);
        const __m512i neg = _mm512_sub_epi32(_mm512_setzero_si512(), c);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(neg), _mm512_mul_ps(dmw, dx), acc[t]);
      } else {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(isum[t], c)), _mm512_mul_ps(dw, dx), acc[t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * ldo, acc[t]);
}

template <class W>
using KPackedTileFn = void (*)(const KPackedRows&, int, const uint8_t* const*, bool, float*, int64_t);

template <class W>
constexpr KPackedTileFn<W> kKPackedTiles[kKPackTileTokens] = {
    kpacked_tile<W, 1>, kpacked_tile<W, 2>, kpacked_tile<W, 3>, kpacked_tile<W, 4>,
    kpacked_tile<W, 5>, kpacked_tile<W, 6>, kpacked_tile<W, 7>, kpacked_tile<W, 8>};

// The gemm of an AVX-512 K-quant record: packed groups of 16 rows for prompt batches, the register tiles of
// q8_k_dot_avx2.h (with the AVX-512 step) for few tokens and the rows left over.
template <class W>
void kq_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t full_rows = n_tokens >= kKPackMinTokens ? n_rows / kKPackRows * kKPackRows : 0;
  const int64_t nb = n / kQK_K;
  KPackedRows packed;  // 45 KiB
  for (int64_t t0 = 0; full_rows > 0 && t0 < n_tokens; t0 += kKPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kKPackTokens, n_tokens - t0));
    for (int64_t b0 = 0; b0 < nb; b0 += kKPackBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kKPackBlocks, nb - b0));
      for (int64_t r0 = 0; r0 < full_rows; r0 += kKPackRows) {
        kpack_rows<W>(packed, wp + static_cast<size_t>(r0) * w_stride, w_stride, b0, kb);
        for (int t = 0; t < ts; t += kKPackTileTokens) {
          const int tt = std::min(kKPackTileTokens, ts - t);
          const uint8_t* xt[kKPackTileTokens];
          for (int k = 0; k < tt; ++k) {
            xt[k] = xp + static_cast<size_t>(t0 + t + k) * x_stride + static_cast<size_t>(b0) * kQ8KBytes;
          }
          kKPackedTiles<W>[tt - 1](packed, kb, xt, b0 == 0, out + (t0 + t) * ldo + r0, ldo);
        }
      }
    }
  }
  if (full_rows < n_rows) {
    kq_gemm<W, Avx512Step>(n, wp + static_cast<size_t>(full_rows) * w_stride, w_stride, n_rows - full_rows, x, x_stride,
                           n_tokens, out + full_rows, ldo);
  }
}

}  // namespace
}  // namespace ternion::quant
