// The ternary types TQ1_0 and TQ2_0: an independent slow decoder of the documented layouts, hand-made blocks,
// the kjv-trilm fixture files (every tensor decodes to three values, both files agree, and our quantizer remakes
// their bytes from the checkpoint), and the dot kernels of every level against an independent exact dot.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/checkpoint_weights.h"
#include "quant/random_data.h"
#include "support/test_support.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

constexpr int kBlock = 256;
constexpr size_t kTQ1Bytes = 54;
constexpr size_t kTQ2Bytes = 66;
constexpr size_t kQ8KBytes = 292;

std::string label(const QuantTraits& tr) {
  return std::string(dtype_info(tr.type).name) + "/" + std::string(isa_name(tr.isa));
}

size_t block_bytes(DType t) { return t == DType::TQ1_0 ? kTQ1Bytes : kTQ2Bytes; }

// ---- The test's own reading of the formats ---------------------------------------------------------------

// An IEEE half, decoded without library code.
double slow_half(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v = exp == 0    ? std::ldexp(mant, -24)
             : exp == 31 ? (mant == 0 ? INFINITY : NAN)
                         : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -v : v;
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// TQ2_0 element e: byte 32 * (e / 128) + e % 32, bits 2 * ((e % 128) / 32) and up; the fp16 scale is at byte 64.
int slow_trit_tq2_0(const uint8_t* blk, int e) { return (blk[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

// TQ1_0 element e: a byte of five (or, in qh, four) base-3 digits, most significant first. A byte b holds the
// number floor(b * 243 / 256) (it was stored as ceil(q * 256 / 243)). The fp16 scale is at byte 52.
int slow_trit_tq1_0(const uint8_t* blk, int e) {
  int byte = 0;
  int k = 0;
  if (e < 160) {
    byte = blk[e % 32];
    k = e / 32;
  } else if (e < 240) {
    byte = blk[32 + (e - 160) % 16];
    k = (e - 160) / 16;
  } else {
    byte = blk[48 + (e - 240) % 4];
    k = (e - 240) / 4;
  }
  const int q = (byte * 243) >> 8;
  int p = 1;
  for (int i = 0; i < 4 - k; ++i) p *= 3;
  return q / p % 3;
}

int slow_trit(DType t, const uint8_t* blk, int e) {
  return t == DType::TQ1_0 ? slow_trit_tq1_0(blk, e) : slow_trit_tq2_0(blk, e);
}

double slow_scale(DType t, const uint8_t* blk) { return slow_half(le16(blk + (t == DType::TQ1_0 ? 52 : 64))); }

std::vector<float> slow_decode(DType t, const uint8_t* bytes, int64_t n_blocks) {
  std::vector<float> out;
  out.reserve(static_cast<size_t>(n_blocks) * kBlock);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = bytes + static_cast<size_t>(b) * block_bytes(t);
    const double d = slow_scale(t, blk);
    for (int e = 0; e < kBlock; ++e) out.push_back(static_cast<float>((slow_trit(t, blk, e) - 1) * d));
  }
  return out;
}

// The dot as the documentation states it: per block the exact integer sum of (t - 1) * q8, then
// sum = fma(isum, d_w * d_x, sum) in block order.
float slow_dot(DType t, const uint8_t* w, const uint8_t* x, int64_t n_blocks) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* wb = w + static_cast<size_t>(b) * block_bytes(t);
    const uint8_t* xb = x + static_cast<size_t>(b) * kQ8KBytes;
    int64_t isum = 0;
    for (int e = 0; e < kBlock; ++e) isum += (slow_trit(t, wb, e) - 1) * static_cast<int8_t>(xb[4 + e]);
    float dx = 0;
    std::memcpy(&dx, xb, 4);
    sum = std::fma(static_cast<float>(isum), static_cast<float>(slow_scale(t, wb)) * dx, sum);
  }
  return sum;
}

// ---- Random blocks ---------------------------------------------------------------------------------------

// Random bytes with a random finite fp16 scale: every code appears (for TQ2_0 also the code 3, which means +2).
std::vector<uint8_t> random_ternary_blocks(std::mt19937& rng, DType t, int64_t n_blocks) {
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t bb = block_bytes(t);
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * bb);
  for (auto& b : v) b = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint16_t d = test::random_finite_half(rng);
    std::memcpy(&v[static_cast<size_t>(b) * bb + bb - 2], &d, 2);
  }
  return v;
}

