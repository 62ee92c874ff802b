// Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS: an independent slow decoder of each GGUF layout (written here from the
// format description) against every kernel on the fixture models and on random blocks; hand-made blocks; the
// documented order of the dot products; the quantizers against the blocks llama-quantize wrote into the fixtures
// from the same checkpoint; round-trip error bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/checkpoint_weights.h"
#include "quant/random_data.h"
#include "support/test_support.h"
#include "ternion/core/fp16.h"
#include "ternion/io/gguf.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

const DType kTypes[] = {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::IQ4_XS};

// The IQ4 grid, as the format defines it.
const int kGrid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// ---- the test's own reading of the formats ----

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
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0] | (p[1] << 8) | (p[2] << 16)) | (uint32_t{p[3]} << 24);
}

// The 4-bit field of element j of a 32-element block whose 16 bytes start at q: low nibbles first.
int nibble(const uint8_t* q, int j) { return j < 16 ? q[j] & 15 : q[j - 16] >> 4; }

struct Layout {
  size_t block_bytes;
  int block_size;
};

Layout layout_of(DType t) {
  switch (t) {
    case DType::Q4_1:
      return {20, 32};
    case DType::Q5_0:
      return {22, 32};
    case DType::Q5_1:
      return {24, 32};
    case DType::IQ4_NL:
      return {18, 32};
    default:
      return {136, 256};
  }
}

// The integer quants of one block (for IQ4 types: grid values; for IQ4_XS also times the block scale) and how
// they map to floats: value = a * q + b, all exact in double.
struct SlowBlock {
  std::vector<int> q;             // per element
  std::vector<double> a;          // per element
  double b = 0;                   // the minimum of the types that have one
  double d = 0;                   // IQ4_XS: the super-block scale
  std::vector<int> block_scales;  // IQ4_XS: ls - 32 of each block of 32
};

SlowBlock slow_block(DType t, const uint8_t* p) {
  SlowBlock s;
  switch (t) {
    case DType::Q4_1:  // d, m, 16 bytes of nibbles
      for (int j = 0; j < 32; ++j) s.q.push_back(nibble(p + 4, j));
      s.a.assign(32, slow_half(le16(p)));
      s.b = slow_half(le16(p + 2));
      break;
    case DType::Q5_0:  // d, 32 fifth bits, 16 bytes of nibbles; q - 16
      for (int j = 0; j < 32; ++j)
        s.q.push_back((nibble(p + 6, j) | static_cast<int>(((le32(p + 2) >> j) & 1) << 4)) - 16);
      s.a.assign(32, slow_half(le16(p)));
      break;
    case DType::Q5_1:  // d, m, 32 fifth bits, 16 bytes of nibbles
      for (int j = 0; j < 32; ++j) s.q.push_back(nibble(p + 8, j) | static_cast<int>(((le32(p + 4) >> j) & 1) << 4));
      s.a.assign(32, slow_half(le16(p)));
      s.b = slow_half(le16(p + 2));
      break;
    case DType::IQ4_NL:  // d, 16 bytes of grid indices
      for (int j = 0; j < 32; ++j) s.q.push_back(kGrid[nibble(p + 2, j)]);
      s.a.assign(32, slow_half(le16(p)));
      break;
    default: {  // IQ4_XS: d, 16 bits of high scale bits, 4 bytes of low scale nibbles, 8 x 16 bytes of indices
      s.d = slow_half(le16(p));
      const int high = le16(p + 2);
      for (int ib = 0; ib < 8; ++ib) {
        const int ls = ((p[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((high >> (2 * ib)) & 3) << 4);
        s.block_scales.push_back(ls - 32);
        for (int j = 0; j < 32; ++j) {
          s.q.push_back(kGrid[nibble(p + 8 + 16 * ib, j)]);
          s.a.push_back(s.d * (ls - 32));
        }
      }
      break;
    }
  }
  return s;
}

std::vector<float> slow_decode(DType t, const uint8_t* bytes, int64_t n) {
  const Layout l = layout_of(t);
  std::vector<float> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / l.block_size; ++b) {
    const SlowBlock s = slow_block(t, bytes + static_cast<size_t>(b) * l.block_bytes);
    const bool has_min = t == DType::Q4_1 || t == DType::Q5_1;
    for (int j = 0; j < l.block_size; ++j)
      out.push_back(static_cast<float>(has_min ? s.a[j] * s.q[j] + s.b : s.a[j] * s.q[j]));
  }
  return out;
}

size_t bytes_for(DType t, int64_t n) { return row_bytes(dtype_info(t), static_cast<uint64_t>(n)); }

std::string label(const QuantTraits& tr) {
  return std::string(dtype_info(tr.type).name) + "/" + std::string(isa_name(tr.isa));
}

// Random blocks of a type, valid in the sense that every scale is a finite, moderate fp16 (minimums too); the
// other bytes are random.
std::vector<uint8_t> random_blocks(std::mt19937& rng, DType t, int64_t nb) {
  const Layout l = layout_of(t);
  auto v = test::random_blocks(rng, nb, l.block_bytes, test::random_scale);
  if (t == DType::Q4_1 || t == DType::Q5_1) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint16_t m = test::random_scale(rng);
      std::memcpy(&v[static_cast<size_t>(b) * l.block_bytes + 2], &m, 2);
    }
  }
  return v;
}

