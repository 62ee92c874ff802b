// The low-bit i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): every dot this CPU runs against
// the scalar reference, bit for bit, on random blocks (every bit pattern is a valid block) and odd row lengths;
// the reference's dot against its own dequantization; the grids' and sign tables' invariants; and golden
// dequantizations made by GGUF's reference (llama.cpp's dequantize_row_iq*).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq3.h"
#include "quant/iq_grids.h"
#include "quant/random_data.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

const DType kIqTypes[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS,
                          DType::IQ3_S,   DType::IQ1_S,  DType::IQ1_M};

std::string label(const QuantTraits& tr) {
  return std::string(dtype_info(tr.type).name) + "/" + std::string(isa_name(tr.isa));
}

// n_blocks random super-blocks of `type`: random bytes with a moderate fp16 scale (for IQ1_M, whose scale is
// spread over the nibbles of its block scales, the nibble holding the sign and top exponent bits is fixed).
std::vector<uint8_t> random_iq_blocks(std::mt19937& rng, DType type, int64_t n_blocks) {
  const size_t bb = dtype_info(type).block_bytes;
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * bb);
  for (auto& b : v) b = static_cast<uint8_t>(byte(rng));
  for (int64_t i = 0; i < n_blocks; ++i) {
    uint8_t* blk = v.data() + static_cast<size_t>(i) * bb;
    if (type == DType::IQ1_M) {
      blk[55] = static_cast<uint8_t>((blk[55] & 0x0f) | 0x30);  // d in [2^-3, 2)
    } else {
      const uint16_t d = test::random_scale(rng);
      std::memcpy(blk, &d, 2);
    }
  }
  return v;
}

std::vector<uint8_t> q8_k_activations(std::mt19937& rng, int64_t n) {
  const auto x = test::normal_floats(rng, n);
  std::vector<uint8_t> a(static_cast<size_t>(n / 256) * dtype_info(DType::Q8_K).block_bytes);
  quant_traits_reference(DType::Q8_K).from_float(x.data(), a.data(), n);
  return a;
}

// Deterministic test data, written out so the golden values below can be made again outside the project.
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// n_blocks super-blocks of bytes from splitmix64 seeded with the GGUF type id; d (bytes 0, 1) is 2^-7, 2^-6,
// 1.5 * 2^-6, 2^-5 in turn; IQ1_M's d nibble holding the sign and top exponent bits is 3.
std::vector<uint8_t> golden_blocks(DType type, int n_blocks) {
  const size_t bb = dtype_info(type).block_bytes;
  uint64_t s = static_cast<uint64_t>(type);
  std::vector<uint8_t> v(bb * static_cast<size_t>(n_blocks));
  for (auto& b : v) b = static_cast<uint8_t>(splitmix64(s) >> 56);
  const uint16_t d[4] = {0x2000, 0x2400, 0x2600, 0x2800};
  for (int i = 0; i < n_blocks; ++i) {
    uint8_t* blk = v.data() + static_cast<size_t>(i) * bb;
    if (type == DType::IQ1_M) {
      blk[55] = static_cast<uint8_t>((blk[55] & 0x0f) | 0x30);
    } else {
      std::memcpy(blk, &d[i % 4], 2);
    }
  }
  return v;
}

// Q8_K activations: d = 1/64, values from splitmix64 (seed 1234) in [-127, 127], true group sums.
std::vector<uint8_t> golden_q8_k(int n_blocks) {
  uint64_t s = 1234;
  std::vector<uint8_t> v(292 * static_cast<size_t>(n_blocks));
  for (int i = 0; i < n_blocks; ++i) {
    uint8_t* blk = v.data() + 292 * static_cast<size_t>(i);
    const float d = 1.0f / 64;
    std::memcpy(blk, &d, 4);
    int8_t q[256];
    for (auto& qj : q) qj = static_cast<int8_t>(static_cast<int>(splitmix64(s) % 255) - 127);
    std::memcpy(blk + 4, q, 256);
    for (int g = 0; g < 16; ++g) {
      int16_t sum = 0;
      for (int j = 0; j < 16; ++j) sum = static_cast<int16_t>(sum + q[16 * g + j]);
      std::memcpy(blk + 260 + 2 * g, &sum, 2);
    }
  }
  return v;
}

