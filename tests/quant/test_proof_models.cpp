// Ties the Coq proofs of proofs/ (see proofs/README.md) to the C++ they speak of. The proofs reason about
// models: each x86 instruction as a formula on integers (proofs/Simd.v), and each dot kernel as a sequence of
// those instructions. Here the same formulas, transcribed, are checked against the intrinsics on this CPU
// (exhaustively over every int8 x uint8 pair, every 16-bit word, every fp16 value), and every kernel of every tier
// this CPU runs is checked to give the proofs' integers on random and extreme blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/q4_0.h"
#include "quant/q4_k.h"
#include "quant/q8_0.h"
#include "quant/q8_k.h"
#include "quant/random_data.h"
#include "quant/tq1_0.h"
#include "quant/tq2_0.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ternion {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_K;
using quant::BlockQ8_0;
using quant::BlockQ8_K;
using quant::BlockTQ1_0;
using quant::BlockTQ2_0;

// ---- The models of proofs/Simd.v ----

// Two's complement wrap of z to `bits` bits (Simd.wrap).
int64_t wrap(int64_t z, int bits) {
  const int64_t m = int64_t{1} << bits;
  return ((z + m / 2) % m + m) % m - m / 2;
}
int64_t sat16(int64_t z) { return std::clamp<int64_t>(z, -32768, 32767); }
int64_t sign8(int64_t a, int64_t b) { return b < 0 ? wrap(-a, 8) : (b == 0 ? 0 : a); }
int64_t u8(int64_t z) { return ((z % 256) + 256) % 256; }
int64_t maddubs(int64_t u0, int64_t u1, int64_t s0, int64_t s1) { return sat16(u0 * s0 + u1 * s1); }
int64_t maddwd(int64_t a0, int64_t a1, int64_t b0, int64_t b1) { return wrap(a0 * b0 + a1 * b1, 32); }
int64_t dpbusd(int64_t acc, const int64_t* u, const int64_t* s) {
  return wrap(acc + u[0] * s[0] + u[1] * s[1] + u[2] * s[2] + u[3] * s[3], 32);
}

TEST(ProofModels, WrapSaturateAndSignTrick) {
  EXPECT_EQ(wrap(128, 8), -128);
  EXPECT_EQ(wrap(int64_t{1} << 31, 32), -(int64_t{1} << 31));
  EXPECT_EQ(sat16(40000), 32767);
  EXPECT_EQ(maddubs(255, 255, 127, 127), 32767);                           // Simd.maddubs_saturates
  EXPECT_EQ(maddwd(-32768, -32768, -32768, -32768), -(int64_t{1} << 31));  // the one pmaddwd wrap
  const int64_t uq[4] = {255, 255, 255, 255};
  const int64_t sq[4] = {127, 127, 127, 127};
  EXPECT_EQ(dpbusd(2147483647, uq, sq), int64_t{2147483647} + 4 * 255 * 127 - (int64_t{1} << 32));  // it wraps
  // Simd.abs_trick and Simd.sign_trick over their whole domain, and the x = -128 counterexample.
  for (int w = -128; w <= 127; ++w) {
    EXPECT_EQ(u8(sign8(w, w)), std::abs(w));
    for (int x = -127; x <= 127; ++x) ASSERT_EQ(u8(sign8(w, w)) * sign8(x, w), w * x) << w << " " << x;
  }
  EXPECT_NE(u8(sign8(-1, -1)) * sign8(-128, -1), 128);
  for (int w = -128; w <= 127; ++w) EXPECT_EQ(static_cast<uint8_t>(w) ^ 0x80, w + 128);  // Simd.xor80_offset
}

#if defined(__x86_64__)

// Every (a, b) byte pair through psignb against sign8.
__attribute__((target("avx2"))) void check_psignb() {
  for (int a = -128; a <= 127; ++a) {
    for (int b0 = -128; b0 <= 127; b0 += 32) {
      alignas(32) int8_t bv[32];
      alignas(32) int8_t out[32];
      for (int i = 0; i < 32; ++i) bv[i] = static_cast<int8_t>(b0 + i);
      const __m256i r = _mm256_sign_epi8(_mm256_set1_epi8(static_cast<char>(a)),
                                         _mm256_load_si256(reinterpret_cast<const __m256i*>(bv)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), r);
      for (int i = 0; i < 32; ++i) ASSERT_EQ(out[i], sign8(a, bv[i])) << a << " " << int{bv[i]};
    }
  }
}

