// 512-bit kernels over the interleaved Q4_K, Q6_K and TQ2_0 layouts (quant/interleave.h), dotted with Q8_K
// activations: one register holds a word of all 16 rows of a group, one 32-bit lane per row. Each step uses the
// same integers and the same float operations in the same order as the type's reference vec_dot (bit-identical
// results, tested in tests/quant/test_interleave_avx2.cpp and test_quant_kernels.cpp).
//
// One template, two instruction sets: the 4-byte dot of unsigned weights by signed activations is a policy, as in
// the 256-bit template (interleave_k_avx2.h, which explains the bounds):
//   Dot::short_dot(s, u, x): for each 32-bit lane, the sum of its 4 products u8 * s8 added into "short sums",
//     which Dot::widen(s) turns into int32 lanes and Dot::widen_scaled(s, sc) into sc * sum (sc: int32 lanes
//     within int16's range);
//   Dot::kWideProducts: whether a single product may exceed int16 (VNNI), so the kernels can leave a field in
//     place (4^l or 16 x its value) instead of shifting it down first.
// interleave_k_avx512.cpp gives it VPDPBUSD (AVX-512 VNNI: short sums are int32 already) and
// interleave_k_avx512bw.cpp VPMADDUBSW + VPMADDWD (AVX-512 without VNNI), where short sums are int16 pairs: they
// take only values below 16 and at most 8 words of them (8 * 2 * 15 * 128 = 30720), Q6_K's values below 64 and at
// most 2 words (2 * 2 * 63 * 128 = 32256), or trits (0..3) and at most 32 words (24576).
//
// Everything has internal linkage: each including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/interleave.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {
namespace {

inline __m512i broadcast_word(const uint8_t* p) { return _mm512_set1_epi32(load_unaligned<int32_t>(p, 0)); }

// 16 bytes widened to one 32-bit lane per row.
inline __m512i widen_u8(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// 16 fp16 values (one per row) as floats.
inline __m512 load_halves_ps(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Each lane's int16 pair (a, b): a from the low half of lo's lane, b from the low half of hi's (both within int16).
inline __m512i int16_pairs(__m512i lo, __m512i hi) {
  return _mm512_mask_blend_epi16(0xaaaaaaaa, lo, _mm512_slli_epi32(hi, 16));
}

// The sum of a Q8_K block's 256 values (from its 16 group sums).
inline int32_t q8_k_sum(const uint8_t* xb) {
  return _mm512_reduce_add_epi32(
      _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + offsetof(BlockQ8_K, bsums)))));
}

// Super-blocks per K piece of a one-token product: rows up to 65536 columns are taken whole.
constexpr int kDecodeBlocks = 256;

// ---------------------------------------------------------------------------------------------------------------
// Q4_K. Word k of a super-block holds, for chunk j = k / 8, the low nibbles of group 2j and the high nibbles of
// group 2j + 1, so one load feeds two dots; the scales and mins, stored as bytes, widen to one lane per row.
// isum = sum_g sc_g * gsum_g, msum = sum_g m_g * (bsum_2g + bsum_2g+1) are the reference's integers; each row
// then takes fma(isum, d * d_x, sum) and fma(-msum, dmin * d_x, sum), super-block after super-block.

constexpr int kQ4KTileTokens = 4;   // tokens per micro-kernel call
constexpr int kQ4KChunkBlocks = 8;  // super-blocks per K chunk: 16 rows x 8 = 19 KiB of weights, reused by every tile

