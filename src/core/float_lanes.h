// The fixed order in which float sums over 16 lanes are reduced, shared by the dot kernels and softmax so that
// every SIMD path and its scalar reference give the same bits.
//
// Internal linkage on purpose: the header is also included by *_avx512.cpp files, and an inline function with
// external linkage compiled there could be picked by the linker for baseline callers.
#pragma once

namespace ternion {
namespace {

// Lanes of a float sum: element i is accumulated into lane i % kFloatLanes.
constexpr int kFloatLanes = 16;

// Adds the 16 lanes by halves: l + l+8, then l + l+4, l + l+2, l + l+1.
inline float reduce_lanes16(const float* acc) {
  float s8[8];
  for (int l = 0; l < 8; ++l) s8[l] = acc[l] + acc[l + 8];
  float s4[4];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  const float s2a = s4[0] + s4[2];
  const float s2b = s4[1] + s4[3];
  return s2a + s2b;
}

}  // namespace
}  // namespace ternion