// Every (u, s) pair (uint8 x int8) in the first product of a pmaddubsw lane, the second product from a set that
// makes the pair sum saturate both ways.
__attribute__((target("avx2"))) void check_pmaddubsw() {
  static const int kOther[][2] = {{0, 0}, {255, 127}, {255, -128}, {128, -127}, {1, 1}, {200, -100}, {255, 0}, {3, 2}};
  for (int u = 0; u <= 255; ++u) {
    for (int s0 = -128; s0 <= 127; s0 += 16) {
      alignas(32) uint8_t uv[32];
      alignas(32) int8_t sv[32];
      alignas(32) int16_t out[16];
      for (int l = 0; l < 16; ++l) {
        const int* o = kOther[l % 8];
        uv[2 * l] = static_cast<uint8_t>(u);
        sv[2 * l] = static_cast<int8_t>(s0 + l);
        uv[2 * l + 1] = static_cast<uint8_t>(o[0]);
        sv[2 * l + 1] = static_cast<int8_t>(o[1]);
      }
      const __m256i r = _mm256_maddubs_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(uv)),
                                             _mm256_load_si256(reinterpret_cast<const __m256i*>(sv)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), r);
      for (int l = 0; l < 16; ++l) {
        ASSERT_EQ(out[l], maddubs(uv[2 * l], uv[2 * l + 1], sv[2 * l], sv[2 * l + 1])) << u << " " << s0 + l;
      }
    }
  }
}

// pmaddwd on random int16 and on the extremes (the one wrap: -32768 * -32768 twice).
__attribute__((target("avx2"))) void check_pmaddwd(std::mt19937& rng) {
  std::uniform_int_distribution<int> any(-32768, 32767);
  for (int it = 0; it < 4096; ++it) {
    alignas(32) int16_t a[16];
    alignas(32) int16_t b[16];
    alignas(32) int32_t out[8];
    for (int i = 0; i < 16; ++i) {
      a[i] = static_cast<int16_t>(it < 8 ? (i % 2 ? -32768 : 32767) : any(rng));
      b[i] = static_cast<int16_t>(it < 4 ? -32768 : any(rng));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(out),
                       _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(a)),
                                         _mm256_load_si256(reinterpret_cast<const __m256i*>(b))));
    for (int l = 0; l < 8; ++l) ASSERT_EQ(out[l], maddwd(a[2 * l], a[2 * l + 1], b[2 * l], b[2 * l + 1]));
  }
}

// Every 16-bit word through the nibble unpacking of Q4Weights::load_values (Simd.nibbles).
__attribute__((target("avx2"))) void check_nibbles() {
  for (int v0 = 0; v0 < 65536; v0 += 8) {
    alignas(16) uint16_t w[8];
    alignas(16) uint8_t lo[16];
    alignas(16) uint8_t hi[16];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<uint16_t>(v0 + i);
    const __m128i q = _mm_load_si128(reinterpret_cast<const __m128i*>(w));
    const __m128i mask = _mm_set1_epi8(0x0f);
    _mm_store_si128(reinterpret_cast<__m128i*>(lo), _mm_and_si128(q, mask));
    _mm_store_si128(reinterpret_cast<__m128i*>(hi), _mm_and_si128(_mm_srli_epi16(q, 4), mask));
    for (int i = 0; i < 8; ++i) {
      const int v = v0 + i;
      ASSERT_EQ(lo[2 * i], (v % 256) % 16);
      ASSERT_EQ(lo[2 * i + 1], (v / 256) % 16);
      ASSERT_EQ(hi[2 * i], (v % 256) / 16);
      ASSERT_EQ(hi[2 * i + 1], (v / 256) / 16);
    }
  }
}

