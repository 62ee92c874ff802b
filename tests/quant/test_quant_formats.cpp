// Block formats: the registry, hand-made blocks decoding to known values, an independent slow decoder, the
// quantizers' rounding rules and round-trip error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "quant/random_data.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

const DType kAllTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};

// Decodes an IEEE half without any library code (the test's own reading of the format).
double slow_half(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v = 0;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp == 31) {
    v = mant == 0 ? INFINITY : NAN;
  } else {
    v = std::ldexp(1024 + mant, exp - 25);
  }
  return sign ? -v : v;
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// GGUF Q8_0: 2 bytes of fp16 scale, 32 signed bytes.
std::vector<float> slow_decode_q8_0(const std::vector<uint8_t>& bytes) {
  std::vector<float> out;
  for (size_t b = 0; b + 34 <= bytes.size(); b += 34) {
    const double d = slow_half(le16(&bytes[b]));
    for (int j = 0; j < 32; ++j) out.push_back(static_cast<float>(static_cast<int8_t>(bytes[b + 2 + j]) * d));
  }
  return out;
}

// GGUF Q4_0: 2 bytes of fp16 scale, 16 bytes; element j is the low nibble of byte j, element j+16 the high one.
std::vector<float> slow_decode_q4_0(const std::vector<uint8_t>& bytes) {
  std::vector<float> out;
  for (size_t b = 0; b + 18 <= bytes.size(); b += 18) {
    const double d = slow_half(le16(&bytes[b]));
    float block[32];
    for (int j = 0; j < 16; ++j) {
      block[j] = static_cast<float>(((bytes[b + 2 + j] & 15) - 8) * d);
      block[j + 16] = static_cast<float>(((bytes[b + 2 + j] >> 4) - 8) * d);
    }
    out.insert(out.end(), block, block + 32);
  }
  return out;
}

TEST(QuantRegistry, KnownTypesHaveKernels) {
  for (DType t : kAllTypes) {
    EXPECT_TRUE(has_quant_traits(t));
    EXPECT_EQ(quant_traits(t).type, t);
    EXPECT_EQ(quant_traits_reference(t).isa, Isa::Scalar);
    const auto variants = quant_traits_variants(t);
    ASSERT_FALSE(variants.empty());
    EXPECT_EQ(variants.front()->isa, Isa::Scalar);
    EXPECT_EQ(variants.back(), &quant_traits(t));
  }
  EXPECT_EQ(quant_traits(DType::F32).vec_dot_type, DType::F32);
  EXPECT_EQ(quant_traits(DType::F16).vec_dot_type, DType::F16);
  EXPECT_EQ(quant_traits(DType::BF16).vec_dot_type, DType::F32);  // bf16 weights, f32 activations
  EXPECT_EQ(quant_traits(DType::Q8_0).vec_dot_type, DType::Q8_0);
  EXPECT_EQ(quant_traits(DType::Q4_0).vec_dot_type, DType::Q8_0);
  std::printf("best kernels: %s\n", std::string(isa_name(best_isa())).c_str());
}

TEST(QuantRegistry, UnsupportedTypeNamesIt) {
  EXPECT_FALSE(has_quant_traits(DType::Q8_1));
  try {
    (void)quant_traits(DType::Q8_1);
    FAIL() << "expected ternion::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "tensor type Q8_1 is not supported yet");
  }
  EXPECT_THROW((void)quant_traits_reference(DType::I64), Error);
}

TEST(QuantFormats, Q8_0KnownBlockDecodes) {
  uint8_t blk[34];
  blk[0] = 0x00;  // d = 0x3800 = 0.5
  blk[1] = 0x38;
  for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 127));
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_0)) {
    float out[32];
    tr->to_float(blk, out, 32);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], static_cast<float>(j * 8 - 127) * 0.5f) << isa_name(tr->isa);
  }
}

TEST(QuantFormats, Q4_0KnownBlockDecodes) {
  uint8_t blk[18];
  blk[0] = 0x00;  // d = 0xc000 = -2
  blk[1] = 0xc0;
  for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  for (const QuantTraits* tr : quant_traits_variants(DType::Q4_0)) {
    float out[32];
    tr->to_float(blk, out, 32);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(out[j], static_cast<float>(j - 8) * -2.0f) << isa_name(tr->isa);
      EXPECT_EQ(out[j + 16], static_cast<float>(7 - j) * -2.0f) << isa_name(tr->isa);
    }
  }
}