uint64_t fnv_floats(const std::vector<float>& f) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (float x : f) {
    const uint32_t b = bits_of(x);
    for (int k = 0; k < 4; ++k) {
      h ^= (b >> (8 * k)) & 0xff;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

// GGUF's reference on golden_blocks(type, 4): the FNV-1a hash of the float bits of llama.cpp's (c392e5094)
// type_traits to_float (dequantize_row_iq*), and its CPU vec_dot with golden_q8_k(4) (ggml_vec_dot_*_q8_K).
struct Golden {
  DType type;
  uint64_t dequant_hash;
  float dot;
};
const Golden kGolden[] = {
    {DType::IQ2_XXS, 0x28e7676152113eccull, -43.7111816f}, {DType::IQ2_XS, 0x87c92c6e9d8d4df7ull, -21.8237152f},
    {DType::IQ2_S, 0x8fac253617c6e3f4ull, -15.8686371f},   {DType::IQ3_XXS, 0xcdae22b65d795029ull, -41.1821899f},
    {DType::IQ3_S, 0xa2484599bfc99d58ull, -91.3325195f},   {DType::IQ1_S, 0x006e47981addedcfull, 6.01629639f},
    {DType::IQ1_M, 0x3f44d366df2c7a88ull, -137.338684f},
};

// Our dequantization is GGUF's bit for bit; our dots (exact integers, another float order) agree with GGUF's to
// float rounding.
TEST(IQuants, MatchGgufReference) {
  const auto x = golden_q8_k(4);
  for (const Golden& g : kGolden) {
    const auto w = golden_blocks(g.type, 4);
    std::vector<float> f(1024);
    quant_traits_reference(g.type).to_float(w.data(), f.data(), 1024);
    EXPECT_EQ(fnv_floats(f), g.dequant_hash) << dtype_info(g.type).name;
    for (const QuantTraits* tr : quant_traits_variants(g.type)) {
      float dot = 0;
      tr->vec_dot(1024, &dot, w.data(), x.data());
      EXPECT_NEAR(dot, g.dot, 2e-6 * std::fabs(g.dot)) << label(*tr);
    }
  }
}

// Rows of floats (sum of 4 uniforms from splitmix64 seeded 42, minus 2, times 0.02 (1 + row); a block of 32 zeros
// in row 2) and per-column
// importance in [0.01, 2.01), but 1e-5 in every 7th column.
void quantizer_input(int rows, int cols, std::vector<float>& x, std::vector<float>& importance) {
  uint64_t s = 42;
  x.resize(static_cast<size_t>(rows * cols));
  importance.resize(static_cast<size_t>(cols));
  for (int r = 0; r < rows; ++r) {
    const float scale = 0.02f * static_cast<float>(1 + r);
    for (int c = 0; c < cols; ++c) {
      float u = 0;
      for (int k = 0; k < 4; ++k) u += static_cast<float>(splitmix64(s) >> 40) / 16777216.0f;
      x[static_cast<size_t>(r * cols + c)] = r == 2 && c >= 64 && c < 96 ? 0.0f : (u - 2.0f) * scale;
    }
  }
  for (int c = 0; c < cols; ++c) {  // every 7th column unimportant: its values' signs are the ones flipped
    importance[static_cast<size_t>(c)] =
        c % 7 == 3 ? 1e-5f : 0.01f + 2.0f * static_cast<float>(splitmix64(s) >> 40) / 16777216.0f;
  }
}

uint64_t fnv_bytes(const std::vector<uint8_t>& v) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : v) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

// llama.cpp c392e5094's ggml_quantize_chunk on quantizer_input(8, 512): the FNV-1a hash of its output bytes.
TEST(IQuants, QuantizeMatchesGguf) {
  std::vector<float> x;
  std::vector<float> importance;
  quantizer_input(8, 512, x, importance);
  std::vector<uint8_t> out(8 * 2 * sizeof(quant::BlockIq2Xxs));
  quant::iq2_xxs_quantize(x.data(), out.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(out), 0x6ea4da8c79871d1aull);
  EXPECT_THROW(quant::iq2_xxs_quantize(x.data(), out.data(), 8, 512, nullptr), Error);
  EXPECT_THROW(quant::iq2_xxs_quantize(x.data(), out.data(), 1, 100, importance.data()), Error);
  std::vector<uint8_t> xs(8 * 2 * sizeof(quant::BlockIq2Xs));
  quant::iq2_xs_quantize(x.data(), xs.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(xs), 0xf7f8da8d460d8893ull);
  EXPECT_THROW(quant::iq2_xs_quantize(x.data(), xs.data(), 8, 512, nullptr), Error);
  std::vector<uint8_t> q3(8 * 2 * sizeof(quant::BlockIq3Xxs));
  quant::iq3_xxs_quantize(x.data(), q3.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(q3), 0xdbb6d07d716f8278ull);
  // IQ3_XXS also quantizes without an importance matrix (GGUF's from_float), row by row
  quant::iq3_xxs_quantize(x.data(), q3.data(), 8, 512, nullptr);
  EXPECT_EQ(fnv_bytes(q3), 0x909ace56a0e9ef1dull);
  std::vector<uint8_t> by_rows(q3.size());
  for (size_t r = 0; r < 8; ++r) {
    quantize_weights(DType::IQ3_XXS, x.data() + 512 * r, by_rows.data() + r * 2 * sizeof(quant::BlockIq3Xxs), 512);
  }
  EXPECT_EQ(by_rows, q3);
  std::vector<uint8_t> q3s(8 * 2 * sizeof(quant::BlockIq3S));
  quant::iq3_s_quantize(x.data(), q3s.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(q3s), 0x9c7d338d2bf10356ull);
  quant::iq3_s_quantize(x.data(), q3s.data(), 8, 512, nullptr);
  EXPECT_EQ(fnv_bytes(q3s), 0x9edd00714a793124ull);
  EXPECT_THROW(quant::iq3_s_quantize(x.data(), q3s.data(), 1, 100, nullptr), Error);
  std::vector<uint8_t> q2s(8 * 2 * sizeof(quant::BlockIq2S));
  quant::iq2_s_quantize(x.data(), q2s.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(q2s), 0xe359ee94590c54ceull);
  quant::iq2_s_quantize(x.data(), q2s.data(), 8, 512, nullptr);
  EXPECT_EQ(fnv_bytes(q2s), 0xa412b5bb58d68353ull);
  std::vector<uint8_t> q1s(8 * 2 * sizeof(quant::BlockIq1S));
  quant::iq1_s_quantize(x.data(), q1s.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(q1s), 0x7f5e55ca44b72b34ull);
  EXPECT_THROW(quant::iq1_s_quantize(x.data(), q1s.data(), 8, 512, nullptr), Error);
  std::vector<uint8_t> q1m(8 * 2 * sizeof(quant::BlockIq1M));
  quant::iq1_m_quantize(x.data(), q1m.data(), 8, 512, importance.data());
  EXPECT_EQ(fnv_bytes(q1m), 0xe319dc09dff38463ull);
}

// Every quantizer's blocks decode close to its input (a layout or scale slip shows as an error near or above 1):
// relative RMS error, unweighted (so the 1e-5 columns' loose fit counts), with and (where the type allows)
// without importance.
TEST(IQuants, QuantizersRoundTrip) {
  std::vector<float> x;
  std::vector<float> importance;
  quantizer_input(8, 512, x, importance);
  using QuantizeFn = void (*)(const float*, void*, int64_t, int64_t, const float*);
  struct Case {
    DType type;
    QuantizeFn quantize;
    bool plain;    // also without importance
    double bound;  // relative RMS error
  };
  const Case cases[] = {
      {DType::IQ2_XXS, quant::iq2_xxs_quantize, false, 0.65}, {DType::IQ2_XS, quant::iq2_xs_quantize, false, 0.6},
      {DType::IQ2_S, quant::iq2_s_quantize, true, 0.4},       {DType::IQ3_XXS, quant::iq3_xxs_quantize, true, 0.45},
      {DType::IQ3_S, quant::iq3_s_quantize, true, 0.35},      {DType::IQ1_S, quant::iq1_s_quantize, false, 0.7},
      {DType::IQ1_M, quant::iq1_m_quantize, true, 0.7}};
  for (const Case& c : cases) {
    for (bool with : {true, false}) {
      if (!with && !c.plain) continue;
      std::vector<uint8_t> q(8 * 2 * dtype_info(c.type).block_bytes);
      c.quantize(x.data(), q.data(), 8, 512, with ? importance.data() : nullptr);
      std::vector<float> y(x.size());
      quant_traits_reference(c.type).to_float(q.data(), y.data(), static_cast<int64_t>(y.size()));
      double err = 0;
      double ref = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        err += (double{y[i]} - x[i]) * (double{y[i]} - x[i]);
        ref += double{x[i]} * x[i];
      }
      const double rel = std::sqrt(err / ref);
      std::printf("%s %s importance: relative rms error %.4f\n", dtype_info(c.type).name.data(),
                  with ? "with" : "without", rel);
      EXPECT_LT(rel, c.bound) << dtype_info(c.type).name;
    }
  }
}

