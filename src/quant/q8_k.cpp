#include "quant/q8_k.h"

#include <cmath>
#include <cstring>

#include "quant/kernel_common.h"

namespace ternion::quant {

namespace {

// Round to nearest, ties to even, as ggml's nearest_int does with its 1.5·2^23 trick.
inline int nearest_int(float v) { return static_cast<int>(std::nearbyint(v)); }

}  // namespace

void q8_k_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / 256; ++i) {
    const auto b = load_unaligned<BlockQ8_K>(src, i);
    for (int j = 0; j < 256; ++j) dst[i * 256 + j] = b.d * static_cast<float>(b.qs[j]);
  }
}

void q8_k_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / 256; ++i) {
    const float* x = src + i * 256;
    BlockQ8_K b{};
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax != 0.0f) {
      const float iscale = -127.0f / max;
      for (int j = 0; j < 256; ++j) {
        const int v = nearest_int(iscale * x[j]);
        b.qs[j] = static_cast<int8_t>(v > 127 ? 127 : v);
      }
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
  static const QuantTraits ref{DType::Q8_K,         DType::Q8_K, Isa::Scalar, q8_k_to_float_ref,
                               q8_k_from_float_ref, nullptr,     nullptr};
  return isa == Isa::Scalar ? &ref : nullptr;
}

}  // namespace ternion::quant
