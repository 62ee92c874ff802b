// I2_S (bitnet.cpp's type 36): an independent slow decoder of bitnet.cpp's x86 layout (blocks of 128 codes in 32
// bytes, byte m holding elements m, 32 + m, 64 + m, 96 + m from the high bits down), hand-made bytes, the ARM
// layout's conversion, and every level's dot and gemm bit for bit against the documented dot.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/random_data.h"
#include "ternion/core/dtype.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

constexpr int64_t kBlock = 256;
constexpr size_t kBlockBytes = 64;
constexpr size_t kQ8KBytes = 292;

// Element e of a tensor's codes, read as bitnet.cpp's x86 quantizer writes it.
int slow_code(const uint8_t* codes, int64_t e) {
  const int64_t block = e / 128, within = e % 128;
  return (codes[block * 32 + within % 32] >> (6 - 2 * (within / 32))) & 3;
}

std::vector<uint8_t> random_codes(std::mt19937& rng, int64_t n_blocks, bool with_three) {
  std::uniform_int_distribution<int> byte(0, 255), code(0, 2);
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * kBlockBytes);
  for (uint8_t& b : v) {
    b = with_three ? static_cast<uint8_t>(byte(rng))
                   : static_cast<uint8_t>(code(rng) << 6 | code(rng) << 4 | code(rng) << 2 | code(rng));
  }
  return v;
}

// Q8_K blocks from random floats by the reference quantizer (values, bsums and scale consistent).
std::vector<uint8_t> activations(std::mt19937& rng, int64_t n) {
  const auto x = test::random_floats(rng, n, false);
  std::vector<uint8_t> a(static_cast<size_t>(n / kBlock) * kQ8KBytes);
  quant_traits_reference(DType::Q8_K).from_float(x.data(), a.data(), n);
  return a;
}

// The documented dot: per block the exact sum of (t - 1) * x, then sum = fma(isum, d_x, sum).
float slow_dot(const uint8_t* w, const uint8_t* x, int64_t nb) {
  float sum = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* xb = x + b * kQ8KBytes;
    int32_t isum = 0;
    for (int j = 0; j < kBlock; ++j) isum += (slow_code(w, b * kBlock + j) - 1) * static_cast<int8_t>(xb[4 + j]);
    float d = 0;
    std::memcpy(&d, xb, 4);
    sum = std::fma(static_cast<float>(isum), d, sum);
  }
  return sum;
}

TEST(I2S, RegisteredAsBitnetCppType36) {
  const auto info = dtype_info(36);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "I2_S");
  EXPECT_EQ(tensor_bytes(*info, 2560 * 2560), 2560u * 2560u / 4 + 32);
  EXPECT_EQ(quant_traits(DType::I2_S).vec_dot_type, DType::Q8_K);
  EXPECT_FALSE(dtype_info(38));
  EXPECT_NE(std::string(unsupported_type_note(39)).find("TL1/TL2"), std::string::npos);
}

TEST(I2S, HandMadeBytesDecode) {
  // Byte 0 = 0b10'01'00'10: element 0 is +1, 32 is 0, 64 is -1, 96 is +1; byte 32 (second 128-block) likewise.
  std::vector<uint8_t> w(kBlockBytes, 0x55);  // 0b01010101: every other element 0
  w[0] = w[32] = 0b10010010;
  std::vector<float> f(kBlock);
  for (const QuantTraits* tr : quant_traits_variants(DType::I2_S)) {
    tr->to_float(w.data(), f.data(), kBlock);
    for (int h = 0; h < 2; ++h) {
      EXPECT_EQ(f[128 * h + 0], 1.0f);
      EXPECT_EQ(f[128 * h + 32], 0.0f);
      EXPECT_EQ(f[128 * h + 64], -1.0f);
      EXPECT_EQ(f[128 * h + 96], 1.0f);
      EXPECT_EQ(f[128 * h + 1], 0.0f);
    }
  }
}

