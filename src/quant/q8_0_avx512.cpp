// Q8_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): quantize (activations), dequantize, dot, tiled gemm.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q8Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  static __m256i load_values(const uint8_t* block) { return load_q8_values(block); }
};

}  // namespace

void q8_0_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* blk = s + b * kQ8Bytes;
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(load_scale(blk)));
    for (int j = 0; j < kQ8_0BlockSize; j += 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2 + j));
      _mm512_storeu_ps(dst + b * kQ8_0BlockSize + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
  }
}

// Same steps as q8_0_from_float_ref; vpmovsdb saturates like the reference's clamp.
void q8_0_from_float_avx512(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    const __m512 amax = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    const float d = _mm512_reduce_max_ps(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 idv = _mm512_set1_ps(id);
    uint8_t* blk = out + b * kQ8Bytes;
    store_unaligned<uint16_t>(blk, 0, _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, idv)));
    const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, idv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 2), q0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 18), q1);
  }
}

void q8_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q8Weights, VnniDot>(n, out, w, x);
}

void q8_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Q8Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
