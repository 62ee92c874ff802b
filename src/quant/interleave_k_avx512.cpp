// AVX-512 VNNI kernels over the interleaved Q4_K and Q6_K layouts (quant/interleave.h), dotted with Q8_K
// activations.
//
// Per super-block and 16 rows: word k of the values holds, for chunk j = k / 8, the low nibbles of group 2j and
// the high nibbles of group 2j + 1 (4 values each), so one load feeds two VPDPBUSD (nibbles are unsigned,
// activations signed: exact group sums). The scales and mins, stored as bytes, widen to one lane per row, and
// isum = sum_g sc_g * gsum_g, msum = sum_g m_g * (bsum_2g + bsum_2g+1) are the reference's integers; each row
// then takes fma(isum, d * d_x, sum) and fma(-msum, dmin * d_x, sum), super-block after super-block, as the
// reference vec_dot does.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "quant/interleave.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kTileTokens = 4;   // tokens per micro-kernel call
constexpr int kChunkBlocks = 8;  // super-blocks per K chunk: 16 rows x 8 = 19 KiB of weights, reused by every tile

inline __m512i widen_bytes(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

template <int T>
void q4_k_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
               __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ4KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kQ4KInterleavedBlock, kQ4KInterleavedBlock);  // decode: the next super-block
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t)
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      __m512i lo[T];
      __m512i hi[T];
      for (int t = 0; t < T; ++t) {
        lo[t] = _mm512_setzero_si512();
        hi[t] = _mm512_setzero_si512();
      }
      for (int w = 0; w < 8; ++w) {
        const __m512i q = _mm512_loadu_si512(blk + kQ4KInterleavedValues + 64 * (8 * j + w));
        const __m512i ql = _mm512_and_si512(q, low);
        const __m512i qh = _mm512_andnot_si512(low, q);  // 16 x the high nibble: hi sums come out 16 x
        for (int t = 0; t < T; ++t) {
          const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 64 * j + 4 * w;
          lo[t] = _mm512_dpbusd_epi32(lo[t], ql, _mm512_set1_epi32(load_unaligned<int32_t>(xq, 0)));
          hi[t] = _mm512_dpbusd_epi32(hi[t], qh, _mm512_set1_epi32(load_unaligned<int32_t>(xq + 32, 0)));
        }
      }
      const __m512i sc_lo = widen_bytes(blk + kQ4KInterleavedScales + 16 * (2 * j));
      const __m512i sc_hi = widen_bytes(blk + kQ4KInterleavedScales + 16 * (2 * j + 1));
      for (int t = 0; t < T; ++t) {
        const __m512i h = _mm512_srai_epi32(hi[t], 4);  // exact: a multiple of 16
        isum[t] =
            _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], sc_lo), _mm512_mullo_epi32(h, sc_hi)));
      }
    }
    __m512i msum[T];
    for (int t = 0; t < T; ++t) msum[t] = _mm512_setzero_si512();
    for (int grp = 0; grp < 8; ++grp) {
      const __m512i m = widen_bytes(blk + kQ4KInterleavedMins + 16 * grp);
      for (int t = 0; t < T; ++t) {
        const auto* bs = reinterpret_cast<const int16_t*>(xb[t] + offsetof(BlockQ8_K, bsums));
        const int32_t bsum = static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * grp)) +
                             static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * grp + 1));
        msum[t] = _mm512_add_epi32(msum[t], _mm512_mullo_epi32(m, _mm512_set1_epi32(bsum)));
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ4KInterleavedD)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ4KInterleavedDmin)));
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), msum[t])),
                               _mm512_mul_ps(dmin, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using Q4KTileFn = void (*)(const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, __mmask16);
constexpr Q4KTileFn kQ4KTiles[kTileTokens] = {q4_k_tile<1>, q4_k_tile<2>, q4_k_tile<3>, q4_k_tile<4>};

// Q6_K. Values are rebuilt as unsigned u = q + 32 from a word of ql (low or high nibbles) and a word of qh (2 of
// its bits), 16 rows per register; per group g of 16 values the dot of u starts from -32 * bsum_g, which leaves
// the exact sum of q * x. isum = sum_g scale_g * gsum_g, and each row takes fma(isum, d * d_x, sum)
// super-block after super-block, as the reference does. One token dots the values as they are rebuilt; a
// tile of several tokens first rebuilds a K chunk of the group into a buffer that all its tiles read.
constexpr int kQ6ChunkBlocks = 4;  // 16 rows x 4 super-blocks of rebuilt values: 16 KiB, in L1 for every tile
constexpr int kQ6TileTokens = 4;

// The values h*128 + 4i + 32q + 0..3 (q = 0..3) of the 16 rows of one super-block.
struct Q6Values {
  __m512i u[4];
  Q6Values(const uint8_t* blk, int h, int i) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i m2 = _mm512_set1_epi8(0x30);
    const uint8_t* triple = blk + kQ6KInterleavedValues + 192 * (8 * h + i);
    const __m512i a = _mm512_loadu_si512(triple);
    const __m512i c = _mm512_loadu_si512(triple + 64);
    const __m512i hb = _mm512_loadu_si512(triple + 128);
    u[0] = _mm512_or_si512(_mm512_and_si512(a, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 4), m2));
    u[1] = _mm512_or_si512(_mm512_and_si512(c, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), m2));
    u[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), m4), _mm512_and_si512(hb, m2));
    u[3] =
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(c, 4), m4), _mm512_and_si512(_mm512_srli_epi16(hb, 2), m2));
  }
};

