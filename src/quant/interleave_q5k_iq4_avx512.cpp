// AVX-512 VNNI kernels over the interleaved Q5_K and IQ4_XS layouts (quant/interleave.h), dotted with Q8_K
// activations. Both follow the Q4_K kernel (interleave_k_avx512.cpp): one 64-byte word of 16 rows feeds two
// VPDPBUSD per token (its low and its high nibbles, each against one activation word broadcast), the integer sums
// per row are the reference's exactly, and each row then takes the reference's float steps super-block after
// super-block, so every output has the bits of the type's vec_dot.
//
// Q5_K: the low and high nibbles of a word get their fifth bit from the super-block's qh word w (bits 2j, 2j + 1
// for chunk j) moved to bit 4 and merged with one VPTERNLOGD each: u = q5 (0..31) meets the activations as Q4_K's
// nibbles do, and isum, msum and the two fmas are Q4_K's.
// IQ4_XS: the nibbles index the grid with VPSHUFB from a table of grid value + 128 (unsigned for VPDPBUSD); each
// block's sum starts from -128 * (the activation block's sum), which leaves the exact sum of grid value * x;
// isum = sum_ib (ls_ib - 32) * that, and each row takes fma(isum, d * d_x, sum).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as (maybe-)uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>

#include "quant/interleave.h"
#include "quant/iq4_nl.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kTileTokens = 4;   // tokens per micro-kernel call
constexpr int kChunkBlocks = 8;  // super-blocks per K chunk: 16 rows x 8 = 23 (Q5_K) or 17 KiB, reused by every tile

inline __m512i widen_bytes(const uint8_t* p) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline __m512i broadcast_word(const uint8_t* p) { return _mm512_set1_epi32(load_unaligned<int32_t>(p, 0)); }

// Bit `bit` of every byte moved to bit 4 (other bits are garbage; the caller keeps bit 4 only). 16-bit shifts:
// bit 4 of a byte comes from the same byte for shifts of at most 4.
template <int kBit>
inline __m512i bit_to_4(__m512i h) {
  if constexpr (kBit < 4) return _mm512_slli_epi16(h, 4 - kBit);
  if constexpr (kBit > 4) return _mm512_srli_epi16(h, kBit - 4);
  return h;
}

// a | (b & c)
inline __m512i or_and(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0xf8); }

template <int J, int T>
[[gnu::always_inline]] inline void q5_k_chunk(const uint8_t* blk, const uint8_t* const (&xb)[T], __m512i (&isum)[T]) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i m16 = _mm512_set1_epi8(0x10);
  __m512i lo[T];
  __m512i hi[T];
  for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm512_setzero_si512();
  for (int w = 0; w < 8; ++w) {
    const __m512i q = _mm512_loadu_si512(blk + kQ5KInterleavedValues + 64 * (8 * J + w));
    const __m512i h = _mm512_loadu_si512(blk + kQ5KInterleavedHigh + 64 * w);
    const __m512i ul = or_and(_mm512_and_si512(q, m4), bit_to_4<2 * J>(h), m16);
    const __m512i uh = or_and(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), bit_to_4<2 * J + 1>(h), m16);
    for (int t = 0; t < T; ++t) {
      const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 64 * J + 4 * w;
      lo[t] = _mm512_dpbusd_epi32(lo[t], ul, broadcast_word(xq));
      hi[t] = _mm512_dpbusd_epi32(hi[t], uh, broadcast_word(xq + 32));
    }
  }
  const __m512i sc_lo = widen_bytes(blk + kQ5KInterleavedScales + 16 * (2 * J));
  const __m512i sc_hi = widen_bytes(blk + kQ5KInterleavedScales + 16 * (2 * J + 1));
  for (int t = 0; t < T; ++t) {
    isum[t] =
        _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], sc_lo), _mm512_mullo_epi32(hi[t], sc_hi)));
  }
}

