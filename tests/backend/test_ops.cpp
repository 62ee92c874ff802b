#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/softmax_common.h"
#include "ternion/backend/attention.h"
#include "ternion/backend/ops.h"
#include "ternion/core/cpu_features.h"
#include "ternion/core/fp16.h"

namespace ternion {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Ops, RmsNormMatchesDoubleReference) {
  for (int64_t n : {1, 7, 256, 1001}) {
    const auto x = random_vector(static_cast<size_t>(n), 1, 3.0f);
    const auto w = random_vector(static_cast<size_t>(n), 2);
    std::vector<float> y(static_cast<size_t>(n));
    rms_norm_row(x.data(), w.data(), y.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_NEAR(y[i], x[i] * scale * w[i], 1e-5 * (1 + std::abs(x[i] * scale * w[i])));
    }
  }
}

TEST(Ops, SiluMul) {
  const std::vector<float> g = {-20.0f, -1.0f, 0.0f, 0.5f, 30.0f};
  const std::vector<float> u = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f};
  std::vector<float> y(g.size());
  silu_mul(g.data(), u.data(), y.data(), static_cast<int64_t>(g.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const double s = g[i] / (1.0 + std::exp(-static_cast<double>(g[i])));
    EXPECT_NEAR(y[i], s * u[i], 1e-6 * (1 + std::abs(s * u[i])));
  }
}

// silu's exponential over its whole range, in small steps: within a few ulp of the double result.
TEST(Ops, SiluMulAcrossTheExponentRange) {
  std::vector<float> g;
  for (float v = -120.0f; v <= 120.0f; v += 0.0137f) g.push_back(v);
  for (float v : {-88.5f, -87.0f, -86.99f, 87.0f, 88.0f, 89.0f, 1e-30f, -1e-30f, 0.0f}) g.push_back(v);
  const std::vector<float> u(g.size(), 1.5f);
  std::vector<float> y(g.size());
  silu_mul(g.data(), u.data(), y.data(), static_cast<int64_t>(g.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    const double s = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * 1.5;
    // Far below zero silu is ~0 (e^-88 and under); the exponential is clamped there.
    ASSERT_NEAR(y[i], s, 4e-7 * std::abs(s) + 1e-30) << "silu(" << g[i] << ")";
  }
  // In place, as the FFN calls it (the output over gate, or over up): the same values.
  std::vector<float> over_gate = g, over_up = u;
  silu_mul(over_gate.data(), u.data(), over_gate.data(), static_cast<int64_t>(g.size()));
  silu_mul(g.data(), over_up.data(), over_up.data(), static_cast<int64_t>(g.size()));
  EXPECT_EQ(over_gate, y);
  EXPECT_EQ(over_up, y);
}

// Softmax against double on odd sizes (past and short of the 16 lanes), with masked values and a wide spread.
TEST(Ops, SoftmaxMatchesDoubleReference) {
  std::mt19937 rng(3);
  for (int64_t n : {1, 2, 15, 16, 17, 33, 100, 257, 2049}) {
    auto x = random_vector(static_cast<size_t>(n), static_cast<uint32_t>(n), 20.0f);
    for (size_t i = 0; i < x.size(); ++i) {
      if (rng() % 7 == 0 && i != 0) x[i] = -INFINITY;
    }
    const float top = *std::max_element(x.begin(), x.end());
    std::vector<double> ref(x.size());
    double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      ref[i] = x[i] == -INFINITY ? 0.0 : std::exp(static_cast<double>(x[i]) - top);
      sum += ref[i];
    }
    std::vector<float> got = x;
    softmax_in_place(got.data(), n);
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] == -INFINITY) {
        EXPECT_EQ(got[i], 0.0f);
        continue;
      }
      // x - max rounds to float (half an ulp of |x - max|, relative error |x - max| * 2^-24 in the exponential)
      // before an exponential within 2 ulp, and the float sum adds a few ulp.
      const double d = std::abs(static_cast<double>(x[i]) - top);
      const double want = ref[i] / sum;
      ASSERT_NEAR(got[i], want, (6e-8 * d + 5e-7) * want + 1e-37) << "n " << n << " i " << i;
    }
  }
  std::vector<float> masked(5, -INFINITY);
  softmax_in_place(masked.data(), 5);
  for (float v : masked) EXPECT_EQ(v, 0.0f);
  std::vector<float> far = {0.0f, -90.0f, -86.0f};
  softmax_in_place(far.data(), 3);
  EXPECT_EQ(far[1], 0.0f);  // more than 87 below the maximum
  EXPECT_GT(far[2], 0.0f);
}

