// Q5_0: the scalar reference kernels (the quantizer after llama.cpp's quantize_row_q5_0_ref) and the trait
// records of every level.
#include "quant/q5_0.h"

#include <cmath>

#include "quant/kernel_common.h"
#include "quant/q5_bits.h"
#include "quant/q8_0.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

static_assert(kQ5_0BlockSize == kQ5Quants);

// The block's 32 values q - 16, in element order.
void unpack(const BlockQ5_0& b, int* q) {
  unpack_q5_bits(b.qs, b.qh, q);
  for (int j = 0; j < kQ5_0BlockSize; ++j) q[j] -= 16;
}

}  // namespace

void q5_0_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ5_0BlockSize; ++b) {
    const auto blk = load_unaligned<BlockQ5_0>(src, b);
    int q[kQ5_0BlockSize];
    unpack(blk, q);
    const float d = fp16_to_fp32(blk.d);
    for (int j = 0; j < kQ5_0BlockSize; ++j) dst[b * kQ5_0BlockSize + j] = static_cast<float>(q[j]) * d;
  }
}

// The value of largest magnitude, with its sign, maps to -16: d = max / -16, q = (int)(x * id + 16.5), at most 31.
// Each float operation is rounded on its own, as GGUF's reference quantizer does: a fused multiply-add would
// move values that sit on a rounding boundary to the other quant.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
void q5_0_from_float_ref(const float* src, void* dst, int64_t n) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (int64_t b = 0; b < n / kQ5_0BlockSize; ++b) {
    const float* x = src + b * kQ5_0BlockSize;
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQ5_0BlockSize; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_0 blk;
    blk.d = fp32_to_fp16(d);
    int q[kQ5_0BlockSize];
    // x * id lies in [-16, 16] (up to rounding), so the truncation is in range.
    for (int j = 0; j < kQ5_0BlockSize; ++j) q[j] = truncate_q5(x[j] * id + 16.5f);
    pack_q5_bits(q, blk.qs, blk.qh);
    store_unaligned(dst, b, blk);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void q5_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQ5_0BlockSize; ++b) {
    const auto wb = load_unaligned<BlockQ5_0>(w, b);
    const auto xb = load_unaligned<BlockQ8_0>(x, b);
    int q[kQ5_0BlockSize];
    unpack(wb, q);
    int32_t isum = 0;
    for (int j = 0; j < kQ5_0BlockSize; ++j) isum += q[j] * int32_t{xb.qs[j]};
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d), sum);
  }
  *out = sum;
}

void q5_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q5_0_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_0, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* q5_0_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q5_0,         DType::Q8_0,      Isa::Scalar,  q5_0_to_float_ref,
                                    q5_0_from_float_ref, q5_0_vec_dot_ref, q5_0_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q5_0,         DType::Q8_0,       Isa::Avx2,     q5_0_to_float_avx2,
                                     q5_0_from_float_ref, q5_0_vec_dot_avx2, q5_0_gemm_avx2};
  static constexpr QuantTraits kAvx512{DType::Q5_0,         DType::Q8_0,         Isa::Avx512Vnni, q5_0_to_float_avx2,
                                       q5_0_from_float_ref, q5_0_vec_dot_avx512, q5_0_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
