// Q8_K quantization of activations for AVX2: the same bytes as q8_k_from_float_ref (see q8_k.h).
#include <immintrin.h>

#include <cstring>

#include "quant/k_quant_math.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// v[j] (8 lanes each) -> lane j = the sum of v[j]'s lanes.
inline __m256i sum_lanes8(const __m256i* v) {
  const __m256i t0 = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i t1 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i t2 = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i t3 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i u0 = _mm256_hadd_epi32(t0, t1);
  const __m256i u1 = _mm256_hadd_epi32(t2, t3);
  return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

}  // namespace

void q8_k_from_float_avx2(const float* src, void* dst, int64_t n) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    auto* out = static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(BlockQ8_K));
    // The largest magnitude; max(a, m) returns m when a is NaN, so NaN is skipped as in the reference.
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K; j += 8) vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), vmax);
    const float amax = hmax8(vmax);
    if (amax == 0.0f) {
      std::memset(out, 0, sizeof(BlockQ8_K));
      continue;
    }
    // Its first occurrence keeps its sign.
    float max = 0.0f;
    const __m256 target = _mm256_set1_ps(amax);
    for (int j = 0; j < kQK_K; j += 8) {
      const int hit =
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), target, _CMP_EQ_OQ));
      if (hit != 0) {
        max = x[j + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 vscale = _mm256_set1_ps(iscale);
    const __m256 lo = _mm256_set1_ps(-128.0f);
    const __m256 hi = _mm256_set1_ps(127.0f);
    __m256i v[32];
    for (int k = 0; k < 32; ++k) {
      __m256 p = _mm256_mul_ps(vscale, _mm256_loadu_ps(x + 8 * k));
      p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));  // NaN -> 0
      p = _mm256_min_ps(_mm256_max_ps(p, lo), hi);
      v[k] = _mm256_cvtps_epi32(p);  // round half to even
    }
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int k = 0; k < 32; k += 4) {
      const __m256i ab = _mm256_packs_epi32(v[k], v[k + 1]);
      const __m256i cd = _mm256_packs_epi32(v[k + 2], v[k + 3]);
      const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 4 + 8 * k), q);
    }
    __m256i g[16];
    for (int k = 0; k < 16; ++k) g[k] = _mm256_add_epi32(v[2 * k], v[2 * k + 1]);
    const __m256i s0 = sum_lanes8(g);
    const __m256i s1 = sum_lanes8(g + 8);
    const __m256i sums = _mm256_permute4x64_epi64(_mm256_packs_epi32(s0, s1), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 260), sums);
    const float d = 1.0f / iscale;
    std::memcpy(out, &d, 4);
  }
}

}  // namespace ternion::quant