// The scale folded into the maximum pass gives the bits of scaling first and then taking the softmax.
TEST(Ops, ScaledSoftmaxMatchesScaleThenSoftmax) {
  for (int64_t n : {1, 7, 16, 31, 130}) {
    auto x = random_vector(static_cast<size_t>(n), static_cast<uint32_t>(100 + n), 30.0f);
    if (n > 2) x[1] = -INFINITY;
    const float scale = 0.08838834764f;  // 1 / sqrt(128)
    std::vector<float> want = x;
    for (float& v : want) v *= scale;
    softmax_in_place(want.data(), n);
    std::vector<float> got = x;
    softmax_in_place(got.data(), n, scale);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], want[i]) << "n " << n << " i " << i;
    if (n > 2) {
      EXPECT_EQ(got[1], 0.0f);
    }
  }
}

// The AVX-512 softmax gives the portable one's bits: every length's tails, masked values, values far below the
// maximum (exponentials flushed to 0), scales, and rows that are all masked.
TEST(Ops, SoftmaxAvx512MatchesPortable) {
#if defined(__x86_64__)
  if (!cpu_features().has_avx512_kernels()) {
    GTEST_SKIP() << "SKIPPED: this CPU has no AVX-512 kernels, so there is no second path to compare";
  }
  std::mt19937 rng(17);
  std::vector<int64_t> sizes;
  for (int64_t n = 1; n <= 48; ++n) sizes.push_back(n);
  for (int64_t n : {63, 64, 65, 130, 1001}) sizes.push_back(n);
  for (int64_t n : sizes) {
    for (float spread : {1.0f, 60.0f}) {
      for (float scale : {1.0f, 0.125f}) {
        auto x = random_vector(static_cast<size_t>(n), static_cast<uint32_t>(rng()), spread);
        for (float& v : x) {
          if (rng() % 9 == 0) v = -INFINITY;
        }
        std::vector<float> want = x;
        softmax_portable(want.data(), n, scale);
        std::vector<float> got = x;
        softmax_avx512(got.data(), n, scale);
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
              << "n " << n << " spread " << spread << " scale " << scale << " i " << i;
        }
      }
    }
  }
  std::vector<float> masked(19, -INFINITY);
  softmax_avx512(masked.data(), 19, 1.0f);
  for (float v : masked) EXPECT_EQ(v, 0.0f);
#else
  GTEST_SKIP() << "SKIPPED: AVX-512 exists only on x86-64";
#endif
}

TEST(Ops, SoftmaxSumsToOneAndHandlesMaskedValues) {
  std::vector<float> x = {1.0f, -INFINITY, 3.0f, 2.0f, 1000.0f};
  softmax_in_place(x.data(), 4);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_NEAR(x[0] + x[2] + x[3], 1.0f, 1e-6f);
  EXPECT_GT(x[2], x[3]);
  EXPECT_EQ(x[4], 1000.0f);  // beyond n: untouched
}

TEST(Ops, AddInPlace) {
  std::vector<float> y = {1, 2, 3};
  const std::vector<float> x = {0.5f, -2, 10};
  add_in_place(y.data(), x.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{1.5f, 0, 13}));
}