// Every (u, s) pair in the first product of a vpdpbusd lane, on top of accumulators near the int32 edges.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void check_vpdpbusd() {
  static const int32_t kAcc[4] = {0, 2147483647 - 100, -2147483647 - 1, 12345};
  for (int u = 0; u <= 255; ++u) {
    for (int s0 = -128; s0 <= 127; s0 += 16) {
      alignas(64) uint8_t uv[64];
      alignas(64) int8_t sv[64];
      alignas(64) int32_t acc[16];
      alignas(64) int32_t out[16];
      for (int l = 0; l < 16; ++l) {
        acc[l] = kAcc[l % 4];
        uv[4 * l] = static_cast<uint8_t>(u);
        sv[4 * l] = static_cast<int8_t>(s0 + l);
        for (int k = 1; k < 4; ++k) {
          uv[4 * l + k] = static_cast<uint8_t>(255 - 40 * k + l);
          sv[4 * l + k] = static_cast<int8_t>(l % 2 ? -128 : 127);
        }
      }
      _mm512_store_si512(out,
                         _mm512_dpbusd_epi32(_mm512_load_si512(acc), _mm512_load_si512(uv), _mm512_load_si512(sv)));
      for (int l = 0; l < 16; ++l) {
        int64_t uu[4];
        int64_t ss[4];
        for (int k = 0; k < 4; ++k) {
          uu[k] = uv[4 * l + k];
          ss[k] = sv[4 * l + k];
        }
        ASSERT_EQ(out[l], dpbusd(acc[l], uu, ss)) << u << " " << s0 + l;
      }
    }
  }
}

// vpdpwssd (KQuants.dpwssd) on random int16 and the extremes, over accumulators near the int32 edges.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void check_vpdpwssd(std::mt19937& rng) {
  std::uniform_int_distribution<int> any(-32768, 32767);
  std::uniform_int_distribution<int32_t> acc32(-2147483647 - 1, 2147483647);
  for (int it = 0; it < 4096; ++it) {
    alignas(64) int16_t a[32];
    alignas(64) int16_t b[32];
    alignas(64) int32_t acc[16];
    alignas(64) int32_t out[16];
    for (int i = 0; i < 32; ++i) {
      a[i] = static_cast<int16_t>(it < 4 ? -32768 : any(rng));
      b[i] = static_cast<int16_t>(it < 4 ? -32768 : any(rng));
    }
    for (int l = 0; l < 16; ++l) acc[l] = acc32(rng);
    _mm512_store_si512(out, _mm512_dpwssd_epi32(_mm512_load_si512(acc), _mm512_load_si512(a), _mm512_load_si512(b)));
    for (int l = 0; l < 16; ++l) {
      ASSERT_EQ(out[l],
                wrap(int64_t{acc[l]} + int64_t{a[2 * l]} * b[2 * l] + int64_t{a[2 * l + 1]} * b[2 * l + 1], 32));
    }
  }
}

TEST(ProofModels, InstructionsMatchTheirModels) {
  if (!isa_runs(Isa::Avx2)) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(27);
  check_psignb();
  check_pmaddubsw();
  check_pmaddwd(rng);
  check_nibbles();
  if (isa_runs(Isa::Avx512Vnni)) {
    check_vpdpbusd();
    check_vpdpwssd(rng);
  }
}

// F16C's conversion (the AVX2/AVX-512 quantizers store scales with it) is fp32_to_fp16.
__attribute__((target("avx2,f16c"))) uint16_t f16c(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

#endif  // __x86_64__

// ---- fp16: every value decodes to its exact value; fp32 -> fp16 is round-to-nearest-even ----

double half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  const double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -v : v;
}

