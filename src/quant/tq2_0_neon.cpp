// TQ2_0 kernels for ARM64 NEON (ARMv8.0): dequantize, dot with Q8_K activations, tiled gemm.
#include <arm_neon.h>

#include "quant/neon_kernels.h"
#include "quant/ternary_neon.h"
#include "quant/tq2_0_neon.h"

namespace ternion::quant {

void tq2_0_to_float_neon(const void* src, float* dst, int64_t n) { ternary_to_float_neon<TQ2Weights>(src, dst, n); }

void tq2_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_neon<TQ2Weights, MullAcc>(n, out, w, x);
}

void tq2_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_neon<TQ2Weights, MullAcc>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
