// K-quant formats (Q2_K .. Q6_K) and their Q8_K activations: an independent slow decoder of each GGUF layout
// against the library on every K tensor of the fixture models, hand-made blocks with known values, the
// quantizer against llama-quantize's blocks for the same checkpoint, round-trip error bounds, and the SIMD dots
// and gemm on raw blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "quant/checkpoint_weights.h"
#include "quant/random_data.h"
#include "support/test_support.h"
#include "ternion/core/fp16.h"
#include "ternion/io/gguf.h"
#include "ternion/quant/quant.h"

// The slow decoders round each product before the subtraction, as the format's reference dequantizer does;
// keep the compiler from fusing them.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ternion {
namespace {

using test::bits_of;

constexpr int kQK = 256;
const DType kKTypes[] = {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
const char* const kFixtures[] = {"kjv-llama-Q4_K_M", "kjv-llama-Q5_K_M", "kjv-llama-Q6_K", "kjv-llama-Q3_K_M",
                                 "kjv-llama-Q2_K"};

bool is_k_type(DType t) { return std::find(std::begin(kKTypes), std::end(kKTypes), t) != std::end(kKTypes); }

size_t block_bytes(DType t) { return dtype_info(t).block_bytes; }

// ---- The test's own reading of the formats (GGUF block layouts, little-endian) ----

float slow_half(const uint8_t* p) {
  const int h = p[0] | (p[1] << 8);
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
  return static_cast<float>(sign ? -v : v);
}

// Q4_K / Q5_K: 6-bit scale and min of group j from the 12 bytes at s.
void slow_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] % 64;
    *m = s[j + 4] % 64;
  } else {
    *sc = s[j + 4] % 16 + (s[j - 4] / 64) * 16;
    *m = s[j + 4] / 16 + (s[j] / 64) * 16;
  }
}

// Q2_K: scales[16] (scale low nibble, min high nibble), qs[64], d, dmin.
void slow_q2_k(const uint8_t* b, float* y) {
  const float d = slow_half(b + 80);
  const float dmin = slow_half(b + 82);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128;
    const int s = (e % 128) / 32;
    const int l = e % 32;
    const int q = (b[16 + 32 * h + l] >> (2 * s)) & 3;
    const int g = e / 16;
    const float dl = d * static_cast<float>(b[g] % 16);
    const float ml = dmin * static_cast<float>(b[g] / 16);
    y[e] = dl * static_cast<float>(q) - ml;
  }
}

// Q3_K: hmask[32], qs[64], scales[12], d; value = d * (scale - 32) * (q - 4).
void slow_q3_k(const uint8_t* b, float* y) {
  const float d = slow_half(b + 108);
  const uint8_t* sc = b + 96;
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128;
    const int s = (e % 128) / 32;
    const int l = e % 32;
    const int low = (b[32 + 32 * h + l] >> (2 * s)) & 3;
    const int high = (b[l] >> (4 * h + s)) & 1;
    const int g = e / 16;
    const int low4 = g < 8 ? sc[g] % 16 : sc[g - 8] / 16;
    const int top2 = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
    const float dl = d * static_cast<float>(low4 + 16 * top2 - 32);
    y[e] = dl * static_cast<float>(low + 4 * high - 4);
  }
}

