// Q3_K: the scalar reference kernels and the trait records of every level.
#include "quant/q3_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

// The 256 quants of a super-block in element order, as signed values q - 4 in [-4, 3].
void unpack_q3_k(const BlockQ3_K& b, int8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) {
        const int low = (b.qs[32 * h + l] >> (2 * s)) & 3;
        const int high = (b.hmask[l] >> (4 * h + s)) & 1;
        q[128 * h + 32 * s + l] = static_cast<int8_t>(low + 4 * high - 4);
      }
    }
  }
}

}  // namespace

void unpack_q3_k_scales(const uint8_t* packed, int* sc) {
  for (int g = 0; g < 16; ++g) {
    const int low = g < 8 ? packed[g] & 0xF : packed[g - 8] >> 4;
    const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
    sc[g] = (low | (high << 4)) - 32;
  }
}

void q3_k_to_float_ref(const void* src, float* dst, int64_t n) {
  int8_t q[kQK_K];
  int sc[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_unaligned<BlockQ3_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    unpack_q3_k(b, q);
    unpack_q3_k_scales(b.scales, sc);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * static_cast<float>(sc[g]);
      for (int l = 0; l < 16; ++l) dst[i * kQK_K + 16 * g + l] = dl * static_cast<float>(q[16 * g + l]);
    }
  }
}

// Per group of 16 the search of make_q3_quants; the 16 group scales become 6-bit values relative to d (the one
// of largest magnitude maps to -32), then every value is re-quantized against the stored scales.
void q3_k_from_float_ref(const float* src, void* dst, int64_t n) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float max_scale = 0.0f;
    float amax = 0.0f;
    for (int g = 0; g < 16; ++g) {
      scales[g] = make_q3_quants(16, 4, x + 16 * g, L + 16 * g);
      const float scale = std::fabs(scales[g]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[g];
      }
    }
    BlockQ3_K b{};
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (int g = 0; g < 16; ++g) {
        const int l = std::clamp(nearest_int(iscale * scales[g]), -32, 31) + 32;
        if (g < 8) {
          b.scales[g] = static_cast<uint8_t>(l & 0xF);
        } else {
          b.scales[g - 8] = static_cast<uint8_t>(b.scales[g - 8] | ((l & 0xF) << 4));
        }
        b.scales[8 + g % 4] = static_cast<uint8_t>(b.scales[8 + g % 4] | ((l >> 4) << (2 * (g / 4))));
      }
      b.d = fp32_to_fp16(1.0f / iscale);
    }
    int sc[16];
    unpack_q3_k_scales(b.scales, sc);
    const float dd = fp16_to_fp32(b.d);
    for (int g = 0; g < 16; ++g) {
      const float d = dd * static_cast<float>(sc[g]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * g + l] / d), -4, 3) + 4);
      }
    }
    // L in [0, 7]: bit 2 goes to hmask, bits 0-1 to qs.
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        uint8_t packed = 0;
        for (int s = 0; s < 4; ++s) {
          const int v = L[128 * h + 32 * s + l];
          packed = static_cast<uint8_t>(packed | ((v & 3) << (2 * s)));
          b.hmask[l] = static_cast<uint8_t>(b.hmask[l] | ((v >> 2) << (4 * h + s)));
        }
        b.qs[32 * h + l] = packed;
      }
    }
    store_unaligned(dst, i, b);
  }
}

void q3_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  int8_t q[kQK_K];
  int sc[16];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto wb = load_unaligned<BlockQ3_K>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    unpack_q3_k(wb, q);
    unpack_q3_k_scales(wb.scales, sc);
    int32_t isum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t gs = 0;
      for (int l = 0; l < 16; ++l) gs += static_cast<int32_t>(q[16 * g + l]) * xb.qs[16 * g + l];
      isum += sc[g] * gs;
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = sum;
}

namespace {

void q3_k_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q3_k_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace

const QuantTraits* q3_k_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q3_K,         DType::Q8_K,      Isa::Scalar,  q3_k_to_float_ref,
                                    q3_k_from_float_ref, q3_k_vec_dot_ref, q3_k_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q3_K,         DType::Q8_K,       Isa::Avx2,     q3_k_to_float_ref,
                                     q3_k_from_float_ref, q3_k_vec_dot_avx2, q3_k_gemm_avx2};
  // AVX-512 without VNNI: the 512-bit row dot (no VNNI in it) and its tiles.
  static constexpr QuantTraits kAvx512{DType::Q3_K,         DType::Q8_K,         Isa::Avx512,       q3_k_to_float_ref,
                                       q3_k_from_float_ref, q3_k_vec_dot_avx512, q3_k_gemm_avx512bw};
  static constexpr QuantTraits kAvx512Vnni{DType::Q3_K,         DType::Q8_K,         Isa::Avx512Vnni, q3_k_to_float_ref,
                                           q3_k_from_float_ref, q3_k_vec_dot_avx512, q3_k_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
