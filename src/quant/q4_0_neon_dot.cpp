// Q4_0 dot and tiled gemm for ARM64 NEON with the ARMv8.2 dot product (SDOT); run only after detection.
#include <arm_neon.h>

#include "quant/neon_kernels.h"
#include "quant/q4_0.h"
#include "quant/q4_0_neon.h"
#include "quant/q8_dot_neon.h"

namespace ternion::quant {

void q4_0_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_neon<Q4Weights, SdotDot>(n, out, w, x);
}

void q4_0_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_neon<Q4Weights, SdotDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
