// Q5_K as a weight format of the K-quant SIMD kernels (q8_k_dot_avx2.h): the group data and the quants of a
// super-block as AVX2 registers. Included by q5_k_avx2.cpp and q5_k_avx512.cpp (internal linkage).
#pragma once

#include <immintrin.h>

#include "quant/q5_k.h"
#include "quant/q8_k_dot_avx2.h"

namespace ternion::quant {
namespace {

struct Q5KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_K);
  static constexpr bool kHasMins = true;
  static void prepare(const uint8_t* block, KPrep& p) { prepare_scale_min_k4(block, p); }
  // Chunk c: the low (c even) or high nibbles of qs[32 (c / 2) ..], and bit c of qh as bit 4.
  static __m256i chunk(const uint8_t* block, int c) {
    const __m256i q = load256(block + offsetof(BlockQ5_K, qs) + 32 * (c / 2));
    const __m256i qh = load256(block + offsetof(BlockQ5_K, qh));
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i nib = (c & 1) != 0 ? _mm256_and_si256(_mm256_srli_epi16(q, 4), mask) : _mm256_and_si256(q, mask);
    const __m256i bit = c <= 4 ? _mm256_slli_epi16(qh, 4 - c) : _mm256_srli_epi16(qh, c - 4);
    return _mm256_or_si256(nib, _mm256_and_si256(bit, _mm256_set1_epi8(0x10)));
  }
};

}  // namespace
}  // namespace ternion::quant