inline __m512i q6_scales(const uint8_t* blk, int grp) {
  return _mm512_cvtepi8_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQ6KInterleavedScales + 16 * grp)));
}

inline int32_t q6_bsum(const uint8_t* xb, int grp) {
  return load_unaligned<int16_t>(xb + offsetof(BlockQ8_K, bsums), grp);
}

// Super-blocks per K piece of a one-token product: rows up to 65536 columns are taken whole.
constexpr int kDecodeBlocks = 256;

// What a decode group reads of the activations besides their blocks: nothing for Q6_K.
struct NoDecodeActivations {
  NoDecodeActivations(const uint8_t*, int) {}
};

// One token, super-blocks [0, kb) of one group (g and x point at the first): values dotted as they are rebuilt.
// The sums start from zero (first piece) or from out.
void q6_k_decode_group(const uint8_t* g, int kb, const NoDecodeActivations&, const uint8_t* x, bool first_piece,
                       float* out, __mmask16 mask) {
  __m512 acc = first_piece ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kQ6KInterleavedBlock);
    __m512i isum = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      for (int iq = 0; iq < 2; ++iq) {  // groups 8h + 2q + iq
        __m512i s[4];
        for (int q = 0; q < 4; ++q) s[q] = _mm512_set1_epi32(-32 * q6_bsum(xb, 8 * h + 2 * q + iq));
        for (int ii = 0; ii < 4; ++ii) {
          const int i = 4 * iq + ii;
          const Q6Values v(blk, h, i);
          for (int q = 0; q < 4; ++q) {
            s[q] = _mm512_dpbusd_epi32(s[q], v.u[q],
                                       _mm512_set1_epi32(load_unaligned<int32_t>(xq + 128 * h + 32 * q + 4 * i, 0)));
          }
        }
        for (int q = 0; q < 4; ++q) {
          isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(s[q], q6_scales(blk, 8 * h + 2 * q + iq)));
        }
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ6KInterleavedD)));
    acc =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(load_unaligned<float>(xb, 0))), acc);
  }
  _mm512_mask_storeu_ps(out, mask, acc);
}

struct Q6Unpacked {
  __m512i u[kQ6ChunkBlocks][64];  // word w: values 4w..4w+3 of the 16 rows
};

void q6_k_unpack_chunk(const uint8_t* g, int kb, Q6Unpacked& out) {
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 8; ++i) {
        const Q6Values v(blk, h, i);
        for (int q = 0; q < 4; ++q) out.u[b][32 * h + 8 * q + i] = v.u[q];
      }
    }
  }
}

template <int T>
void q6_k_tile(const Q6Unpacked& un, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk,
               float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t)
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int grp = 0; grp < 16; ++grp) {
      __m512i s[T];
      for (int t = 0; t < T; ++t) s[t] = _mm512_set1_epi32(-32 * q6_bsum(xb[t], grp));
      for (int w = 0; w < 4; ++w) {
        const __m512i u = _mm512_load_si512(&un.u[b][4 * grp + w]);
        for (int t = 0; t < T; ++t) {
          const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 16 * grp + 4 * w;
          s[t] = _mm512_dpbusd_epi32(s[t], u, _mm512_set1_epi32(load_unaligned<int32_t>(xq, 0)));
        }
      }
      const __m512i sc = q6_scales(blk, grp);
      for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], sc));
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ6KInterleavedD)));
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using Q6KTileFn = void (*)(const Q6Unpacked&, const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t,
                           __mmask16);