TEST(ProofModels, EveryHalfConvertsExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto hh = static_cast<uint16_t>(h);
    const int exp = (h >> 10) & 0x1f;
    const float f = fp16_to_fp32(hh);
    if (exp == 31) {
      EXPECT_TRUE((h & 0x3ff) ? std::isnan(f) : std::isinf(f)) << h;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), half_value(hh)) << h;
    ASSERT_EQ(fp32_to_fp16(f), hh) << h;   // representable values round to themselves
    if ((h & 0x7fff) == 0x7bff) continue;  // the largest finite half: no next one
    // The midpoint to the next half away from zero goes to the even one of the two; just inside goes to the
    // nearer one.
    const double next = half_value(static_cast<uint16_t>(h + 1));
    const double mid = (half_value(hh) + next) / 2;
    const auto even = static_cast<uint16_t>((h & 1) ? h + 1 : h);
    ASSERT_EQ(fp32_to_fp16(static_cast<float>(mid)), even) << h;
    const float below = std::nextafter(static_cast<float>(mid), 0.0f);
    const float above = std::nextafter(static_cast<float>(mid), static_cast<float>(2 * next));
    ASSERT_EQ(fp32_to_fp16(below), hh) << h;
    ASSERT_EQ(fp32_to_fp16(above), static_cast<uint16_t>(h + 1)) << h;
#if defined(__x86_64__)
    if (isa_runs(Isa::Avx2)) {
      ASSERT_EQ(f16c(static_cast<float>(mid)), even) << h;
      ASSERT_EQ(f16c(below), hh) << h;
      ASSERT_EQ(f16c(above), static_cast<uint16_t>(h + 1)) << h;
    }
#endif
  }
}

// ---- The kernels give the proofs' integers ----

// Every level this CPU runs (the proofs model the x86 forms; the NEON ones are held to the same integers).
std::vector<Isa> tiers() {
  std::vector<Isa> out;
  for (Isa isa :
       {Isa::Scalar, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon, Isa::NeonDot, Isa::NeonI8mm}) {
    if (isa == Isa::Scalar || isa_runs(isa)) out.push_back(isa);
  }
  return out;
}

constexpr uint16_t kHalfOne = 0x3c00;

// int8 values that favour the edges of the domain.
int edge_int8(std::mt19937& rng, int lo, int hi) {
  const int k = std::uniform_int_distribution<int>(0, 5)(rng);
  if (k == 0) return lo;
  if (k == 1) return hi;
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

// Runs vec_dot on row 0 x token 0 and gemm on every row x token; out must equal expected[t * n_rows + r] exactly.
void check_dots(const QuantTraits& tr, int64_t n, const std::vector<uint8_t>& w, size_t w_stride, int64_t n_rows,
                const std::vector<uint8_t>& x, size_t x_stride, int64_t n_tokens, const std::vector<float>& expected) {
  float one = 0.0f;
  tr.vec_dot(n, &one, w.data(), x.data());
  ASSERT_EQ(one, expected[0]) << isa_name(tr.isa) << " vec_dot";
  std::vector<float> out(static_cast<size_t>(n_rows * n_tokens), NAN);
  tr.gemm(n, w.data(), w_stride, n_rows, x.data(), x_stride, n_tokens, out.data(), n_rows);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], expected[i]) << isa_name(tr.isa) << " gemm " << i;
}