// Q4_K: d, dmin, scales[12], qs[128].
void slow_q4_k(const uint8_t* b, float* y) {
  const float d = slow_half(b);
  const float dmin = slow_half(b + 2);
  for (int e = 0; e < kQK; ++e) {
    const int c = e / 32;
    const uint8_t byte = b[16 + 32 * (c / 2) + e % 32];
    const int q = c % 2 == 1 ? byte / 16 : byte % 16;
    int sc = 0;
    int m = 0;
    slow_scale_min(b + 4, c, &sc, &m);
    y[e] = (d * static_cast<float>(sc)) * static_cast<float>(q) - dmin * static_cast<float>(m);
  }
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128].
void slow_q5_k(const uint8_t* b, float* y) {
  const float d = slow_half(b);
  const float dmin = slow_half(b + 2);
  for (int e = 0; e < kQK; ++e) {
    const int c = e / 32;
    const uint8_t byte = b[48 + 32 * (c / 2) + e % 32];
    const int q = (c % 2 == 1 ? byte / 16 : byte % 16) + 16 * ((b[16 + e % 32] >> c) & 1);
    int sc = 0;
    int m = 0;
    slow_scale_min(b + 4, c, &sc, &m);
    y[e] = (d * static_cast<float>(sc)) * static_cast<float>(q) - dmin * static_cast<float>(m);
  }
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d; value = d * scale * (q - 32).
void slow_q6_k(const uint8_t* b, float* y) {
  const float d = slow_half(b + 208);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128;
    const int s = (e % 128) / 32;
    const int l = e % 32;
    const uint8_t low_byte = b[64 * h + 32 * (s % 2) + l];
    const int low = s < 2 ? low_byte % 16 : low_byte / 16;
    const int high = (b[128 + 32 * h + l] >> (2 * s)) & 3;
    const auto scale = static_cast<int8_t>(b[192 + e / 16]);
    y[e] = (d * static_cast<float>(scale)) * static_cast<float>(low + 16 * high - 32);
  }
}

std::vector<float> slow_decode(DType t, const uint8_t* bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const size_t bb = block_bytes(t);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint8_t* b = bytes + static_cast<size_t>(i) * bb;
    float* y = out.data() + i * kQK;
    switch (t) {
      case DType::Q2_K:
        slow_q2_k(b, y);
        break;
      case DType::Q3_K:
        slow_q3_k(b, y);
        break;
      case DType::Q4_K:
        slow_q4_k(b, y);
        break;
      case DType::Q5_K:
        slow_q5_k(b, y);
        break;
      case DType::Q6_K:
        slow_q6_k(b, y);
        break;
      default:
        ADD_FAILURE() << "no slow decoder";
    }
  }
  return out;
}

void put_half(uint8_t* p, float v) {
  const uint16_t h = fp32_to_fp16(v);
  p[0] = static_cast<uint8_t>(h & 0xff);
  p[1] = static_cast<uint8_t>(h >> 8);
}

// Offsets of the fp16 scales (d, then dmin when the type has one) in a block.
std::vector<size_t> scale_offsets(DType t) {
  switch (t) {
    case DType::Q2_K:
      return {80, 82};
    case DType::Q3_K:
      return {108};
    case DType::Q4_K:
    case DType::Q5_K:
      return {0, 2};
    case DType::Q6_K:
      return {208};
    default:
      return {};
  }
}

// Random bytes with moderate finite scales: every bit pattern of the quants and group scales occurs.
std::vector<uint8_t> random_k_blocks(std::mt19937& rng, DType t, int64_t nb) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.02f, 0.02f);
  std::vector<uint8_t> v(static_cast<size_t>(nb) * block_bytes(t));
  for (auto& b : v) b = static_cast<uint8_t>(byte(rng));
  for (int64_t i = 0; i < nb; ++i) {
    for (size_t off : scale_offsets(t)) put_half(&v[static_cast<size_t>(i) * block_bytes(t) + off], scale(rng));
  }
  return v;
}

// Q8_K blocks of random int8 values (-128 included) with their true group sums.
std::vector<uint8_t> random_q8_k_blocks(std::mt19937& rng, int64_t nb) {
  std::uniform_int_distribution<int> value(-128, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  std::vector<uint8_t> v(static_cast<size_t>(nb) * 292);
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t* b = &v[static_cast<size_t>(i) * 292];
    const float d = scale(rng);
    std::memcpy(b, &d, 4);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) {
        const auto q = static_cast<int8_t>(value(rng));
        b[4 + 16 * g + l] = static_cast<uint8_t>(q);
        sum += q;
      }
      const auto s16 = static_cast<int16_t>(sum);
      std::memcpy(b + 260 + 2 * g, &s16, 2);
    }
  }
  return v;
}

