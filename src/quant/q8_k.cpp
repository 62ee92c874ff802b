// Q8_K: the scalar reference and the trait records of every level.
#include "quant/q8_k.h"

#include <algorithm>
#include <cmath>

#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"

#if defined(__aarch64__)
#include "quant/k_quant_neon.h"
#endif

namespace ternion::quant {

void q8_k_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_unaligned<BlockQ8_K>(src, i);
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = b.d * static_cast<float>(b.qs[j]);
  }
}

void q8_k_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    BlockQ8_K b{};
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax != 0.0f) {
      const float iscale = -127.0f / max;
      for (int j = 0; j < kQK_K; ++j) b.qs[j] = static_cast<int8_t>(std::clamp(nearest_int(iscale * x[j]), -128, 127));
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += b.qs[g * 16 + l];
        b.bsums[g] = static_cast<int16_t>(sum);
      }
      b.d = 1.0f / iscale;
    }
    store_unaligned(dst, i, b);
  }
}

const QuantTraits* q8_k_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q8_K,         DType::Q8_K, Isa::Scalar, q8_k_to_float_ref,
                                    q8_k_from_float_ref, nullptr,     nullptr};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q8_K,          DType::Q8_K, Isa::Avx2, q8_k_to_float_ref,
                                     q8_k_from_float_avx2, nullptr,     nullptr};
  if (isa == Isa::Avx2) return &kAvx2;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::Q8_K,          DType::Q8_K, Isa::Neon, q8_k_to_float_ref,
                                     q8_k_from_float_neon, nullptr,     nullptr};
  if (isa == Isa::Neon) return &kNeon;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
