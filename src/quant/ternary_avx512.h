// AVX-512 (F, BW, VL, DQ, VNNI) kernels shared by the ternary types, included only by their *_avx512.cpp files.
// A weight format W unpacks one super-block into four registers of trits, register k holding elements
// 64k..64k+63 as bytes t in 0..3 (value t - 1), i.e. in the order of the Q8_K values:
//   static constexpr size_t kBlockBytes, kScaleOffset;
//   static constexpr int64_t kPackMinTokens;  // from this many tokens on, packing rows pays off
//   static void decode512(const uint8_t* block, __m512i* t);
//   // The block's trits for 16 rows `w_stride` apart, lane = row: out[i] holds elements 4i..4i+3 (64 registers).
//   static void pack16(const uint8_t* block, size_t w_stride, __m512i* out);
//
// VPDPBUSD multiplies trits (unsigned) with activations (signed) and adds groups of four into int32 lanes, which
// start from minus the activations' group sums (bsums): the lanes then add up to the exact sum of (t - 1) * x.
//
// Few tokens (decode): each row and token gives one register per block, reduced across lanes 16 at a time.
// Many tokens (prompts): the packed bytes of 16 rows are transposed and decoded once so that one register holds
// the same 4 trits of a block for all 16 rows (lane = row); one VPDPBUSD with 4 activation bytes broadcast then
// advances 16 outputs and 64 of them give each row's exact block sum with no reduction at all, reused by every token.
// Either way each output accumulates sum = fma(isum, d_w * d_x, sum) block after block: the reference order.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8KBytes512 = sizeof(BlockQ8_K);
constexpr size_t kQ8KValues512 = 4;  // offset of qs in a Q8_K block
constexpr size_t kQ8KSums512 = 260;  // offset of bsums

// A block's fp16 scale; 1 for a format whose scale is the tensor's (I2_S: kUnitScale).
template <class W>
float ternary_scale512(const uint8_t* block) {
  if constexpr (requires { W::kUnitScale; }) {
    return 1.0f;
  } else {
    return _cvtsh_ss(load_unaligned<uint16_t>(block + W::kScaleOffset, 0));
  }
}

inline float q8_k_scale512(const uint8_t* block) { return load_unaligned<float>(block, 0); }

// Minus the 16 group sums of a Q8_K block, as int32 lanes: the start of a block's accumulator.
inline __m512i neg_group_sums(const uint8_t* xb) {
  const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kQ8KSums512));
  return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_cvtepi16_epi32(s));
}

// 16 lanes whose sum is the exact dot of a decoded super-block with one Q8_K block.
inline __m512i ternary_block_lanes512(const __m512i* t, const uint8_t* xb, __m512i start) {
  const uint8_t* xv = xb + kQ8KValues512;
  __m512i acc = _mm512_dpbusd_epi32(start, t[0], _mm512_loadu_si512(xv));
  for (int k = 1; k < 4; ++k) acc = _mm512_dpbusd_epi32(acc, t[k], _mm512_loadu_si512(xv + 64 * k));
  return acc;
}

// v[0..16) (16 lanes each) -> lane j = the sum of v[j]'s lanes. Exact (int32). Missing vectors must be zero.
inline __m512i ternary_reduce16(const __m512i* v) {
  __m512i s2[8];
  for (int i = 0; i < 8; ++i) {
    s2[i] =
        _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  __m512i s4[4];  // per 128-bit lane: partial sums of v[4i..4i+4)
  for (int i = 0; i < 4; ++i) {
    s4[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s2[2 * i], s2[2 * i + 1]),
                             _mm512_unpackhi_epi64(s2[2 * i], s2[2 * i + 1]));
  }
  const __m512i y0 =
      _mm512_add_epi32(_mm512_shuffle_i32x4(s4[0], s4[1], 0x88), _mm512_shuffle_i32x4(s4[0], s4[1], 0xdd));
  const __m512i y1 =
      _mm512_add_epi32(_mm512_shuffle_i32x4(s4[2], s4[3], 0x88), _mm512_shuffle_i32x4(s4[2], s4[3], 0xdd));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(y0, y1, 0x88), _mm512_shuffle_i32x4(y0, y1, 0xdd));
}