// Q8_0 or Q8_K activations from random bytes: values in [-127, 127], moderate scales.
std::vector<uint8_t> random_activations(std::mt19937& rng, DType t, int64_t n) {
  if (t == DType::Q8_0) return test::random_blocks(rng, n / 32, 34, test::random_scale, true);
  std::uniform_int_distribution<int> value(-127, 127);
  std::uniform_real_distribution<float> scale(1e-4f, 1e-2f);
  std::vector<uint8_t> v(static_cast<size_t>(n / 256) * 292);
  for (int64_t b = 0; b < n / 256; ++b) {
    uint8_t* p = &v[static_cast<size_t>(b) * 292];
    const float d = scale(rng);
    std::memcpy(p, &d, 4);
    int16_t sums[16] = {};
    for (int j = 0; j < 256; ++j) {
      const int q = value(rng);
      p[4 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
      sums[j / 16] = static_cast<int16_t>(sums[j / 16] + q);
    }
    std::memcpy(p + 260, sums, sizeof(sums));
  }
  return v;
}

// ---- decoding ----

TEST(LegacyQuants, RegisteredWithTheirActivationTypes) {
  for (DType t : kTypes) {
    ASSERT_TRUE(has_quant_traits(t)) << dtype_info(t).name;
    EXPECT_EQ(dtype_info(t).block_bytes, layout_of(t).block_bytes);
    EXPECT_EQ(static_cast<int>(dtype_info(t).block_size), layout_of(t).block_size);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      EXPECT_EQ(tr->type, t);
      EXPECT_EQ(tr->vec_dot_type, t == DType::IQ4_XS ? DType::Q8_K : DType::Q8_0) << label(*tr);
      EXPECT_NE(tr->vec_dot, nullptr);
      EXPECT_NE(tr->gemm, nullptr);
    }
    // x86 SIMD kernels exist for all of them; on ARM64 they still run the reference.
    const bool x86_simd = best_isa() >= Isa::Avx2 && best_isa() <= Isa::Avx512Vnni;
    EXPECT_GE(quant_traits_variants(t).size(), x86_simd ? 2u : 1u) << "no SIMD kernels";
  }
}

TEST(LegacyQuants, DequantizeRandomBlocksMatchesSlowDecoder) {
  std::mt19937 rng(21);
  for (DType t : kTypes) {
    const int64_t nb = 37;
    const int64_t n = nb * layout_of(t).block_size;
    auto q = test::random_blocks(rng, nb, layout_of(t).block_bytes, test::random_finite_half);
    if (t == DType::Q4_1 || t == DType::Q5_1) {  // the minimum too: any finite half
      for (int64_t i = 0; i < nb; ++i) {
        const uint16_t m = test::random_finite_half(rng);
        std::memcpy(&q[static_cast<size_t>(i) * layout_of(t).block_bytes + 2], &m, 2);
      }
    }
    const auto want = slow_decode(t, q.data(), n);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      std::vector<uint8_t> unaligned(q.size() + 1);
      std::memcpy(unaligned.data() + 1, q.data(), q.size());
      std::vector<float> out(static_cast<size_t>(n));
      tr->to_float(unaligned.data() + 1, out.data(), n);
      for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(bits_of(out[i]), bits_of(want[i])) << label(*tr) << " " << i;
    }
  }
}

