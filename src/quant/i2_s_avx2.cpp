// I2_S kernels for AVX2 + FMA: codes to float, dot with Q8_K activations, tiled gemm (ternary_avx2.h's, with a
// block scale of 1).
#include <immintrin.h>

#include "quant/i2_s.h"
#include "quant/ternary_avx2.h"

namespace ternion::quant {

namespace {

struct I2SWeights {
  static constexpr size_t kBlockBytes = kI2SBlockBytes;
  static constexpr bool kUnitScale = true;
  // Bits 6-2l, 7-2l of bytes 32h .. 32h+32 are elements 128h + 32l .. + 32: chunk 4h + l.
  static void decode(const uint8_t* block, __m256i* t) {
    const __m256i mask = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * h));
      t[4 * h] = _mm256_and_si256(_mm256_srli_epi16(q, 6), mask);
      t[4 * h + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
      t[4 * h + 2] = _mm256_and_si256(_mm256_srli_epi16(q, 2), mask);
      t[4 * h + 3] = _mm256_and_si256(q, mask);
    }
  }
};

}  // namespace

void i2_s_to_float_avx2(const void* src, float* dst, int64_t n) { ternary_to_float_avx2<I2SWeights>(src, dst, n); }

void i2_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_avx2<I2SWeights>(n, out, w, x);
}

void i2_s_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_avx2<I2SWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
