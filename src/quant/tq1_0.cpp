// TQ1_0: the scalar reference kernels (the quantizer follows GGUF's reference, so files match byte for byte) and
// the trait records of every level.
#include "quant/tq1_0.h"

#include <cmath>

#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "quant/q8_k.h"
#include "quant/ternary_common.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kPow3[5] = {1, 3, 9, 27, 81};

// Trit k (0 = most significant) of a byte holding five.
inline uint8_t trit_of(uint8_t byte, int k) {
  const auto shifted = static_cast<uint8_t>(byte * kPow3[k]);  // drops the k leading trits (mod 256)
  return static_cast<uint8_t>((shifted * 3) >> 8);
}

// Packs trits (most significant first) into a byte that trit_of decodes: ceil(q * 256 / 243). Four trits are
// shifted up one place first, so their fifth (last) trit is 0.
inline uint8_t pack_trits(const int* t, int count) {
  uint8_t q = 0;
  for (int k = 0; k < count; ++k) q = static_cast<uint8_t>(q * 3 + t[k]);
  if (count == 4) q = static_cast<uint8_t>(q * 3);
  return static_cast<uint8_t>((q * 256 + 242) / 243);
}

}  // namespace

void tq1_0_unpack(const BlockTQ1_0& b, uint8_t* trits) {
  for (int k = 0; k < 5; ++k) {
    for (int m = 0; m < 32; ++m) trits[32 * k + m] = trit_of(b.qs[m], k);
    for (int m = 0; m < 16; ++m) trits[160 + 16 * k + m] = trit_of(b.qs[32 + m], k);
  }
  for (int k = 0; k < 4; ++k) {
    for (int j = 0; j < 4; ++j) trits[240 + 4 * k + j] = trit_of(b.qh[j], k);
  }
}

void tq1_0_to_float_ref(const void* src, float* dst, int64_t n) {
  uint8_t t[kTQ1_0BlockSize];
  for (int64_t i = 0; i < n / kTQ1_0BlockSize; ++i) {
    const auto b = load_unaligned<BlockTQ1_0>(src, i);
    const float d = fp16_to_fp32(b.d);
    tq1_0_unpack(b, t);
    for (int j = 0; j < kTQ1_0BlockSize; ++j) dst[i * kTQ1_0BlockSize + j] = static_cast<float>(t[j] - 1) * d;
  }
}

// d = max |x| (stored as fp16); each value becomes round(x / d) + 1 with the unrounded 1 / d.
void tq1_0_from_float_ref(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kTQ1_0BlockSize; ++i) {
    const float* x = src + i * kTQ1_0BlockSize;
    const float d = ternary_absmax(x);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockTQ1_0 b{};
    b.d = fp32_to_fp16(d);
    int t[5];
    for (int m = 0; m < 32; ++m) {
      for (int k = 0; k < 5; ++k) t[k] = ternary_trit(x[32 * k + m], id);
      b.qs[m] = pack_trits(t, 5);
    }
    for (int m = 0; m < 16; ++m) {
      for (int k = 0; k < 5; ++k) t[k] = ternary_trit(x[160 + 16 * k + m], id);
      b.qs[32 + m] = pack_trits(t, 5);
    }
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 4; ++k) t[k] = ternary_trit(x[240 + 4 * k + j], id);
      b.qh[j] = pack_trits(t, 4);
    }
    store_unaligned(dst, i, b);
  }
}

void tq1_0_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_ref<BlockTQ1_0, tq1_0_unpack>(n, out, w, x);
}

void tq1_0_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(tq1_0_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_K, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* tq1_0_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::TQ1_0,         DType::Q8_K,       Isa::Scalar,   tq1_0_to_float_ref,
                                    tq1_0_from_float_ref, tq1_0_vec_dot_ref, tq1_0_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::TQ1_0,         DType::Q8_K,        Isa::Avx2,      tq1_0_to_float_avx2,
                                     tq1_0_from_float_ref, tq1_0_vec_dot_avx2, tq1_0_gemm_avx2};
  static constexpr QuantTraits kAvx512{DType::TQ1_0,        DType::Q8_K,          Isa::Avx512Vnni,
                                       tq1_0_to_float_avx2, tq1_0_from_float_ref, tq1_0_vec_dot_avx512,
                                       tq1_0_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#elif defined(__aarch64__)
  static constexpr QuantTraits kNeon{DType::TQ1_0,         DType::Q8_K,        Isa::Neon,      tq1_0_to_float_neon,
                                     tq1_0_from_float_ref, tq1_0_vec_dot_neon, tq1_0_gemm_neon};
  static constexpr QuantTraits kNeonDot{DType::TQ1_0,        DType::Q8_K,          Isa::NeonDot,
                                        tq1_0_to_float_neon, tq1_0_from_float_ref, tq1_0_vec_dot_neon_dot,
                                        tq1_0_gemm_neon_dot};
  if (isa == Isa::Neon) return &kNeon;
  if (isa == Isa::NeonDot) return &kNeonDot;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
