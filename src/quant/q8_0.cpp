// Q8_0: the scalar reference kernels (after llama.cpp's quantize_row_q8_0_ref and ggml_vec_dot_q8_0_q8_0) and
// the trait records of every level.
#include "quant/q8_0.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

BlockQ8_0 load_block(const void* base, int64_t b) { return load_unaligned<BlockQ8_0>(base, b); }

}  // namespace

void q8_0_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const BlockQ8_0 blk = load_block(src, b);
    const float d = fp16_to_fp32(blk.d);
    for (int j = 0; j < kQ8_0BlockSize; ++j) dst[b * kQ8_0BlockSize + j] = static_cast<float>(blk.qs[j]) * d;
  }
}

// d = amax / 127; values round to nearest-even (as llama.cpp's SIMD quantizers do; its scalar one uses roundf,
// which differs only on exact .5 ties). The rounding uses the fp32 d, the block stores it as fp16.
void q8_0_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    float amax = 0.0f;
    for (int j = 0; j < kQ8_0BlockSize; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = fp32_to_fp16(d);
    for (int j = 0; j < kQ8_0BlockSize; ++j) {
      blk.qs[j] = static_cast<int8_t>(std::clamp(std::lrint(x[j] * id), -128L, 127L));
    }
    store_unaligned(dst, b, blk);
  }
}

void q8_0_quantize_weights_ref(const float* src, void* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    float amax = 0.0f;
    for (int j = 0; j < kQ8_0BlockSize; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = fp32_to_fp16(d);
    for (int j = 0; j < kQ8_0BlockSize; ++j) blk.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    store_unaligned(dst, b, blk);
  }
}

void q8_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const BlockQ8_0 wb = load_block(w, b);
    const BlockQ8_0 xb = load_block(x, b);
    int32_t isum = 0;
    for (int j = 0; j < kQ8_0BlockSize; ++j) isum += int32_t{wb.qs[j]} * int32_t{xb.qs[j]};
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d), sum);
  }
  *out = sum;
}

void q8_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q8_0_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

const QuantTraits* q8_0_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q8_0,         DType::Q8_0,      Isa::Scalar,  q8_0_to_float_ref,
                                    q8_0_from_float_ref, q8_0_vec_dot_ref, q8_0_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q8_0,          DType::Q8_0,       Isa::Avx2,      q8_0_to_float_avx2,
                                     q8_0_from_float_avx2, q8_0_vec_dot_avx2, q8_0_gemm_avx2, &kQ8_0InterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::Q8_0,          DType::Q8_0,       Isa::AvxVnni,   q8_0_to_float_avx2,
      q8_0_from_float_avx2, q8_0_vec_dot_avx2, q8_0_gemm_avx2, &kQ8_0InterleavedAvxVnni};
  static constexpr QuantTraits kAvx512{DType::Q8_0,
                                       DType::Q8_0,
                                       Isa::Avx512Vnni,
                                       q8_0_to_float_avx512,
                                       q8_0_from_float_avx512,
                                       q8_0_vec_dot_avx512,
                                       q8_0_gemm_avx512,
                                       &kQ8_0InterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::Q8_0,          DType::Q8_0,       Isa::Neon,     q8_0_to_float_neon,
                                     q8_0_from_float_neon, q8_0_vec_dot_neon, q8_0_gemm_neon};
  static constexpr QuantTraits kNeonDot{
      DType::Q8_0,          DType::Q8_0,           Isa::NeonDot,       q8_0_to_float_neon,
      q8_0_from_float_neon, q8_0_vec_dot_neon_dot, q8_0_gemm_neon_dot, &kQ8_0InterleavedNeonDot};
  if (isa == Isa::Neon) return &kNeon;
  // i8mm: the dot-product row kernels with SMMLA prompt tiles over the interleaved layout.
  static constexpr QuantTraits kNeonI8mm{
      DType::Q8_0,          DType::Q8_0,           Isa::NeonI8mm,      q8_0_to_float_neon,
      q8_0_from_float_neon, q8_0_vec_dot_neon_dot, q8_0_gemm_neon_dot, &kQ8_0InterleavedNeonI8mm};
  if (isa == Isa::NeonDot) return &kNeonDot;
  if (isa == Isa::NeonI8mm) return &kNeonI8mm;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