TEST(QuantFormats, FloatTypesKnownValuesDecode) {
  const uint16_t halves[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400, 0x7c00, 0x0000, 0x8000, 0x3555};
  const float half_values[] = {1.0f,     -2.0f, 65504.0f, 5.9604645e-8f, -6.1035156e-5f,
                               INFINITY, 0.0f,  -0.0f,    0.33325195f};
  const uint16_t bf[] = {0x3f80, 0xc000, 0x7f7f, 0x0001, 0xff80};
  const float bf_values[] = {1.0f, -2.0f, 3.3895314e38f, 9.1835e-41f, -INFINITY};
  for (const QuantTraits* tr : quant_traits_variants(DType::F16)) {
    float out[9];
    tr->to_float(halves, out, 9);
    for (int i = 0; i < 9; ++i) EXPECT_EQ(bits_of(out[i]), bits_of(half_values[i])) << i << isa_name(tr->isa);
  }
  for (const QuantTraits* tr : quant_traits_variants(DType::BF16)) {
    float out[5];
    tr->to_float(bf, out, 5);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(bits_of(out[i]), bits_of(bf_values[i])) << i << isa_name(tr->isa);
  }
}

TEST(QuantFormats, DequantizeMatchesSlowDecoder) {
  std::mt19937 rng(7);
  const int64_t nb = 97;
  const auto q8 = test::random_blocks(rng, nb, 34, test::random_finite_half);
  const auto q4 = test::random_blocks(rng, nb, 18, test::random_finite_half);
  const auto want8 = slow_decode_q8_0(q8);
  const auto want4 = slow_decode_q4_0(q4);
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_0)) {
    std::vector<float> out(nb * 32);
    tr->to_float(q8.data(), out.data(), nb * 32);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(bits_of(out[i]), bits_of(want8[i])) << i << isa_name(tr->isa);
  }
  for (const QuantTraits* tr : quant_traits_variants(DType::Q4_0)) {
    std::vector<float> out(nb * 32);
    tr->to_float(q4.data(), out.data(), nb * 32);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(bits_of(out[i]), bits_of(want4[i])) << i << isa_name(tr->isa);
  }
  std::vector<float> out(nb * 32);
  dequantize_row(DType::Q4_0, q4.data(), out.data(), nb * 32);
  EXPECT_EQ(bits_of(out[5]), bits_of(want4[5]));
}

// Ties round to even (llama.cpp's SIMD quantizers); roundf would give 1, 3, -1, -3.
TEST(QuantFormats, Q8_0RoundsTiesToEven) {
  float x[32] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.25f, -126.5f};
  const int8_t want[9] = {127, 0, 2, 2, 0, -2, -2, 3, -126};
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_0)) {
    uint8_t blk[34];
    tr->from_float(x, blk, 32);
    EXPECT_EQ(le16(blk), 0x3c00) << isa_name(tr->isa);  // d = 127 / 127 = 1
    for (int j = 0; j < 9; ++j) EXPECT_EQ(static_cast<int8_t>(blk[2 + j]), want[j]) << j << isa_name(tr->isa);
  }
}

// The value of largest magnitude keeps its sign and maps to nibble 0; x * id + 8.5 truncates.
TEST(QuantFormats, Q4_0QuantizesLikeLlamaCpp) {
  float x[32] = {};
  const float vals[] = {-8.0f, 7.0f, 7.9f, 0.5f, -0.5f, -0.6f, 0.0f, 3.49f};
  const int nibbles[] = {0, 15, 15, 9, 8, 7, 8, 11};
  for (int j = 0; j < 8; ++j) x[j] = vals[j];
  x[16] = 6.0f;
  const QuantTraits& tr = quant_traits(DType::Q4_0);
  uint8_t blk[18];
  tr.from_float(x, blk, 32);
  EXPECT_EQ(le16(blk), 0x3c00);  // d = -8 / -8 = 1
  for (int j = 0; j < 8; ++j) EXPECT_EQ(blk[2 + j] & 15, nibbles[j]) << j;
  EXPECT_EQ(blk[2] >> 4, 14);  // element 16 = 6 -> 14.5 -> 14
  // Positive maximum: d is negative.
  float y[32] = {};
  y[3] = 4.0f;
  y[4] = -1.0f;
  tr.from_float(y, blk, 32);
  EXPECT_EQ(le16(blk), fp32_to_fp16(-0.5f));
  EXPECT_EQ(blk[2 + 3] & 15, 0);
  EXPECT_EQ(blk[2 + 4] & 15, 10);
  // All zeros: d = 0 and every nibble 8.
  float z[32] = {};
  tr.from_float(z, blk, 32);
  EXPECT_EQ(le16(blk) & 0x7fff, 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(blk[2 + j], 0x88);
}

TEST(QuantFormats, Q8_0RoundTripWithinHalfAStep) {
  std::mt19937 rng(11);
  const int64_t n = 32 * 64;
  const auto x = test::normal_floats(rng, n, 2.0f);
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_0)) {
    std::vector<uint8_t> q(static_cast<size_t>(n / 32) * 34);
    std::vector<float> back(static_cast<size_t>(n));
    tr->from_float(x.data(), q.data(), n);
    tr->to_float(q.data(), back.data(), n);
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const float d = amax / 127;
      // half a step, plus what storing d as fp16 moves the largest value
      const float bound = d * (0.5f + 127.0f / 2048.0f) * 1.0001f;
      for (int j = 0; j < 32; ++j) ASSERT_LE(std::fabs(back[b * 32 + j] - x[b * 32 + j]), bound) << isa_name(tr->isa);
    }
  }
}

