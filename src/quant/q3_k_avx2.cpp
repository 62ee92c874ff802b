// Q3_K kernels for AVX2 + FMA + F16C: dot with Q8_K activations and tiled gemm (q8_k_dot_avx2.h). Quants are
// used as unsigned u = q in [0, 7] (low bits + 4 * high bit); the offset 4 comes back through
// k_g = -4 * (scale_g - 32) and the activation group sums.
#include "quant/q3_k_avx2.h"

namespace ternion::quant {

void q3_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) { kq_vec_dot<Q3KWeights>(n, out, w, x); }

void q3_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  kq_gemm<Q3KWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
