// AVX-512 kernels for weights dotted with Q8_0 activations (included only by *_avx512.cpp files).
//
// Decode (few tokens) uses the AVX2 tiles of q8_dot_avx2.h with a VNNI dot. Prompt batches use a packed
// layout instead: 16 weight rows are regrouped so that one register holds the same 4 bytes of a block for all
// 16 rows (as unsigned bytes: Q8_0 values + 128, Q4_0 nibbles). One VPDPBUSD with 4 activation bytes broadcast
// then advances 16 outputs, and 8 of them give each row's exact block sum, with no horizontal reduction.
// The unsigned offset is taken back out with the activation block's sum (c * sum(x), c = 128 or 8), so the
// block sums are the exact integers of the reference and each output still accumulates
// fma(isum, d_w * d_x, sum) block after block in order.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/q8_dot_avx2.h"

namespace ternion::quant {
namespace {

struct VnniDot {
  static __m256i lanes(__m256i abs_w, __m256i w, __m256i x) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), abs_w, _mm256_sign_epi8(x, w));
  }
};

constexpr int kPackRows = 16;       // rows per packed group (one zmm lane each)
constexpr int kPackBlocks = 64;     // blocks per packed K chunk: 32 KiB of packed weights, L1-sized
constexpr int kPackTokens = 128;    // tokens prepared at once; packed weights are reused by all of them
constexpr int kPackTileTokens = 8;  // tokens per micro-kernel call: 8 int + 8 float accumulators
constexpr int64_t kPackMinTokens = 4;

// Offsets of 16 rows from the first, for gathers.
inline __m512i row_offsets(size_t w_stride) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(w_stride)));
}

// The fp16 scales of one block of 16 rows, as fp32.
inline __m512 gather_scales16(const uint8_t* block, __m512i offsets) {
  const __m512i dwords = _mm512_i32gather_epi32(offsets, block, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dwords));
}

// Activations of up to kPackTokens tokens for blocks [b0, b0 + kb): minus c times the block sum (the start value
// of each block's integer accumulator) and the scale as fp32.
struct ActivationChunk {
  alignas(64) int32_t neg_corr[kPackTokens][kPackBlocks];
  alignas(64) float scale[kPackTokens][kPackBlocks];
};

// For blocks [0, nb) of one activation row: -c * (sum of the block's values) and the block's scale as fp32.
inline void activation_sums(const uint8_t* xb, int64_t nb, int32_t c, int32_t* neg_corr, float* scale) {
  const __m256i ones = _mm256_set1_epi8(1);
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256i v[8];
    for (int j = 0; j < 8; ++j) {
      v[j] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, load_q8_values(xb + (b + j) * kQ8Bytes));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(neg_corr + b),
                        _mm256_mullo_epi32(reduce8_epi32(v), _mm256_set1_epi32(-c)));
    _mm256_storeu_ps(scale + b, load_scales8(xb + b * kQ8Bytes, kQ8Bytes));
  }
  for (; b < nb; ++b) {
    const uint8_t* blk = xb + b * kQ8Bytes;
    neg_corr[b] = -c * hsum_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, load_q8_values(blk)));
    scale[b] = _cvtsh_ss(load_scale(blk));
  }
}

inline void prepare_activations(ActivationChunk& a, const uint8_t* x, size_t x_stride, int n_tokens, int64_t b0, int kb,
                                int32_t c) {
  for (int t = 0; t < n_tokens; ++t) {
    const uint8_t* xb = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes;
    activation_sums(xb, kb, c, a.neg_corr[t], a.scale[t]);
  }
}

// 16 rows x kb blocks in packed form: for each block, 8 registers (dword k of the block for each row) and the
// 16 row scales.
struct PackedRows {
  alignas(64) __m512i values[kPackBlocks][8];
  alignas(64) float scale[kPackBlocks][kPackRows];
};

template <class W>
void pack_rows(PackedRows& p, const uint8_t* w, size_t w_stride, int64_t b0, int kb) {
  const __m512i offsets = row_offsets(w_stride);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* block = w + static_cast<size_t>(b0 + b) * W::kBlockBytes;
    W::pack_block(block, offsets, p.values[b]);
    _mm512_store_ps(p.scale[b], gather_scales16(block, offsets));
  }
}