// RoPE against the closed form in double: pair (a, b) rotated by pos · base^(-2i/n_rot).
void check_rope(RopeKind kind, int64_t head_dim, int64_t n_rot, float scale, std::vector<float> factors) {
  RopeConfig c;
  c.kind = kind;
  c.n_rot = n_rot;
  c.freq_base = 10000.0f;
  c.freq_scale = scale;
  c.freq_factors = factors;
  const RopeTable table(c, 64);
  const int64_t n_heads = 3;
  for (int64_t pos : {0, 1, 17, 63}) {
    const auto x = random_vector(static_cast<size_t>(n_heads * head_dim), static_cast<uint32_t>(pos) + 5);
    auto y = x;
    table.apply(y.data(), n_heads, head_dim, pos);
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* in = x.data() + h * head_dim;
      const float* out = y.data() + h * head_dim;
      for (int64_t i = 0; i < n_rot / 2; ++i) {
        const int64_t a = kind == RopeKind::Adjacent ? 2 * i : i;
        const int64_t b = kind == RopeKind::Adjacent ? 2 * i + 1 : i + n_rot / 2;
        double theta =
            static_cast<double>(pos) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
        if (!factors.empty()) theta /= factors[static_cast<size_t>(i)];
        theta *= scale;
        const double ea = in[a] * std::cos(theta) - in[b] * std::sin(theta);
        const double eb = in[a] * std::sin(theta) + in[b] * std::cos(theta);
        EXPECT_NEAR(out[a], ea, 2e-4) << "pos " << pos << " pair " << i;
        EXPECT_NEAR(out[b], eb, 2e-4) << "pos " << pos << " pair " << i;
      }
      for (int64_t i = n_rot; i < head_dim; ++i) EXPECT_EQ(out[i], in[i]);  // beyond n_rot: untouched
    }
  }
}

TEST(Ops, RopeAdjacentPairs) { check_rope(RopeKind::Adjacent, 32, 32, 1.0f, {}); }
TEST(Ops, RopeNeoXHalves) { check_rope(RopeKind::NeoX, 32, 32, 1.0f, {}); }
TEST(Ops, RopePartialRotationAndLinearScaling) { check_rope(RopeKind::NeoX, 64, 32, 0.25f, {}); }
TEST(Ops, RopeFrequencyFactors) {
  std::vector<float> f(16);
  for (size_t i = 0; i < f.size(); ++i) f[i] = 1.0f + static_cast<float>(i) * 0.5f;
  check_rope(RopeKind::Adjacent, 32, 32, 1.0f, f);
}

// The options an architecture sets on attention.
struct AttentionCase {
  DType kv_type = DType::F16;
  int64_t window = 0;
  float softcap = 0.0f;
  bool alibi = false;
};