TEST(KQuants, RegisteredWithQ8KActivations) {
  // The K-quants and Q8_K have x86 SIMD kernels; Q4_K, Q5_K, Q6_K and Q8_K have NEON ones too.
  const bool x86_simd = best_isa() >= Isa::Avx2 && best_isa() <= Isa::Avx512Vnni;
  for (DType t : kKTypes) {
    ASSERT_TRUE(has_quant_traits(t)) << dtype_info(t).name;
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      EXPECT_EQ(tr->type, t);
      EXPECT_EQ(tr->vec_dot_type, DType::Q8_K);
      EXPECT_NE(tr->gemm, nullptr);
    }
    if (x86_simd) {
      EXPECT_NE(quant_traits(t).isa, Isa::Scalar) << dtype_info(t).name;
    }
  }
  // Activations are quantized on every matmul: Q8_K has a SIMD quantizer.
  if (x86_simd) {
    EXPECT_GT(quant_traits_variants(DType::Q8_K).size(), 1u);
  }
  // On ARM64 Q4_K, Q5_K and Q6_K have NEON kernels and Q8_K a NEON quantizer.
  // (i8mm CPUs run their dot-product records: the i8mm ones are Q4_0's and Q8_0's.)
  if (best_isa() >= Isa::Neon) {
    const Isa want = best_isa() == Isa::Neon ? Isa::Neon : Isa::NeonDot;
    for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      EXPECT_EQ(quant_traits(t).isa, want) << dtype_info(t).name;
    }
    EXPECT_EQ(quant_traits(DType::Q8_K).isa, Isa::Neon);
  }
}

// Every K tensor of the fixture models decodes as the slow decoder says, on every kernel level.
TEST(KQuants, FixtureTensorsDecodeLikeSlowDecoder) {
  std::map<DType, int> tensors;
  for (const char* name : kFixtures) {
    const auto path = test::fixture(std::string("gguf/") + name + ".gguf");
    TERNION_REQUIRE_FIXTURE(path);
    const GgufFile f = GgufFile::open(path.string());
    std::map<DType, int> in_file;
    for (const GgufTensorInfo& t : f.tensors()) {
      if (!is_k_type(t.type)) continue;
      if (test::slow_build() && in_file[t.type] >= 2) continue;  // shortened under sanitizers
      ++in_file[t.type];
      const auto n = static_cast<int64_t>(t.n_elements);
      const auto want = slow_decode(t.type, t.data, n);
      for (const QuantTraits* tr : quant_traits_variants(t.type)) {
        std::vector<float> got(static_cast<size_t>(n));
        tr->to_float(t.data, got.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(bits_of(want[i]), bits_of(got[i]))
              << name << " " << t.name << " " << isa_name(tr->isa) << " element " << i;
        }
      }
      ++tensors[t.type];
    }
  }
  for (DType t : kKTypes) EXPECT_GT(tensors[t], 0) << dtype_info(t).name << " missing from the fixtures";
}

// ---- Hand-made blocks ----

std::vector<float> decode_all_levels(DType t, const uint8_t* block, std::vector<std::vector<float>>* per_level) {
  for (const QuantTraits* tr : quant_traits_variants(t)) {
    std::vector<float> y(kQK);
    tr->to_float(block, y.data(), kQK);
    per_level->push_back(y);
  }
  return per_level->front();
}

TEST(KQuants, Q4_KKnownBlockDecodes) {
  uint8_t b[144] = {};
  put_half(b, 0.5f);       // d
  put_half(b + 2, 0.25f);  // dmin
  // group 0: scale 3, min 2; group 5: scale 33 (0x21), min 17 (0x11)
  b[4 + 0] = 3;
  b[4 + 4] = 2;
  b[4 + 8 + 1] = 0x11;    // low nibbles of scale 5 (1) and min 5 (1)
  b[4 + 1] |= 0x2 << 6;   // top bits of scale 5
  b[4 + 5] |= 0x1 << 6;   // top bits of min 5
  b[16 + 0] = 0x7A;       // element 0 = 10, element 32 = 7 (group 1: scale 0, min 0)
  b[16 + 64 + 3] = 0xF0;  // element 128 + 3 = 0 (group 4), element 160 + 3 = 15 (group 5)
  std::vector<std::vector<float>> levels;
  decode_all_levels(DType::Q4_K, b, &levels);
  for (const auto& y : levels) {
    EXPECT_EQ(y[0], 0.5f * 3 * 10 - 0.25f * 2);
    EXPECT_EQ(y[1], -0.5f);  // q = 0
    EXPECT_EQ(y[32], 0.0f);
    EXPECT_EQ(y[163], 0.5f * 33 * 15 - 0.25f * 17);
    EXPECT_EQ(y[160], -0.25f * 17);
  }
}

