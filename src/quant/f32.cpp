// F32: the scalar reference kernels and the trait records of every level.
#include "quant/f32.h"

#include <cmath>
#include <cstring>

#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"

namespace ternion::quant {

// n may be 0 with null pointers, which memcpy does not allow.
void f32_copy_ref(const void* src, float* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void f32_from_float_ref(const float* src, void* dst, int64_t n) {
  if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void f32_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float acc[kFloatLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = i % kFloatLanes;
    acc[l] = std::fma(load_unaligned<float>(w, i), load_unaligned<float>(x, i), acc[l]);
  }
  *out = reduce_lanes16(acc);
}

void f32_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                  int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(f32_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

const QuantTraits* f32_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::F32,         DType::F32,      Isa::Scalar, f32_copy_ref,
                                    f32_from_float_ref, f32_vec_dot_ref, f32_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::F32,         DType::F32,       Isa::Avx2,    f32_copy_ref,
                                     f32_from_float_ref, f32_vec_dot_avx2, f32_gemm_avx2};
  static constexpr QuantTraits kAvx512{DType::F32,         DType::F32,         Isa::Avx512,    f32_copy_ref,
                                       f32_from_float_ref, f32_vec_dot_avx512, f32_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;  // AVX-512 VNNI CPUs too: no VNNI in float dots
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::F32,         DType::F32,       Isa::Neon,    f32_copy_ref,
                                     f32_from_float_ref, f32_vec_dot_neon, f32_gemm_neon};
  if (isa == Isa::Neon) return &kNeon;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