// Every tensor of the type in the fixture models, through every kernel.
TEST(LegacyQuants, DequantizeFixtureTensorsMatchesSlowDecoder) {
  for (const char* name : {"Q4_1", "Q5_0", "Q5_1", "IQ4_NL"}) {
    const auto path = test::fixture(std::string("gguf/kjv-llama-") + name + ".gguf");
    TERNION_REQUIRE_FIXTURE(path);
    const GgufFile g = GgufFile::open(path.string());
    const DType t = *dtype_from_name(name);
    int tensors = 0;
    for (const GgufTensorInfo& ti : g.tensors()) {
      if (ti.type != t) continue;
      if (test::slow_build() && tensors >= 3) break;
      ++tensors;
      const auto n = static_cast<int64_t>(ti.n_elements);
      ASSERT_EQ(ti.n_bytes, bytes_for(t, n)) << ti.name;
      const auto want = slow_decode(t, ti.data, n);
      for (const QuantTraits* tr : quant_traits_variants(t)) {
        std::vector<float> out(static_cast<size_t>(n));
        tr->to_float(ti.data, out.data(), n);
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_EQ(bits_of(out[i]), bits_of(want[i])) << name << " " << ti.name << " " << label(*tr) << " i=" << i;
        }
      }
    }
    EXPECT_EQ(tensors, test::slow_build() ? 3 : 43) << name;
  }
}

TEST(LegacyQuants, KnownBlocksDecode) {
  // Q4_1: d = 0.5, m = -2, nibbles j and 15 - j.
  uint8_t q41[20] = {0x00, 0x38, 0x00, 0xc0};
  for (int j = 0; j < 16; ++j) q41[4 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  // Q5_0: d = -2, fifth bit set on the odd elements; element j's low bits j % 16.
  uint8_t q50[22] = {0x00, 0xc0, 0xaa, 0xaa, 0xaa, 0xaa};
  for (int j = 0; j < 16; ++j) q50[6 + j] = static_cast<uint8_t>(j | (j << 4));
  // Q5_1: d = 0.25, m = 1, all fifth bits of the second half set.
  uint8_t q51[24] = {0x00, 0x34, 0x00, 0x3c, 0x00, 0x00, 0xff, 0xff};
  for (int j = 0; j < 16; ++j) q51[8 + j] = static_cast<uint8_t>((15 - j) | (j << 4));
  // IQ4_NL: d = 1, indices j and 15 - j.
  uint8_t iq[18] = {0x00, 0x3c};
  for (int j = 0; j < 16; ++j) iq[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto check = [](DType t, const uint8_t* blk, auto want) {
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      float out[32];
      tr->to_float(blk, out, 32);
      for (int j = 0; j < 32; ++j) EXPECT_EQ(out[j], want(j, j % 16)) << label(*tr) << " " << j;
    }
  };
  check(DType::Q4_1, q41, [](int j, int low) { return static_cast<float>(j < 16 ? low : 15 - low) * 0.5f - 2.0f; });
  check(DType::Q5_0, q50, [](int j, int low) { return static_cast<float>((low | (j % 2 ? 16 : 0)) - 16) * -2.0f; });
  check(DType::Q5_1, q51,
        [](int j, int low) { return static_cast<float>(j < 16 ? 15 - low : low + 16) * 0.25f + 1.0f; });
  check(DType::IQ4_NL, iq, [](int j, int low) { return static_cast<float>(kGrid[j < 16 ? low : 15 - low]); });
  // IQ4_XS: d = 0.5; block ib's scale ls = 8 * ib + 3 (low nibbles 3, 11, 3, 11, ..., high bits ib / 2), every
  // index 15 except element 5 of each block (index 0).
  uint8_t xs[136] = {0x00, 0x38};
  uint16_t high = 0;
  for (int ib = 0; ib < 8; ++ib) {
    const int ls = 8 * ib + 3;
    xs[4 + ib / 2] = static_cast<uint8_t>(xs[4 + ib / 2] | ((ls & 15) << (4 * (ib % 2))));
    high = static_cast<uint16_t>(high | ((ls >> 4) << (2 * ib)));
    for (int j = 0; j < 16; ++j) xs[8 + 16 * ib + j] = j == 5 ? 0xf0 : 0xff;
  }
  std::memcpy(xs + 2, &high, 2);
  for (const QuantTraits* tr : quant_traits_variants(DType::IQ4_XS)) {
    float out[256];
    tr->to_float(xs, out, 256);
    for (int i = 0; i < 256; ++i) {
      const int ib = i / 32;
      const float want = 0.5f * static_cast<float>(8 * ib + 3 - 32) * (i % 32 == 5 ? -127.0f : 113.0f);
      ASSERT_EQ(out[i], want) << label(*tr) << " " << i;
    }
  }
}

// ---- dot products ----

// The documented order: per block exact integer sums, then one fma per block into the sum (Q4_1 / Q5_1: the
// block's value fma(isum, d_w d_x, psum m d_x) added to it; IQ4_XS: one fma per super-block with the fp32
// activation scale).
float documented_dot(DType t, const uint8_t* w, const uint8_t* x, int64_t n) {
  const Layout l = layout_of(t);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / l.block_size; ++b) {
    const uint8_t* wb = w + static_cast<size_t>(b) * l.block_bytes;
    const SlowBlock s = slow_block(t, wb);
    if (t == DType::IQ4_XS) {
      const uint8_t* xb = x + static_cast<size_t>(b) * 292;
      float dx;
      std::memcpy(&dx, xb, 4);
      int32_t isum = 0;
      for (int ib = 0; ib < 8; ++ib) {
        int32_t bsum = 0;
        for (int j = 0; j < 32; ++j) bsum += s.q[32 * ib + j] * static_cast<int8_t>(xb[4 + 32 * ib + j]);
        isum += s.block_scales[ib] * bsum;
      }
      sum = std::fma(static_cast<float>(isum), static_cast<float>(s.d) * dx, sum);
      continue;
    }
    const uint8_t* xb = x + static_cast<size_t>(b) * 34;
    const auto dx = static_cast<float>(slow_half(le16(xb)));
    int32_t isum = 0;
    int32_t psum = 0;
    for (int j = 0; j < 32; ++j) {
      isum += s.q[j] * static_cast<int8_t>(xb[2 + j]);
      psum += static_cast<int8_t>(xb[2 + j]);
    }
    if (t == DType::Q4_1 || t == DType::Q5_1) {
      sum += std::fma(static_cast<float>(isum), static_cast<float>(s.a[0]) * dx,
                      static_cast<float>(psum) * (static_cast<float>(s.b) * dx));
    } else {
      sum = std::fma(static_cast<float>(isum), static_cast<float>(s.a[0]) * dx, sum);
    }
  }
  return sum;
}

