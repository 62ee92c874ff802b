// Q2_K: the scalar reference kernels and the trait records of every level.
#include "quant/q2_k.h"

#include <algorithm>
#include <cmath>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

// The 256 quants of a super-block in element order.
void unpack_q2_k(const BlockQ2_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * s + l] = static_cast<uint8_t>((b.qs[32 * h + l] >> (2 * s)) & 3);
    }
  }
}

}  // namespace

void q2_k_to_float_ref(const void* src, float* dst, int64_t n) {
  uint8_t q[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_unaligned<BlockQ2_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    unpack_q2_k(b, q);
    float dl[16];
    float ml[16];
    for (int g = 0; g < 16; ++g) {
      dl[g] = d * static_cast<float>(b.scales[g] & 0xF);
      ml[g] = dmin * static_cast<float>(b.scales[g] >> 4);
    }
    dequantize_affine(q, 16, dl, ml, dst + i * kQK_K);
  }
}

// Per group of 16 the asymmetric search of make_qkx2_quants (weights |x|, absolute error); scales and mins
// become 4-bit values relative to d and dmin, then every value is re-quantized against the stored ones.
void q2_k_from_float_ref(const float* src, void* dst, int64_t n) {
  uint8_t L[kQK_K];
  uint8_t Laux[16];
  float weights[16];
  float scales[16];
  float mins[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float max_scale = 0.0f;  // scales are positive once the min is taken out
    float max_min = 0.0f;
    for (int g = 0; g < 16; ++g) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * g + l]);
      scales[g] = make_qkx2_quants(16, 3, x + 16 * g, weights, L + 16 * g, &mins[g], Laux, -0.5f, 0.1f, 15, true);
      if (scales[g] > max_scale) max_scale = scales[g];
      if (mins[g] > max_min) max_min = mins[g];
    }
    BlockQ2_K b{};
    if (max_scale > 0.0f) {
      const float iscale = 15.0f / max_scale;
      // The 8-bit wrap of an out-of-range level is what the reference does too.
      for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(nearest_int(iscale * scales[g]));
      b.d = fp32_to_fp16(max_scale / 15.0f);
    }
    if (max_min > 0.0f) {
      const float iscale = 15.0f / max_min;
      for (int g = 0; g < 16; ++g) {
        b.scales[g] = static_cast<uint8_t>(b.scales[g] | (nearest_int(iscale * mins[g]) << 4));
      }
      b.dmin = fp32_to_fp16(max_min / 15.0f);
    }
    const float dd = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    for (int g = 0; g < 16; ++g) {
      const float d = dd * static_cast<float>(b.scales[g] & 0xF);
      if (d == 0.0f) continue;
      const float dm = dmin * static_cast<float>(b.scales[g] >> 4);
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * g + l] + dm) / d), 0, 3));
      }
    }
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = L + 128 * h + l;
        b.qs[32 * h + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
      }
    }
    store_unaligned(dst, i, b);
  }
}

void q2_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  uint8_t q[kQK_K];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto wb = load_unaligned<BlockQ2_K>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    unpack_q2_k(wb, q);
    int32_t isum = 0;
    int32_t msum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t gs = 0;
      for (int l = 0; l < 16; ++l) gs += static_cast<int32_t>(q[16 * g + l]) * xb.qs[16 * g + l];
      isum += (wb.scales[g] & 0xF) * gs;
      msum += (wb.scales[g] >> 4) * xb.bsums[g];
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
    sum = std::fma(static_cast<float>(-msum), fp16_to_fp32(wb.dmin) * xb.d, sum);
  }
  *out = sum;
}

namespace {

void q2_k_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q2_k_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace

const QuantTraits* q2_k_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q2_K,         DType::Q8_K,      Isa::Scalar,  q2_k_to_float_ref,
                                    q2_k_from_float_ref, q2_k_vec_dot_ref, q2_k_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q2_K,         DType::Q8_K,       Isa::Avx2,     q2_k_to_float_ref,
                                     q2_k_from_float_ref, q2_k_vec_dot_avx2, q2_k_gemm_avx2};
  // AVX-512 without VNNI: the 512-bit row dot (no VNNI in it) and its tiles.
  static constexpr QuantTraits kAvx512{DType::Q2_K,         DType::Q8_K,         Isa::Avx512,       q2_k_to_float_ref,
                                       q2_k_from_float_ref, q2_k_vec_dot_avx512, q2_k_gemm_avx512bw};
  static constexpr QuantTraits kAvx512Vnni{DType::Q2_K,         DType::Q8_K,         Isa::Avx512Vnni, q2_k_to_float_ref,
                                           q2_k_from_float_ref, q2_k_vec_dot_avx512, q2_k_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
