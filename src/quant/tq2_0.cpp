// TQ2_0: the scalar reference kernels (the quantizer follows GGUF's reference, so files match byte for byte) and
// the trait records of every level.
#include "quant/tq2_0.h"

#include <cmath>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "quant/q8_k.h"
#include "quant/ternary_common.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

void tq2_0_unpack(const BlockTQ2_0& b, uint8_t* trits) {
  for (int g = 0; g < 2; ++g) {
    for (int l = 0; l < 4; ++l) {
      for (int m = 0; m < 32; ++m)
        trits[128 * g + 32 * l + m] = static_cast<uint8_t>((b.qs[32 * g + m] >> (2 * l)) & 3);
    }
  }
}

void tq2_0_to_float_ref(const void* src, float* dst, int64_t n) {
  uint8_t t[kTQ2_0BlockSize];
  for (int64_t i = 0; i < n / kTQ2_0BlockSize; ++i) {
    const auto b = load_unaligned<BlockTQ2_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    tq2_0_unpack(b, t);
    for (int j = 0; j < kTQ2_0BlockSize; ++j) dst[i * kTQ2_0BlockSize + j] = static_cast<float>(t[j] - 1) * d;
  }
}

// d = max |x| (stored as fp16); each value becomes round(x / d) + 1 with the unrounded 1 / d.
void tq2_0_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kTQ2_0BlockSize; ++i) {
    const float* x = src + i * kTQ2_0BlockSize;
    const float d = ternary_absmax(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockTQ2_0 b{};
    b.d = fp32_to_fp16(d);
    for (int g = 0; g < 2; ++g) {
      for (int m = 0; m < 32; ++m) {
        int q = 0;
        for (int l = 0; l < 4; ++l) q |= (ternary_trit(x[128 * g + 32 * l + m], id) & 3) << (2 * l);
        b.qs[32 * g + m] = static_cast<uint8_t>(q);
      }
    }
    store_unaligned(dst, i, b);
  }
}

void tq2_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_ref<BlockTQ2_0, tq2_0_unpack>(n, out, w, x);
}

void tq2_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(tq2_0_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_K, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* tq2_0_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::TQ2_0,         DType::Q8_K,       Isa::Scalar,   tq2_0_to_float_ref,
                                    tq2_0_from_float_ref, tq2_0_vec_dot_ref, tq2_0_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::TQ2_0,         DType::Q8_K,        Isa::Avx2,       tq2_0_to_float_avx2,
                                     tq2_0_from_float_ref, tq2_0_vec_dot_avx2, tq2_0_gemm_avx2, &kTQ2_0InterleavedAvx2};
  // AVX-VNNI: the AVX2 row kernels with 256-bit VNNI interleaved ones.
  static constexpr QuantTraits kAvxVnni{
      DType::TQ2_0,         DType::Q8_K,        Isa::AvxVnni,    tq2_0_to_float_avx2,
      tq2_0_from_float_ref, tq2_0_vec_dot_avx2, tq2_0_gemm_avx2, &kTQ2_0InterleavedAvxVnni};
  // AVX-512 without VNNI: the AVX2 row kernels with 512-bit interleaved ones.
  static constexpr QuantTraits kAvx512{
      DType::TQ2_0,         DType::Q8_K,        Isa::Avx512,     tq2_0_to_float_avx2,
      tq2_0_from_float_ref, tq2_0_vec_dot_avx2, tq2_0_gemm_avx2, &kTQ2_0InterleavedAvx512};
  static constexpr QuantTraits kAvx512Vnni{
      DType::TQ2_0,         DType::Q8_K,          Isa::Avx512Vnni,   tq2_0_to_float_avx2,
      tq2_0_from_float_ref, tq2_0_vec_dot_avx512, tq2_0_gemm_avx512, &kTQ2_0InterleavedAvx512Vnni};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::AvxVnni) return &kAvxVnni;
  if (isa == Isa::Avx512) return &kAvx512;
  if (isa == Isa::Avx512Vnni) return &kAvx512Vnni;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::TQ2_0,         DType::Q8_K,        Isa::Neon,      tq2_0_to_float_neon,
                                     tq2_0_from_float_ref, tq2_0_vec_dot_neon, tq2_0_gemm_neon};
  static constexpr QuantTraits kNeonDot{DType::TQ2_0,         DType::Q8_K,
                                        Isa::NeonDot,         tq2_0_to_float_neon,
                                        tq2_0_from_float_ref, tq2_0_vec_dot_neon_dot,
                                        tq2_0_gemm_neon_dot,  &kTQ2_0InterleavedNeonDot};
  if (isa == Isa::Neon) return &kNeon;
  if (isa == Isa::NeonDot) return &kNeonDot;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