template <class Dot, int T>
void q4_k_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
               __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ4KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kQ4KInterleavedBlock, kQ4KInterleavedBlock);  // decode: the next super-block
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      __m512i lo[T];
      __m512i hi[T];
      for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
      for (int w = 0; w < 8; ++w) {
        const __m512i q = _mm512_loadu_si512(blk + kQ4KInterleavedValues + 64 * (8 * j + w));
        const __m512i ql = _mm512_and_si512(q, low);
        // VNNI: 16 x the high nibble in place, shifted back below; int16 pairs need the nibble itself.
        const __m512i qh =
            Dot::kWideProducts ? _mm512_andnot_si512(low, q) : _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
        for (int t = 0; t < T; ++t) {
          const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 64 * j + 4 * w;
          lo[t] = Dot::short_dot(lo[t], ql, broadcast_word(xq));  // 8 words of nibbles: short sums hold them
          hi[t] = Dot::short_dot(hi[t], qh, broadcast_word(xq + 32));
        }
      }
      const __m512i sc_lo = widen_u8(blk + kQ4KInterleavedScales + 16 * (2 * j));
      const __m512i sc_hi = widen_u8(blk + kQ4KInterleavedScales + 16 * (2 * j + 1));
      for (int t = 0; t < T; ++t) {
        const __m512i hs = Dot::kWideProducts ? _mm512_srai_epi32(hi[t], 4) : hi[t];  // exact: a multiple of 16
        isum[t] =
            _mm512_add_epi32(isum[t], _mm512_add_epi32(Dot::widen_scaled(lo[t], sc_lo), Dot::widen_scaled(hs, sc_hi)));
      }
    }
    // msum: each lane's (m_g, m_g) int16 pair times the pair of Q8_K group sums (bsum_2g, bsum_2g+1).
    __m512i msum[T];
    for (int t = 0; t < T; ++t) msum[t] = _mm512_setzero_si512();
    for (int grp = 0; grp < 8; ++grp) {
      const __m512i m = widen_u8(blk + kQ4KInterleavedMins + 16 * grp);
      const __m512i m2 = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
      for (int t = 0; t < T; ++t) {
        const __m512i bs = broadcast_word(xb[t] + offsetof(BlockQ8_K, bsums) + 4 * grp);
        msum[t] = _mm512_add_epi32(msum[t], _mm512_madd_epi16(m2, bs));
      }
    }
    const __m512 d = load_halves_ps(blk + kQ4KInterleavedD);
    const __m512 dmin = load_halves_ps(blk + kQ4KInterleavedDmin);
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), msum[t])),
                               _mm512_mul_ps(dmin, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

template <class Dot>
void q4_k_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
               float* out, int64_t ldo) {
  using TileFn = void (*)(const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, __mmask16);
  static constexpr TileFn kTiles[kQ4KTileTokens] = {q4_k_tile<Dot, 1>, q4_k_tile<Dot, 2>, q4_k_tile<Dot, 3>,
                                                    q4_k_tile<Dot, 4>};
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KInterleavedBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    // Decode reuses no weights: each group's whole row in one pass, the weights streamed front to back (K chunks
    // of an 8192-wide row were 19 KiB stretches 76 KiB apart). Same arithmetic in the same order.
    for (int64_t g = 0; g < n_groups; ++g) {
      kTiles[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, x_stride, true,
                           out + g * kInterleaveRows, ldo, group_mask(n_rows, g));
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kQ4KChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kQ4KChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const __mmask16 mask = group_mask(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kQ4KInterleavedBlock;
      for (int64_t t = 0; t < n_tokens; t += kQ4KTileTokens) {
        const int tt = static_cast<int>(std::min<int64_t>(kQ4KTileTokens, n_tokens - t));
        kTiles[tt - 1](gb, kb, xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                       x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, mask);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Q6_K and TQ2_0: one token dots the values as they are rebuilt (the weights read once, front to back); more
// tokens first rebuild a K chunk of a group into a buffer that every token tile reads.

// What a decode group reads of the activations besides their blocks: nothing for Q6_K.
struct NoDecodeActivations {
  NoDecodeActivations(const uint8_t*, int) {}
};

// Rebuilt values of the chunk of one group: u[super-block][word], word w holding values 4w..4w+3 of the 16 rows.
// 16 KiB, in L1 for every tile.
template <int kChunkBlocks>
struct Unpacked {
  __m512i u[kChunkBlocks][64];
};

// Q6_K. Values are rebuilt as unsigned u = q + 32 from a word of ql (low or high nibbles) and a word of qh (2 of
// its bits); the dots of u, less 32 * sum_g scale_g * bsum_g, leave the exact sum of q * x. isum = sum_g scale_g *
// gsum_g, and each row takes fma(isum, d * d_x, sum) super-block after super-block, as the reference does.
constexpr int kQ6ChunkBlocks = 4;
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

// isum[t] = -32 * sum_g scale_g * bsum_g (token t): the offset that turns the dots of u = q + 32 into those of q,
// taken as int16 pairs (scale_2k, scale_2k+1) x (bsum_2k, bsum_2k+1).
template <int T>
void q6_offsets(const uint8_t* blk, const uint8_t* const* xb, __m512i* isum) {
  __m512i off[T];
  for (int t = 0; t < T; ++t) off[t] = _mm512_setzero_si512();
  for (int k = 0; k < 8; ++k) {
    const __m512i pair = int16_pairs(q6_scales(blk, 2 * k), q6_scales(blk, 2 * k + 1));
    for (int t = 0; t < T; ++t) {
      off[t] =
          _mm512_add_epi32(off[t], _mm512_madd_epi16(pair, broadcast_word(xb[t] + offsetof(BlockQ8_K, bsums) + 4 * k)));
    }
  }
  for (int t = 0; t < T; ++t) isum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(off[t], 5));
}

// Words per short sum of Q6_K values: int16 pairs hold 2 (2 * 2 * 63 * 128 = 32256), int32 lanes a group's 4.
template <class Dot>
constexpr int kQ6Words = Dot::kWideProducts ? 4 : 2;

// One token, super-blocks [0, kb) of one group (g and x point at the first); the sums start from zero (first
// piece) or from out.
template <class Dot>
void q6_k_decode_group(const uint8_t* g, int kb, const NoDecodeActivations&, const uint8_t* x, bool first_piece,
                       float* out, __mmask16 mask) {
  __m512 acc = first_piece ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kQ6KInterleavedBlock);
    __m512i isum;
    q6_offsets<1>(blk, &xb, &isum);
    for (int h = 0; h < 2; ++h) {
      for (int iq = 0; iq < 2; ++iq) {  // groups 8h + 2q + iq
        for (int i0 = 4 * iq; i0 < 4 * iq + 4; i0 += kQ6Words<Dot>) {
          __m512i s[4];
          for (int q = 0; q < 4; ++q) s[q] = _mm512_setzero_si512();
          for (int i = i0; i < i0 + kQ6Words<Dot>; ++i) {
            const Q6Values v(blk, h, i);
            for (int q = 0; q < 4; ++q)
              s[q] = Dot::short_dot(s[q], v.u[q], broadcast_word(xq + 128 * h + 32 * q + 4 * i));
          }
          for (int q = 0; q < 4; ++q) {
            isum = _mm512_add_epi32(isum, Dot::widen_scaled(s[q], q6_scales(blk, 8 * h + 2 * q + iq)));
          }
        }
      }
    }
    const __m512 d = load_halves_ps(blk + kQ6KInterleavedD);
    acc =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(load_unaligned<float>(xb, 0))), acc);
  }
  _mm512_mask_storeu_ps(out, mask, acc);
}

