// The Q2_K weight format of the 512-bit K-quant kernels (q8_k_dot_avx512.h steps, q8_k_packed_avx512.h packing),
// shared by q2_k_avx512bw.cpp (the row dot, no VNNI) and q2_k_avx512.cpp (the VNNI gemm). Internal linkage: each
// including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include "quant/q2_k_avx2.h"
#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

struct Q2KWeights512 : Q2KWeights {
  static constexpr int kGroupSize = 16;
  // Chunks c = 2k, 2k + 1 (half k / 2, quarters s = 2 (k % 2), s + 1): bits 2s, 2s + 1 of the same 32 bytes.
  static __m512i pair(const uint8_t* block, int k) {
    const int s = 2 * (k % 2);
    const __m512i q = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ2_K, qs) + 32 * (k / 2)));
    const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi32((2 * s)), _mm256_set1_epi32((2 * s + 2)), 1);
    return _mm512_and_si512(_mm512_srlv_epi32(q, shift), _mm512_set1_epi8(0x03));
  }
  // Value dword 32 h + 8 s + l: bits 2s, 2s + 1 of the bytes of dword l of qs[32 h ..].
  static void pack_values(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i three = _mm512_set1_epi8(0x03);
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 8; ++l) {
        const __m512i q = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ2_K, qs) + 32 * h + 4 * l, 1);
        for (int s = 0; s < 4; ++s) {
          out[32 * h + 8 * s + l] = _mm512_and_si512(_mm512_srli_epi32(q, static_cast<unsigned>(2 * s)), three);
        }
      }
    }
  }
};

}  // namespace
}  // namespace ternion::quant