template <int T>
void q5_k_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
               __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ5KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, kQ5KInterleavedBlock);  // decode streams the row
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t)
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    q5_k_chunk<0, T>(blk, xb, isum);
    q5_k_chunk<1, T>(blk, xb, isum);
    q5_k_chunk<2, T>(blk, xb, isum);
    q5_k_chunk<3, T>(blk, xb, isum);
    __m512i msum[T];
    for (int t = 0; t < T; ++t) msum[t] = _mm512_setzero_si512();
    for (int grp = 0; grp < 8; ++grp) {
      const __m512i m = widen_bytes(blk + kQ5KInterleavedMins + 16 * grp);
      for (int t = 0; t < T; ++t) {
        const auto* bs = reinterpret_cast<const int16_t*>(xb[t] + offsetof(BlockQ8_K, bsums));
        const int32_t bsum = static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * grp)) +
                             static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * grp + 1));
        msum[t] = _mm512_add_epi32(msum[t], _mm512_mullo_epi32(m, _mm512_set1_epi32(bsum)));
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ5KInterleavedD)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQ5KInterleavedDmin)));
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), msum[t])),
                               _mm512_mul_ps(dmin, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

template <int T>
void iq4_xs_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
                 __mmask16 mask) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i grid = _mm512_broadcast_i32x4(  // grid value + 128, as u8
      _mm_xor_si128(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values)), _mm_set1_epi8(-128)));
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kIQ4XSInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, kIQ4XSInterleavedBlock);  // decode streams the row
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t)
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ++ib) {
      __m512i lo[T];  // two chains: the low nibbles' dots from the offset, the high nibbles' from zero
      __m512i hi[T];
      for (int t = 0; t < T; ++t) {
        const auto* bs = reinterpret_cast<const int16_t*>(xb[t] + offsetof(BlockQ8_K, bsums));
        const int32_t block_sum = static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * ib)) +
                                  static_cast<int32_t>(load_unaligned<int16_t>(bs, 2 * ib + 1));
        lo[t] = _mm512_set1_epi32(-128 * block_sum);
        hi[t] = _mm512_setzero_si512();
      }
      for (int kk = 0; kk < 4; ++kk) {
        const __m512i q = _mm512_loadu_si512(blk + kIQ4XSInterleavedValues + 64 * (4 * ib + kk));
        const __m512i ul = _mm512_shuffle_epi8(grid, _mm512_and_si512(q, m4));
        const __m512i uh = _mm512_shuffle_epi8(grid, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
        for (int t = 0; t < T; ++t) {
          const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 32 * ib + 4 * kk;
          lo[t] = _mm512_dpbusd_epi32(lo[t], ul, broadcast_word(xq));
          hi[t] = _mm512_dpbusd_epi32(hi[t], uh, broadcast_word(xq + 16));
        }
      }
      const __m512i sc = _mm512_cvtepi8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kIQ4XSInterleavedScales + 16 * ib)));
      for (int t = 0; t < T; ++t)
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(lo[t], hi[t]), sc));
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kIQ4XSInterleavedD)));
    for (int t = 0; t < T; ++t) {
      const __m512 dx = _mm512_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, __mmask16);

// Decode (1-2 tokens) reuses no weights: each group's whole row in one pass, streamed front to back. Prompts: K
// chunks of kChunkBlocks super-blocks, each group's chunk dotted with every token tile while it is cached. Both
// keep the reference's arithmetic in its order.
template <size_t kBlock>
void interleaved_gemm(const TileFn (&tiles)[kTileTokens], int64_t n, const void* groups, int64_t n_rows, const void* x,
                      size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    for (int64_t g = 0; g < n_groups; ++g) {
      tiles[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, x_stride, true,
                          out + g * kInterleaveRows, ldo, group_mask(n_rows, g));
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const __mmask16 mask = group_mask(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kBlock;
      for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
        const int tt = static_cast<int>(std::min<int64_t>(kTileTokens, n_tokens - t));
        tiles[tt - 1](gb, kb, xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                      x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, mask);
      }
    }
  }
}

constexpr TileFn kQ5KTiles[kTileTokens] = {q5_k_tile<1>, q5_k_tile<2>, q5_k_tile<3>, q5_k_tile<4>};
constexpr TileFn kIQ4XSTiles[kTileTokens] = {iq4_xs_tile<1>, iq4_xs_tile<2>, iq4_xs_tile<3>, iq4_xs_tile<4>};

}  // namespace

void q5_k_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<kQ5KInterleavedBlock>(kQ5KTiles, n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void iq4_xs_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<kIQ4XSInterleavedBlock>(kIQ4XSTiles, n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