// Extreme input (magnitudes 1e-30 .. 1e30, zeros, NaN, infinities, zero importance) gives blocks or a clear
// ternion::Error, never a crash or an out-of-range table read.
TEST(IQuants, QuantizersSurviveExtremeInput) {
  std::mt19937 rng(29);
  auto x = test::random_floats(rng, 4 * 256);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[300] = std::numeric_limits<float>::infinity();
  x[700] = -std::numeric_limits<float>::infinity();
  std::vector<float> importance(256, 1.0f);
  std::vector<float> zero_importance(256, 0.0f);
  using QuantizeFn = void (*)(const float*, void*, int64_t, int64_t, const float*);
  const std::pair<DType, QuantizeFn> cases[] = {
      {DType::IQ2_XXS, quant::iq2_xxs_quantize}, {DType::IQ2_XS, quant::iq2_xs_quantize},
      {DType::IQ2_S, quant::iq2_s_quantize},     {DType::IQ3_XXS, quant::iq3_xxs_quantize},
      {DType::IQ3_S, quant::iq3_s_quantize},     {DType::IQ1_S, quant::iq1_s_quantize},
      {DType::IQ1_M, quant::iq1_m_quantize}};
  int errors = 0;
  for (const auto& [type, quantize] : cases) {
    std::vector<uint8_t> q(4 * dtype_info(type).block_bytes);
    for (const auto* w : {&importance, &zero_importance}) {
      try {
        quantize(x.data(), q.data(), 4, 256, w->data());
      } catch (const Error&) {
        ++errors;
      }
      std::vector<float> y(x.size());
      quant_traits_reference(type).to_float(q.data(), y.data(), static_cast<int64_t>(y.size()));
    }
  }
  std::printf("%d of 14 extreme quantizations refused\n", errors);
}

