// I2_S: the scalar reference kernels, the layout conversion from bitnet.cpp's ARM build, and the trait records.
#include "quant/i2_s.h"

#include <algorithm>
#include <cmath>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "quant/ternary_common.h"

namespace ternion::quant {

void i2_s_unpack(const uint8_t* block, uint8_t* trits) {
  for (int h = 0; h < 2; ++h) {
    for (int g = 0; g < 4; ++g) {
      for (int m = 0; m < 32; ++m) {
        trits[128 * h + 32 * g + m] = static_cast<uint8_t>((block[32 * h + m] >> (6 - 2 * g)) & 3);
      }
    }
  }
}

void i2_s_to_float_ref(const void* src, float* dst, int64_t n) {
  uint8_t t[kI2SBlockSize];
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / kI2SBlockSize; ++i) {
    i2_s_unpack(s + i * kI2SBlockBytes, t);
    for (int j = 0; j < kI2SBlockSize; ++j) dst[i * kI2SBlockSize + j] = static_cast<float>(t[j]) - 1.0f;
  }
}

// Each value becomes round(x) (ties away from zero) clamped to [-1, 1], plus 1.
void i2_s_from_float_ref(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kI2SBlockSize; ++i) {
    const float* x = src + i * kI2SBlockSize;
    uint8_t* b = d + i * kI2SBlockBytes;
    for (int h = 0; h < 2; ++h) {
      for (int m = 0; m < 32; ++m) {
        int q = 0;
        for (int g = 0; g < 4; ++g) {
          const float v = x[128 * h + 32 * g + m];
          const int t = std::isnan(v) ? 1 : static_cast<int>(std::lround(std::clamp(v, -1.0f, 1.0f))) + 1;
          q |= t << (6 - 2 * g);
        }
        b[32 * h + m] = static_cast<uint8_t>(q);
      }
    }
  }
}

void i2_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  uint8_t t[kI2SBlockSize];
  const auto* wp = static_cast<const uint8_t*>(w);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kI2SBlockSize; ++i) {
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    i2_s_unpack(wp + i * kI2SBlockBytes, t);
    sum = std::fma(static_cast<float>(ternary_block_dot(t, xb)), xb.d, sum);
  }
  *out = sum;
}

void i2_s_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(i2_s_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_K; from_float only quantizes weights, so the reference serves every level.
const QuantTraits* i2_s_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::I2_S,         DType::Q8_K,      Isa::Scalar,  i2_s_to_float_ref,
                                    i2_s_from_float_ref, i2_s_vec_dot_ref, i2_s_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::I2_S,         DType::Q8_K,       Isa::Avx2,     i2_s_to_float_avx2,
                                     i2_s_from_float_ref, i2_s_vec_dot_avx2, i2_s_gemm_avx2};
  static constexpr QuantTraits kAvx512Vnni{DType::I2_S,        DType::Q8_K,         Isa::Avx512Vnni,
                                           i2_s_to_float_avx2, i2_s_from_float_ref, i2_s_vec_dot_avx512,
                                           i2_s_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
