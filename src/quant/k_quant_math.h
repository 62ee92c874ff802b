// What the K-quant formats (Q2_K .. Q6_K) share: super-blocks of 256 values, the rounding rule, the 6-bit
// scale/min packing of Q4_K and Q5_K, and the scale searches of the reference quantizers (the same algorithms
// as GGUF's reference quantizers without an importance matrix, so that quantizing a float model gives the same
// blocks as llama-quantize).
//
// The searches are computed in k_quant_math.cpp with every float operation rounded on its own (no fused
// multiply-add), as the reference quantizers are. The inline helpers below have internal linkage (see
// kernel_common.h for why).
#pragma once

#include <cmath>
#include <cstdint>

namespace ternion::quant {

constexpr int kQK_K = 256;  // values per super-block

namespace {

// Round to nearest, ties to even: the rule of GGUF's quantizers (a 1.5 * 2^23 trick there) for |v| < 2^22.
// Larger magnitudes saturate at +-2^22 and NaN gives 0, so no input makes the conversion undefined; every
// caller clamps the result to a small range afterwards.
inline int nearest_int(float v) {
  constexpr float kLimit = 4194304.0f;  // 2^22
  if (!(v > -kLimit)) return v != v ? 0 : -4194304;
  if (!(v < kLimit)) return 4194304;
  return static_cast<int>(std::nearbyint(v));
}

// Scale and min j (0..7) of the 12 packed bytes of Q4_K / Q5_K: bytes 0-3 hold the low 6 bits of scales 0-3
// (their top 2 bits: the high bits of scales 4-7), bytes 4-7 the same for mins; bytes 8-11 hold the low
// 4 bits of scale 4-7 (low nibble) and min 4-7 (high nibble).
inline void unpack_scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = static_cast<uint8_t>(q[j] & 63);
    *min = static_cast<uint8_t>(q[j + 4] & 63);
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace

// Dequantizes the 256 unpacked quants q of an asymmetric type (Q2_K, Q4_K, Q5_K):
// y[i] = dl[g] * q[i] - ml[g] for g = i / group_size, the product rounded before the subtraction, as GGUF's
// reference dequantizers compute it.
void dequantize_affine(const uint8_t* q, int group_size, const float* dl, const float* ml, float* y);

// Q6_K's group quantizer: levels l in [-nmax, nmax - 1] for n values, L = l + nmax. Starts from the scale
// that maps the value of largest magnitude to -nmax, then tries 18 nearby scales and keeps the one with the
// least weighted squared error (a least-squares scale for each); the weights are x^2 when `weights` is null
// (importance weights otherwise: Q3_K, Q4_0, Q5_0, Q6_K with an imatrix). Returns the scale (0 for an
// all-zero group).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* weights = nullptr);

// The asymmetric search of the importance-weighted quantizers (Q2_K, Q4_1, Q4_K, Q5_1, Q5_K with an imatrix):
// as make_qkx2_quants, but the first grid's error is the baseline every candidate must beat, and weights
// null means x^2.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);

// Levels in [0, nmax] for n non-negative values (the group scales or mins of a K-quant super-block) that
// minimise the weighted squared error: 9 candidate scales, then up to 5 passes moving one level at a time while
// the least-squares fit improves. Returns the scale (0 for an all-zero input). IQ2_XXS also passes one negative
// value: its starting level wraps to a byte (255), as in GGUF, and the identity depends on keeping that.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* weights);

// Q3_K's group quantizer: levels in [-nmax, nmax - 1], L = l + nmax; the starting levels are improved one at
// a time (up to 5 passes) while the x^2-weighted least-squares fit gets better. Returns the scale.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

// Asymmetric group quantizer of Q2_K, Q4_K and Q5_K: x ~ scale * L - the_min, L in [0, nmax]. Tries
// nstep + 1 grids (iscale = (nmax + rmin + rdelta * k) / (max - min)), fits scale and min by weighted least
// squares on each, and keeps the one with the least weighted error (absolute when use_mad, else squared).
// Laux is scratch of n bytes. Returns the scale; *the_min receives the (non-negative) min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad);

// The scale/min search shared by Q4_K (nmax 15, rmin -1, 20 steps) and Q5_K (nmax 31, rmin -0.5, 15 steps) for
// one super-block: per group of 32 a weighted asymmetric fit (weights: rms of the group + |x|), the 8 scales
// and 8 mins stored as 6 bits each relative to d and dmin (fp16), then every value re-quantized against the
// stored scales. Fills L[256] with levels in [0, nmax].
struct ScaleMinK4 {
  uint16_t d;          // scale of the scales, fp16
  uint16_t dmin;       // scale of the mins, fp16
  uint8_t scales[12];  // packed as unpack_scale_min_k4 reads them
};
ScaleMinK4 quantize_scale_min_k4(const float* x, int nmax, float rmin, int nstep, uint8_t* L);

// The same super-block search with importance weights qw[256] (Q4_K: nmax 15, Q5_K: nmax 31): per group of 32
// the weights qw * sqrt(sigma2 + x^2) (sigma2 = 2 * mean x^2), make_qkx3_quants for the group, then the 8
// scales and 8 mins quantized to 6 bits by make_qp_quants weighted by each group's weight sum.
ScaleMinK4 quantize_scale_min_k4_weighted(const float* x, int nmax, const float* qw, uint8_t* L);

}  // namespace ternion::quant