TEST(KQuants, Q5_KKnownBlockDecodes) {
  uint8_t b[176] = {};
  put_half(b, 2.0f);
  put_half(b + 2, 1.0f);
  b[4 + 3] = 5;           // scale 3
  b[4 + 7] = 4;           // min 3
  b[48 + 32 + 2] = 0x90;  // element 96 + 2 (group 3): high nibble 9
  b[16 + 2] = 1 << 3;     // fifth bit of element 32 * 3 + 2
  b[48 + 32 + 4] = 0x0F;  // element 64 + 4 (group 2, scale 0): 15
  std::vector<std::vector<float>> levels;
  decode_all_levels(DType::Q5_K, b, &levels);
  for (const auto& y : levels) {
    EXPECT_EQ(y[98], 2.0f * 5 * 25 - 1.0f * 4);
    EXPECT_EQ(y[97], -4.0f);
    EXPECT_EQ(y[68], 0.0f);
  }
}

TEST(KQuants, Q6_KKnownBlockDecodes) {
  uint8_t b[210] = {};
  put_half(b + 208, 0.125f);
  b[192 + 0] = 8;                          // group 0 scale 8
  b[192 + 15] = static_cast<uint8_t>(-2);  // group 15 scale -2
  b[0] = 0x3F;                             // element 0 low 4 bits 15; element 64 low bits 3
  b[128] = 0x03 | (0x1 << 4);              // element 0 high bits 3 -> q = 63; element 64 high 1 -> q = 19
  b[64 + 32 + 31] = 0xA0;                  // element 128 + 96 + 31 = 255: low bits 10
  b[128 + 32 + 31] = 0x2 << 6;             // element 255 high bits 2 -> q = 42
  std::vector<std::vector<float>> levels;
  decode_all_levels(DType::Q6_K, b, &levels);
  for (const auto& y : levels) {
    EXPECT_EQ(y[0], 0.125f * 8 * 31);
    EXPECT_EQ(y[1], 0.125f * 8 * -32);
    EXPECT_EQ(y[64], 0.0f);  // group 4 has scale 0
    EXPECT_EQ(y[255], 0.125f * -2 * 10);
  }
}

TEST(KQuants, Q3_KKnownBlockDecodes) {
  uint8_t b[110] = {};
  put_half(b + 108, 0.5f);
  // scale 0 = 40 (stored 8 + 32: low 4 bits 8, top bits 2); scale 13 = -30 (stored 2: low nibble 2 in the high
  // half of byte 5, top bits 0 in bits 6-7 of byte 8 + 1)
  b[96 + 0] = 0x08;
  b[96 + 8] = 0x02;
  b[96 + 5] = 0x20;
  b[32 + 0] = 0x03;            // element 0: low bits 3, hmask bit 0 clear -> q = -1
  b[0] = 0x01 << 1;            // element 32 (s = 1): high bit set, low bits 0 -> q = 0 ... group 2 has scale -32
  b[32 + 32 + 16] = 0x2 << 2;  // element 128 + 32 + 16 = 176 (group 11): low bits 2
  b[16] = 0x1 << 5;            // its high bit (4h + s = 5) -> q = 2
  b[32 + 32 + 17] = 0x1 << 4;  // element 128 + 64 + 17 = 209 (group 13): low bits 1, high bit clear -> q = -3
  std::vector<std::vector<float>> levels;
  decode_all_levels(DType::Q3_K, b, &levels);
  for (const auto& y : levels) {
    EXPECT_EQ(y[0], 0.5f * 8 * -1);  // 40 - 32 = 8
    EXPECT_EQ(y[1], 0.5f * 8 * -4);
    EXPECT_EQ(y[32], 0.0f);
    EXPECT_EQ(y[33], 0.5f * -32 * -4);
    EXPECT_EQ(y[176], 0.5f * -32 * 2);
    EXPECT_EQ(y[209], 0.5f * -30 * -3);
  }
}

