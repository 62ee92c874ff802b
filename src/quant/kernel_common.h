// Pieces shared by the kernels of every type: the fixed reduction order of the float dots, unaligned loads,
// and a gemm made of single dots (what the reference records use).
//
// Everything here has internal linkage on purpose: the header is also included by *_avx512.cpp files, and an
// inline function with external linkage compiled there could be picked by the linker for baseline callers.
#pragma once

#include <cstdint>
#include <cstring>

#include "ternion/quant/quant.h"

namespace ternion::quant {
namespace {

// Lanes of the float dots: element i is accumulated into lane i % kFloatLanes.
constexpr int kFloatLanes = 16;

// Adds the 16 lanes by halves: l + l+8, then l + l+4, l + l+2, l + l+1. Every SIMD float dot reduces in this
// order, so the scalar reference gives the same bits.
inline float reduce_lanes16(const float* acc) {
  float s8[8];
  for (int l = 0; l < 8; ++l) s8[l] = acc[l] + acc[l + 8];
  float s4[4];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  const float s2a = s4[0] + s4[2];
  const float s2b = s4[1] + s4[3];
  return s2a + s2b;
}

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