TEST(IQuants, RecordsAndLayouts) {
  for (DType t : kIqTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    EXPECT_EQ(ref.type, t);
    EXPECT_EQ(ref.vec_dot_type, DType::Q8_K);
    // IQ3_XXS, IQ3_S and IQ2_S also quantize without an importance matrix; the others need one
    const bool plain = t == DType::IQ3_XXS || t == DType::IQ3_S || t == DType::IQ2_S;
    EXPECT_EQ(ref.from_float != nullptr, plain) << dtype_info(t).name;
    EXPECT_EQ(dtype_info(t).block_size, 256);
    for (const QuantTraits* tr : quant_traits_variants(t)) EXPECT_EQ(tr->type, t);
  }
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> out(66);
  EXPECT_THROW(quantize_weights(DType::IQ2_XXS, x.data(), out.data(), 256), Error);
}

TEST(IQuants, SignCodesHaveEvenParity) {
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(quant::kIqSigns[static_cast<size_t>(i)] & 127, i);
    EXPECT_EQ(std::popcount(unsigned{quant::kIqSigns[static_cast<size_t>(i)]}) % 2, 0) << i;
    for (int j = 0; j < 8; ++j) {
      const auto b = static_cast<uint8_t>(quant::kIqSignBytes[static_cast<size_t>(i)] >> (8 * j));
      EXPECT_EQ(b, (quant::kIqSigns[static_cast<size_t>(i)] >> j) & 1 ? 0xff : 0x01);
    }
  }
}