// Q8_0 weights (any int8, -128 included) or Q4_0 weights (nibble - 8), Q8_0 activations in [-127, 127] (what the
// quantizer gives: see Q8_0QuantizerStaysInsideTheSignTrickDomain), all scales 1.0: each output is the exact
// integer dot (Kernels.q8_0_dot_sign_trick, Kernels.offset_block; the float sums stay below 2^24).
template <class WBlock>
void check_legacy(const QuantTraits* (*traits)(Isa), bool q4, std::mt19937& rng) {
  const int64_t nb = 9;
  const int64_t n = 32 * nb;
  const int64_t rows = 17;
  const int64_t tokens = 11;
  std::vector<uint8_t> w(sizeof(WBlock) * static_cast<size_t>(nb * rows));
  std::vector<uint8_t> x(sizeof(BlockQ8_0) * static_cast<size_t>(nb * tokens));
  std::vector<int> wv(static_cast<size_t>(n * rows));
  std::vector<int> xv(static_cast<size_t>(n * tokens));
  for (int64_t b = 0; b < nb * rows; ++b) {
    WBlock blk{};
    blk.d = kHalfOne;
    for (int j = 0; j < 32; ++j) {
      const int v = q4 ? edge_int8(rng, -8, 7) : edge_int8(rng, -128, 127);
      wv[static_cast<size_t>(b * 32 + j)] = v;
      if constexpr (sizeof(WBlock) == sizeof(BlockQ8_0)) {
        blk.qs[j] = static_cast<int8_t>(v);
      } else {
        blk.qs[j % 16] =
            static_cast<uint8_t>(j < 16 ? (blk.qs[j % 16] & 0xf0) | (v + 8) : (blk.qs[j % 16] & 0x0f) | ((v + 8) << 4));
      }
    }
    std::memcpy(w.data() + b * sizeof(WBlock), &blk, sizeof(WBlock));
  }
  for (int64_t b = 0; b < nb * tokens; ++b) {
    BlockQ8_0 blk{};
    blk.d = kHalfOne;
    for (int j = 0; j < 32; ++j) {
      const int v = edge_int8(rng, -127, 127);
      xv[static_cast<size_t>(b * 32 + j)] = v;
      blk.qs[j] = static_cast<int8_t>(v);
    }
    std::memcpy(x.data() + b * sizeof(BlockQ8_0), &blk, sizeof(BlockQ8_0));
  }
  std::vector<float> expected(static_cast<size_t>(rows * tokens));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int64_t isum = 0;
        for (int j = 0; j < 32; ++j)
          isum +=
              int64_t{wv[static_cast<size_t>((r * nb + b) * 32 + j)]} * xv[static_cast<size_t>((t * nb + b) * 32 + j)];
        ASSERT_LE(std::abs(isum), 32 * 128 * 127);
        sum = std::fma(static_cast<float>(isum), 1.0f, sum);
      }
      expected[static_cast<size_t>(t * rows + r)] = sum;
    }
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = traits(isa);
    if (tr == nullptr) continue;
    check_dots(*tr, n, w, sizeof(WBlock) * nb, rows, x, sizeof(BlockQ8_0) * nb, tokens, expected);
  }
}

TEST(ProofModels, Q8_0AndQ4_0DotsGiveTheExactIntegers) {
  std::mt19937 rng(270);
  for (int rep = 0; rep < 4; ++rep) {
    check_legacy<BlockQ8_0>(quant::q8_0_traits, false, rng);
    check_legacy<BlockQ4_0>(quant::q4_0_traits, true, rng);
  }
}

// The sign trick needs activations in [-127, 127]. The Q8_0 quantizers of every level give -128 only in blocks
// whose fp16 scale is 0 (|x| so small that 1/d overflows), where every product is multiplied by 0 anyway.
TEST(ProofModels, Q8_0QuantizerStaysInsideTheSignTrickDomain) {
  std::mt19937 rng(271);
  std::vector<float> src = test::random_floats(rng, 32 * 4096);
  // Blocks at the edges: the largest floats, subnormals, a single nonzero, values just below the scale's edge.
  const float edges[] = {3.4e38f, -3.4e38f, 1e-40f, -1e-45f, 6e-8f, 3e-8f, 65504.0f * 127, -1.0f, 127.0f};
  for (size_t e = 0; e < std::size(edges); ++e) {
    for (int j = 0; j < 32; ++j) src[e * 32 + j] = j == 5 ? edges[e] : (j % 3 == 0 ? -edges[e] * 0.999f : 0.0f);
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = quant::q8_0_traits(isa);
    if (tr == nullptr) continue;
    std::vector<BlockQ8_0> q(src.size() / 32);
    tr->from_float(src.data(), q.data(), static_cast<int64_t>(src.size()));
    for (const BlockQ8_0& b : q) {
      if (fp16_to_fp32(b.d) == 0.0f) continue;
      for (int j = 0; j < 32; ++j) ASSERT_GE(b.qs[j], -127) << isa_name(isa);
    }
  }
}