// T tokens x 16 rows over kb packed blocks. acc starts from out (a later K chunk) or from zero.
template <int T>
void packed_tile(const PackedRows& p, const ActivationChunk& a, int t0, const uint8_t* x, size_t x_stride, int64_t b0,
                 int kb, bool first_chunk, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_loadu_ps(out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t)
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes + 2;
  for (int b = 0; b < kb; ++b) {
    __m512i s[T];
    for (int t = 0; t < T; ++t) s[t] = _mm512_set1_epi32(a.neg_corr[t0 + t][b]);
    for (int k = 0; k < 8; ++k) {
      const __m512i wv = _mm512_load_si512(&p.values[b][k]);
      for (int t = 0; t < T; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], wv, _mm512_set1_epi32(load_unaligned<int32_t>(xt[t] + b * kQ8Bytes, k)));
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

using PackedTileFn = void (*)(const PackedRows&, const ActivationChunk&, int, const uint8_t*, size_t, int64_t, int,
                              bool, float*, int64_t);
constexpr PackedTileFn kPackedTiles[kPackTileTokens] = {packed_tile<1>, packed_tile<2>, packed_tile<3>, packed_tile<4>,
                                                        packed_tile<5>, packed_tile<6>, packed_tile<7>, packed_tile<8>};

template <class W>
void q8_gemm_packed_avx512(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* x,
                           size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / kQ8_0BlockSize;
  const int64_t full_rows = n_rows / kPackRows * kPackRows;
  ActivationChunk act;  // 64 KiB
  PackedRows packed;    // 36 KiB
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kPackTokens, n_tokens - t0));
    const uint8_t* xs = x + static_cast<size_t>(t0) * x_stride;
    for (int64_t b0 = 0; b0 < nb; b0 += kPackBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kPackBlocks, nb - b0));
      prepare_activations(act, xs, x_stride, ts, b0, kb, W::kUnsignedOffset);
      for (int64_t r0 = 0; r0 < full_rows; r0 += kPackRows) {
        pack_rows<W>(packed, w + static_cast<size_t>(r0) * w_stride, w_stride, b0, kb);
        for (int t = 0; t < ts; t += kPackTileTokens) {
          const int tt = std::min(kPackTileTokens, ts - t);
          kPackedTiles[tt - 1](packed, act, t, xs, x_stride, b0, kb, b0 == 0, out + (t0 + t) * ldo + r0, ldo);
        }
      }
    }
  }
  if (full_rows < n_rows) {  // the last rows, fewer than a packed group: the unpacked tiles
    q8_gemm_avx2<W, VnniDot>(n, w + static_cast<size_t>(full_rows) * w_stride, w_stride, n_rows - full_rows, x,
                             x_stride, n_tokens, out + full_rows, ldo);
  }
}

// ---- Decode: one token, 8 rows, two blocks per step ----
//
// Each row's two blocks fill one zmm (unsigned weight bytes against signed activation bytes, so one VPDPBUSD
// per row); the 8 rows' 16-lane results are reduced together into [rows 0-7, block b | rows 0-7, block b+1],
// then the row accumulators take block b and block b+1 in that order, as the reference does.

constexpr int64_t kDecodeMaxBlocks = 1024;  // activation sums kept on the stack (8 KiB); longer rows use the tiles

// v[r] holds block b in the 128-bit lanes W::kPairLanesB and block b+1 in the others. Result lanes:
// [rows 0-7 of block b | rows 0-7 of block b+1]. Exact.
template <class W>
inline __m512i reduce_pairs8(const __m512i* v) {
  __m512i s[4];
  for (int i = 0; i < 4; ++i) {
    const __m512i a = v[2 * i];
    const __m512i c = v[2 * i + 1];
    s[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a, c), _mm512_unpackhi_epi32(a, c));
  }
  const __m512i r03 = _mm512_add_epi32(_mm512_unpacklo_epi64(s[0], s[1]), _mm512_unpackhi_epi64(s[0], s[1]));
  const __m512i r47 = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2], s[3]), _mm512_unpackhi_epi64(s[2], s[3]));
  // Each 128-bit lane now holds 4 rows' partial sums; add the two lanes of each block.
  const __m512i p = _mm512_shuffle_i32x4(r03, r47, W::kPairShuffleFirst);
  const __m512i q = _mm512_shuffle_i32x4(r03, r47, W::kPairShuffleSecond);
  const __m512i sum = _mm512_add_epi32(p, q);   // [rows 0-3 b, rows 0-3 b+1, rows 4-7 b, rows 4-7 b+1]
  return _mm512_shuffle_i32x4(sum, sum, 0xd8);  // lanes 0, 2, 1, 3
}