// The magnitudes the SIMD kernels' no-saturation argument rests on.
TEST(IQuants, GridValues) {
  auto check = [](const auto& grid, int bytes, std::vector<int> allowed, const char* name) {
    for (auto e : grid) {
      for (int j = 0; j < bytes; ++j) {
        const int v = static_cast<int8_t>(static_cast<uint8_t>(e >> (8 * j)));
        EXPECT_NE(std::find(allowed.begin(), allowed.end(), v), allowed.end()) << name << " " << v;
      }
    }
  };
  check(quant::kIq2XxsGrid, 8, {8, 25, 43}, "iq2xxs");
  check(quant::kIq2XsGrid, 8, {8, 25, 43}, "iq2xs");
  check(quant::kIq2SGrid, 8, {8, 25, 43}, "iq2s");
  check(quant::kIq3XxsGrid, 4, {4, 12, 20, 28, 36, 44, 52, 62}, "iq3xxs");
  check(quant::kIq3SGrid, 4, {1, 3, 5, 7, 9, 11, 13, 15}, "iq3s");
  check(quant::kIq1Grid, 8, {-1, 0, 1}, "iq1");
}

TEST(IQuants, VecDotMatchesReference) {
  std::mt19937 rng(27);
  for (DType t : kIqTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    for (int64_t nb : {1, 2, 3, 5, 7, 9, 33}) {
      const int64_t n = nb * 256;
      const auto w = random_iq_blocks(rng, t, nb);
      const auto x = q8_k_activations(rng, n);
      std::vector<uint8_t> wm(w.size() + 1);  // misaligned by one byte
      std::memcpy(wm.data() + 1, w.data(), w.size());
      float want = 0;
      ref.vec_dot(n, &want, w.data(), x.data());
      ASSERT_TRUE(std::isfinite(want));
      for (const QuantTraits* tr : quant_traits_variants(t)) {
        float got = 0;
        tr->vec_dot(n, &got, wm.data() + 1, x.data());
        ASSERT_EQ(bits_of(want), bits_of(got)) << label(*tr) << " n=" << n;
        // the gemm of two rows and two tokens gives the single dots
        const auto x2 = q8_k_activations(rng, n);
        std::vector<uint8_t> xs(x.size() * 2);
        std::memcpy(xs.data(), x.data(), x.size());
        std::memcpy(xs.data() + x.size(), x2.data(), x2.size());
        std::vector<uint8_t> ws(w.size() * 2);
        std::memcpy(ws.data(), w.data(), w.size());
        std::memcpy(ws.data() + w.size(), w.data(), w.size());
        float out[4];
        tr->gemm(n, ws.data(), w.size(), 2, xs.data(), x.size(), 2, out, 2);
        float want2 = 0;
        ref.vec_dot(n, &want2, w.data(), x2.data());
        EXPECT_EQ(bits_of(out[0]), bits_of(want)) << label(*tr);
        EXPECT_EQ(bits_of(out[1]), bits_of(want)) << label(*tr);
        EXPECT_EQ(bits_of(out[2]), bits_of(want2)) << label(*tr);
        EXPECT_EQ(bits_of(out[3]), bits_of(want2)) << label(*tr);
      }
    }
  }
}

// The reference dot is the dot of the dequantized weights with the dequantized activations, up to float
// rounding: both decode the same layout the same way.
TEST(IQuants, DotAgreesWithDequantization) {
  std::mt19937 rng(28);
  for (DType t : kIqTypes) {
    const int64_t n = 5 * 256;
    const auto w = random_iq_blocks(rng, t, 5);
    const auto x = q8_k_activations(rng, n);
    std::vector<float> wf(static_cast<size_t>(n));
    std::vector<float> xf(static_cast<size_t>(n));
    quant_traits_reference(t).to_float(w.data(), wf.data(), n);
    quant_traits_reference(DType::Q8_K).to_float(x.data(), xf.data(), n);
    double want = 0;
    double mag = 0;
    for (size_t i = 0; i < wf.size(); ++i) {
      want += double{wf[i]} * xf[i];
      mag += std::fabs(double{wf[i]} * xf[i]);
    }
    float got = 0;
    quant_traits_reference(t).vec_dot(n, &got, w.data(), x.data());
    EXPECT_NEAR(got, want, 1e-5 * mag) << dtype_info(t).name;
  }
}

}  // namespace
}  // namespace ternion