constexpr Q6KTileFn kQ6KTiles[kQ6TileTokens] = {q6_k_tile<1>, q6_k_tile<2>, q6_k_tile<3>, q6_k_tile<4>};

// TQ2_0. Trits t (value t - 1) sit 4 to a byte; a word's field l (bits 2l, 2l + 1) holds elements
// 128 (k / 8) + 32 l + 4 (k % 8) + 0..3 of 16 rows. Each super-block's dot starts from minus the sum of the
// activations, which leaves the exact sum of (t - 1) * x, and each row takes fma(isum, d * d_x, sum) super-block
// after super-block, as the reference does.
constexpr int kTQ2ChunkBlocks = 4;  // 16 rows x 4 super-blocks of unpacked trits: 16 KiB, in L1 for every tile
constexpr int kTQ2TileTokens = 4;

inline int32_t q8_k_sum(const uint8_t* xb) {
  return _mm512_reduce_add_epi32(
      _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + offsetof(BlockQ8_K, bsums)))));
}

// Minus the sum of each super-block's activations, taken once per product rather than once per group.
struct TQ2DecodeActivations {
  int32_t neg_sum[kDecodeBlocks];
  TQ2DecodeActivations(const uint8_t* x, int kb) {
    for (int b = 0; b < kb; ++b) neg_sum[b] = -q8_k_sum(x + static_cast<size_t>(b) * sizeof(BlockQ8_K));
  }
};

// One token, super-blocks [0, kb) of one group, as q6_k_decode_group. Field l is taken in place (masked, not
// shifted) so its dots come out 4^l x; two chains per field (even and odd words) hide the dot latency, and their
// sum is shifted back exactly at the end of the super-block.
void tq2_0_decode_group(const uint8_t* g, int kb, const TQ2DecodeActivations& acts, const uint8_t* x, bool first_piece,
                        float* out, __mmask16 mask) {
  __m512 acc = first_piece ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out);
  const __m512i field[4] = {_mm512_set1_epi8(0x03), _mm512_set1_epi8(0x0c), _mm512_set1_epi8(0x30),
                            _mm512_set1_epi8(static_cast<char>(0xc0))};
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kTQ2InterleavedBlock);
    __m512i c[2][4];
    for (int l = 0; l < 4; ++l) c[0][l] = c[1][l] = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + kTQ2InterleavedValues + 64 * k);
      const uint8_t* xk = xq + 128 * (k / 8) + 4 * (k % 8);
      for (int l = 0; l < 4; ++l) {
        c[k % 2][l] = _mm512_dpbusd_epi32(c[k % 2][l], _mm512_and_si512(q, field[l]),
                                          _mm512_set1_epi32(load_unaligned<int32_t>(xk + 32 * l, 0)));
      }
    }
    __m512i f[4];
    for (int l = 0; l < 4; ++l) f[l] = _mm512_add_epi32(c[0][l], c[1][l]);  // still 4^l x an integer
    const __m512i isum =
        _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(f[0], _mm512_srai_epi32(f[1], 2)),
                                          _mm512_add_epi32(_mm512_srai_epi32(f[2], 4), _mm512_srai_epi32(f[3], 6))),
                         _mm512_set1_epi32(acts.neg_sum[b]));
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kTQ2InterleavedD)));
    acc =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(load_unaligned<float>(xb, 0))), acc);
  }
  _mm512_mask_storeu_ps(out, mask, acc);
}

struct TQ2Unpacked {
  __m512i u[kTQ2ChunkBlocks][64];  // word w: trits of elements 4w..4w+3 of the 16 rows
};

void tq2_0_unpack_chunk(const uint8_t* g, int kb, TQ2Unpacked& out) {
  const __m512i m = _mm512_set1_epi8(0x03);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    for (int k = 0; k < 16; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + kTQ2InterleavedValues + 64 * k);
      for (int l = 0; l < 4; ++l) {
        out.u[b][32 * (k / 8) + 8 * l + k % 8] = _mm512_and_si512(_mm512_srli_epi16(q, 2 * l), m);
      }
    }
  }
}