void q6_k_unpack_chunk(const uint8_t* g, int kb, Unpacked<kQ6ChunkBlocks>& out) {
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

template <class Dot, int T>
void q6_k_tile(const Unpacked<kQ6ChunkBlocks>& un, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride,
               bool first_chunk, float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m512i isum[T];
    q6_offsets<T>(blk, xb, isum);
    for (int grp = 0; grp < 16; ++grp) {
      const __m512i sc = q6_scales(blk, grp);
      for (int w0 = 0; w0 < 4; w0 += kQ6Words<Dot>) {
        __m512i s[T];
        for (int t = 0; t < T; ++t) s[t] = _mm512_setzero_si512();
        for (int w = w0; w < w0 + kQ6Words<Dot>; ++w) {
          const __m512i u = _mm512_load_si512(&un.u[b][4 * grp + w]);
          for (int t = 0; t < T; ++t) {
            s[t] = Dot::short_dot(s[t], u, broadcast_word(xb[t] + offsetof(BlockQ8_K, qs) + 16 * grp + 4 * w));
          }
        }
        for (int t = 0; t < T; ++t) isum[t] = _mm512_add_epi32(isum[t], Dot::widen_scaled(s[t], sc));
      }
    }
    const __m512 d = load_halves_ps(blk + kQ6KInterleavedD);
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

// TQ2_0. Trits t (value t - 1) sit 4 to a byte; a word's field l (bits 2l, 2l + 1) holds elements
// 128 (k / 8) + 32 l + 4 (k % 8) + 0..3 of 16 rows. Each super-block's dot starts from minus the sum of the
// activations, which leaves the exact sum of (t - 1) * x, and each row takes fma(isum, d * d_x, sum) super-block
// after super-block, as the reference does.
constexpr int kTQ2ChunkBlocks = 4;
constexpr int kTQ2TileTokens = 4;

// Minus the sum of each super-block's activations, taken once per product rather than once per group.
struct TQ2DecodeActivations {
  int32_t neg_sum[kDecodeBlocks];
  TQ2DecodeActivations(const uint8_t* x, int kb) {
    for (int b = 0; b < kb; ++b) neg_sum[b] = -q8_k_sum(x + static_cast<size_t>(b) * sizeof(BlockQ8_K));
  }
};

// One token, super-blocks [0, kb) of one group, as q6_k_decode_group. With wide products field l is taken in place
// (masked, not shifted), its dots 4^l x, shifted back exactly at the end of the super-block, and each field has its
// own sums; int16 pairs shift each field down and all fields share the sums (32 words of trits a chain). Two chains
// (even and odd words) hide the dot latency.
template <class Dot>
void tq2_0_decode_group(const uint8_t* g, int kb, const TQ2DecodeActivations& acts, const uint8_t* x, bool first_piece,
                        float* out, __mmask16 mask) {
  __m512 acc = first_piece ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out);
  const __m512i trit = _mm512_set1_epi8(0x03);
  constexpr int kSums = Dot::kWideProducts ? 4 : 1;
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kTQ2InterleavedBlock);
    __m512i c[2][kSums];
    for (int l = 0; l < kSums; ++l) c[0][l] = c[1][l] = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + kTQ2InterleavedValues + 64 * k);
      const uint8_t* xk = xq + 128 * (k / 8) + 4 * (k % 8);
      for (int l = 0; l < 4; ++l) {
        const __m512i f = Dot::kWideProducts ? _mm512_and_si512(q, _mm512_set1_epi8(static_cast<char>(0x03 << (2 * l))))
                                             : _mm512_and_si512(_mm512_srli_epi16(q, 2 * l), trit);
        __m512i& sum = c[k % 2][Dot::kWideProducts ? l : 0];
        sum = Dot::short_dot(sum, f, broadcast_word(xk + 32 * l));
      }
    }
    __m512i isum = _mm512_set1_epi32(acts.neg_sum[b]);
    for (int l = 0; l < kSums; ++l) {
      const __m512i f = _mm512_add_epi32(Dot::widen(c[0][l]), Dot::widen(c[1][l]));
      isum = _mm512_add_epi32(isum, _mm512_srai_epi32(f, 2 * l));  // exact: 4^l x an integer
    }
    const __m512 d = load_halves_ps(blk + kTQ2InterleavedD);
    acc =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, _mm512_set1_ps(load_unaligned<float>(xb, 0))), acc);
  }
  _mm512_mask_storeu_ps(out, mask, acc);
}