// Dequant.q8_0_dequant: for 2^-20 <= amax <= 65504 * 127, every value comes back within
// d / 2 + 128 |fp16(d) - d| + d / 8192 of itself, d = amax / 127 (fp32), and |q| <= 127.
TEST(ProofModels, Q8_0RoundTripWithinTheProvenBound) {
  std::mt19937 rng(274);
  std::uniform_real_distribution<double> mag(-20.0, 22.9);  // log2 of the block's scale
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> src(32 * 4096);
  for (size_t b = 0; b < src.size() / 32; ++b) {
    const float scale = static_cast<float>(std::exp2(mag(rng)));
    for (int j = 0; j < 32; ++j) src[b * 32 + j] = normal(rng) * scale;
    if (b % 5 == 0) src[b * 32 + b % 32] = (b % 2 ? -1.0f : 1.0f) * scale * 4;  // one value at the edge
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = quant::q8_0_traits(isa);
    if (tr == nullptr) continue;
    std::vector<BlockQ8_0> q(src.size() / 32);
    std::vector<float> back(src.size());
    tr->from_float(src.data(), q.data(), static_cast<int64_t>(src.size()));
    tr->to_float(q.data(), back.data(), static_cast<int64_t>(src.size()));
    int checked = 0;
    for (size_t b = 0; b < q.size(); ++b) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[b * 32 + j]));
      if (amax < std::ldexp(1.0f, -20) || amax > 65504.0f * 127) continue;
      const double d = amax / 127.0f;
      const double d16 = fp16_to_fp32(q[b].d);
      const double bound = d / 2 + 128 * std::fabs(d16 - d) + d / 8192;
      for (int j = 0; j < 32; ++j) {
        ASSERT_GE(q[b].qs[j], -127) << isa_name(isa);
        ASSERT_LE(std::fabs(double{back[b * 32 + j]} - src[b * 32 + j]), bound) << isa_name(isa) << " block " << b;
      }
      ++checked;
    }
    EXPECT_GT(checked, 3000);
  }
}

// Dequant.q4_0_dequant: for 2^-20 <= amax <= 65504 * 8, within d / 2 + 9 |fp16(d) - d| + d / 4096 of itself, d =
// amax / 8 (fp32), and within d + ... where the clamp to 15 may have acted.
TEST(ProofModels, Q4_0RoundTripWithinTheProvenBound) {
  std::mt19937 rng(276);
  std::uniform_real_distribution<double> mag(-20.0, 17.9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> src(32 * 4096);
  for (size_t b = 0; b < src.size() / 32; ++b) {
    const float scale = static_cast<float>(std::exp2(mag(rng)));
    for (int j = 0; j < 32; ++j) src[b * 32 + j] = normal(rng) * scale;
    if (b % 3 == 0) {  // both signs at the edge: one of them meets the clamp
      src[b * 32 + 3] = scale * 4;
      src[b * 32 + 20] = -scale * 4 * (b % 2 ? 1.0f : 0.9999999f);
    }
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = quant::q4_0_traits(isa);
    if (tr == nullptr) continue;
    std::vector<BlockQ4_0> q(src.size() / 32);
    std::vector<float> back(src.size());
    tr->from_float(src.data(), q.data(), static_cast<int64_t>(src.size()));
    tr->to_float(q.data(), back.data(), static_cast<int64_t>(src.size()));
    int clamped = 0;
    for (size_t b = 0; b < q.size(); ++b) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[b * 32 + j]));
      if (amax < std::ldexp(1.0f, -20) || amax > 65504.0f * 8) continue;
      const double d = amax / 8.0f;
      const double h = std::fabs(fp16_to_fp32(q[b].d));
      for (int j = 0; j < 32; ++j) {
        const int code = j < 16 ? q[b].qs[j] & 15 : q[b].qs[j - 16] >> 4;
        const double err = std::fabs(double{back[b * 32 + j]} - src[b * 32 + j]);
        const double bound = 9 * std::fabs(h - d) + d / 4096;
        if (err > d / 2 + bound) {
          ASSERT_EQ(code, 15) << isa_name(isa) << " block " << b << " element " << j;
          ASSERT_LE(err, d + bound) << isa_name(isa) << " block " << b << " element " << j;
          ++clamped;
        }
      }
    }
    EXPECT_GT(clamped, 100) << "the clamped edge was not reached";
  }
}