// Q8_K blocks with random values in [-128, 127] (the kernels must be exact even for -128), a random scale and
// consistent group sums.
std::vector<uint8_t> random_q8_k_blocks(std::mt19937& rng, int64_t n_blocks) {
  std::uniform_int_distribution<int> value(-128, 127);
  std::uniform_real_distribution<float> scale(-0.1f, 0.1f);
  std::vector<uint8_t> v(static_cast<size_t>(n_blocks) * kQ8KBytes);
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = &v[static_cast<size_t>(b) * kQ8KBytes];
    const float d = scale(rng);
    std::memcpy(blk, &d, 4);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) {
        const int q = value(rng);
        blk[4 + g * 16 + l] = static_cast<uint8_t>(static_cast<int8_t>(q));
        sum += q;
      }
      const auto s = static_cast<int16_t>(sum);
      std::memcpy(blk + 260 + 2 * g, &s, 2);
    }
  }
  return v;
}

// Ternary weights quantized by the reference from values s * {-1, 0, 1} (plus noise when `noisy`).
std::vector<uint8_t> quantized_ternary(std::mt19937& rng, DType t, int64_t n, bool noisy) {
  std::uniform_int_distribution<int> trit(-1, 1);
  std::normal_distribution<float> noise(0.0f, 0.2f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = 0.03f * static_cast<float>(trit(rng)) + (noisy ? 0.03f * noise(rng) : 0.0f);
  std::vector<uint8_t> w(static_cast<size_t>(n / kBlock) * block_bytes(t));
  quant_traits_reference(t).from_float(x.data(), w.data(), n);
  return w;
}

std::vector<uint8_t> quantized_activations(std::mt19937& rng, int64_t n) {
  const auto x = test::normal_floats(rng, n);
  std::vector<uint8_t> a(static_cast<size_t>(n / kBlock) * kQ8KBytes);
  quant_traits_reference(DType::Q8_K).from_float(x.data(), a.data(), n);
  return a;
}

// ---- A small reader of GGUF tensors (the test's own, independent of the io layer) --------------------------

struct GgufTensor {
  std::string name;
  uint32_t type = 0;
  int64_t cols = 0;  // ne[0]
  int64_t rows = 1;  // product of the other dimensions
  const uint8_t* data = nullptr;
};

struct GgufFile {
  std::vector<uint8_t> bytes;
  std::vector<GgufTensor> tensors;
  const GgufTensor* find(const std::string& name) const {
    for (const auto& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
};

class Cursor {
 public:
  explicit Cursor(const std::vector<uint8_t>& b) : b_(b) {}
  template <class T>
  T get() {
    if (pos_ + sizeof(T) > b_.size()) throw std::runtime_error("GGUF: truncated");
    T v;
    std::memcpy(&v, &b_[pos_], sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str() {
    const auto n = get<uint64_t>();
    if (n > b_.size() - pos_) throw std::runtime_error("GGUF: bad string");
    std::string s(reinterpret_cast<const char*>(&b_[pos_]), n);
    pos_ += n;
    return s;
  }
  // Skips a value of GGUF type `type`; returns it when it is an unsigned 32-bit integer (the alignment).
  uint64_t skip(uint32_t type) {
    static const size_t kSizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      (void)str();
    } else if (type == 9) {
      const auto inner = get<uint32_t>();
      const auto n = get<uint64_t>();
      for (uint64_t i = 0; i < n; ++i) skip(inner);
    } else if (type < 13) {
      if (type == 4) return get<uint32_t>();
      pos_ += kSizes[type];
    } else {
      throw std::runtime_error("GGUF: bad value type");
    }
    return 0;
  }
  size_t pos() const { return pos_; }

 private:
  const std::vector<uint8_t>& b_;
  size_t pos_ = 0;
};

GgufFile read_gguf(const std::string& path) {
  GgufFile f;
  std::ifstream in(path, std::ios::binary);
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  Cursor c(f.bytes);
  if (c.get<uint32_t>() != 0x46554747u) throw std::runtime_error(path + ": not GGUF");
  (void)c.get<uint32_t>();  // version
  const auto n_tensors = c.get<uint64_t>();
  const auto n_kv = c.get<uint64_t>();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.str();
    const uint64_t v = c.skip(c.get<uint32_t>());
    if (key == "general.alignment") alignment = v;
  }
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.str();
    const auto n_dims = c.get<uint32_t>();
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = static_cast<int64_t>(c.get<uint64_t>());
      if (d == 0) {
        t.cols = ne;
      } else {
        t.rows *= ne;
      }
    }
    t.type = c.get<uint32_t>();
    offsets.push_back(c.get<uint64_t>());
    f.tensors.push_back(t);
  }
  const uint64_t data_start = (c.pos() + alignment - 1) / alignment * alignment;
  for (size_t i = 0; i < f.tensors.size(); ++i) f.tensors[i].data = f.bytes.data() + data_start + offsets[i];
  return f;
}

bool is_ternary(uint32_t type) {
  return type == static_cast<uint32_t>(DType::TQ1_0) || type == static_cast<uint32_t>(DType::TQ2_0);
}

// ---- Formats ---------------------------------------------------------------------------------------------

TEST(TernaryFormats, RegisteredWithQ8KActivations) {
  for (DType t : {DType::TQ1_0, DType::TQ2_0}) {
    ASSERT_TRUE(has_quant_traits(t));
    EXPECT_EQ(quant_traits(t).vec_dot_type, DType::Q8_K);
    EXPECT_EQ(dtype_info(t).block_size, kBlock);
    EXPECT_EQ(dtype_info(t).block_bytes, block_bytes(t));
    EXPECT_EQ(quant_traits_reference(t).isa, Isa::Scalar);
    for (const QuantTraits* tr : quant_traits_variants(t)) std::printf("%s kernels\n", label(*tr).c_str());
  }
}

// Hand-made blocks: TQ2_0 with element e = (e % 3) - 1 (codes written by hand), TQ1_0 with the same trits packed
// by the formula of the documentation.
TEST(TernaryFormats, KnownBlocksDecode) {
  uint8_t tq2[kTQ2Bytes] = {};
  for (int e = 0; e < kBlock; ++e)
    tq2[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((e % 3) << (2 * ((e % 128) / 32)));
  tq2[64] = 0x00;  // d = 0xc000 = -2
  tq2[65] = 0xc0;
  uint8_t tq1[kTQ1Bytes] = {};
  auto pack = [](const int* t, int count) {
    int q = 0;
    for (int k = 0; k < 5; ++k) q = q * 3 + (k < count ? t[k] : 0);
    return static_cast<uint8_t>((q * 256 + 242) / 243);
  };
  for (int m = 0; m < 32; ++m) {
    int t[5];
    for (int k = 0; k < 5; ++k) t[k] = (32 * k + m) % 3;
    tq1[m] = pack(t, 5);
  }
  for (int m = 0; m < 16; ++m) {
    int t[5];
    for (int k = 0; k < 5; ++k) t[k] = (160 + 16 * k + m) % 3;
    tq1[32 + m] = pack(t, 5);
  }
  for (int j = 0; j < 4; ++j) {
    int t[4];
    for (int k = 0; k < 4; ++k) t[k] = (240 + 4 * k + j) % 3;
    tq1[48 + j] = pack(t, 4);
  }
  tq1[52] = 0x00;
  tq1[53] = 0xc0;
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    for (const QuantTraits* tr : quant_traits_variants(type)) {
      float out[kBlock];
      tr->to_float(type == DType::TQ1_0 ? tq1 : tq2, out, kBlock);
      for (int e = 0; e < kBlock; ++e) ASSERT_EQ(out[e], static_cast<float>(e % 3 - 1) * -2.0f) << label(*tr) << e;
    }
  }
}

TEST(TernaryFormats, DequantizeMatchesSlowDecoder) {
  std::mt19937 rng(21);
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    for (int64_t nb : {1, 3, 8, 9, 37}) {
      const auto w = random_ternary_blocks(rng, type, nb);
      const auto want = slow_decode(type, w.data(), nb);
      std::vector<uint8_t> shifted(w.size() + 1);
      std::memcpy(shifted.data() + 1, w.data(), w.size());  // unaligned source
      for (const QuantTraits* tr : quant_traits_variants(type)) {
        std::vector<float> got(static_cast<size_t>(nb * kBlock) + 1, -7.0f);
        tr->to_float(shifted.data() + 1, got.data() + 1, nb * kBlock);
        for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(bits_of(got[i + 1]), bits_of(want[i])) << label(*tr) << i;
        ASSERT_EQ(got[0], -7.0f) << "to_float wrote outside its row";
      }
    }
  }
}

