// Q6_K dot and tiled gemm for ARM64 NEON with the ARMv8.2 dot product (SDOT); run only after detection.
#include <arm_neon.h>

#include "quant/k_quant_neon.h"

namespace ternion::quant {

void q6_k_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x) {
  k_vec_dot_neon<Q6KWeights, KSdotDot>(n, out, w, x);
}

void q6_k_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  k_gemm_neon<Q6KWeights, KSdotDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
