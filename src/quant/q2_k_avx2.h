// Q2_K as a weight format of the K-quant SIMD kernels (q8_k_dot_avx2.h): the group data and the quants of a
// super-block as AVX2 registers. Included by q2_k_avx2.cpp and q2_k_avx512.cpp (internal linkage).
#pragma once

#include <immintrin.h>

#include "quant/q2_k.h"
#include "quant/q8_k_dot_avx2.h"

namespace ternion::quant {
namespace {

struct Q2KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ2_K);
  static constexpr bool kHasMins = true;
  // Scales are the low nibbles of the 16 scale bytes, mins (k_g) the high nibbles.
  static void prepare(const uint8_t* block, KPrep& p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
    const __m128i low = _mm_set1_epi8(0x0f);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.scale), _mm256_cvtepu8_epi16(_mm_and_si128(b, low)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.coef),
                       _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(b, 4), low)));
    p.d = _cvtsh_ss(load_unaligned<uint16_t>(block + offsetof(BlockQ2_K, d), 0));
    p.dmin = _cvtsh_ss(load_unaligned<uint16_t>(block + offsetof(BlockQ2_K, dmin), 0));
  }
  // Chunk c = 4 h + s: bits 2s, 2s + 1 of qs[32 h ..].
  static __m256i chunk(const uint8_t* block, int c) {
    const __m256i q = load256(block + offsetof(BlockQ2_K, qs) + 32 * (c / 4));
    return _mm256_and_si256(_mm256_srli_epi16(q, 2 * (c % 4)), _mm256_set1_epi8(3));
  }
};

}  // namespace
}  // namespace ternion::quant