template <class W>
void ternary_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t nb = n / 256;
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 16 <= nb; b += 16) {
    __m512i v[16];
    alignas(64) float d[16];
    for (int j = 0; j < 16; ++j) {
      const uint8_t* wb = wp + (b + j) * W::kBlockBytes;
      const uint8_t* xb = xp + (b + j) * kQ8KBytes512;
      __m512i t[4];
      W::decode512(wb, t);
      v[j] = ternary_block_lanes512(t, xb, neg_group_sums(xb));
      d[j] = ternary_scale512<W>(wb) * q8_k_scale512(xb);
    }
    alignas(64) float isum[16];
    _mm512_store_ps(isum, _mm512_cvtepi32_ps(ternary_reduce16(v)));
    for (int j = 0; j < 16; ++j) sum = std::fma(isum[j], d[j], sum);
  }
  for (; b < nb; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8KBytes512;
    __m512i t[4];
    W::decode512(wb, t);
    const int32_t isum = _mm512_reduce_add_epi32(ternary_block_lanes512(t, xb, neg_group_sums(xb)));
    sum = std::fma(static_cast<float>(isum), ternary_scale512<W>(wb) * q8_k_scale512(xb), sum);
  }
  *out = sum;
}

// R rows x T tokens (R * T <= 16), output t * R + r in lane t * R + r.
template <class W, int R, int T>
void ternary_tile_avx512(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                         int64_t ldo) {
  static_assert(R * T <= 16, "one output per lane");
  const int64_t nb = n / 256;
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8KBytes512;
    __m512i start[T];
    for (int k = 0; k < T; ++k) start[k] = neg_group_sums(xb + k * x_stride);
    __m512i v[16];
    for (int j = R * T; j < 16; ++j) v[j] = _mm512_setzero_si512();
    for (int r = 0; r < R; ++r) {
      __m512i t[4];
      W::decode512(wb + r * w_stride, t);
      for (int k = 0; k < T; ++k) v[k * R + r] = ternary_block_lanes512(t, xb + k * x_stride, start[k]);
    }
    alignas(64) float dw[16] = {};
    alignas(64) float dx[16] = {};
    for (int k = 0; k < T; ++k) {
      for (int r = 0; r < R; ++r) {
        dw[k * R + r] = ternary_scale512<W>(wb + r * w_stride);
        dx[k * R + r] = q8_k_scale512(xb + k * x_stride);
      }
    }
    const __m512 d = _mm512_mul_ps(_mm512_load_ps(dw), _mm512_load_ps(dx));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ternary_reduce16(v)), d, acc);
  }
  alignas(64) float res[16];
  _mm512_store_ps(res, acc);
  for (int k = 0; k < T; ++k) {
    for (int r = 0; r < R; ++r) out[k * ldo + r] = res[k * R + r];
  }
}

template <class W, int T>
void ternary_tile_single_avx512(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                                float* out, int64_t ldo) {
  for (int k = 0; k < T; ++k) ternary_vec_dot_avx512<W>(n, out + k * ldo, w, x + k * x_stride);
}