// Ties of |x| / d = 0.5 round away from zero; d is the largest |x|; an all-zero block has d = 0 and all trits 1.
TEST(TernaryFormats, QuantizerRounding) {
  std::vector<float> x(kBlock, 0.0f);
  x[0] = -4.0f;                       // amax: d = 4
  x[1] = 2.0f;                        // 0.5: tie, away from zero -> +1
  x[2] = -2.0f;                       // -0.5 -> -1
  x[3] = std::nextafter(2.0f, 0.0f);  // just under a half -> 0
  x[130] = 3.0f;
  x[255] = -1.9f;
  std::vector<int> want(kBlock, 1);
  want[0] = 0;
  want[1] = 2;
  want[2] = 0;
  want[130] = 2;
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    for (const QuantTraits* tr : quant_traits_variants(type)) {
      std::vector<uint8_t> blk(block_bytes(type));
      tr->from_float(x.data(), blk.data(), kBlock);
      EXPECT_EQ(le16(&blk[blk.size() - 2]), 0x4400) << label(*tr);  // 4.0
      for (int e = 0; e < kBlock; ++e) ASSERT_EQ(slow_trit(type, blk.data(), e), want[e]) << label(*tr) << " e=" << e;
      const std::vector<float> zeros(kBlock, 0.0f);
      tr->from_float(zeros.data(), blk.data(), kBlock);
      EXPECT_EQ(le16(&blk[blk.size() - 2]), 0) << label(*tr);
      for (int e = 0; e < kBlock; ++e) ASSERT_EQ(slow_trit(type, blk.data(), e), 1) << label(*tr);
    }
  }
}

