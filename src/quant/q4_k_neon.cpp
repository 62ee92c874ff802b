// Q4_K dot with Q8_K activations and tiled gemm for ARM64 NEON (ARMv8.0).
#include <arm_neon.h>

#include "quant/k_quant_neon.h"

namespace ternion::quant {

void q4_k_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  k_vec_dot_neon<Q4KWeights, KMullDot>(n, out, w, x);
}

void q4_k_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  k_gemm_neon<Q4KWeights, KMullDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
