// Q6_K: the scalar reference kernels and the trait records of every level.
#include "quant/q6_k.h"

#include <algorithm>
#include <cmath>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

#if defined(__aarch64__)
#include "quant/k_quant_neon.h"
#endif

namespace ternion::quant {

void q6_k_unpack(const BlockQ6_K& b, int8_t* q) {
  // Each half of the super-block (128 values) takes 64 bytes of ql and 32 of qh: for l < 32 the four
  // values l, l+32, l+64, l+96 share ql[l], ql[l+32] (low/high nibbles) and the four 2-bit fields of qh[l].
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + half * 64;
    const uint8_t* qh = b.qh + half * 32;
    int8_t* out = q + half * 128;
    for (int l = 0; l < 32; ++l) {
      out[l + 0] = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

void q6_k_to_float_ref(const void* src, float* dst, int64_t n) {
  int8_t q[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_unaligned<BlockQ6_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    q6_k_unpack(b, q);
    for (int j = 0; j < kQK_K; ++j)
      dst[i * kQK_K + j] = d * static_cast<float>(b.scales[j / 16]) * static_cast<float>(q[j]);
  }
}

// Per group of 16 the scale search of make_qx_quants; the 16 group scales become int8 relative to d (the one of
// largest magnitude maps to -128), then every value is re-quantized against the stored scales.
void q6_k_from_float_ref(const float* src, void* dst, int64_t n) { q6_k_quantize_weighted(src, dst, n, nullptr); }

void q6_k_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    float max_scale = 0.0f;
    float max_abs_scale = 0.0f;
    for (int g = 0; g < 16; ++g) {
      scales[g] = make_qx_quants(16, 32, x + 16 * g, L + 16 * g, qw != nullptr ? qw + i * kQK_K + 16 * g : nullptr);
      const float abs_scale = std::fabs(scales[g]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[g];
      }
    }
    BlockQ6_K b{};
    if (max_abs_scale < 1e-15f) {  // an all-zero super-block
      store_unaligned(dst, i, b);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    b.d = fp32_to_fp16(1.0f / iscale);
    for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));
    const float dd = fp16_to_fp32(b.d);
    for (int g = 0; g < 16; ++g) {
      const float d = dd * static_cast<float>(b.scales[g]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * g + l] / d), -32, 31) + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const int8_t* q = L + half * 128;
      uint8_t* ql = b.ql + half * 64;
      uint8_t* qh = b.qh + half * 32;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                     ((q[l + 96] >> 4) << 6));
      }
    }
    store_unaligned(dst, i, b);
  }
}

void q6_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  // Per super-block the exact integer Σ_g scale_g · Σ_l q6·q8, then sum = fma(isum, d_w·d_x, sum) in order.
  int8_t q[kQK_K];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto wb = load_unaligned<BlockQ6_K>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    q6_k_unpack(wb, q);
    int32_t isum = 0;
    for (int g = 0; g < 16; ++g) {
      int32_t gs = 0;
      for (int l = 0; l < 16; ++l) gs += static_cast<int32_t>(q[g * 16 + l]) * xb.qs[g * 16 + l];
      isum += static_cast<int32_t>(wb.scales[g]) * gs;
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = sum;
}

namespace {

void q6_k_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q6_k_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace

const QuantTraits* q6_k_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q6_K,         DType::Q8_K,      Isa::Scalar,  q6_k_to_float_ref,
                                    q6_k_from_float_ref, q6_k_vec_dot_ref, q6_k_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q6_K,         DType::Q8_K,       Isa::Avx2,      q6_k_to_float_ref,
                                     q6_k_from_float_ref, q6_k_vec_dot_avx2, q6_k_gemm_avx2, &kQ6_KInterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::Q6_K,         DType::Q8_K,       Isa::AvxVnni,   q6_k_to_float_ref,
      q6_k_from_float_ref, q6_k_vec_dot_avx2, q6_k_gemm_avx2, &kQ6_KInterleavedAvxVnni};
  // AVX-512 without VNNI: the 512-bit row dot (no VNNI in it) and its tiles, 512-bit interleaved kernels.
  static constexpr QuantTraits kAvx512{
      DType::Q6_K,         DType::Q8_K,         Isa::Avx512,        q6_k_to_float_ref,
      q6_k_from_float_ref, q6_k_vec_dot_avx512, q6_k_gemm_avx512bw, &kQ6_KInterleavedAvx512};
  static constexpr QuantTraits kAvx512Vnni{
      DType::Q6_K,         DType::Q8_K,         Isa::Avx512Vnni,  q6_k_to_float_ref,
      q6_k_from_float_ref, q6_k_vec_dot_avx512, q6_k_gemm_avx512, &kQ6_KInterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512) return &kAvx512;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::Q6_K,         DType::Q8_K,       Isa::Neon,     q6_k_to_float_ref,
                                     q6_k_from_float_ref, q6_k_vec_dot_neon, q6_k_gemm_neon};
  static constexpr QuantTraits kNeonDot{
      DType::Q6_K,         DType::Q8_K,           Isa::NeonDot,       q6_k_to_float_ref,
      q6_k_from_float_ref, q6_k_vec_dot_neon_dot, q6_k_gemm_neon_dot, &kQ6_KInterleavedNeonDot};
  if (isa == Isa::Neon) return &kNeon;
  if (isa == Isa::NeonDot) return &kNeonDot;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
