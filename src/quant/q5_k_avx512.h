// The Q5_K weight format of the 512-bit K-quant kernels (q8_k_dot_avx512.h steps, q8_k_packed_avx512.h packing),
// shared by q5_k_avx512bw.cpp (the row dot, no VNNI) and q5_k_avx512.cpp (the VNNI gemm). Internal linkage: each
// including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include "quant/q5_k_avx2.h"
#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

struct Q5KWeights512 : Q5KWeights {
  static constexpr int kGroupSize = 32;
  // Chunks 2k and 2k + 1: the low and the high nibbles of the same 32 bytes of qs, with bits 2k and 2k + 1 of
  // qh as bit 4.
  static __m512i pair(const uint8_t* block, int k) {
    const __m512i q = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ5_K, qs) + 32 * k));
    const __m512i qh = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ5_K, qh)));
    const __m512i nib_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(4), 1);
    const __m512i bit_shift = _mm512_inserti64x4(_mm512_set1_epi32((2 * k)), _mm256_set1_epi32((2 * k + 1)), 1);
    const __m512i nib = _mm512_and_si512(_mm512_srlv_epi32(q, nib_shift), _mm512_set1_epi8(0x0f));
    const __m512i bit = _mm512_and_si512(_mm512_srlv_epi32(qh, bit_shift), _mm512_set1_epi8(0x01));
    return _mm512_or_si512(nib, _mm512_slli_epi16(bit, 4));
  }
  // Value dword 8c + l (chunk c, values 4l .. 4l + 3 of it): nibbles of dword l of qs[32 (c / 2) ..] (low for c
  // even) and bit c of the bytes of dword l of qh as bit 4.
  static void pack_values(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i one = _mm512_set1_epi8(0x01);
    for (int l = 0; l < 8; ++l) {
      const __m512i h = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ5_K, qh) + 4 * l, 1);
      for (int k = 0; k < 4; ++k) {
        const __m512i q = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ5_K, qs) + 32 * k + 4 * l, 1);
        const __m512i b0 = _mm512_and_si512(_mm512_srli_epi32(h, static_cast<unsigned>(2 * k)), one);
        const __m512i b1 = _mm512_and_si512(_mm512_srli_epi32(h, static_cast<unsigned>(2 * k + 1)), one);
        out[8 * (2 * k) + l] = _mm512_or_si512(_mm512_and_si512(q, low), _mm512_slli_epi32(b0, 4));
        out[8 * (2 * k + 1) + l] =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(q, 4), low), _mm512_slli_epi32(b1, 4));
      }
    }
  }
};

}  // namespace
}  // namespace ternion::quant