TEST(I2S, DequantizeAndQuantizeFollowTheLayout) {
  std::mt19937 rng(5);
  for (int64_t nb : {1, 2, 5}) {
    const auto w = random_codes(rng, nb, true);
    std::vector<float> f(static_cast<size_t>(nb * kBlock));
    quant_traits_reference(DType::I2_S).to_float(w.data(), f.data(), nb * kBlock);
    for (int64_t e = 0; e < nb * kBlock; ++e) ASSERT_EQ(f[e], static_cast<float>(slow_code(w.data(), e) - 1));
    // Codes 0..2 survive a round trip; the quantizer rounds and clamps.
    const auto t = random_codes(rng, nb, false);
    quant_traits_reference(DType::I2_S).to_float(t.data(), f.data(), nb * kBlock);
    std::vector<uint8_t> back(t.size());
    quant_traits_reference(DType::I2_S).from_float(f.data(), back.data(), nb * kBlock);
    EXPECT_EQ(back, t);
  }
  std::vector<float> x(kBlock, 0.0f);
  x[0] = 7.0f, x[1] = -0.6f, x[2] = 0.4f, x[3] = -3.0f;
  std::vector<uint8_t> q(kBlockBytes);
  quant_traits_reference(DType::I2_S).from_float(x.data(), q.data(), kBlock);
  EXPECT_EQ(slow_code(q.data(), 0), 2);
  EXPECT_EQ(slow_code(q.data(), 1), 0);
  EXPECT_EQ(slow_code(q.data(), 2), 1);
  EXPECT_EQ(slow_code(q.data(), 3), 0);
}

TEST(I2S, EveryLevelDotsBitForBit) {
  std::mt19937 rng(6);
  for (int64_t nb : {1, 2, 3, 7, 8, 9, 17, 33}) {
    for (bool three : {false, true}) {
      const auto w = random_codes(rng, nb, three);
      const auto x = activations(rng, nb * kBlock);
      const float want = slow_dot(w.data(), x.data(), nb);
      std::vector<uint8_t> wm(w.size() + 3), xm(x.size() + 5);
      std::memcpy(wm.data() + 3, w.data(), w.size());
      std::memcpy(xm.data() + 5, x.data(), x.size());
      for (const QuantTraits* tr : quant_traits_variants(DType::I2_S)) {
        float got = -1;
        tr->vec_dot(nb * kBlock, &got, wm.data() + 3, xm.data() + 5);
        ASSERT_EQ(bits_of(got), bits_of(want)) << isa_name(tr->isa) << " nb=" << nb;
      }
    }
  }
}

TEST(I2S, EveryLevelGemmMatchesVecDot) {
  std::mt19937 rng(7);
  struct Shape {
    int64_t blocks, rows, tokens;
  };
  const Shape shapes[] = {{1, 1, 1}, {3, 7, 1}, {2, 17, 2}, {3, 9, 3}, {1, 16, 4}, {3, 18, 8}, {2, 35, 9}, {4, 33, 13}};
  for (const Shape& s : shapes) {
    const int64_t n = s.blocks * kBlock;
    const size_t wrow = static_cast<size_t>(s.blocks) * kBlockBytes + 7;
    const size_t xrow = static_cast<size_t>(s.blocks) * kQ8KBytes + 3;
    std::vector<uint8_t> w(wrow * static_cast<size_t>(s.rows) + 1), x(xrow * static_cast<size_t>(s.tokens) + 1);
    for (int64_t r = 0; r < s.rows; ++r) {
      const auto row = random_codes(rng, s.blocks, r % 3 == 2);
      std::memcpy(&w[1 + r * wrow], row.data(), row.size());
    }
    for (int64_t t = 0; t < s.tokens; ++t) {
      const auto row = activations(rng, n);
      std::memcpy(&x[1 + t * xrow], row.data(), row.size());
    }
    for (const QuantTraits* tr : quant_traits_variants(DType::I2_S)) {
      const int64_t ldo = s.rows + 2;
      std::vector<float> out(static_cast<size_t>(ldo * s.tokens), -7.0f);
      tr->gemm(n, &w[1], wrow, s.rows, &x[1], xrow, s.tokens, out.data(), ldo);
      for (int64_t t = 0; t < s.tokens; ++t) {
        for (int64_t r = 0; r < ldo; ++r) {
          if (r >= s.rows) {
            ASSERT_EQ(out[t * ldo + r], -7.0f) << "gemm wrote outside its tile";
            continue;
          }
          const float want = slow_dot(&w[1 + r * wrow], &x[1 + t * xrow], s.blocks);
          ASSERT_EQ(bits_of(want), bits_of(out[t * ldo + r])) << isa_name(tr->isa) << " r=" << r << " t=" << t;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ternion