// Ternary values s * {-1, 0, 1} survive a round trip up to the fp16 rounding of s, in both types.
TEST(TernaryFormats, TernaryValuesRoundTrip) {
  std::mt19937 rng(22);
  std::uniform_int_distribution<int> trit(-1, 1);
  const float s = 0.0123f;
  const float s16 = fp16_to_fp32(fp32_to_fp16(s));
  const int64_t n = 9 * kBlock;
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = s * static_cast<float>(trit(rng));
  x[5] = s;  // every block has a non-zero value (d = s)
  for (int64_t b = 0; b < n / kBlock; ++b) x[static_cast<size_t>(b * kBlock)] = -s;
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    const QuantTraits& tr = quant_traits(type);
    std::vector<uint8_t> q(static_cast<size_t>(n / kBlock) * block_bytes(type));
    std::vector<float> back(static_cast<size_t>(n));
    tr.from_float(x.data(), q.data(), n);
    tr.to_float(q.data(), back.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(back[i], x[i] == 0.0f ? 0.0f : std::copysign(s16, x[i])) << label(tr) << " i=" << i;
    }
  }
}

// ---- The kjv-trilm fixtures ------------------------------------------------------------------------------

// Every TQ tensor of both files: each level's to_float equals the slow decoder; the tensor holds exactly the
// three values {-s, 0, +s}; s is the checkpoint's scale up to fp16 rounding; TQ1_0 and TQ2_0 give the same floats.
TEST(TernaryFixtures, DequantizeEveryTensor) {
  const auto p1 = test::fixture("gguf/kjv-trilm-TQ1_0.gguf");
  const auto p2 = test::fixture("gguf/kjv-trilm-TQ2_0.gguf");
  const auto ckpt = test::fixture("hf/kjv-trilm/model.safetensors");
  TERNION_REQUIRE_FIXTURE(p1);
  TERNION_REQUIRE_FIXTURE(p2);
  const GgufFile f1 = read_gguf(p1.string());
  const GgufFile f2 = read_gguf(p2.string());
  std::map<std::string, std::vector<float>> floats[2];
  int n_checked = 0;
  for (int which = 0; which < 2; ++which) {
    const GgufFile& f = which == 0 ? f1 : f2;
    const DType type = which == 0 ? DType::TQ1_0 : DType::TQ2_0;
    int count = 0;
    for (const GgufTensor& t : f.tensors) {
      if (!is_ternary(t.type)) continue;
      ASSERT_EQ(t.type, static_cast<uint32_t>(type)) << t.name;
      ASSERT_EQ(t.cols % kBlock, 0) << t.name;
      ++count;
      const int64_t n = t.rows * t.cols;
      const auto want = slow_decode(type, t.data, n / kBlock);
      for (const QuantTraits* tr : quant_traits_variants(type)) {
        std::vector<float> got(static_cast<size_t>(n));
        for (int64_t r = 0; r < t.rows; ++r) {
          tr->to_float(t.data + static_cast<size_t>(r * t.cols / kBlock) * block_bytes(type), &got[r * t.cols], t.cols);
        }
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << label(*tr) << " " << t.name;
      }
      std::set<float> values(want.begin(), want.end());
      ASSERT_EQ(values.size(), 3u) << t.name;
      const float s = *values.rbegin();
      EXPECT_EQ(*values.begin(), -s) << t.name;
      EXPECT_EQ(values.count(0.0f), 1u) << t.name;
      EXPECT_EQ(fp16_to_fp32(fp32_to_fp16(s)), s) << t.name << ": s is an fp16 value";
      const bool unpermuted = t.name.find("attn_q") == std::string::npos && t.name.find("attn_k") == std::string::npos;
      if (unpermuted && std::filesystem::exists(ckpt)) {
        const auto c = test::checkpoint_tensor(t.name, ckpt.string());
        float cs = 0;
        for (float v : c.data) cs = std::max(cs, std::fabs(v));
        EXPECT_EQ(s, fp16_to_fp32(fp32_to_fp16(cs))) << t.name << ": the checkpoint's s rounded to fp16";
        ++n_checked;
      }
      floats[which][t.name] = want;
    }
    EXPECT_EQ(count, 42) << "42 ternary projections in " << (which == 0 ? p1 : p2);
  }
  ASSERT_EQ(floats[0].size(), floats[1].size());
  for (const auto& [name, v1] : floats[0]) {
    ASSERT_TRUE(floats[1].count(name)) << name;
    const auto& v2 = floats[1][name];
    ASSERT_EQ(v1.size(), v2.size()) << name;
    EXPECT_EQ(std::memcmp(v1.data(), v2.data(), v1.size() * 4), 0) << name << ": TQ1_0 and TQ2_0 differ";
  }
  std::printf("%zu ternary tensors per file decode to {-s, 0, s}; %d scales checked against the checkpoint\n",
              floats[0].size(), n_checked);
}