template <class W>
void decode_rows8(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* x, const int32_t* neg_corr,
                  const float* x_scale, float* out) {
  // Scales of the 8 rows: block b in lanes 0-7, block b+1 in lanes 8-15.
  const __m512i scale_index = _mm512_add_epi32(
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7),
                         _mm512_set1_epi32(static_cast<int>(w_stride))),
      _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(static_cast<int>(W::kBlockBytes)), 1));
  __m256 acc = _mm256_setzero_ps();
  int64_t b = 0;
  if constexpr (W::kHasQuadStep) {  // a format with a faster step of 4 blocks takes them first, in order
    for (; b + 4 <= nb; b += 4) {
      acc = W::decode_quad(w + b * W::kBlockBytes, w_stride, x + b * kQ8Bytes, neg_corr + b, x_scale + b, acc);
    }
  }
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const __m512i xv = W::load_x_pair(x + b * kQ8Bytes);
    __m512i v[8];
    for (int r = 0; r < 8; ++r) v[r] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W::load_pair(wb + r * w_stride), xv);
    const __m512i corr = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(neg_corr[b])),
                                            _mm256_set1_epi32(neg_corr[b + 1]), 1);
    const __m512 isum = _mm512_cvtepi32_ps(_mm512_add_epi32(reduce_pairs8<W>(v), corr));
    const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(scale_index, wb, 1)));
    const __m512 dx =
        _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(x_scale[b])), _mm256_set1_ps(x_scale[b + 1]), 1);
    const __m512 d = _mm512_mul_ps(dw, dx);
    acc = _mm256_fmadd_ps(_mm512_castps512_ps256(isum), _mm512_castps512_ps256(d), acc);
    acc = _mm256_fmadd_ps(_mm512_extractf32x8_ps(isum, 1), _mm512_extractf32x8_ps(d, 1), acc);
  }
  if (b < nb) {  // an odd last block, on its own
    const uint8_t* wb = w + b * W::kBlockBytes;
    const __m256i xv = load_q8_values(x + b * kQ8Bytes);
    __m256i v[8];
    for (int r = 0; r < 8; ++r) v[r] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), W::load_one(wb + r * w_stride), xv);
    const __m256 isum = _mm256_cvtepi32_ps(_mm256_add_epi32(reduce8_epi32(v), _mm256_set1_epi32(neg_corr[b])));
    const __m256 d = _mm256_mul_ps(load_scales8(wb, w_stride), _mm256_set1_ps(x_scale[b]));
    acc = _mm256_fmadd_ps(isum, d, acc);
  }
  _mm256_storeu_ps(out, acc);
}

template <class W>
void q8_gemm_decode_avx512(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* x,
                           size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / kQ8_0BlockSize;
  alignas(64) int32_t neg_corr[kDecodeMaxBlocks];
  alignas(64) float x_scale[kDecodeMaxBlocks];
  const int64_t full_rows = n_rows / 8 * 8;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const uint8_t* xt = x + static_cast<size_t>(t) * x_stride;
    float* ot = out + t * ldo;
    activation_sums(xt, nb, W::kUnsignedOffset, neg_corr, x_scale);
    for (int64_t r = 0; r < full_rows; r += 8) {
      decode_rows8<W>(nb, w + static_cast<size_t>(r) * w_stride, w_stride, xt, neg_corr, x_scale, ot + r);
    }
    for (int64_t r = full_rows; r < n_rows; ++r) {
      q8_vec_dot_avx2<W, VnniDot>(n, ot + r, w + static_cast<size_t>(r) * w_stride, xt);
    }
  }
}

template <class W>
void q8_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  if (n_tokens < kPackMinTokens || n_rows < kPackRows) {
    if (n / kQ8_0BlockSize <= kDecodeMaxBlocks) {
      q8_gemm_decode_avx512<W>(n, static_cast<const uint8_t*>(w), w_stride, n_rows, static_cast<const uint8_t*>(x),
                               x_stride, n_tokens, out, ldo);
    } else {
      q8_gemm_avx2<W, VnniDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
    }
    return;
  }
  q8_gemm_packed_avx512<W>(n, static_cast<const uint8_t*>(w), w_stride, n_rows, static_cast<const uint8_t*>(x),
                           x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
