// IQ4_NL kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_0 activations, tiled gemm.
#include <immintrin.h>

#include "quant/iq4_nl.h"
#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/q8_dot_avx2.h"

namespace ternion::quant {

namespace {

struct Iq4NlWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockIq4Nl);
  // The grid values as int8 in [-127, 113].
  static __m256i load_values(const uint8_t* block) {
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values)));
    return iq4_values32(block + 2, grid);
  }
};

}  // namespace

void iq4_nl_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kIq4NlBlockSize; ++b) {
    const uint8_t* blk = s + b * Iq4NlWeights::kBlockBytes;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_scale(blk)));
    alignas(32) int8_t q[32];
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), Iq4NlWeights::load_values(blk));
    for (int j = 0; j < kIq4NlBlockSize; j += 8) {
      const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
      _mm256_storeu_ps(dst + b * kIq4NlBlockSize + j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8))));
    }
  }
}

void iq4_nl_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Iq4NlWeights>(n, out, w, x);
}

void iq4_nl_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx2<Iq4NlWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