template <int T>
void tq2_0_tile(const TQ2Unpacked& un, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk,
                float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t)
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    __m512i s[T];
    __m512i s2[T];  // two chains per token hide the dot latency
    for (int t = 0; t < T; ++t) {
      s[t] = _mm512_set1_epi32(-q8_k_sum(xb[t]));
      s2[t] = _mm512_setzero_si512();
    }
    for (int w = 0; w < 64; w += 2) {
      const __m512i u0 = _mm512_load_si512(&un.u[b][w]);
      const __m512i u1 = _mm512_load_si512(&un.u[b][w + 1]);
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 4 * w;
        s[t] = _mm512_dpbusd_epi32(s[t], u0, _mm512_set1_epi32(load_unaligned<int32_t>(xq, 0)));
        s2[t] = _mm512_dpbusd_epi32(s2[t], u1, _mm512_set1_epi32(load_unaligned<int32_t>(xq + 4, 0)));
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kTQ2InterleavedD)));
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s[t], s2[t])), _mm512_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using TQ2TileFn = void (*)(const TQ2Unpacked&, const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t,
                           __mmask16);
constexpr TQ2TileFn kTQ2Tiles[kTQ2TileTokens] = {tq2_0_tile<1>, tq2_0_tile<2>, tq2_0_tile<3>, tq2_0_tile<4>};

// The kernels of a layout whose prompts unpack a K chunk of a group once for all token tiles (Q6_K, TQ2_0).
struct Q6KKernels {
  using Unpacked = Q6Unpacked;
  using DecodeActivations = NoDecodeActivations;
  static constexpr size_t kBlock = kQ6KInterleavedBlock;
  static constexpr int kChunkBlocks = kQ6ChunkBlocks;
  static constexpr int kTileTokens = kQ6TileTokens;
  static constexpr auto decode_group = q6_k_decode_group;
  static constexpr auto unpack_chunk = q6_k_unpack_chunk;
  static constexpr const Q6KTileFn* tiles = kQ6KTiles;
};

struct TQ2Kernels {
  using Unpacked = TQ2Unpacked;
  using DecodeActivations = TQ2DecodeActivations;
  static constexpr size_t kBlock = kTQ2InterleavedBlock;
  static constexpr int kChunkBlocks = kTQ2ChunkBlocks;
  static constexpr int kTileTokens = kTQ2TileTokens;
  static constexpr auto decode_group = tq2_0_decode_group;
  static constexpr auto unpack_chunk = tq2_0_unpack_chunk;
  static constexpr const TQ2TileFn* tiles = kTQ2Tiles;
};

// One token: each group dotted as its values are rebuilt. More: per K chunk and group, the values unpacked once
// into a buffer that every token tile reads.
template <class K>
void unpacking_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                    float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens == 1) {
    // Whole rows at a time (K pieces only past kDecodeBlocks super-blocks), each group read front to back.
    for (int64_t b0 = 0; b0 < nb; b0 += kDecodeBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kDecodeBlocks, nb - b0));
      const uint8_t* xb = xp + static_cast<size_t>(b0) * sizeof(BlockQ8_K);
      const typename K::DecodeActivations acts(xb, kb);
      for (int64_t g = 0; g < n_groups; ++g) {
        K::decode_group(gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock, kb, acts, xb,
                        b0 == 0, out + g * kInterleaveRows, group_mask(n_rows, g));
      }
    }
    return;
  }
  alignas(64) typename K::Unpacked un;  // 16 KiB
  for (int64_t b0 = 0; b0 < nb; b0 += K::kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(K::kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock;
      K::unpack_chunk(gb, kb, un);
      for (int64_t t = 0; t < n_tokens; t += K::kTileTokens) {
        const int tt = static_cast<int>(std::min<int64_t>(K::kTileTokens, n_tokens - t));
        K::tiles[tt - 1](un, gb, kb,
                         xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K), x_stride,
                         b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, group_mask(n_rows, g));
      }
    }
  }
}

}  // namespace

void q4_k_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KInterleavedBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    // Decode reuses no weights: each group's whole row in one pass, the weights streamed front to back (K chunks
    // of an 8192-wide row were 19 KiB stretches 76 KiB apart). Same arithmetic in the same order.
    for (int64_t g = 0; g < n_groups; ++g) {
      kQ4KTiles[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, x_stride, true,
                              out + g * kInterleaveRows, ldo, group_mask(n_rows, g));
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const __mmask16 mask = group_mask(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kQ4KInterleavedBlock;
      for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
        const int tt = static_cast<int>(std::min<int64_t>(kTileTokens, n_tokens - t));
        kQ4KTiles[tt - 1](gb, kb, xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                          x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, mask);
      }
    }
  }
}

void tq2_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  unpacking_gemm<TQ2Kernels>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q6_k_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  unpacking_gemm<Q6KKernels>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
