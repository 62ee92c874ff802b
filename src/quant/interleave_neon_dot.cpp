// ARM64 NEON dot-product (ARMv8.2 SDOT) kernels over the interleaved Q4_0 and Q8_0 layouts (quant/interleave.h),
// dotted with Q8_0 activations; run only after detection. The kernels are in interleave_neon_q.h.
// GCC's scheduler before register allocation hoists the loads of a whole block ahead of their dots and then spills
// accumulators (525 stack accesses per Q4_K decode super-block, 16-31 per block in the Q4_0 and Q8_0 prompt tiles);
// without it the loops keep every accumulator in its register. Set before the includes: GCC inlines no function
// whose optimization options differ from its caller's.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

#include "quant/interleave_neon_q.h"

namespace ternion::quant {

void q4_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Layout>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Layout>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
