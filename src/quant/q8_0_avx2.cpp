// Q8_0 kernels for AVX2 + FMA + F16C: quantize (activations), dequantize, dot, tiled gemm.
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_avx2.h"

namespace ternion::quant {

namespace {

struct Q8Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  static __m256i load_values(const uint8_t* block) { return load_q8_values(block); }
};

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

void q8_0_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* blk = s + b * kQ8Bytes;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(load_scale(blk)));
    for (int j = 0; j < kQ8_0BlockSize; j += 8) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + j));
      _mm256_storeu_ps(dst + b * kQ8_0BlockSize + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

// Same steps as q8_0_from_float_ref: max |x| (exact in any order), d = amax / 127, id = 1 / d, values rounded to
// nearest-even by cvtps (MXCSR default), saturated to int8 by the packs.
void q8_0_from_float_avx2(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_loadu_ps(x + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
    }
    const float d = hmax8(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], idv));
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    // packs interleave the 128-bit halves: restore element order.
    const __m256i ordered = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    uint8_t* blk = out + b * kQ8Bytes;
    store_unaligned<uint16_t>(blk, 0, _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk + 2), ordered);
  }
}

void q8_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q8Weights>(n, out, w, x);
}

void q8_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx2<Q8Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
