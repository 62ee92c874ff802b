// Q4_0 kernels for ARM64 NEON (ARMv8.0): dequantize, dot with Q8_0 activations, tiled gemm.
#include <arm_neon.h>

#include "quant/neon_kernels.h"
#include "quant/q4_0.h"
#include "quant/q4_0_neon.h"
#include "quant/q8_dot_neon.h"

namespace ternion::quant {

void q4_0_to_float_neon(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const uint8_t* blk = s + b * Q4Weights::kBlockBytes;
    int8x16_t v0;
    int8x16_t v1;
    Q4Weights::load(blk, v0, v1);
    int8_block_to_float(v0, v1, half_to_float(load_half(blk)), dst + b * kQ4_0BlockSize);
  }
}

void q4_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_neon<Q4Weights, MullDot>(n, out, w, x);
}

void q4_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_neon<Q4Weights, MullDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