// Attention against a plain double-precision computation over the cache's values, and the pool version against
// attention_reference bit for bit.
void check_attention(int64_t n_ctx, int64_t n_head, int64_t n_head_kv, int64_t hd, const std::vector<int32_t>& pos,
                     const AttentionCase& c = {}) {
  const auto n_tokens = static_cast<int64_t>(pos.size());
  const size_t n_kv = static_cast<size_t>(n_head_kv * n_ctx * hd);
  auto kf = random_vector(n_kv, 11), vf = random_vector(n_kv, 12);
  std::vector<uint16_t> k16(n_kv), v16(n_kv);
  for (size_t i = 0; i < n_kv; ++i) {
    k16[i] = fp32_to_fp16(kf[i]);
    v16[i] = fp32_to_fp16(vf[i]);
    if (c.kv_type == DType::F16) {
      kf[i] = fp16_to_fp32(k16[i]);  // what the naive computation reads
      vf[i] = fp16_to_fp32(v16[i]);
    }
  }
  const auto q = random_vector(static_cast<size_t>(n_tokens * n_head * hd), 13);
  const std::vector<float> slopes = alibi_slopes(n_head, 8.0f);
  std::vector<float> out(q.size()), out_ref(q.size());
  AttentionArgs a;
  a.q = q.data();
  a.q_stride = n_head * hd;
  a.k = c.kv_type == DType::F16 ? static_cast<const void*>(k16.data()) : kf.data();
  a.v = c.kv_type == DType::F16 ? static_cast<const void*>(v16.data()) : vf.data();
  a.kv_type = c.kv_type;
  a.n_ctx = n_ctx;
  a.n_head = n_head;
  a.n_head_kv = n_head_kv;
  a.head_dim = hd;
  a.positions = pos.data();
  a.n_tokens = n_tokens;
  a.scale = 0.25f;
  a.window = c.window;
  a.softcap = c.softcap;
  a.alibi = c.alibi ? slopes.data() : nullptr;
  a.out = out.data();
  a.out_stride = n_head * hd;
  std::vector<uint8_t> scratch(attention_scratch_bytes(n_head, n_ctx, hd, c.kv_type));
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    attention(a, scratch, pool);
    AttentionArgs r = a;
    r.out = out_ref.data();
    attention_reference(r);
    EXPECT_EQ(out, out_ref) << threads << " threads";
  }
  const double tolerance = c.kv_type == DType::F16 ? 5e-3 : 1e-4;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int64_t p_end = pos[static_cast<size_t>(t)] + 1;
    const int64_t p0 = c.window > 0 ? std::max<int64_t>(0, p_end - c.window) : 0;
    for (int64_t h = 0; h < n_head; ++h) {
      const int64_t kvh = h / (n_head / n_head_kv);
      std::vector<double> s(static_cast<size_t>(p_end - p0));
      double mx = -1e300;
      for (size_t j = 0; j < s.size(); ++j) {
        const int64_t p = p0 + static_cast<int64_t>(j);
        double d = 0;
        for (int64_t i = 0; i < hd; ++i) {
          d += static_cast<double>(q[static_cast<size_t>((t * n_head + h) * hd + i)]) *
               kf[static_cast<size_t>((kvh * n_ctx + p) * hd + i)];
        }
        d *= 0.25;
        if (c.softcap > 0) d = c.softcap * std::tanh(d / c.softcap);
        if (c.alibi) d += static_cast<double>(slopes[static_cast<size_t>(h)]) * static_cast<double>(p);
        s[j] = d;
        mx = std::max(mx, s[j]);
      }
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int64_t i = 0; i < hd; ++i) {
        double o = 0;
        for (size_t j = 0; j < s.size(); ++j) {
          o += s[j] / sum * vf[static_cast<size_t>((kvh * hd + i) * n_ctx + p0 + static_cast<int64_t>(j))];
        }
        EXPECT_NEAR(out[static_cast<size_t>((t * n_head + h) * hd + i)], o, tolerance) << t << " " << h << " " << i;
      }
    }
  }
}

TEST(Ops, AttentionMatchesNaiveReference) { check_attention(37, 6, 2, 16, {0, 3, 10, 20, 36}); }

// More queries than one block, positions out of order, a real head size.
TEST(Ops, AttentionOverBlocksOfQueries) {
  std::vector<int32_t> pos;
  for (int i = 0; i < 19; ++i) pos.push_back((i * 37 + 5) % 90);
  check_attention(90, 8, 2, 64, pos);
}

TEST(Ops, AttentionWithAnF32Cache) {
  check_attention(37, 6, 2, 16, {0, 3, 10, 20, 36}, {DType::F32});
  std::vector<int32_t> pos;
  for (int i = 0; i < 19; ++i) pos.push_back((i * 37 + 5) % 90);
  check_attention(90, 8, 2, 64, pos, {DType::F32});
}

// Sliding windows (shorter and longer than the positions), soft-capping and ALiBi, on both cache types.
TEST(Ops, AttentionOptions) {
  const std::vector<int32_t> pos = {0, 3, 10, 20, 36, 17, 5};
  for (const DType t : {DType::F16, DType::F32}) {
    for (const int64_t window : {int64_t{1}, int64_t{8}, int64_t{64}}) check_attention(37, 6, 2, 16, pos, {t, window});
    check_attention(37, 6, 2, 16, pos, {t, 0, 0.5f});
    check_attention(37, 5, 5, 16, pos, {t, 0, 0.0f, true});  // 5 heads: ALiBi's slopes past a power of two
    check_attention(37, 6, 3, 16, pos, {t, 5, 2.0f, true});
  }
}

TEST(Ops, AttentionRejectsBadArguments) {
  std::vector<uint16_t> kv(64);
  std::vector<float> q(16), out(16);
  const int32_t pos = 4;  // outside a 4-position cache
  AttentionArgs a;
  a.q = q.data();
  a.k = kv.data();
  a.v = kv.data();
  a.n_ctx = 4;
  a.n_head = 1;
  a.n_head_kv = 1;
  a.head_dim = 16;
  a.positions = &pos;
  a.n_tokens = 1;
  a.out = out.data();
  EXPECT_ANY_THROW(attention_reference(a));
  a.n_head = 3;
  a.n_head_kv = 2;
  EXPECT_ANY_THROW(attention_reference(a));
}

}  // namespace
}  // namespace ternion

