// Importance-weighted quantizers: what llama-quantize writes when given an importance matrix (one mean squared
// activation per input column). They weigh each value's rounding error by its column's importance, so that
// the columns that move the output most are kept most faithfully. Every search is the same as GGUF's weighted
// reference quantizers (same candidates, same float operations in the same order, no fused multiply-adds), so
// that a file written with an imatrix is byte-identical to llama-quantize's.
#pragma once

#include <cstdint>

#include "ternion/core/dtype.h"

namespace ternion::quant {

// Whether quantizing to `type` uses importance weights (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K, IQ4_NL, IQ4_XS,
// the i-quants IQ1_S .. IQ3_S; not Q8_0, the ternary or the float types, which GGUF quantizes the same with or
// without them).
bool takes_importance(DType type);

// Quantizes one row of n values (a multiple of the block size) with importance weights qw[n], the row's
// columns in order. Only for a type where takes_importance holds.
void quantize_row_weighted(DType type, const float* x, void* dst, int64_t n, const float* qw);

}  // namespace ternion::quant