// Quantizing the checkpoint's unpermuted projections gives the fixture's bytes.
TEST(TernaryFixtures, QuantizerRemakesFixtureBytes) {
  const auto ckpt = test::fixture("hf/kjv-trilm/model.safetensors");
  TERNION_REQUIRE_FIXTURE(ckpt);
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    const std::string name(dtype_info(type).name);
    const auto path = test::fixture("gguf/kjv-trilm-" + name + ".gguf");
    TERNION_REQUIRE_FIXTURE(path);
    const GgufFile f = read_gguf(path.string());
    const size_t bb = block_bytes(type);
    for (const QuantTraits* tr : quant_traits_variants(type)) {
      int64_t blocks = 0;
      int64_t same = 0;
      for (int layer = 0; layer < 6; ++layer) {
        for (const char* proj : {"attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
          const std::string tname = "blk." + std::to_string(layer) + "." + proj + ".weight";
          const GgufTensor* t = f.find(tname);
          ASSERT_NE(t, nullptr) << tname;
          ASSERT_TRUE(is_ternary(t->type)) << tname;
          const auto c = test::checkpoint_tensor(tname, ckpt.string());
          ASSERT_EQ(c.rows, t->rows) << tname;
          ASSERT_EQ(c.cols, t->cols) << tname;
          std::vector<uint8_t> q(static_cast<size_t>(c.rows * c.cols / kBlock) * bb);
          for (int64_t r = 0; r < c.rows; ++r) {
            tr->from_float(&c.data[r * c.cols], &q[static_cast<size_t>(r * c.cols / kBlock) * bb], c.cols);
          }
          for (size_t b = 0; b < q.size() / bb; ++b) {
            ++blocks;
            same += std::memcmp(&q[b * bb], t->data + b * bb, bb) == 0;
          }
        }
      }
      const double share = static_cast<double>(same) / static_cast<double>(blocks);
      std::printf("%s: %lld of %lld blocks byte-identical to the fixture (%.4f %%)\n", label(*tr).c_str(),
                  static_cast<long long>(same), static_cast<long long>(blocks), 100.0 * share);
      EXPECT_GT(blocks, 0);
      EXPECT_GE(share, 0.99) << label(*tr);
    }
  }
}

// ---- Dots ------------------------------------------------------------------------------------------------

