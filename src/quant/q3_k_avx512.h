// The Q3_K weight format of the 512-bit K-quant kernels (q8_k_dot_avx512.h steps, q8_k_packed_avx512.h packing),
// shared by q3_k_avx512bw.cpp (the row dot, no VNNI) and q3_k_avx512.cpp (the VNNI gemm). Internal linkage: each
// including file is compiled with its own instruction set. Quants are used as u = low bits + 4 * high bit, as in the
// AVX2 kernels.
#pragma once

#include <immintrin.h>

#include "quant/q3_k_avx2.h"
#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

struct Q3KWeights512 : Q3KWeights {
  static constexpr int kGroupSize = 16;
  // Chunks c = 2k, 2k + 1 (half k / 2, quarters s = 2 (k % 2), s + 1): bits 2s, 2s + 1 of the same 32 bytes of
  // qs, and bit c of hmask as bit 2.
  static __m512i pair(const uint8_t* block, int k) {
    const int s = 2 * (k % 2);
    const __m512i q = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ3_K, qs) + 32 * (k / 2)));
    const __m512i hm = _mm512_broadcast_i64x4(load256(block));
    const __m512i low_shift = _mm512_inserti64x4(_mm512_set1_epi32((2 * s)), _mm256_set1_epi32((2 * s + 2)), 1);
    const __m512i bit_shift = _mm512_inserti64x4(_mm512_set1_epi32((2 * k)), _mm256_set1_epi32((2 * k + 1)), 1);
    const __m512i low = _mm512_and_si512(_mm512_srlv_epi32(q, low_shift), _mm512_set1_epi8(0x03));
    const __m512i bit = _mm512_and_si512(_mm512_srlv_epi32(hm, bit_shift), _mm512_set1_epi8(0x01));
    return _mm512_or_si512(low, _mm512_slli_epi16(bit, 2));
  }
  // Value dword 32 h + 8 s + l: bits 2s, 2s + 1 of the bytes of dword l of qs[32 h ..] and bit 4h + s of the
  // bytes of dword l of hmask as bit 2.
  static void pack_values(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i three = _mm512_set1_epi8(0x03);
    const __m512i one = _mm512_set1_epi8(0x01);
    for (int l = 0; l < 8; ++l) {
      const __m512i hm = _mm512_i32gather_epi32(row_offsets, block + 4 * l, 1);
      for (int h = 0; h < 2; ++h) {
        const __m512i q = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ3_K, qs) + 32 * h + 4 * l, 1);
        for (int s = 0; s < 4; ++s) {
          const __m512i low = _mm512_and_si512(_mm512_srli_epi32(q, static_cast<unsigned>(2 * s)), three);
          const __m512i bit = _mm512_and_si512(_mm512_srli_epi32(hm, static_cast<unsigned>(4 * h + s)), one);
          out[32 * h + 8 * s + l] = _mm512_or_si512(low, _mm512_slli_epi32(bit, 2));
        }
      }
    }
  }
};

}  // namespace
}  // namespace ternion::quant