TEST(LegacyQuants, VecDotFollowsDocumentedOrderOnRawBlocks) {
  std::mt19937 rng(22);
  for (DType t : kTypes) {
    const int bs = layout_of(t).block_size;
    const DType act = quant_traits(t).vec_dot_type;
    for (int64_t nb : {1, 7, 8, 9, 16, 17, 67}) {
      const int64_t n = nb * bs;
      const auto w = random_blocks(rng, t, nb);
      const auto x = random_activations(rng, act, n);
      const float want = documented_dot(t, w.data(), x.data(), n);
      for (const QuantTraits* tr : quant_traits_variants(t)) {
        float got = 0;
        tr->vec_dot(n, &got, w.data(), x.data());
        ASSERT_EQ(bits_of(want), bits_of(got)) << label(*tr) << " nb=" << nb << " want " << want << " got " << got;
      }
    }
  }
}

TEST(LegacyQuants, GemmOnRawBlocksMatchesVecDot) {
  std::mt19937 rng(23);
  for (DType t : kTypes) {
    const int64_t n = 5 * layout_of(t).block_size;
    const DType act = quant_traits(t).vec_dot_type;
    const int64_t rows = 19;
    const int64_t tokens = 6;
    const size_t wrow = bytes_for(t, n);
    const size_t xrow = row_bytes(dtype_info(act), static_cast<uint64_t>(n));
    const auto w = random_blocks(rng, t, rows * (n / layout_of(t).block_size));
    const auto x = random_activations(rng, act, n * tokens);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      std::vector<float> out(static_cast<size_t>(rows * tokens));
      tr->gemm(n, w.data(), wrow, rows, x.data(), xrow, tokens, out.data(), rows);
      for (int64_t k = 0; k < tokens; ++k) {
        for (int64_t r = 0; r < rows; ++r) {
          const float want = documented_dot(t, &w[r * wrow], &x[k * xrow], n);
          ASSERT_EQ(bits_of(want), bits_of(out[k * rows + r])) << label(*tr) << " r=" << r << " t=" << k;
        }
      }
    }
  }
}

