// F16: the scalar reference kernels and the trait records of every level.
#include "quant/f16.h"

#include <cmath>

#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

void f16_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_unaligned<uint16_t>(src, i));
}

void f16_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_fp16(src[i]));
}

// Products of two halves are exact in fp32, so fma and multiply-then-add agree here; fma keeps the pattern
// the same as F32.
void f16_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float acc[kFloatLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = i % kFloatLanes;
    acc[l] =
        std::fma(fp16_to_fp32(load_unaligned<uint16_t>(w, i)), fp16_to_fp32(load_unaligned<uint16_t>(x, i)), acc[l]);
  }
  *out = reduce_lanes16(acc);
}

void f16_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                  int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(f16_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

const QuantTraits* f16_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::F16,         DType::F16,      Isa::Scalar, f16_to_float_ref,
                                    f16_from_float_ref, f16_vec_dot_ref, f16_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::F16,          DType::F16,       Isa::Avx2,    f16_to_float_avx2,
                                     f16_from_float_avx2, f16_vec_dot_avx2, f16_gemm_avx2};
  static constexpr QuantTraits kAvx512{
      DType::F16,         DType::F16,     Isa::Avx512, f16_to_float_avx512, f16_from_float_avx512,
      f16_vec_dot_avx512, f16_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;  // AVX-512 VNNI CPUs too: no VNNI in float dots
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::F16,          DType::F16,       Isa::Neon,    f16_to_float_neon,
                                     f16_from_float_neon, f16_vec_dot_neon, f16_gemm_neon};
  if (isa == Isa::Neon) return &kNeon;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