TEST(KQuants, Q2_KKnownBlockDecodes) {
  uint8_t b[84] = {};
  put_half(b + 80, 0.5f);
  put_half(b + 82, 0.25f);
  b[0] = 0x37;                   // group 0: scale 7, min 3
  b[15] = 0xF1;                  // group 15: scale 1, min 15
  b[16 + 0] = 0x3 | (0x2 << 2);  // element 0 = 3, element 32 = 2 (group 2: scale 0, min 0)
  b[16 + 32 + 31] = 0x1 << 6;    // element 128 + 96 + 31 = 255 = 1
  std::vector<std::vector<float>> levels;
  decode_all_levels(DType::Q2_K, b, &levels);
  for (const auto& y : levels) {
    EXPECT_EQ(y[0], 0.5f * 7 * 3 - 0.25f * 3);
    EXPECT_EQ(y[1], -0.75f);
    EXPECT_EQ(y[32], 0.0f);
    EXPECT_EQ(y[255], 0.5f * 1 * 1 - 0.25f * 15);
    EXPECT_EQ(y[254], -0.25f * 15);
  }
}

// ---- The quantizer against llama-quantize ----

// Tensors whose checkpoint rows are stored unpermuted in the GGUF.
bool unpermuted(const std::string& name) {
  for (const char* part : {"attn_v.", "attn_output.", "ffn_gate.", "ffn_up.", "ffn_down."}) {
    if (name.find(part) != std::string::npos) return true;
  }
  return name == "token_embd.weight" || name == "output.weight";
}

struct QuantizerScore {
  int64_t blocks = 0;
  int64_t identical = 0;
  double err_ours = 0;  // sum of squared dequantization errors
  double err_fixture = 0;
  int tensors = 0;
};

double squared_error(DType t, const uint8_t* q, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  quant_traits_reference(t).to_float(q, y.data(), static_cast<int64_t>(x.size()));
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) e += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
  return e;
}

TEST(KQuants, QuantizerMatchesLlamaQuantize) {
  const auto ckpt = test::checkpoint_path();
  TERNION_REQUIRE_FIXTURE(ckpt);
  std::map<DType, QuantizerScore> score;
  for (const char* name : kFixtures) {
    const auto path = test::fixture(std::string("gguf/") + name + ".gguf");
    TERNION_REQUIRE_FIXTURE(path);
    const GgufFile f = GgufFile::open(path.string());
    std::map<DType, int> in_file;
    for (const GgufTensorInfo& t : f.tensors()) {
      if (!is_k_type(t.type) || !unpermuted(t.name)) continue;
      if (test::slow_build() && in_file[t.type] >= 2) continue;  // shortened under sanitizers
      ++in_file[t.type];
      const test::CheckpointTensor w = test::checkpoint_tensor(t.name);
      ASSERT_EQ(static_cast<uint64_t>(w.data.size()), t.n_elements) << t.name;
      ASSERT_EQ(static_cast<uint64_t>(w.cols), t.shape[0]) << t.name;
      const auto n = static_cast<int64_t>(w.data.size());
      std::vector<uint8_t> ours(t.n_bytes);
      quant_traits(t.type).from_float(w.data.data(), ours.data(), n);
      QuantizerScore& s = score[t.type];
      const size_t bb = block_bytes(t.type);
      for (size_t b = 0; b < t.n_bytes / bb; ++b) {
        ++s.blocks;
        if (std::memcmp(&ours[b * bb], t.data + b * bb, bb) == 0) ++s.identical;
      }
      s.err_ours += squared_error(t.type, ours.data(), w.data);
      s.err_fixture += squared_error(t.type, t.data, w.data);
      ++s.tensors;
    }
  }
  for (DType t : kKTypes) {
    const QuantizerScore& s = score[t];
    ASSERT_GT(s.blocks, 0) << dtype_info(t).name;
    const double same = double(s.identical) / double(s.blocks);
    std::printf("%s: %d tensors, %lld of %lld super-blocks identical (%.3f %%), squared error %.6g (fixture %.6g)\n",
                std::string(dtype_info(t).name).c_str(), s.tensors, static_cast<long long>(s.identical),
                static_cast<long long>(s.blocks), 100.0 * same, s.err_ours, s.err_fixture);
    EXPECT_GE(same, 0.999) << dtype_info(t).name;
    EXPECT_LE(s.err_ours, s.err_fixture * 1.001) << dtype_info(t).name;
  }
}

