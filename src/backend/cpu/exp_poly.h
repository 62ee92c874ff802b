// The exponential of softmax and SwiGLU, shared by the portable ops (ops.cpp) and their AVX-512 variants
// (ops_avx512.cpp): the same constants and the same operations, every multiply-add an explicit fma, so that
// every path gives the same bits whatever the compiler contracts.
//
// e^x for x in [-87, 88]: x = n ln2 + r with n the integer nearest x / ln2 (ln2 in two parts, so n ln2 loses
// nothing), e^r by its Taylor series to r^7 (|r| <= 0.35) in Horner form, and 2^n added into the exponent bits;
// within 2 ulp. Outside the range: 0 below kExpMin (and for -inf), +inf above kExpMax.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace ternion::exp_poly {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer, held in the low bits
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
// Taylor coefficients of e^r, highest power first: 1/7!, 1/6!, ..., 1/1!, 1/0!.
constexpr float kCoeffs[8] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                              1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
constexpr float kExpMin = -87.0f;  // below: e^x is under the smallest normal float, taken as 0
constexpr float kExpMax = 88.0f;   // above: e^x is near the largest float

// e^x for x in [-87, 88] (callers clamp), in plain float arithmetic that compilers vectorize.
inline float exp_in_range(float x) {
  const float t = std::fma(x, kLog2e, kRound);
  const float n = t - kRound;
  const float r = std::fma(-n, kLn2Lo, std::fma(-n, kLn2Hi, x));
  // Horner written out: with a loop over kCoeffs GCC 12 no longer vectorizes the loops that call this.
  float p = std::fma(kCoeffs[0], r, kCoeffs[1]);
  p = std::fma(p, r, kCoeffs[2]);
  p = std::fma(p, r, kCoeffs[3]);
  p = std::fma(p, r, kCoeffs[4]);
  p = std::fma(p, r, kCoeffs[5]);
  p = std::fma(p, r, kCoeffs[6]);
  p = std::fma(p, r, kCoeffs[7]);
  const uint32_t two_n = (std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(kRound)) << 23;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(p) + two_n);
}

// e^x: 0 below kExpMin (and for -inf and NaN), +inf above kExpMax. Computed for every x and then chosen by bit
// masks, with no branch or floating-point select (which trapping-math semantics keep from being vectorized), so
// loops over it vectorize; out-of-range lanes compute a value that is discarded.
inline float exp_or_limit(float x) {
  const uint32_t e = std::bit_cast<uint32_t>(exp_in_range(x));
  const uint32_t in_range = 0u - static_cast<uint32_t>(x >= kExpMin);  // all ones or zero
  const uint32_t above = 0u - static_cast<uint32_t>(x > kExpMax);
  return std::bit_cast<float>(((e & in_range) & ~above) | (std::bit_cast<uint32_t>(INFINITY) & above));
}

// tanh(x) = 1 - 2 / (e^2x + 1), within 2e-7 absolute; ±1 beyond ±44. Vectorizes like exp_or_limit.
inline float tanh_approx(float x) { return 1.0f - 2.0f / (exp_or_limit(2.0f * x) + 1.0f); }

}  // namespace ternion::exp_poly
