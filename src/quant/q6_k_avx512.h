// The Q6_K weight format of the 512-bit K-quant kernels (q8_k_dot_avx512.h steps, q8_k_packed_avx512.h packing),
// shared by q6_k_avx512bw.cpp (the row dot, no VNNI) and q6_k_avx512.cpp (the VNNI gemm). Internal linkage: each
// including file is compiled with its own instruction set. Quants are used as u = q + 32, as in the AVX2 kernels.
#pragma once

#include <immintrin.h>

#include "quant/q6_k_avx2.h"
#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

struct Q6KWeights512 : Q6KWeights {
  static constexpr int kGroupSize = 16;
  // Value dword 32 h + 8 s + l (quarter s, values 4l .. 4l + 3 of it) takes its low 4 bits from dword l of
  // ql[64 h ..] (s = 0 low, s = 2 high nibbles) or of ql[64 h + 32 ..] (s = 1, 3), and its high 2 bits from
  // bits 2s, 2s + 1 of dword l of qh[32 h ..].
  static void pack_values(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i top = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 8; ++l) {
        const __m512i a = _mm512_i32gather_epi32(row_offsets, block + 64 * h + 4 * l, 1);
        const __m512i b = _mm512_i32gather_epi32(row_offsets, block + 64 * h + 32 + 4 * l, 1);
        const __m512i c = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ6_K, qh) + 32 * h + 4 * l, 1);
        __m512i* o = out + 32 * h + l;
        o[0] = _mm512_or_si512(_mm512_and_si512(a, low), _mm512_and_si512(_mm512_slli_epi32(c, 4), top));
        o[8] = _mm512_or_si512(_mm512_and_si512(b, low), _mm512_and_si512(_mm512_slli_epi32(c, 2), top));
        o[16] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(a, 4), low), _mm512_and_si512(c, top));
        o[24] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(b, 4), low),
                                _mm512_and_si512(_mm512_srli_epi32(c, 2), top));
      }
    }
  }
  // Chunks 2k, 2k + 1 of half h = k / 2 (quarters s = 2 (k % 2) and s + 1): the 64 bytes ql[64 h ..], low
  // nibbles for k even, high for k odd; the high bits are bits 2s, 2s + 1 of qh[32 h ..], moved to bits 4, 5.
  static __m512i pair(const uint8_t* block, int k) {
    const int h = k / 2;
    const __m512i ql = load512(block + 64 * h);
    const __m512i nib = _mm512_and_si512((k & 1) != 0 ? _mm512_srli_epi16(ql, 4) : ql, _mm512_set1_epi8(0x0f));
    const __m512i qh = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ6_K, qh) + 32 * h));
    // k even: quarters 0, 1 shift left by 4, 2; k odd: quarters 2, 3 shift left by 0, right by 2.
    const __m512i hi2 =
        (k & 1) == 0 ? _mm512_sllv_epi32(qh, _mm512_inserti64x4(_mm512_set1_epi32(4), _mm256_set1_epi32(2), 1))
                     : _mm512_srlv_epi32(qh, _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(2), 1));
    return _mm512_or_si512(nib, _mm512_and_si512(hi2, _mm512_set1_epi8(0x30)));
  }
};

}  // namespace
}  // namespace ternion::quant
