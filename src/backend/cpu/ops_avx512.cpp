// AVX-512 softmax: the portable softmax (ops.cpp) sixteen lanes at a time, with the same operations in the same
// order (exp_poly.h, softmax_common.h), so the same bits; the tail of each pass is a masked register instead of
// scalar code.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/exp_poly.h"
#include "backend/cpu/softmax_common.h"
#include "core/float_lanes.h"

namespace ternion {

namespace {

// exp_or_limit of ops.cpp on 16 lanes: e^x in range, 0 below kExpMin and for NaN, +inf above kExpMax.
inline __m512 exp_or_limit16(__m512 x) {
  using namespace exp_poly;
  const __m512 round = _mm512_set1_ps(kRound);
  const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), round);
  const __m512 n = _mm512_sub_ps(t, round);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x));
  __m512 p = _mm512_set1_ps(kCoeffs[0]);
  for (int k = 1; k < 8; ++k) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kCoeffs[k]));
  const __m512i two_n = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(round)), 23);
  const __m512 e = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), two_n));
  const __mmask16 in_range = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpMin), _CMP_GE_OQ);
  const __mmask16 above = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpMax), _CMP_GT_OQ);
  return _mm512_mask_blend_ps(above, _mm512_maskz_mov_ps(in_range, e), _mm512_set1_ps(INFINITY));
}

inline __mmask16 first_lanes(int64_t count) { return static_cast<__mmask16>((1u << count) - 1); }

}  // namespace

void softmax_avx512(float* x, int64_t n, float scale) {
  if (n <= 0) return;
  const __m512 vscale = _mm512_set1_ps(scale);
  // Maximum: lane l over elements l mod 16 (MAXPS takes the second operand where unordered, as `larger` does).
  __m512 lanes = _mm512_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), vscale);
    _mm512_storeu_ps(x + i, v);
    lanes = _mm512_max_ps(lanes, v);
  }
  alignas(64) float lane[kFloatLanes];
  _mm512_store_ps(lane, lanes);
  float max = 0;
  if (!softmax_finish_max(x, i, n, scale, lane, &max)) return;
  // Exponentials and their 16-lane sums in one pass (the sum of a tail element goes to lane j - i, as there).
  const __m512 vmax = _mm512_set1_ps(max);
  __m512 sums = _mm512_setzero_ps();
  for (i = 0; i + kFloatLanes <= n; i += kFloatLanes) {
    const __m512 e = exp_or_limit16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
    _mm512_storeu_ps(x + i, e);
    sums = _mm512_add_ps(sums, e);
  }
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    const __m512 e = exp_or_limit16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
    _mm512_mask_storeu_ps(x + i, m, e);
    sums = _mm512_mask_add_ps(sums, m, sums, e);
  }
  _mm512_store_ps(lane, sums);
  const __m512 inv = _mm512_set1_ps(1.0f / reduce_lanes16(lane));
  for (i = 0; i + kFloatLanes <= n; i += kFloatLanes)
    _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
  if (i < n) {
    const __mmask16 m = first_lanes(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

}  // namespace ternion
