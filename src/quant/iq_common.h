// Pieces shared by the low-bit i-quants (iq1.h, iq2.h, iq3.h): the row gemm of a dot, and the records.
//
// Internal linkage on purpose (see kernel_common.h): this header is also included by ISA-flagged files.
#pragma once

#include "quant/kernel_common.h"
#include "ternion/quant/quant.h"

namespace ternion::quant {
namespace {

// The gemm of a record: one dot per output (the tiled kernels of other types are not written for these yet).
template <VecDotFn Dot>
void iq_gemm(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
             int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(Dot, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// A record of an i-quant at one level: the reference dequantizer (not a hot path: embeddings only), the quantizer
// from float where the type has one without an importance matrix (else null: quantize_weights reports the type
// as unsupported), the level's dot.
template <DType Type, Isa Level, VecDotFn Dot>
constexpr QuantTraits iq_record(void (*to_float)(const void*, float*, int64_t),
                                void (*from_float)(const float*, void*, int64_t) = nullptr) {
  return QuantTraits{Type, DType::Q8_K, Level, to_float, from_float, Dot, iq_gemm<Dot>};
}

}  // namespace
}  // namespace ternion::quant