TEST(QuantFormats, Q4_0RoundTripWithinOneStep) {
  std::mt19937 rng(12);
  const int64_t n = 32 * 64;
  const auto x = test::normal_floats(rng, n, 0.1f);
  const QuantTraits& ref = quant_traits_reference(DType::Q4_0);
  std::vector<uint8_t> q(static_cast<size_t>(n / 32) * 18);
  ref.from_float(x.data(), q.data(), n);
  for (const QuantTraits* tr : quant_traits_variants(DType::Q4_0)) {
    std::vector<float> back(static_cast<size_t>(n));
    tr->to_float(q.data(), back.data(), n);
    double err2 = 0;
    double sig2 = 0;
    for (int64_t b = 0; b < n / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      const float d = amax / 8;
      // most values are within half a step; the far end of the opposite sign (+8 steps) clamps to 7
      const float bound = d * (1.0f + 8.0f / 2048.0f) * 1.0001f;
      for (int j = 0; j < 32; ++j) {
        const float e = std::fabs(back[b * 32 + j] - x[b * 32 + j]);
        ASSERT_LE(e, bound) << isa_name(tr->isa);
        err2 += double(e) * e;
        sig2 += double(x[b * 32 + j]) * x[b * 32 + j];
      }
    }
    EXPECT_LT(std::sqrt(err2 / sig2), 0.12) << "relative rms error of 4-bit quantization";
  }
}

TEST(QuantFormats, HalfAndBf16RoundTrips) {
  std::mt19937 rng(13);
  const auto x = test::normal_floats(rng, 1001, 10.0f);
  for (const QuantTraits* tr : quant_traits_variants(DType::F16)) {
    std::vector<uint16_t> h(x.size());
    std::vector<float> back(x.size());
    tr->from_float(x.data(), h.data(), 1001);
    tr->to_float(h.data(), back.data(), 1001);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) * 0x1p-11f + 0x1p-25f);
  }
  for (const QuantTraits* tr : quant_traits_variants(DType::BF16)) {
    std::vector<uint16_t> h(x.size());
    std::vector<float> back(x.size());
    tr->from_float(x.data(), h.data(), 1001);
    tr->to_float(h.data(), back.data(), 1001);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(std::fabs(back[i] - x[i]), std::fabs(x[i]) * 0x1p-8f);
  }
}

// Every half (signalling NaNs aside, which F16C quietens) converts like the scalar reference.
TEST(QuantFormats, Fp16RowConversionsAreExactEverywhere) {
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const bool signalling_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0 && (h & 0x200) == 0;
    if (!signalling_nan) all.push_back(static_cast<uint16_t>(h));
  }
  std::vector<float> f(all.size());
  fp16_to_fp32_row(all.data(), f.data(), static_cast<int64_t>(all.size()));
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(bits_of(f[i]), bits_of(fp16_to_fp32(all[i]))) << all[i];
  // Floats around every half boundary: the halfway points and their neighbours, and NaNs with payloads.
  std::vector<float> probes;
  for (uint32_t h = 0; h < 0x7c00; h += 7) {
    const float a = fp16_to_fp32(static_cast<uint16_t>(h));
    const float b = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    const float mid = (a + b) / 2;
    for (float p : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      probes.push_back(p);
      probes.push_back(-p);
    }
  }
  for (float p : {65519.99f, 65520.0f, 1e10f, INFINITY, -INFINITY, NAN, 1e-40f, 2.98e-8f, 2.99e-8f})
    probes.push_back(p);
  probes.push_back(std::bit_cast<float>(0xffc12345u));
  std::vector<uint16_t> h(probes.size());
  fp32_to_fp16_row(probes.data(), h.data(), static_cast<int64_t>(probes.size()));
  for (size_t i = 0; i < probes.size(); ++i) ASSERT_EQ(h[i], fp32_to_fp16(probes[i])) << probes[i];
}

}  // namespace
}  // namespace ternion