void tq2_0_unpack_chunk(const uint8_t* g, int kb, Unpacked<kTQ2ChunkBlocks>& out) {
  const __m512i trit = _mm512_set1_epi8(0x03);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    for (int k = 0; k < 16; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + kTQ2InterleavedValues + 64 * k);
      for (int l = 0; l < 4; ++l) {
        out.u[b][32 * (k / 8) + 8 * l + k % 8] = _mm512_and_si512(_mm512_srli_epi16(q, 2 * l), trit);
      }
    }
  }
}

template <class Dot, int T>
void tq2_0_tile(const Unpacked<kTQ2ChunkBlocks>& un, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride,
                bool first_chunk, float* out, int64_t ldo, __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m512i s[T];
    __m512i s2[T];  // two chains per token hide the dot latency; short sums of 32 words of trits each
    for (int t = 0; t < T; ++t) s[t] = s2[t] = _mm512_setzero_si512();
    for (int w = 0; w < 64; w += 2) {
      const __m512i u0 = _mm512_load_si512(&un.u[b][w]);
      const __m512i u1 = _mm512_load_si512(&un.u[b][w + 1]);
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 4 * w;
        s[t] = Dot::short_dot(s[t], u0, broadcast_word(xq));
        s2[t] = Dot::short_dot(s2[t], u1, broadcast_word(xq + 4));
      }
    }
    const __m512 d = load_halves_ps(blk + kTQ2InterleavedD);
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      const __m512i isum =
          _mm512_add_epi32(_mm512_set1_epi32(-q8_k_sum(xb[t])), _mm512_add_epi32(Dot::widen(s[t]), Dot::widen(s2[t])));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