// Raw random weight bytes (all codes, any scale) and raw Q8_K blocks (values down to -128), odd block counts,
// unaligned rows: every level's vec_dot gives the bits of the documented dot.
TEST(TernaryDots, VecDotMatchesSlowDot) {
  std::mt19937 rng(23);
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    for (int64_t nb : {1, 2, 3, 7, 8, 9, 16, 17, 33}) {
      for (int kind = 0; kind < 3; ++kind) {
        // kind 0: raw bytes; 1: quantized ternary weights and activations; 2: quantized noisy weights
        const auto w =
            kind == 0 ? random_ternary_blocks(rng, type, nb) : quantized_ternary(rng, type, nb * kBlock, kind == 2);
        const auto x = kind == 0 ? random_q8_k_blocks(rng, nb) : quantized_activations(rng, nb * kBlock);
        const float want = slow_dot(type, w.data(), x.data(), nb);
        std::vector<uint8_t> wm(w.size() + 3);
        std::vector<uint8_t> xm(x.size() + 5);
        std::memcpy(wm.data() + 3, w.data(), w.size());
        std::memcpy(xm.data() + 5, x.data(), x.size());
        for (const QuantTraits* tr : quant_traits_variants(type)) {
          float got = -1;
          tr->vec_dot(nb * kBlock, &got, wm.data() + 3, xm.data() + 5);
          ASSERT_EQ(bits_of(got), bits_of(want))
              << label(*tr) << " nb=" << nb << " kind=" << kind << " want " << want << " got " << got;
        }
      }
    }
  }
}

// Every tile shape of the gemm kernels (1 to many tokens, rows not a multiple of any tile, long rows, padded
// strides) gives each output the bits of the single vec_dot.
TEST(TernaryDots, GemmMatchesVecDot) {
  std::mt19937 rng(24);
  const bool quick = test::slow_build();
  struct Shape {
    int64_t blocks;
    int64_t rows;
    int64_t tokens;
  };
  std::vector<Shape> shapes = {{1, 1, 1},  {3, 7, 1},  {2, 17, 1},  {5, 33, 2}, {3, 9, 3},   {1, 16, 4},   {2, 35, 5},
                               {3, 18, 8}, {1, 21, 9}, {4, 16, 13}, {2, 3, 17}, {17, 16, 1}, {19, 35, 70}, {9, 48, 33}};
  if (!quick) shapes.push_back({33, 64, 130});
  for (DType type : {DType::TQ1_0, DType::TQ2_0}) {
    const QuantTraits& ref = quant_traits_reference(type);
    for (const QuantTraits* tr : quant_traits_variants(type)) {
      for (const Shape& s : shapes) {
        const int64_t n = s.blocks * kBlock;
        const size_t wrow = static_cast<size_t>(s.blocks) * block_bytes(type) + 7;
        const size_t xrow = static_cast<size_t>(s.blocks) * kQ8KBytes + 3;
        std::vector<uint8_t> w(wrow * static_cast<size_t>(s.rows) + 1);
        std::vector<uint8_t> x(xrow * static_cast<size_t>(s.tokens) + 1);
        for (int64_t r = 0; r < s.rows; ++r) {
          const auto row =
              r % 5 == 4 ? random_ternary_blocks(rng, type, s.blocks) : quantized_ternary(rng, type, n, r % 2);
          std::memcpy(&w[1 + r * wrow], row.data(), row.size());
        }
        for (int64_t t = 0; t < s.tokens; ++t) {
          const auto row = t % 3 == 2 ? random_q8_k_blocks(rng, s.blocks) : quantized_activations(rng, n);
          std::memcpy(&x[1 + t * xrow], row.data(), row.size());
        }
        const int64_t ldo = s.rows + 2;
        std::vector<float> out(static_cast<size_t>(ldo * s.tokens), -7.0f);
        tr->gemm(n, &w[1], wrow, s.rows, &x[1], xrow, s.tokens, out.data(), ldo);
        for (int64_t t = 0; t < s.tokens; ++t) {
          for (int64_t r = 0; r < ldo; ++r) {
            if (r >= s.rows) {
              ASSERT_EQ(out[t * ldo + r], -7.0f) << "gemm wrote outside its tile";
              continue;
            }
            float want = 0;
            ref.vec_dot(n, &want, &w[1 + r * wrow], &x[1 + t * xrow]);
            ASSERT_EQ(bits_of(want), bits_of(out[t * ldo + r]))
                << label(*tr) << " blocks=" << s.blocks << " rows=" << s.rows << " tokens=" << s.tokens << " r=" << r
                << " t=" << t;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ternion