template <class W>
void ternary_gemm_tiles_avx512(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* x,
                               size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {16, ternary_tile_avx512<W, 16, 1>, ternary_tile_single_avx512<W, 1>},
      {8, ternary_tile_avx512<W, 8, 2>, ternary_tile_single_avx512<W, 2>},
      {5, ternary_tile_avx512<W, 5, 3>, ternary_tile_single_avx512<W, 3>},
      {4, ternary_tile_avx512<W, 4, 4>, ternary_tile_single_avx512<W, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// ---- Packed rows for prompts --------------------------------------------------------------------------------

constexpr int kTernaryPackRows = 16;       // rows per packed group (one lane each)
constexpr int kTernaryPackBlocks = 4;      // super-blocks per packed K chunk: 16 KiB of packed trits
constexpr int kTernaryPackTokens = 128;    // tokens prepared at once
constexpr int kTernaryPackTileTokens = 8;  // tokens per micro-kernel call: 8 int + 8 float accumulators

// Per token and block of a K chunk: minus the sum of the activations (the start of each block's accumulator) and
// the scale.
struct TernaryActivations {
  alignas(64) int32_t neg_sum[kTernaryPackTokens][kTernaryPackBlocks];
  alignas(64) float scale[kTernaryPackTokens][kTernaryPackBlocks];
};

inline void prepare_ternary_activations(TernaryActivations& a, const uint8_t* x, size_t x_stride, int n_tokens,
                                        int64_t b0, int kb) {
  for (int t = 0; t < n_tokens; ++t) {
    for (int b = 0; b < kb; ++b) {
      const uint8_t* xb = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0 + b) * kQ8KBytes512;
      const __m512i s = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kQ8KSums512)));
      a.neg_sum[t][b] = -_mm512_reduce_add_epi32(s);
      a.scale[t][b] = q8_k_scale512(xb);
    }
  }
}

// 16 rows x kb blocks: for each block 64 registers (dword i of the block's trits for each row) and the row scales.
struct TernaryPackedRows {
  alignas(64) __m512i trits[kTernaryPackBlocks][64];
  alignas(64) float scale[kTernaryPackBlocks][kTernaryPackRows];
};

