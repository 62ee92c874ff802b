// Q4_1: the scalar reference kernels (the quantizer after llama.cpp's quantize_row_q4_1_ref) and the trait
// records of every level.
#include "quant/q4_1.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kHalf = kQ4_1BlockSize / 2;

// (int)v for v >= 0, capped at 15 (NaN also gives 15).
int truncate_nibble(float v) { return v < 15.0f ? static_cast<int>(v) : 15; }

}  // namespace

void q4_1_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ4_1BlockSize; ++b) {
    const auto blk = load_unaligned<BlockQ4_1>(src, b);
    const float d = fp16_to_fp32(blk.d);
    const float m = fp16_to_fp32(blk.m);
    float* y = dst + b * kQ4_1BlockSize;
    for (int j = 0; j < kHalf; ++j) {
      y[j] = std::fma(static_cast<float>(blk.qs[j] & 0x0f), d, m);
      y[j + kHalf] = std::fma(static_cast<float>(blk.qs[j] >> 4), d, m);
    }
  }
}

// The block's minimum maps to 0 and its maximum to 15: d = (max - min) / 15, q = (int)((x - min) * id + 0.5).
// Each float operation is rounded on its own, as GGUF's reference quantizer does: a fused multiply-add would
// move values that sit on a rounding boundary to the other nibble.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
void q4_1_from_float_ref(const float* src, void* dst, int64_t n) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (int64_t b = 0; b < n / kQ4_1BlockSize; ++b) {
    const float* x = src + b * kQ4_1BlockSize;
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < kQ4_1BlockSize; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 blk;
    blk.d = fp32_to_fp16(d);
    blk.m = fp32_to_fp16(min);
    for (int j = 0; j < kHalf; ++j) {
      const int lo = truncate_nibble((x[j] - min) * id + 0.5f);
      const int hi = truncate_nibble((x[j + kHalf] - min) * id + 0.5f);
      blk.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_unaligned(dst, b, blk);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void q4_1_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQ4_1BlockSize; ++b) {
    const auto wb = load_unaligned<BlockQ4_1>(w, b);
    const auto xb = load_unaligned<BlockQ8_0>(x, b);
    int32_t isum = 0;
    int32_t psum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += (wb.qs[j] & 0x0f) * int32_t{xb.qs[j]} + (wb.qs[j] >> 4) * int32_t{xb.qs[j + kHalf]};
      psum += int32_t{xb.qs[j]} + int32_t{xb.qs[j + kHalf]};
    }
    const float dx = fp16_to_fp32(xb.d);
    sum += std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * dx,
                    static_cast<float>(psum) * (fp16_to_fp32(wb.m) * dx));
  }
  *out = sum;
}

void q4_1_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q4_1_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_0, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* q4_1_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q4_1,         DType::Q8_0,      Isa::Scalar,  q4_1_to_float_ref,
                                    q4_1_from_float_ref, q4_1_vec_dot_ref, q4_1_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q4_1,         DType::Q8_0,       Isa::Avx2,     q4_1_to_float_avx2,
                                     q4_1_from_float_ref, q4_1_vec_dot_avx2, q4_1_gemm_avx2};
  static constexpr QuantTraits kAvx512{DType::Q4_1,         DType::Q8_0,         Isa::Avx512Vnni, q4_1_to_float_avx2,
                                       q4_1_from_float_ref, q4_1_vec_dot_avx512, q4_1_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