// Dequant.ternary_exact and Ternary.tq1_0_codec / tq2_0_codec: blocks of {-1, 0, 1} * s for fp16 values s of every
// binade (subnormal fp16 included) come back exactly, through every level's kernels.
template <class Block>
void check_ternary_exact(const QuantTraits* (*traits)(Isa), std::mt19937& rng) {
  std::uniform_int_distribution<int> trit(-1, 1);
  std::uniform_int_distribution<int> half(1, 0x7bff);  // every positive finite fp16
  std::vector<float> src(256 * 512);
  for (size_t b = 0; b < src.size() / 256; ++b) {
    const float s = fp16_to_fp32(static_cast<uint16_t>(b == 0 ? 1 : (b == 1 ? 0x7bff : half(rng))));
    for (int j = 0; j < 256; ++j) src[b * 256 + j] = static_cast<float>(trit(rng)) * s;
    src[b * 256 + b % 256] = s;  // amax = s
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = traits(isa);
    if (tr == nullptr) continue;
    std::vector<Block> q(src.size() / 256);
    std::vector<float> back(src.size());
    tr->from_float(src.data(), q.data(), static_cast<int64_t>(src.size()));
    tr->to_float(q.data(), back.data(), static_cast<int64_t>(src.size()));
    for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(back[i], src[i]) << isa_name(isa) << " " << i;
  }
}

TEST(ProofModels, TernaryWeightsRoundTripExactly) {
  std::mt19937 rng(275);
  check_ternary_exact<BlockTQ1_0>(quant::tq1_0_traits, rng);
  check_ternary_exact<BlockTQ2_0>(quant::tq2_0_traits, rng);
}

// Q8_K activations: any int8 (-128 included), d = 1, bsums the group sums (as q8_k_from_float writes them).
std::vector<uint8_t> random_q8_k(std::mt19937& rng, int64_t nb, std::vector<int>& xv) {
  std::vector<uint8_t> x(sizeof(BlockQ8_K) * static_cast<size_t>(nb));
  xv.assign(static_cast<size_t>(256 * nb), 0);
  for (int64_t b = 0; b < nb; ++b) {
    BlockQ8_K blk{};
    blk.d = 1.0f;
    for (int j = 0; j < 256; ++j) {
      const int v = edge_int8(rng, -128, 127);
      xv[static_cast<size_t>(b * 256 + j)] = v;
      blk.qs[j] = static_cast<int8_t>(v);
      blk.bsums[j / 16] = static_cast<int16_t>(blk.bsums[j / 16] + v);
    }
    std::memcpy(x.data() + b * sizeof(BlockQ8_K), &blk, sizeof(BlockQ8_K));
  }
  return x;
}