// The dots agree with the float dot of the dequantized rows (the sums are exact, so only the final float
// accumulation differs from a double sum).
TEST(LegacyQuants, VecDotIsTheDotOfDequantizedRows) {
  std::mt19937 rng(24);
  for (DType t : kTypes) {
    const int64_t n = 4096;
    const auto xf = test::normal_floats(rng, n);
    const auto wf = test::normal_floats(rng, n, 0.05f);
    const QuantTraits& tr = quant_traits(t);
    std::vector<uint8_t> w(bytes_for(t, n));
    std::vector<uint8_t> x(row_bytes(dtype_info(tr.vec_dot_type), n));
    tr.from_float(wf.data(), w.data(), n);
    quant_traits(tr.vec_dot_type).from_float(xf.data(), x.data(), n);
    std::vector<float> wd(static_cast<size_t>(n));
    std::vector<float> xd(static_cast<size_t>(n));
    tr.to_float(w.data(), wd.data(), n);
    quant_traits(tr.vec_dot_type).to_float(x.data(), xd.data(), n);
    double want = 0;
    double mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double(wd[i]) * xd[i];
      mag += std::fabs(double(wd[i]) * xd[i]);
    }
    float got = 0;
    tr.vec_dot(n, &got, w.data(), x.data());
    // one float rounding per block (two with a minimum) on partial sums no larger than mag
    EXPECT_NEAR(got, want, mag * static_cast<double>(2 * n / layout_of(t).block_size) * 0x1p-24) << dtype_info(t).name;
  }
}

// ---- quantizers ----

TEST(LegacyQuants, QuantizersRoundLikeTheFormat) {
  uint8_t blk[24];
  // Q4_1: min -1 maps to 0 and max 14 to 15 (d = 1); (x - min) + 0.5 truncates.
  float x[32] = {-1.0f, 14.0f, 0.49f, 0.5f, 13.6f, -0.51f};
  quant_traits(DType::Q4_1).from_float(x, blk, 32);
  EXPECT_EQ(le16(blk), 0x3c00);
  EXPECT_EQ(le16(blk + 2), 0xbc00);
  const int want41[6] = {0, 15, 1, 2, 15, 0};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(nibble(blk + 4, j), want41[j]) << j;
  EXPECT_EQ(nibble(blk + 4, 16), 1);  // zeros: 0 - (-1) + 0.5 = 1.5
  // Q5_0: the value of largest magnitude, -16, maps to 0 (d = 1); x + 16.5 truncates, 31 at most.
  float y[32] = {-16.0f, 15.0f, 15.9f, 0.5f, -0.5f, -0.6f};
  quant_traits(DType::Q5_0).from_float(y, blk, 32);
  EXPECT_EQ(le16(blk), 0x3c00);
  const int want50[6] = {0, 31, 31, 17, 16, 15};
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(nibble(blk + 6, j) | static_cast<int>(((le32(blk + 2) >> j) & 1) << 4), want50[j]) << j;
  }
  // Q5_1: min 0, max 31 (d = 1).
  float z[32] = {0.0f, 31.0f, 16.49f, 16.5f, 30.7f};
  quant_traits(DType::Q5_1).from_float(z, blk, 32);
  EXPECT_EQ(le16(blk), 0x3c00);
  EXPECT_EQ(le16(blk + 2), 0);
  const int want51[5] = {0, 31, 16, 17, 31};
  for (int j = 0; j < 5; ++j) {
    EXPECT_EQ(nibble(blk + 8, j) | static_cast<int>(((le32(blk + 4) >> j) & 1) << 4), want51[j]) << j;
  }
}

