// TQ2_0 kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_K activations, tiled gemm.
#include <immintrin.h>

#include "quant/ternary_avx2.h"
#include "quant/tq2_0.h"

namespace ternion::quant {

namespace {

struct TQ2Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockTQ2_0);
  static constexpr size_t kScaleOffset = offsetof(BlockTQ2_0, d);
  // Bits 2l, 2l+1 of qs[32g .. 32g+32) are elements 128g + 32l .. + 32: chunk 4g + l.
  static void decode(const uint8_t* block, __m256i* t) {
    const __m256i mask = _mm256_set1_epi8(3);
    for (int g = 0; g < 2; ++g) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * g));
      t[4 * g] = _mm256_and_si256(q, mask);
      t[4 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), mask);
      t[4 * g + 2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
      t[4 * g + 3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), mask);
    }
  }
};

}  // namespace

void tq2_0_to_float_avx2(const void* src, float* dst, int64_t n) { ternary_to_float_avx2<TQ2Weights>(src, dst, n); }

void tq2_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_avx2<TQ2Weights>(n, out, w, x);
}

void tq2_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_avx2<TQ2Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
