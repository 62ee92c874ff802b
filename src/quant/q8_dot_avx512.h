// AVX-512 kernels for weights dotted with Q8_0 activations (included only by *_avx512.cpp files). The single dot
// and the decode tiles are the AVX2 ones (q8_dot_avx2.h) with a VNNI dot policy.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "quant/q8_dot_avx2.h"

namespace ternion::quant {
namespace {

struct VnniDot {
  static __m256i lanes(__m256i abs_w, __m256i w, __m256i x) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), abs_w, _mm256_sign_epi8(x, w));
  }
};

template <class W>
void q8_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx2<W, VnniDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
