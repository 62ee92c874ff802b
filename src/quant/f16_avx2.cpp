// F16 conversions and dot kernels for AVX2 + F16C + FMA.
#include <immintrin.h>

#include "quant/f16.h"
#include "quant/float_dot_avx2.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

struct F16Loader {
  static constexpr size_t kBytes = 2;  // bytes per element
  static __m256 load8(const uint8_t* p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
  }
  static float load1(const uint8_t* p, int64_t i) { return _cvtsh_ss(load_unaligned<uint16_t>(p, i)); }
};

}  // namespace

void f16_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, F16Loader::load8(s, i));
  for (; i < n; ++i) dst[i] = F16Loader::load1(s, i);
}

// F16C rounds to nearest-even like fp32_to_fp16; only NaN payloads differ, so NaN lanes are redone the
// reference way.
void f16_from_float_avx2(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(src + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
      for (int64_t j = i; j < i + 8; ++j) store_unaligned<uint16_t>(dst, j, fp32_to_fp16(src[j]));
    }
  }
  for (; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_fp16(src[i]));
}

void f16_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_avx2<F16Loader>(n, out, w, x);
}

void f16_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_avx2<F16Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
