// Kernel tables for tensor types: how to dequantize, quantize and dot one row of each type. There is one
// trait record per type and instruction-set level; the best record for this CPU is picked once, at first use,
// from cpu_features(). Block layouts are bit-exact with GGUF (llama.cpp), so users keep their model files.
//
// Numerics (the scalar reference is the specification; every SIMD variant gives the same bits):
//  - F32 / F16 / BF16 dots: activations are first rounded to the weight type (RNE). Element i is accumulated
//    with fma into lane i % 16; the 16 lanes are then added by halves (l + l+8, then l + l+4, l + l+2, l + l+1).
//  - Q8_0 / Q4_0 dots (activations as Q8_0): per block the exact int32 sum of the 32 products; then, block by
//    block in order, sum = fma(float(isum), fp32(d_w) * fp32(d_x), sum), starting from +0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ternion/core/dtype.h"

namespace ternion {

// Instruction-set levels that have kernels of their own (cap_cpu_features in ternion/core/cpu_features.h names
// them). A binary holds records only for its own architecture (x86-64: Avx2 .. Avx512Vnni; ARM64: Neon, NeonDot,
// NeonI8mm).
// The x86-64 levels are not one chain: AvxVnni (AVX2 + VEX VPDPBUSD, Intel client CPUs) and Avx512 (F/BW/VL/DQ,
// no VNNI: Skylake-X) each extend Avx2, Avx512Vnni (Ice Lake, Zen 4) extends Avx512 and has no AVX-VNNI. A
// record is used only on a CPU that runs its level (isa_runs); where a type has none there, the next level
// down that the CPU runs serves (Avx512 CPUs run the Avx2 records of types without an Avx512 one).
enum class Isa : int {
  Scalar = 0,
  Avx2 = 1,
  AvxVnni = 2,
  Avx512 = 3,
  Avx512Vnni = 4,
  Neon = 5,
  NeonDot = 6,
  NeonI8mm = 7
};

// "scalar", "avx2", "avxvnni", "avx512", "avx512vnni", "neon", "neon_dot", "neon_i8mm" (the TERNION_ISA names).
std::string_view isa_name(Isa isa);

// The widest level this CPU runs (after the TERNION_ISA cap of cpu_features()).
Isa best_isa();

// Whether this CPU (after the cap) runs the kernels of a level.
bool isa_runs(Isa isa);

struct InterleavedKernels;  // ternion/quant/interleave.h

struct QuantTraits {
  DType type;
  DType vec_dot_type;  // what activations are converted to before the dot (F32→F32, F16→F16, Q4_0→Q8_0, ...)
  Isa isa;             // level of the fastest kernel in this record (some entries may reuse narrower ones)

  // Dequantizes / quantizes n elements (a multiple of the block size). No alignment needed.
  void (*to_float)(const void* src, float* dst, int64_t n);
  void (*from_float)(const float* src, void* dst, int64_t n);

  // vec_dot and gemm are null for a type that is only an activation form (Q8_K).
  // *out = one weight row (this type) · one activation row (vec_dot_type), n elements. For the float types
  // any n works (tails are handled), for block types n is a multiple of the block size.
  void (*vec_dot)(int64_t n, float* out, const void* w, const void* x);

  // A tile of dot products: out[t * ldo + r] = vec_dot(n, w + r * w_stride, x + t * x_stride) for r < n_rows,
  // t < n_tokens, bit-identical to the single vec_dot (strides in bytes, ldo in floats). The multi-row,
  // multi-token kernels behind it reuse each loaded weight for many tokens.
  void (*gemm)(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
               int64_t n_tokens, float* out, int64_t ldo);

  // The interleaved layout of this type at this level and its kernels (packed at load), or null where the type
  // keeps its file layout.
  const InterleavedKernels* interleaved = nullptr;
};

// The fastest kernels for this CPU. Throws ternion::Error naming the type when it has none
// ("tensor type Q5_K is not supported yet").
const QuantTraits& quant_traits(DType type);

// The scalar reference kernels (the specification the SIMD kernels are tested against).
const QuantTraits& quant_traits_reference(DType type);

bool has_quant_traits(DType type);

// Every kernel record of this type that the CPU can run, scalar first (tests and benchmarks compare them).
std::vector<const QuantTraits*> quant_traits_variants(DType type);

// Quantizes n elements of weights to `type` with the reference algorithm that GGUF files are written with
// (llama-quantize's), so re-quantizing a model reproduces those files. Differs from from_float only where the
// activation quantizer rounds differently (Q8_0 ties).
void quantize_weights(DType type, const float* src, void* dst, int64_t n);

// The same for one row of n weights with importance weights (an imatrix's mean squared activation of each of the
// row's columns, importance[n]), as llama-quantize writes it given an imatrix. Types for which
// quantize_takes_importance is false ignore the importance; null importance is the plain quantizer.
void quantize_weights(DType type, const float* src, void* dst, int64_t n, const float* importance);

// The same for n_rows consecutive rows of n weights (all weighed by the same importance), as one call of GGUF's
// quantizer: IQ1_S and IQ1_M carry a zero block's stale shift from row to row, so their bytes depend on how the
// rows are grouped (llama-quantize groups them as quantize_model does); every other type quantizes row by row.
void quantize_weights_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n, const float* importance);

// Whether a type's quantizer uses importance weights (Q4_0 .. Q5_1, Q2_K .. Q6_K, IQ4_NL, IQ4_XS, the i-quants).
bool quantize_takes_importance(DType type);

// Dequantizes a row of n elements of any supported type (embedding look-ups).
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// Vectorised fp16 <-> fp32 rows (any n, any alignment), bit-identical to fp16_to_fp32 / fp32_to_fp16.
void fp16_to_fp32_row(const uint16_t* src, float* dst, int64_t n);
void fp32_to_fp16_row(const float* src, uint16_t* dst, int64_t n);

}  // namespace ternion
