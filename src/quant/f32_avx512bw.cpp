// F32 dot kernels for AVX-512, built for the Avx512 level (F/BW/VL/DQ), whose record AVX-512 VNNI CPUs use as well.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/f32.h"
#include "quant/float_dot_avx512.h"

namespace ternion::quant {

void f32_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_avx512<F32Loader>(n, out, w, x);
}

void f32_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_avx512<F32Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
