// Pieces shared by the kernels of every type: unaligned loads,
// and a gemm made of single dots (what the reference records use).
//
// Everything here has internal linkage on purpose: the header is also included by *_avx512.cpp files, and an
// inline function with external linkage compiled there could be picked by the linker for baseline callers.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/float_lanes.h"  // kFloatLanes, reduce_lanes16: the float dots' reduction order
#include "core/prefetch.h"     // prefetch_bytes
#include "ternion/quant/quant.h"

namespace ternion::quant {
namespace {

template <typename T>
inline T load_unaligned(const void* base, int64_t index) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t*>(base) + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
inline void store_unaligned(void* base, int64_t index, T v) {
  std::memcpy(static_cast<uint8_t*>(base) + index * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

// Decode kernels that do much arithmetic per cache line (Q6_K, TQ2_0) leave the hardware prefetcher too few lines
// in flight: they ask for the lines kDecodePrefetchBytes ahead of what they dot. Asking for only the next
// super-block (1 KiB for TQ2_0) left TQ2_0 decode about 25 % slower (matmul_decode_dram in bench/bench_kernels.cpp);
// Q4_0 and Q8_0, with less work per line, gained nothing from it.
constexpr size_t kDecodePrefetchBytes = 8192;

using VecDotFn = void (*)(int64_t n, float* out, const void* w, const void* x);

// The gemm of a record that has no tiled kernel: one vec_dot per output (same bits by construction).
inline void gemm_with_vec_dot(VecDotFn vec_dot, int64_t n, const void* w, size_t w_stride, int64_t n_rows,
                              const void* x, size_t x_stride, int64_t n_tokens, float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) {
      vec_dot(n, out + t * ldo + r, wb + static_cast<size_t>(r) * w_stride, xb + static_cast<size_t>(t) * x_stride);
    }
  }
}

}  // namespace
}  // namespace ternion::quant
