// Q5_0 kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_0 activations, tiled gemm.
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/q5_0.h"
#include "quant/q8_dot_avx2.h"

namespace ternion::quant {

namespace {

struct Q5_0Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);
  static __m256i load_values(const uint8_t* block) { return q5_signed32(block + 2, block + 6); }  // q - 16
};

}  // namespace

void q5_0_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ5_0BlockSize; ++b) {
    const uint8_t* blk = s + b * Q5_0Weights::kBlockBytes;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_scale(blk)));
    alignas(32) int8_t q[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), Q5_0Weights::load_values(blk));
    for (int j = 0; j < kQ5_0BlockSize; j += 8) {
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
      _mm256_storeu_ps(dst + b * kQ5_0BlockSize + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d));
    }
  }
}

void q5_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q5_0Weights>(n, out, w, x);
}

void q5_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx2<Q5_0Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