// ---- Round trips ----

TEST(KQuants, RoundTripErrorBounds) {
  // Relative rms error of normal data; 2-bit is coarse, 6-bit fine.
  const std::map<DType, double> kMaxRel = {
      {DType::Q2_K, 0.40}, {DType::Q3_K, 0.20}, {DType::Q4_K, 0.10}, {DType::Q5_K, 0.05}, {DType::Q6_K, 0.025}};
  std::mt19937 rng(21);
  const int64_t n = kQK * 32;
  const auto x = test::normal_floats(rng, n, 0.05f);
  for (DType t : kKTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    std::vector<uint8_t> q(static_cast<size_t>(n / kQK) * block_bytes(t));
    ref.from_float(x.data(), q.data(), n);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      std::vector<uint8_t> q2(q.size());
      tr->from_float(x.data(), q2.data(), n);
      ASSERT_EQ(q, q2) << isa_name(tr->isa);
      std::vector<float> back(static_cast<size_t>(n));
      tr->to_float(q.data(), back.data(), n);
      double err2 = 0;
      double sig2 = 0;
      for (int64_t i = 0; i < n; ++i) {
        err2 += (double(back[i]) - x[i]) * (double(back[i]) - x[i]);
        sig2 += double(x[i]) * x[i];
      }
      const double rel = std::sqrt(err2 / sig2);
      EXPECT_LT(rel, kMaxRel.at(t)) << dtype_info(t).name;
      if (tr->isa == Isa::Scalar)
        std::printf("%s: relative rms error %.4f\n", std::string(dtype_info(t).name).c_str(), rel);
    }
  }
}

// All-zero super-blocks decode to zeros; extreme magnitudes neither crash nor produce non-finite scales out of
// finite data of moderate range.
TEST(KQuants, ZeroAndExtremeInputs) {
  std::mt19937 rng(22);
  for (DType t : kKTypes) {
    const QuantTraits& tr = quant_traits(t);
    std::vector<float> zeros(kQK * 2, 0.0f);
    zeros[kQK] = -0.0f;
    std::vector<uint8_t> q(2 * block_bytes(t));
    tr.from_float(zeros.data(), q.data(), kQK * 2);
    std::vector<float> back(kQK * 2, 1.0f);
    tr.to_float(q.data(), back.data(), kQK * 2);
    for (float v : back) ASSERT_EQ(v, 0.0f) << dtype_info(t).name;
    // Any input gives valid bytes (the decoders read every pattern); just run them.
    const auto wild = test::random_floats(rng, kQK * 8);
    std::vector<uint8_t> qw(8 * block_bytes(t));
    tr.from_float(wild.data(), qw.data(), kQK * 8);
    std::vector<float> wb(kQK * 8);
    tr.to_float(qw.data(), wb.data(), kQK * 8);
    // A single large value among zeros is reproduced within a coarse step.
    std::vector<float> spike(kQK, 0.0f);
    spike[37] = 3.0f;
    tr.from_float(spike.data(), q.data(), kQK);
    tr.to_float(q.data(), back.data(), kQK);
    EXPECT_NEAR(back[37], 3.0f, 0.3f) << dtype_info(t).name;
    EXPECT_NEAR(back[0], 0.0f, 0.3f) << dtype_info(t).name;
  }
}

// ---- Dots and gemm on raw blocks ----

