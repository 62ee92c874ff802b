// Q5_K: the scalar reference kernels and the trait records of every level.
#include "quant/q5_k.h"

#include <algorithm>
#include <cmath>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "quant/scale_min_k.h"
#include "ternion/core/fp16.h"

#if defined(__aarch64__)
#include "quant/k_quant_neon.h"
#endif

namespace ternion::quant {

namespace {

// The 256 quants of a super-block in element order.
void unpack_q5_k(const BlockQ5_K& b, uint8_t* q) {
  for (int c = 0; c < 8; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int nibble = (c & 1) != 0 ? b.qs[32 * (c / 2) + l] >> 4 : b.qs[32 * (c / 2) + l] & 0xF;
      q[32 * c + l] = static_cast<uint8_t>(nibble | (((b.qh[l] >> c) & 1) << 4));
    }
  }
}

}  // namespace

void q5_k_to_float_ref(const void* src, float* dst, int64_t n) {
  uint8_t q[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_unaligned<BlockQ5_K>(src, i);
    const float d = fp16_to_fp32(b.d);
    const float dmin = fp16_to_fp32(b.dmin);
    unpack_q5_k(b, q);
    float dl[8];
    float ml[8];
    for (int g = 0; g < 8; ++g) {
      uint8_t sc = 0;
      uint8_t m = 0;
      unpack_scale_min_k4(g, b.scales, &sc, &m);
      dl[g] = d * static_cast<float>(sc);
      ml[g] = dmin * static_cast<float>(m);
    }
    dequantize_affine(q, 32, dl, ml, dst + i * kQK_K);
  }
}

void q5_k_from_float_ref(const float* src, void* dst, int64_t n) {
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const ScaleMinK4 s = quantize_scale_min_k4(src + i * kQK_K, 31, -0.5f, 15, L);
    BlockQ5_K b;
    b.d = s.d;
    b.dmin = s.dmin;
    std::copy(s.scales, s.scales + 12, b.scales);
    std::fill(b.qh, b.qh + 32, uint8_t{0});
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * k + l];
        const int hi = L[64 * k + 32 + l];
        b.qs[32 * k + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b.qh[l] = static_cast<uint8_t>(b.qh[l] | ((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
      }
    }
    store_unaligned(dst, i, b);
  }
}

void q5_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  scale_min_k_vec_dot_ref<BlockQ5_K, unpack_q5_k>(n, out, w, x);
}

namespace {

void q5_k_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(q5_k_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace

// Activations are Q8_K, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* q5_k_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::Q5_K,         DType::Q8_K,      Isa::Scalar,  q5_k_to_float_ref,
                                    q5_k_from_float_ref, q5_k_vec_dot_ref, q5_k_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::Q5_K,         DType::Q8_K,       Isa::Avx2,      q5_k_to_float_ref,
                                     q5_k_from_float_ref, q5_k_vec_dot_avx2, q5_k_gemm_avx2, &kQ5_KInterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::Q5_K,         DType::Q8_K,       Isa::AvxVnni,   q5_k_to_float_ref,
      q5_k_from_float_ref, q5_k_vec_dot_avx2, q5_k_gemm_avx2, &kQ5_KInterleavedAvxVnni};
  // AVX-512 without VNNI: the 512-bit row dot (no VNNI in it) and its tiles, with the 256-bit interleaved kernels.
  static constexpr QuantTraits kAvx512{
      DType::Q5_K,         DType::Q8_K,         Isa::Avx512,        q5_k_to_float_ref,
      q5_k_from_float_ref, q5_k_vec_dot_avx512, q5_k_gemm_avx512bw, &kQ5_KInterleavedAvx512};
  static constexpr QuantTraits kAvx512Vnni{
      DType::Q5_K,         DType::Q8_K,         Isa::Avx512Vnni,  q5_k_to_float_ref,
      q5_k_from_float_ref, q5_k_vec_dot_avx512, q5_k_gemm_avx512, &kQ5_KInterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512) return &kAvx512;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::Q5_K,         DType::Q8_K,       Isa::Neon,     q5_k_to_float_ref,
                                     q5_k_from_float_ref, q5_k_vec_dot_neon, q5_k_gemm_neon};
  static constexpr QuantTraits kNeonDot{
      DType::Q5_K,         DType::Q8_K,           Isa::NeonDot,       q5_k_to_float_ref,
      q5_k_from_float_ref, q5_k_vec_dot_neon_dot, q5_k_gemm_neon_dot, &kQ5_KInterleavedNeonDot};
  if (isa == Isa::Neon) return &kNeon;
  if (isa == Isa::NeonDot) return &kNeonDot;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