// Values on the grid come back exactly: the scale search finds their scale.
TEST(LegacyQuants, Iq4QuantizersRecoverValuesOnTheGrid) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.01f * static_cast<float>(kGrid[(j * 7) % 16]);
  uint8_t nl[18];
  quant_traits(DType::IQ4_NL).from_float(x, nl, 32);
  EXPECT_EQ(le16(nl), fp32_to_fp16(0.01f));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(nibble(nl + 2, j), (j * 7) % 16) << j;

  // IQ4_XS: block ib holds d * l_ib * grid values with d = 2^-10; the block of l = -32 sets d.
  const int ls[8] = {-32, 31, 1, -1, 17, -9, 0, 5};
  float xs_in[256];
  for (int i = 0; i < 256; ++i) {
    xs_in[i] = std::ldexp(static_cast<float>(ls[i / 32] * kGrid[(i * 5) % 16]), -10);
  }
  uint8_t xs[136];
  quant_traits(DType::IQ4_XS).from_float(xs_in, xs, 256);
  EXPECT_EQ(le16(xs), fp32_to_fp16(std::ldexp(1.0f, -10)));
  const SlowBlock s = slow_block(DType::IQ4_XS, xs);
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(s.a[i], std::ldexp(static_cast<double>(ls[i / 32]), -10)) << i;
    if (ls[i / 32] != 0) {
      EXPECT_EQ(s.q[i], kGrid[(i * 5) % 16]) << i;
    } else {
      EXPECT_EQ(s.q[i], kGrid[8]) << i;  // a zero block picks the grid value nearest 0
    }
  }
}

// Our quantizers against the blocks llama-quantize wrote from the same float32 checkpoint.
TEST(LegacyQuants, QuantizersMatchLlamaQuantizeOnTheFixtures) {
  TERNION_REQUIRE_FIXTURE(test::checkpoint_path());
  for (const char* name : {"Q4_1", "Q5_0", "Q5_1", "IQ4_NL"}) {
    const auto path = test::fixture(std::string("gguf/kjv-llama-") + name + ".gguf");
    TERNION_REQUIRE_FIXTURE(path);
    const GgufFile g = GgufFile::open(path.string());
    const DType t = *dtype_from_name(name);
    const size_t bb = layout_of(t).block_bytes;
    int64_t blocks = 0;
    int64_t same = 0;
    int tensors = 0;
    for (const GgufTensorInfo& ti : g.tensors()) {
      if (ti.type != t || ti.name.find("attn_q") != std::string::npos || ti.name.find("attn_k") != std::string::npos)
        continue;  // q/k rows are permuted in the GGUF
      if (test::slow_build() && tensors >= 2) break;
      ++tensors;
      const test::CheckpointTensor c = test::checkpoint_tensor(ti.name);
      ASSERT_EQ(static_cast<uint64_t>(c.cols), ti.shape[0]) << ti.name;
      const auto n = static_cast<int64_t>(c.data.size());
      ASSERT_EQ(static_cast<uint64_t>(n), ti.n_elements) << ti.name;
      std::vector<uint8_t> ours(bytes_for(t, n));
      quant_traits(t).from_float(c.data.data(), ours.data(), n);
      for (int64_t b = 0; b < n / 32; ++b) {
        ++blocks;
        same += std::memcmp(&ours[static_cast<size_t>(b) * bb], ti.data + static_cast<size_t>(b) * bb, bb) == 0;
      }
    }
    ASSERT_GT(blocks, 0) << name;
    const double share = static_cast<double>(same) / static_cast<double>(blocks);
    std::printf("%s: %lld of %lld blocks (%d tensors) byte-identical with llama-quantize (%.4f %%)\n", name,
                static_cast<long long>(same), static_cast<long long>(blocks), tensors, 100.0 * share);
    EXPECT_GE(share, 0.99) << name;
  }
}