TEST(KQuants, DotsOnRawBlocksMatchReference) {
  std::mt19937 rng(23);
  for (DType t : kKTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      for (int64_t nb : {1, 2, 7, 8, 9, 16, 17}) {
        const auto w = random_k_blocks(rng, t, nb);
        const auto x = random_q8_k_blocks(rng, nb);
        std::vector<uint8_t> wm(w.size() + 3);
        std::memcpy(wm.data() + 3, w.data(), w.size());  // unaligned
        float want = 0;
        float got = 1;
        ref.vec_dot(nb * kQK, &want, w.data(), x.data());
        tr->vec_dot(nb * kQK, &got, wm.data() + 3, x.data());
        ASSERT_EQ(bits_of(want), bits_of(got)) << dtype_info(t).name << "/" << isa_name(tr->isa) << " nb=" << nb;
      }
    }
  }
}

// The integer part is exact: a dot recomputed in double from the slow decoder agrees to float rounding.
TEST(KQuants, DotAgreesWithSlowDecoder) {
  std::mt19937 rng(24);
  const int64_t nb = 6;
  for (DType t : kKTypes) {
    const auto w = random_k_blocks(rng, t, nb);
    const auto x = random_q8_k_blocks(rng, nb);
    const auto wf = slow_decode(t, w.data(), nb * kQK);
    double want = 0;
    double mag = 0;
    for (int64_t i = 0; i < nb * kQK; ++i) {
      float d = 0;
      std::memcpy(&d, &x[static_cast<size_t>(i / kQK) * 292], 4);
      const double xv = double(d) * static_cast<int8_t>(x[static_cast<size_t>(i / kQK) * 292 + 4 + i % kQK]);
      want += double(wf[i]) * xv;
      mag += std::fabs(double(wf[i]) * xv);
    }
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      float got = 0;
      tr->vec_dot(nb * kQK, &got, w.data(), x.data());
      EXPECT_NEAR(got, want, mag * 1e-5 + 1e-6) << dtype_info(t).name << "/" << isa_name(tr->isa);
    }
  }
}

TEST(KQuants, GemmOnRawBlocksMatchesVecDot) {
  std::mt19937 rng(25);
  const int64_t nb = 3;
  const int64_t n = nb * kQK;
  for (DType t : kKTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    const size_t wrow = nb * block_bytes(t) + 5;
    const size_t xrow = nb * 292 + 4;
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      for (int64_t rows : {1, 2, 5, 8, 11}) {
        for (int64_t tokens : {1, 2, 3, 4, 5, 9}) {
          std::vector<uint8_t> w(wrow * rows);
          std::vector<uint8_t> x(xrow * tokens);
          for (int64_t r = 0; r < rows; ++r) {
            const auto row = random_k_blocks(rng, t, nb);
            std::memcpy(&w[r * wrow], row.data(), row.size());
          }
          for (int64_t k = 0; k < tokens; ++k) {
            const auto row = random_q8_k_blocks(rng, nb);
            std::memcpy(&x[k * xrow], row.data(), row.size());
          }
          const int64_t ldo = rows + 2;
          std::vector<float> out(static_cast<size_t>(ldo * tokens), -3.0f);
          tr->gemm(n, w.data(), wrow, rows, x.data(), xrow, tokens, out.data(), ldo);
          for (int64_t k = 0; k < tokens; ++k) {
            for (int64_t r = 0; r < ldo; ++r) {
              if (r >= rows) {
                ASSERT_EQ(out[k * ldo + r], -3.0f);
                continue;
              }
              float want = 0;
              ref.vec_dot(n, &want, &w[r * wrow], &x[k * xrow]);
              ASSERT_EQ(bits_of(want), bits_of(out[k * ldo + r]))
                  << dtype_info(t).name << "/" << isa_name(tr->isa) << " rows=" << rows << " tokens=" << tokens;
            }
          }
        }
      }
    }
  }
}

