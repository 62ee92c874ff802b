// BF16: the scalar reference kernels and the trait records of every level.
#include "quant/bf16.h"

#include <cmath>

#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

void bf16_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_unaligned<uint16_t>(src, i));
}

void bf16_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_bf16(src[i]));
}

// BF16 weights meet F32 activations: rounding the activations to bf16 (8 significant bits, as some engines do)
// would move a model's logits by several hundredths; a bf16 weight widens to f32 exactly.
void bf16_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float acc[kFloatLanes] = {};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = i % kFloatLanes;
    acc[l] = std::fma(bf16_to_fp32(load_unaligned<uint16_t>(w, i)), load_unaligned<float>(x, i), acc[l]);
  }
  *out = reduce_lanes16(acc);
}

void bf16_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(bf16_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

const QuantTraits* bf16_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::BF16,         DType::F32,       Isa::Scalar,  bf16_to_float_ref,
                                    bf16_from_float_ref, bf16_vec_dot_ref, bf16_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::BF16,          DType::F32,        Isa::Avx2,     bf16_to_float_avx2,
                                     bf16_from_float_avx2, bf16_vec_dot_avx2, bf16_gemm_avx2};
  static constexpr QuantTraits kAvx512{
      DType::BF16,         DType::F32,      Isa::Avx512, bf16_to_float_avx512, bf16_from_float_avx512,
      bf16_vec_dot_avx512, bf16_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;  // AVX-512 VNNI CPUs too: no VNNI in float dots
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::BF16,          DType::F32,        Isa::Neon,     bf16_to_float_neon,
                                     bf16_from_float_neon, bf16_vec_dot_neon, bf16_gemm_neon};
  if (isa == Isa::Neon) return &kNeon;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