// Half a step for the rounding quantizers, plus what storing d (and m) as fp16 moves the values.
TEST(LegacyQuants, RoundTripWithinBounds) {
  std::mt19937 rng(25);
  const int64_t n = 32 * 128;
  for (DType t : {DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
    const auto x = test::normal_floats(rng, n, 0.1f);
    std::vector<uint8_t> q(bytes_for(t, n));
    std::vector<float> back(static_cast<size_t>(n));
    quant_traits(t).from_float(x.data(), q.data(), n);
    quant_traits(t).to_float(q.data(), back.data(), n);
    const float levels = t == DType::Q4_1 ? 15.0f : 31.0f;
    for (int64_t b = 0; b < n / 32; ++b) {
      const float* xb = &x[static_cast<size_t>(b * 32)];
      const float lo = *std::min_element(xb, xb + 32);
      const float hi = *std::max_element(xb, xb + 32);
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
      // Q5_0: one step at the far end of the opposite sign (+16 steps clamp to 15), else half a step.
      const float bound = t == DType::Q5_0
                              ? amax / 16 * (1.0f + 16.0f / 2048.0f) * 1.0001f
                              : ((hi - lo) / levels * (0.5f + levels / 2048.0f) + std::fabs(lo) / 2048.0f) * 1.0001f;
      for (int j = 0; j < 32; ++j) {
        ASSERT_LE(std::fabs(back[b * 32 + j] - xb[j]), bound) << dtype_info(t).name << " block " << b << " j=" << j;
      }
    }
  }
}

double relative_rms_error(const std::vector<float>& x, const std::vector<float>& back) {
  double err2 = 0;
  double sig2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err2 += (double(back[i]) - x[i]) * (double(back[i]) - x[i]);
    sig2 += double(x[i]) * x[i];
  }
  return std::sqrt(err2 / sig2);
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(bytes_for(t, n));
  std::vector<float> back(x.size());
  quant_traits(t).from_float(x.data(), q.data(), n);
  quant_traits(t).to_float(q.data(), back.data(), n);
  return back;
}

// IQ4 (no fixture for IQ4_XS): each value decodes to the grid point nearest it under its block's scale (up to the
// fp16 rounding of the stored scale), and the error stays at the level of 4-bit quantization.
TEST(LegacyQuants, Iq4RoundTripPicksNearestGridPoints) {
  std::mt19937 rng(26);
  const int64_t n = 256 * 64;
  const auto x = test::normal_floats(rng, n, 0.02f);
  for (DType t : {DType::IQ4_NL, DType::IQ4_XS}) {
    std::vector<uint8_t> q(bytes_for(t, n));
    quant_traits(t).from_float(x.data(), q.data(), n);
    const Layout l = layout_of(t);
    for (int64_t b = 0; b < n / l.block_size; ++b) {
      const SlowBlock s = slow_block(t, &q[static_cast<size_t>(b) * l.block_bytes]);
      for (int j = 0; j < l.block_size; ++j) {
        const double v = x[static_cast<size_t>(b * l.block_size + j)];
        const double a = s.a[j];
        double nearest = INFINITY;
        for (int g : kGrid) nearest = std::min(nearest, std::fabs(v - a * g));
        ASSERT_LE(std::fabs(v - a * s.q[j]), nearest + std::fabs(a) * 127 / 1024) << dtype_info(t).name << " " << b;
      }
    }
    const double rel = relative_rms_error(x, round_trip(t, x));
    std::printf("%s: relative rms error %.4f on normal data\n", std::string(dtype_info(t).name).c_str(), rel);
    EXPECT_LT(rel, 0.11) << dtype_info(t).name;
    EXPECT_GT(rel, 0.03) << dtype_info(t).name << ": suspiciously exact for 4 bits";
  }
}

// On real weights IQ4_XS (6-bit block scales under one fp16 scale) loses little against IQ4_NL (an fp16 scale
// per block), and both beat Q4_0.
TEST(LegacyQuants, Iq4XsQualityOnCheckpointWeights) {
  TERNION_REQUIRE_FIXTURE(test::checkpoint_path());
  const test::CheckpointTensor c = test::checkpoint_tensor("blk.1.ffn_down.weight");
  const double nl = relative_rms_error(c.data, round_trip(DType::IQ4_NL, c.data));
  const double xs = relative_rms_error(c.data, round_trip(DType::IQ4_XS, c.data));
  const double q40 = relative_rms_error(c.data, round_trip(DType::Q4_0, c.data));
  std::printf("blk.1.ffn_down relative rms error: IQ4_XS %.5f, IQ4_NL %.5f, Q4_0 %.5f\n", xs, nl, q40);
  EXPECT_LT(xs, nl * 1.05);
  EXPECT_LT(nl, q40);
  EXPECT_LT(xs, q40);
}

}  // namespace
}  // namespace ternion
