// Q6_K as a weight format of the K-quant SIMD kernels (q8_k_dot_avx2.h): the group data and the quants of a
// super-block as AVX2 registers. Included by q6_k_avx2.cpp and q6_k_avx512.cpp (internal linkage).
#pragma once

#include <immintrin.h>

#include "quant/q6_k.h"
#include "quant/q8_k_dot_avx2.h"

namespace ternion::quant {
namespace {

struct Q6KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ6_K);
  static constexpr bool kHasMins = false;
  static void prepare(const uint8_t* block, KPrep& p) {
    const __m256i s =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + offsetof(BlockQ6_K, scales))));
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.scale), s);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.coef),
                       _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s, 5)));
    p.d = _cvtsh_ss(load_unaligned<uint16_t>(block + offsetof(BlockQ6_K, d), 0));
    p.dmin = 0.0f;
  }
  // Chunk c = 4 h + s (half h, quarter s): nibbles of ql[64 h + 32 (s % 2) ..] (low for s < 2), and bits 2s,
  // 2s + 1 of qh[32 h ..] as bits 4, 5.
  static __m256i chunk(const uint8_t* block, int c) {
    const int h = c / 4;
    const int s = c % 4;
    const __m256i ql = load256(block + 64 * h + 32 * (s & 1));
    const __m256i qh = load256(block + offsetof(BlockQ6_K, qh) + 32 * h);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i nib = s < 2 ? _mm256_and_si256(ql, low) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low);
    const __m256i hi2 = 2 * s <= 4 ? _mm256_slli_epi16(qh, 4 - 2 * s) : _mm256_srli_epi16(qh, 2 * s - 4);
    return _mm256_or_si256(nib, _mm256_and_si256(hi2, _mm256_set1_epi8(0x30)));
  }
};

}  // namespace
}  // namespace ternion::quant