// Transposes 16 registers of 16 dwords in place: afterwards m[i] lane j = old m[j] lane i.
inline void transpose16x16_epi32(__m512i* m) {
  __m512i a[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_epi32(m[2 * i], m[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_epi32(m[2 * i], m[2 * i + 1]);
  }
  __m512i b[16];
  for (int i = 0; i < 4; ++i) {
    b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
    b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
    b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
  }
  // b[4i + c] holds, in 128-bit lane L, column 4L + c of rows 4i..4i+3.
  __m512i c[16];
  for (int i = 0; i < 2; ++i) {
    for (int k = 0; k < 4; ++k) {
      c[8 * i + k] = _mm512_shuffle_i32x4(b[8 * i + k], b[8 * i + 4 + k], 0x88);      // lanes 0, 2 | 0, 2
      c[8 * i + 4 + k] = _mm512_shuffle_i32x4(b[8 * i + k], b[8 * i + 4 + k], 0xdd);  // lanes 1, 3 | 1, 3
    }
  }
  // c[8i + k], by 128-bit lane: column k of rows 8i..8i+3, column 8 + k of the same rows, then both columns of
  // rows 8i+4..8i+7; c[8i + 4 + k] the same for columns 4 + k and 12 + k.
  for (int k = 0; k < 4; ++k) {
    m[k] = _mm512_shuffle_i32x4(c[k], c[8 + k], 0x88);            // column k
    m[8 + k] = _mm512_shuffle_i32x4(c[k], c[8 + k], 0xdd);        // column 8 + k
    m[4 + k] = _mm512_shuffle_i32x4(c[4 + k], c[12 + k], 0x88);   // column 4 + k
    m[12 + k] = _mm512_shuffle_i32x4(c[4 + k], c[12 + k], 0xdd);  // column 12 + k
  }
}

// The first `bytes` bytes (at most 64) of a block in 16 rows, transposed: m[i] lane r = dword i of row r's block.
// A masked load, so nothing past the block is read.
inline void load_rows_transposed(const uint8_t* block, size_t w_stride, int bytes, __m512i* m) {
  const __mmask64 mask = bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  for (int r = 0; r < kTernaryPackRows; ++r) m[r] = _mm512_maskz_loadu_epi8(mask, block + r * w_stride);
  transpose16x16_epi32(m);
}

template <class W>
void pack_ternary_rows(TernaryPackedRows& p, const uint8_t* w, size_t w_stride, int64_t b0, int kb) {
  for (int b = 0; b < kb; ++b) {
    const uint8_t* block = w + static_cast<size_t>(b0 + b) * W::kBlockBytes;
    W::pack16(block, w_stride, p.trits[b]);
    for (int r = 0; r < kTernaryPackRows; ++r) p.scale[b][r] = ternary_scale512<W>(block + r * w_stride);
  }
}

// T tokens x 16 rows over kb packed blocks. acc starts from out (a later K chunk) or from zero.
template <int T>
void ternary_packed_tile(const TernaryPackedRows& p, const TernaryActivations& a, int t0, const uint8_t* x,
                         size_t x_stride, int64_t b0, int kb, bool first_chunk, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t) {
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kQ8KBytes512 + kQ8KValues512;
  }
  for (int b = 0; b < kb; ++b) {
    __m512i s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm512_set1_epi32(a.neg_sum[t0 + t][b]);
    for (int i = 0; i < 64; ++i) {
      const __m512i wv = _mm512_load_si512(&p.trits[b][i]);
      for (int t = 0; t < T; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], wv, _mm512_set1_epi32(load_unaligned<int32_t>(xt[t] + b * kQ8KBytes512, i)));
      }
    }
    const __m512 dw = _mm512_load_ps(p.scale[b]);
    for (int t = 0; t < T; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a.scale[t0 + t][b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), d, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(out + t * ldo, acc[t]);
}

using TernaryPackedTileFn = void (*)(const TernaryPackedRows&, const TernaryActivations&, int, const uint8_t*, size_t,
                                     int64_t, int, bool, float*, int64_t);
constexpr TernaryPackedTileFn kTernaryPackedTiles[kTernaryPackTileTokens] = {
    ternary_packed_tile<1>, ternary_packed_tile<2>, ternary_packed_tile<3>, ternary_packed_tile<4>,
    ternary_packed_tile<5>, ternary_packed_tile<6>, ternary_packed_tile<7>, ternary_packed_tile<8>};

template <class W>
void ternary_gemm_packed_avx512(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* x,
                                size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / 256;
  const int64_t full_rows = n_rows / kTernaryPackRows * kTernaryPackRows;
  TernaryActivations act;    // 4 KiB
  TernaryPackedRows packed;  // 16 KiB
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kTernaryPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kTernaryPackTokens, n_tokens - t0));
    const uint8_t* xs = x + static_cast<size_t>(t0) * x_stride;
    for (int64_t b0 = 0; b0 < nb; b0 += kTernaryPackBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kTernaryPackBlocks, nb - b0));
      prepare_ternary_activations(act, xs, x_stride, ts, b0, kb);
      for (int64_t r0 = 0; r0 < full_rows; r0 += kTernaryPackRows) {
        pack_ternary_rows<W>(packed, w + static_cast<size_t>(r0) * w_stride, w_stride, b0, kb);
        for (int t = 0; t < ts; t += kTernaryPackTileTokens) {
          const int tt = std::min(kTernaryPackTileTokens, ts - t);
          kTernaryPackedTiles[tt - 1](packed, act, t, xs, x_stride, b0, kb, b0 == 0, out + (t0 + t) * ldo + r0, ldo);
        }
      }
    }
  }
  if (full_rows < n_rows) {
    ternary_gemm_tiles_avx512<W>(n, w + static_cast<size_t>(full_rows) * w_stride, w_stride, n_rows - full_rows, x,
                                 x_stride, n_tokens, out + full_rows, ldo);
  }
}

template <class W>
void ternary_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                         int64_t n_tokens, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  if (n_tokens >= W::kPackMinTokens && n_rows >= kTernaryPackRows) {
    ternary_gemm_packed_avx512<W>(n, wb, w_stride, n_rows, xb, x_stride, n_tokens, out, ldo);
  } else {
    ternary_gemm_tiles_avx512<W>(n, wb, w_stride, n_rows, xb, x_stride, n_tokens, out, ldo);
  }
}

}  // namespace
}  // namespace ternion::quant
