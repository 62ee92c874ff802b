// Q4_0: the scalar reference kernels (after llama.cpp's quantize_row_q4_0_ref and ggml_vec_dot_q4_0_q8_0) and
// the trait records of every level.
#include "quant/q4_0.h"

#include <algorithm>
#include <cmath>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "quant/q8_0.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kHalf = kQ4_0BlockSize / 2;

}  // namespace

void q4_0_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const auto blk = load_unaligned<BlockQ4_0>(src, b);
    const float d = fp16_to_fp32(blk.d);
    float* y = dst + b * kQ4_0BlockSize;
    for (int j = 0; j < kHalf; ++j) {
      y[j] = static_cast<float>((blk.qs[j] & 0x0f) - 8) * d;
      y[j + kHalf] = static_cast<float>((blk.qs[j] >> 4) - 8) * d;
    }
  }
}

// The value of largest magnitude, with its sign, maps to -8: d = max / -8, q = min(15, trunc(x * id + 8.5)),
// the product rounded to float before the add (never fused: that is how the GGUF files users have were written).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
void q4_0_from_float_ref(const float* src, void* dst, int64_t n) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const float* x = src + b * kQ4_0BlockSize;
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQ4_0BlockSize; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 blk;
    blk.d = fp32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) {
      // x * id lies in [-8, 8] (up to rounding), so the conversion is in range; min(15) catches +8.
      const auto lo = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j] * id + 8.5f)));
      const auto hi = static_cast<uint8_t>(std::min(15, static_cast<int>(x[j + kHalf] * id + 8.5f)));
      blk.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
    store_unaligned(dst, b, blk);
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void q4_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const auto wb = load_unaligned<BlockQ4_0>(w, b);
    const auto xb = load_unaligned<BlockQ8_0>(x, b);
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += ((wb.qs[j] & 0x0f) - 8) * int32_t{xb.qs[j]};
      isum += ((wb.qs[j] >> 4) - 8) * int32_t{xb.qs[j + kHalf]};
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d), sum);
  }
  *out = sum;
}

void q4_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q4_0_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations for Q4_0 are Q8_0, so from_float is only used to quantize weights; the reference serves every level.
const QuantTraits* q4_0_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q4_0,         DType::Q8_0,      Isa::Scalar,  q4_0_to_float_ref,
                                    q4_0_from_float_ref, q4_0_vec_dot_ref, q4_0_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q4_0,         DType::Q8_0,       Isa::Avx2,      q4_0_to_float_avx2,
                                     q4_0_from_float_ref, q4_0_vec_dot_avx2, q4_0_gemm_avx2, &kQ4_0InterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::Q4_0,         DType::Q8_0,       Isa::AvxVnni,   q4_0_to_float_avx2,
      q4_0_from_float_ref, q4_0_vec_dot_avx2, q4_0_gemm_avx2, &kQ4_0InterleavedAvxVnni};
  static constexpr QuantTraits kAvx512{
      DType::Q4_0,         DType::Q8_0,         Isa::Avx512Vnni,  q4_0_to_float_avx512,
      q4_0_from_float_ref, q4_0_vec_dot_avx512, q4_0_gemm_avx512, &kQ4_0InterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::Q4_0,         DType::Q8_0,       Isa::Neon,     q4_0_to_float_neon,
                                     q4_0_from_float_ref, q4_0_vec_dot_neon, q4_0_gemm_neon};
  static constexpr QuantTraits kNeonDot{
      DType::Q4_0,         DType::Q8_0,           Isa::NeonDot,       q4_0_to_float_neon,
      q4_0_from_float_ref, q4_0_vec_dot_neon_dot, q4_0_gemm_neon_dot, &kQ4_0InterleavedNeonDot};
  if (isa == Isa::Neon) return &kNeon;
  // i8mm: the dot-product row kernels with SMMLA prompt tiles over the interleaved layout.
  static constexpr QuantTraits kNeonI8mm{
      DType::Q4_0,         DType::Q8_0,           Isa::NeonI8mm,      q4_0_to_float_neon,
      q4_0_from_float_ref, q4_0_vec_dot_neon_dot, q4_0_gemm_neon_dot, &kQ4_0InterleavedNeonI8mm};
  if (isa == Isa::NeonDot) return &kNeonDot;
  if (isa == Isa::NeonI8mm) return &kNeonI8mm;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
