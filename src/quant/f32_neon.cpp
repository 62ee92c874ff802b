// F32 dot kernels for ARM64 NEON.
#include <arm_neon.h>

#include "quant/float_dot_neon.h"
#include "quant/neon_kernels.h"

namespace ternion::quant {

void f32_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_neon<F32Loader>(n, out, w, x);
}

void f32_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_neon<F32Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
