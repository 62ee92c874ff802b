// The exponential of softmax and SwiGLU, shared by the portable ops (ops.cpp) and their AVX-512 variants
// (ops_avx512.cpp): the same constants and the same operations, every multiply-add an explicit fma, so that
// every path gives the same bits whatever the compiler contracts.
//
// e^x for x in [-87, 88]: x = n ln2 + r with n the integer nearest x / ln2 (ln2 in two parts, so n ln2 loses
// nothing), e^r by its Taylor series to r^7 (|r| <= 0.35) in Horner form, and 2^n added into the exponent bits;
// within 2 ulp. Outside the range: 0 below kExpMin (and for -inf), +inf above kExpMax.
#pragma once

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

}  // namespace ternion::exp_poly
