// The Q4_K weight format of the 512-bit K-quant kernels (q8_k_dot_avx512.h steps, q8_k_packed_avx512.h packing),
// shared by q4_k_avx512bw.cpp (the row dot, no VNNI) and q4_k_avx512.cpp (the VNNI gemm). Internal linkage: each
// including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include "quant/q4_k_avx2.h"
#include "quant/q8_k_dot_avx512.h"

namespace ternion::quant {
namespace {

struct Q4KWeights512 : Q4KWeights {
  static constexpr int kGroupSize = 32;
  // Chunks 2k and 2k + 1: the low and the high nibbles of the same 32 bytes.
  static __m512i pair(const uint8_t* block, int k) {
    const __m512i q = _mm512_broadcast_i64x4(load256(block + offsetof(BlockQ4_K, qs) + 32 * k));
    const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(4), 1);
    return _mm512_and_si512(_mm512_srlv_epi32(q, shift), _mm512_set1_epi8(0x0f));
  }
  // Dword j of qs holds, in its low nibbles, value dword 16 (j / 8) + j % 8 and, in its high nibbles, value
  // dword 16 (j / 8) + 8 + j % 8.
  static void pack_values(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int j = 0; j < 32; ++j) {
      const __m512i q = _mm512_i32gather_epi32(row_offsets, block + offsetof(BlockQ4_K, qs) + 4 * j, 1);
      out[16 * (j / 8) + j % 8] = _mm512_and_si512(q, low);
      out[16 * (j / 8) + 8 + j % 8] = _mm512_and_si512(_mm512_srli_epi32(q, 4), low);
    }
  }
};

}  // namespace
}  // namespace ternion::quant
