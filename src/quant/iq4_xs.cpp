// IQ4_XS: the scalar reference kernels, the quantizer (after llama.cpp's quantize_iq4_xs without an importance
// matrix) and the trait records of every level.
#include "quant/iq4_xs.h"

#include <cmath>

#include "quant/interleave.h"
#include "quant/iq4_nl.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq4XsBlockSize / 32;

// The scale ls - 32 nearest v (ties to even), within [-32, 31] (NaN gives -32).
int nearest_scale(float v) {
  const float r = std::nearbyint(v);
  if (!(r > -32.0f)) return -32;
  return r < 31.0f ? static_cast<int>(r) : 31;
}

}  // namespace

void iq4_xs_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const auto b = load_unaligned<BlockIq4Xs>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int ib = 0; ib < kBlocks; ++ib) {
      const float dl = d * static_cast<float>(iq4_xs_block_scale(b, ib));
      const uint8_t* qs = b.qs + 16 * ib;
      float* y = dst + i * kIq4XsBlockSize + 32 * ib;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4Values[qs[j] & 0x0f]);
        y[j + 16] = dl * static_cast<float>(kIq4Values[qs[j] >> 4]);
      }
    }
  }
}

// Each block of 32 gets its best scale (iq4_block_scale); the super-block scale d maps the one of largest
// magnitude to -32, each block scale is rounded to a multiple of d, and the indices are chosen again for the
// rounded block scale d * l (in fp32).
void iq4_xs_from_float_ref(const float* src, void* dst, int64_t n) { iq4_xs_quantize_weighted(src, dst, n, nullptr); }

void iq4_xs_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw) {
  float weight[32];
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const float* x = src + i * kIq4XsBlockSize;
    float scales[kBlocks];
    float max_scale = 0.0f;
    float amax_scale = 0.0f;
    const float sigma2 = qw != nullptr ? iq4_sigma2(x, kIq4XsBlockSize) : 0.0f;
    for (int ib = 0; ib < kBlocks; ++ib) {
      if (qw != nullptr) iq4_importance(sigma2, x + 32 * ib, qw + i * kIq4XsBlockSize + 32 * ib, weight);
      scales[ib] = iq4_block_scale(x + 32 * ib, qw != nullptr ? weight : nullptr);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    BlockIq4Xs b{};
    const float d = -max_scale / 32.0f;
    b.d = fp32_to_fp16(d);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int ib = 0; ib < kBlocks; ++ib) {
      const int l = nearest_scale(id * scales[ib]);
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
      const float* xb = x + 32 * ib;
      for (int j = 0; j < 16; ++j) {
        b.qs[16 * ib + j] =
            static_cast<uint8_t>(iq4_nearest_index(idl * xb[j]) | (iq4_nearest_index(idl * xb[j + 16]) << 4));
      }
      const int ls = l + 32;
      b.scales_l[ib / 2] = static_cast<uint8_t>(b.scales_l[ib / 2] | ((ls & 0x0f) << (4 * (ib % 2))));
      b.scales_h = static_cast<uint16_t>(b.scales_h | ((ls >> 4) << (2 * ib)));
    }
    store_unaligned(dst, i, b);
  }
}

void iq4_xs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const auto wb = load_unaligned<BlockIq4Xs>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    int32_t isum = 0;
    for (int ib = 0; ib < kBlocks; ++ib) {
      const uint8_t* qs = wb.qs + 16 * ib;
      const int8_t* p = xb.qs + 32 * ib;
      int32_t bsum = 0;
      for (int j = 0; j < 16; ++j) {
        bsum += kIq4Values[qs[j] & 0x0f] * int32_t{p[j]} + kIq4Values[qs[j] >> 4] * int32_t{p[j + 16]};
      }
      isum += iq4_xs_block_scale(wb, ib) * bsum;
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = sum;
}

void iq4_xs_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(iq4_xs_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_K, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* iq4_xs_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::IQ4_XS,         DType::Q8_K,        Isa::Scalar,    iq4_xs_to_float_ref,
                                    iq4_xs_from_float_ref, iq4_xs_vec_dot_ref, iq4_xs_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{
      DType::IQ4_XS,         DType::Q8_K,         Isa::Avx2,        iq4_xs_to_float_avx2,
      iq4_xs_from_float_ref, iq4_xs_vec_dot_avx2, iq4_xs_gemm_avx2, &kIQ4_XSInterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::IQ4_XS,         DType::Q8_K,         Isa::AvxVnni,     iq4_xs_to_float_avx2,
      iq4_xs_from_float_ref, iq4_xs_vec_dot_avx2, iq4_xs_gemm_avx2, &kIQ4_XSInterleavedAvxVnni};
  // AVX-512 adds the packed prompt kernel; decode keeps the AVX2 dot.
  static constexpr QuantTraits kAvx512{
      DType::IQ4_XS,         DType::Q8_K,         Isa::Avx512Vnni,    iq4_xs_to_float_avx2,
      iq4_xs_from_float_ref, iq4_xs_vec_dot_avx2, iq4_xs_gemm_avx512, &kIQ4_XSInterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#elif defined(__aarch64__)
  // ARM64 has no IQ4_XS row kernels: the reference's, with the SDOT interleaved ones.
  static constexpr QuantTraits kNeonDot{
      DType::IQ4_XS,         DType::Q8_K,        Isa::NeonDot,    iq4_xs_to_float_ref,
      iq4_xs_from_float_ref, iq4_xs_vec_dot_ref, iq4_xs_gemm_ref, &kIQ4_XSInterleavedNeonDot};
  if (isa == Isa::NeonDot) return &kNeonDot;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