// Prompt batches: many tokens and rows in groups of 16 (the packed AVX-512 path), rows left over, K in chunks.
TEST(KQuants, GemmOnLongRowsAndManyTokensMatchesVecDot) {
  std::mt19937 rng(27);
  const int64_t nb = 19;
  const int64_t n = nb * kQK;
  const int64_t tokens = test::slow_build() ? 20 : 140;
  for (DType t : kKTypes) {
    const QuantTraits& ref = quant_traits_reference(t);
    const size_t wrow = nb * block_bytes(t);
    const size_t xrow = nb * 292;
    for (int64_t rows : {16, 35}) {
      std::vector<uint8_t> w(wrow * rows);
      std::vector<uint8_t> x(xrow * tokens);
      for (int64_t r = 0; r < rows; ++r) {
        const auto row = random_k_blocks(rng, t, nb);
        std::memcpy(&w[r * wrow], row.data(), row.size());
      }
      for (int64_t k = 0; k < tokens; ++k) {
        const auto row = random_q8_k_blocks(rng, nb);
        std::memcpy(&x[k * xrow], row.data(), row.size());
      }
      std::vector<float> want(static_cast<size_t>(rows * tokens));
      for (int64_t k = 0; k < tokens; ++k) {
        for (int64_t r = 0; r < rows; ++r) ref.vec_dot(n, &want[k * rows + r], &w[r * wrow], &x[k * xrow]);
      }
      for (const QuantTraits* tr : quant_traits_variants(t)) {
        std::vector<float> out(static_cast<size_t>(rows * tokens));
        tr->gemm(n, w.data(), wrow, rows, x.data(), xrow, tokens, out.data(), rows);
        for (size_t i = 0; i < out.size(); ++i) {
          ASSERT_EQ(bits_of(want[i]), bits_of(out[i]))
              << dtype_info(t).name << "/" << isa_name(tr->isa) << " rows=" << rows << " i=" << i;
        }
      }
    }
  }
}

// ---- Q8_K activations ----

TEST(KQuants, Q8_KFromFloatMatchesReference) {
  std::mt19937 rng(26);
  const QuantTraits& ref = quant_traits_reference(DType::Q8_K);
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_K)) {
    for (int64_t nb : {1, 2, 3, 7, 16}) {
      const int64_t n = nb * kQK;
      auto x = test::random_floats(rng, n);
      for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = static_cast<float>(j - 16) + 0.5f;  // ties
      if (nb > 3) {
        std::fill(x.begin() + kQK, x.begin() + 3 * kQK, 0.0f);  // an all-zero block
        x[2 * kQK + 5] = -1e-40f;                               // a subnormal max: iscale overflows
        x[3 * kQK + 7] = NAN;                                   // skipped by the max, quantized to 0
        x[3 * kQK + 9] = -1e-40f;
      }
      if (nb > 4) x[4 * kQK + 200] = INFINITY;
      std::vector<float> xs(x.size() + 1);
      std::memcpy(xs.data() + 1, x.data(), x.size() * 4);  // unaligned source
      std::vector<uint8_t> want(static_cast<size_t>(nb) * 292);
      std::vector<uint8_t> got(want.size() + 1);
      ref.from_float(x.data(), want.data(), n);
      tr->from_float(xs.data() + 1, got.data() + 1, n);
      ASSERT_EQ(std::memcmp(want.data(), got.data() + 1, want.size()), 0) << isa_name(tr->isa) << " nb=" << nb;
    }
  }
}

TEST(KQuants, Q8_KKnownValues) {
  std::vector<float> x(kQK, 0.0f);
  x[0] = 0.5f;
  x[1] = -2.0f;  // the largest magnitude maps to -127: iscale = -127 / -2 = 63.5
  x[17] = 1.0f;
  for (const QuantTraits* tr : quant_traits_variants(DType::Q8_K)) {
    uint8_t b[292];
    tr->from_float(x.data(), b, kQK);
    float d = 0;
    std::memcpy(&d, b, 4);
    EXPECT_EQ(d, 1.0f / 63.5f);
    EXPECT_EQ(static_cast<int8_t>(b[4 + 1]), -127);
    EXPECT_EQ(static_cast<int8_t>(b[4 + 0]), 32);   // 31.75
    EXPECT_EQ(static_cast<int8_t>(b[4 + 17]), 64);  // 63.5: ties to even
    int16_t bsums[16];
    std::memcpy(bsums, b + 260, 32);
    EXPECT_EQ(bsums[0], 32 - 127);
    EXPECT_EQ(bsums[1], 64);
    EXPECT_EQ(bsums[15], 0);
  }
}

}  // namespace
}  // namespace ternion