// Scale and min of group g from the 12 packed bytes, as GGUF defines them.
void scale_min(const uint8_t* s, int g, int* sc, int* m) {
  if (g < 4) {
    *sc = s[g] & 63;
    *m = s[g + 4] & 63;
  } else {
    *sc = (s[g + 4] & 0xf) | ((s[g - 4] >> 6) << 4);
    *m = (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
  }
}

// Q4_K x Q8_K: isum = sum_g sc_g * dot_g and msum = sum_g m_g * (bsum_2g + bsum_2g+1), every scale and min 0..63,
// every nibble; the kernels' floats are the reference's fma(isum) then fma(-msum) (KQuants.kq_isum_exact).
TEST(ProofModels, Q4_KDotsGiveTheExactIntegers) {
  std::mt19937 rng(272);
  const int64_t nb = 3;
  const int64_t rows = 17;  // 16 rows and 8 tokens reach the packed VNNI gemm
  const int64_t tokens = 9;
  std::vector<int> xv;
  const std::vector<uint8_t> x = random_q8_k(rng, nb * tokens, xv);
  std::vector<uint8_t> w(sizeof(BlockQ4_K) * static_cast<size_t>(nb * rows));
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t b = 0; b < nb * rows; ++b) {
    BlockQ4_K blk{};
    blk.d = kHalfOne;
    blk.dmin = kHalfOne;
    for (uint8_t& s : blk.scales) s = static_cast<uint8_t>(b == 0 ? 255 : byte(rng));  // block 0: all 63
    for (uint8_t& q : blk.qs) q = static_cast<uint8_t>(b == 0 ? 255 : byte(rng));
    std::memcpy(w.data() + b * sizeof(BlockQ4_K), &blk, sizeof(BlockQ4_K));
  }
  std::vector<float> expected(static_cast<size_t>(rows * tokens));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        BlockQ4_K blk;
        std::memcpy(&blk, w.data() + (r * nb + b) * sizeof(BlockQ4_K), sizeof(blk));
        BlockQ8_K xb;
        std::memcpy(&xb, x.data() + (t * nb + b) * sizeof(BlockQ8_K), sizeof(xb));
        int64_t isum = 0;
        int64_t msum = 0;
        for (int g = 0; g < 8; ++g) {
          int sc = 0;
          int m = 0;
          scale_min(blk.scales, g, &sc, &m);
          int64_t gs = 0;
          for (int l = 0; l < 32; ++l) {
            const int q = g % 2 == 0 ? blk.qs[32 * (g / 2) + l] & 15 : blk.qs[32 * (g / 2) + l] >> 4;
            gs += int64_t{q} * xb.qs[32 * g + l];
          }
          isum += sc * gs;
          msum += m * (int64_t{xb.bsums[2 * g]} + xb.bsums[2 * g + 1]);
        }
        ASSERT_LE(std::abs(isum), 8 * 63 * 32 * 15 * 128);
        sum = std::fma(static_cast<float>(isum), 1.0f, sum);
        sum = std::fma(static_cast<float>(-msum), 1.0f, sum);
      }
      expected[static_cast<size_t>(t * rows + r)] = sum;
    }
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = quant::q4_k_traits(isa);
    if (tr == nullptr) continue;
    check_dots(*tr, 256 * nb, w, sizeof(BlockQ4_K) * nb, rows, x, sizeof(BlockQ8_K) * nb, tokens, expected);
  }
}

// TQ2_0 x Q8_K: trits 0..3 (3 only from a damaged file), the result sum (t - 1) * x (Ternary.tq_avx2_block_ref,
// Ternary.tq_vnni_lane).
TEST(ProofModels, TQ2_0DotsGiveTheExactIntegers) {
  std::mt19937 rng(273);
  const int64_t nb = 3;
  const int64_t rows = 19;
  const int64_t tokens = 9;
  std::vector<int> xv;
  const std::vector<uint8_t> x = random_q8_k(rng, nb * tokens, xv);
  std::vector<uint8_t> w(sizeof(BlockTQ2_0) * static_cast<size_t>(nb * rows));
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t b = 0; b < nb * rows; ++b) {
    BlockTQ2_0 blk{};
    blk.d = kHalfOne;
    for (uint8_t& q : blk.qs) q = static_cast<uint8_t>(b % 7 == 0 ? 0xff : byte(rng));  // some blocks all 3
    std::memcpy(w.data() + b * sizeof(BlockTQ2_0), &blk, sizeof(BlockTQ2_0));
  }
  std::vector<float> expected(static_cast<size_t>(rows * tokens));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* qs = w.data() + (r * nb + b) * sizeof(BlockTQ2_0);
        int64_t isum = 0;
        for (int j = 0; j < 256; ++j) {
          const int trit = (qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3;
          isum += int64_t{trit - 1} * xv[static_cast<size_t>((t * nb + b) * 256 + j)];
        }
        sum = std::fma(static_cast<float>(isum), 1.0f, sum);
      }
      expected[static_cast<size_t>(t * rows + r)] = sum;
    }
  }
  for (Isa isa : tiers()) {
    const QuantTraits* tr = quant::tq2_0_traits(isa);
    if (tr == nullptr) continue;
    check_dots(*tr, 256 * nb, w, sizeof(BlockTQ2_0) * nb, rows, x, sizeof(BlockQ8_K) * nb, tokens, expected);
  }
}

}  // namespace
}  // namespace ternion
