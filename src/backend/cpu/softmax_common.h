// What the portable softmax (ops.cpp) and its AVX-512 variant (ops_avx512.cpp) share besides the exponential
// (exp_poly.h): the end of the maximum pass, and the two entry points.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/float_lanes.h"

namespace ternion {
namespace {  // internal linkage: *_avx512.cpp files include this header too

// The end of softmax's maximum pass, the same in every path: the tail [i, n) scaled and taken one by one into
// lane 0 with std::max, then the largest of the 16 lanes. When that is -inf (every value masked) all n values
// become 0 and the result is false: nothing is left to do.
inline bool softmax_finish_max(float* x, int64_t i, int64_t n, float scale, float* lanes, float* max) {
  for (; i < n; ++i) {
    x[i] *= scale;
    lanes[0] = std::max(lanes[0], x[i]);
  }
  *max = *std::max_element(lanes, lanes + kFloatLanes);
  if (*max == -INFINITY) {
    std::fill(x, x + n, 0.0f);
    return false;
  }
  return true;
}

}  // namespace

// softmax_in_place (backend/ops.h) in portable code, and in AVX-512 where the CPU has it; the same bits.
void softmax_portable(float* x, int64_t n, float scale);
#if defined(__x86_64__)
void softmax_avx512(float* x, int64_t n, float scale);
#endif

}  // namespace ternion