namespace ternion {
namespace {

// The block ops the architecture records select, against double-precision formulas on random rows.
TEST(Ops, LayerNormMatchesFormula) {
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{128}, int64_t{300}}) {
    const auto x = random_vector(static_cast<size_t>(n), 21);
    const auto w = random_vector(static_cast<size_t>(n), 22);
    const auto b = random_vector(static_cast<size_t>(n), 23);
    std::vector<float> y(x.size()), plain(x.size());
    layer_norm_row(x.data(), w.data(), b.data(), y.data(), n, 1e-5f);
    layer_norm_row(x.data(), nullptr, nullptr, plain.data(), n, 1e-5f);
    double mean = 0;
    for (const float v : x) mean += v;
    mean /= static_cast<double>(n);
    double var = 0;
    for (const float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(n);
    for (size_t i = 0; i < x.size(); ++i) {
      const double z = (x[i] - mean) / std::sqrt(var + 1e-5);
      EXPECT_NEAR(plain[i], z, 1e-5) << n << " " << i;
      EXPECT_NEAR(y[i], z * w[i] + b[i], 1e-5) << n << " " << i;
    }
    std::vector<float> in_place = x;
    layer_norm_row(in_place.data(), w.data(), b.data(), in_place.data(), n, 1e-5f);
    EXPECT_EQ(in_place, y);
  }
}

TEST(Ops, ActivationsMatchFormulas) {
  const auto x = random_vector(257, 31);
  const auto up = random_vector(257, 32);
  for (const Activation act :
       {Activation::kSilu, Activation::kGeluTanh, Activation::kGeluErf, Activation::kReluSquared}) {
    std::vector<float> y = x;
    activate_in_place(act, y.data(), static_cast<int64_t>(y.size()));
    std::vector<float> gated(x.size());
    gated_activation(act, x.data(), up.data(), gated.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      double want = 0;
      switch (act) {
        case Activation::kSilu:
          want = v / (1 + std::exp(-v));
          break;
        case Activation::kGeluTanh:
          want = 0.5 * v * (1 + std::tanh(std::sqrt(2 / 3.141592653589793) * (v + 0.044715 * v * v * v)));
          break;
        case Activation::kGeluErf:
          want = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
          break;
        case Activation::kReluSquared:
          want = v > 0 ? v * v : 0;
          break;
      }
      EXPECT_NEAR(y[i], want, 1e-5) << static_cast<int>(act) << " " << v;
      EXPECT_NEAR(gated[i], want * up[i], 2e-5) << static_cast<int>(act) << " " << v;
    }
  }
}

TEST(Ops, SoftcapScaleAndAlibiSlopes) {
  std::vector<float> x = {-100.0f, -1.0f, 0.0f, 0.5f, 100.0f};
  softcap_in_place(x.data(), 5, 30.0f);
  EXPECT_NEAR(x[0], -30.0 * std::tanh(100.0 / 30.0), 1e-4);
  EXPECT_NEAR(x[3], 30.0 * std::tanh(0.5 / 30.0), 1e-6);
  EXPECT_EQ(x[2], 0.0f);
  scale_in_place(x.data(), 5, 2.0f);
  EXPECT_NEAR(x[4], 60.0 * std::tanh(100.0 / 30.0), 1e-4);
  // BLOOM's slopes: 2^(-8/n · (h + 1)) for a power-of-two head count; the next power's odd steps after it.
  const auto s8 = alibi_slopes(8, 8.0f);
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(s8[static_cast<size_t>(h)], std::exp2(-1.0f * static_cast<float>(h + 1)));
  const auto s12 = alibi_slopes(12, 8.0f);
  EXPECT_FLOAT_EQ(s12[7], std::exp2(-8.0f));
  EXPECT_FLOAT_EQ(s12[8], std::exp2(-0.5f));
  EXPECT_FLOAT_EQ(s12[9], std::exp2(-1.5f));
}

}  // namespace
}  // namespace ternion