// The kernels of a layout whose prompts unpack a K chunk of a group once for all token tiles (Q6_K, TQ2_0).
template <class Dot>
struct Q6KKernels {
  using Buffer = Unpacked<kQ6ChunkBlocks>;
  using DecodeActivations = NoDecodeActivations;
  using TileFn = void (*)(const Buffer&, const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, __mmask16);
  static constexpr size_t kBlock = kQ6KInterleavedBlock;
  static constexpr int kChunkBlocks = kQ6ChunkBlocks;
  static constexpr int kTileTokens = kQ6TileTokens;
  static constexpr auto decode_group = q6_k_decode_group<Dot>;
  static constexpr auto unpack_chunk = q6_k_unpack_chunk;
  static constexpr TileFn tiles[kTileTokens] = {q6_k_tile<Dot, 1>, q6_k_tile<Dot, 2>, q6_k_tile<Dot, 3>,
                                                q6_k_tile<Dot, 4>};
};

template <class Dot>
struct TQ2Kernels {
  using Buffer = Unpacked<kTQ2ChunkBlocks>;
  using DecodeActivations = TQ2DecodeActivations;
  using TileFn = void (*)(const Buffer&, const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, __mmask16);
  static constexpr size_t kBlock = kTQ2InterleavedBlock;
  static constexpr int kChunkBlocks = kTQ2ChunkBlocks;
  static constexpr int kTileTokens = kTQ2TileTokens;
  static constexpr auto decode_group = tq2_0_decode_group<Dot>;
  static constexpr auto unpack_chunk = tq2_0_unpack_chunk;
  static constexpr TileFn tiles[kTileTokens] = {tq2_0_tile<Dot, 1>, tq2_0_tile<Dot, 2>, tq2_0_tile<Dot, 3>,
                                                tq2_0_tile<Dot, 4>};
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
  alignas(64) typename K::Buffer un;  // 16 KiB
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

// The exported kernels of one dot policy: q4_k, q6_k and tq2_0 gemms with InterleavedKernels::gemm's signature.
template <class Dot>
struct InterleavedKGemms {
  static void q4_k(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                   float* out, int64_t ldo) {
    q4_k_gemm<Dot>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
  static void q6_k(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                   float* out, int64_t ldo) {
    unpacking_gemm<Q6KKernels<Dot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
  static void tq2_0(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                    float* out, int64_t ldo) {
    unpacking_gemm<TQ2Kernels<Dot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
};

}  // namespace
}  // namespace ternion::quant
