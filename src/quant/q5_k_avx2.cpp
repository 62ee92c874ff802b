// Q5_K kernels for AVX2 + FMA + F16C: dot with Q8_K activations and tiled gemm (q8_k_dot_avx2.h).
#include "quant/q5_k_avx2.h"

namespace ternion::quant {

void q5_k_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) { kq_vec_dot<Q5KWeights>(n, out, w, x); }

void q5_k_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  kq_gemm<Q5KWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
