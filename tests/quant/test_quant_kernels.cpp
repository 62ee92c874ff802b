// Every SIMD kernel this CPU runs against the scalar reference, bit for bit: random and extreme inputs, odd
// sizes, unaligned pointers, and the tiled gemm against single dots.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/interleave.h"
#include "quant/random_data.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/interleave.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

struct TypeCase {
  DType type;
  bool blocked;         // sizes are multiples of block_size
  int block_size = 32;  // 256 for the K-quants and the ternary types
};

const TypeCase kCases[] = {
    {DType::F32, false},      {DType::F16, false},       {DType::BF16, false},      {DType::Q8_0, true},
    {DType::Q4_0, true},      {DType::TQ1_0, true, 256}, {DType::TQ2_0, true, 256}, {DType::Q4_1, true},
    {DType::Q5_0, true},      {DType::Q5_1, true},       {DType::IQ4_NL, true},     {DType::IQ4_XS, true, 256},
    {DType::Q2_K, true, 256}, {DType::Q3_K, true, 256},  {DType::Q4_K, true, 256},  {DType::Q5_K, true, 256},
    {DType::Q6_K, true, 256}, {DType::I2_S, true, 256},
};

std::string label(const QuantTraits& tr) {
  return std::string(dtype_info(tr.type).name) + "/" + std::string(isa_name(tr.isa));
}

// n for each count of blocks.
std::vector<int64_t> blocks_of(int block_size, std::initializer_list<int64_t> counts) {
  std::vector<int64_t> sizes;
  for (int64_t c : counts) sizes.push_back(c * block_size);
  return sizes;
}

std::vector<int64_t> sizes_for(bool blocked, int block_size = 32) {
  if (blocked) return blocks_of(block_size, {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 33, 129});
  return {0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 63, 100, 257, 1000, 4096 + 32, 4096 + 7};
}

size_t bytes_for(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

// A buffer whose data starts `offset` bytes past an aligned address, to catch alignment assumptions.
struct Misaligned {
  std::vector<uint8_t> storage;
  size_t offset;
  Misaligned(size_t bytes, size_t off) : storage(bytes + 64), offset(off) {}
  uint8_t* data() { return storage.data() + offset; }
};

// Weights of `type` made by the reference quantizer from floats of many magnitudes, plus hand-picked extreme
// blocks (for Q types: random bytes with any scale).
std::vector<uint8_t> make_weights(std::mt19937& rng, DType type, int64_t n, bool extreme) {
  const QuantTraits& ref = quant_traits_reference(type);
  const auto x = extreme ? test::random_floats(rng, n) : test::normal_floats(rng, n);
  std::vector<uint8_t> w(bytes_for(type, n));
  ref.from_float(x.data(), w.data(), n);
  if (extreme && (type == DType::Q8_0 || type == DType::Q4_0)) {
    // every other block: raw random bytes with a random finite scale (covers -128 weights and subnormal d)
    const size_t bb = dtype_info(type).block_bytes;
    const auto raw = test::random_blocks(rng, n / 32, bb, test::random_finite_half);
    for (size_t b = 0; b < static_cast<size_t>(n / 32); b += 2) std::memcpy(&w[b * bb], &raw[b * bb], bb);
  }
  return w;
}

// Activations in vec_dot_type form, made by the reference quantizer.
std::vector<uint8_t> make_activations(std::mt19937& rng, DType vec_dot_type, int64_t n, bool extreme) {
  const auto x = extreme ? test::random_floats(rng, n) : test::normal_floats(rng, n);
  std::vector<uint8_t> a(bytes_for(vec_dot_type, n));
  quant_traits_reference(vec_dot_type).from_float(x.data(), a.data(), n);
  return a;
}

TEST(QuantKernels, FromFloatMatchesReference) {
  std::mt19937 rng(1);
  for (const TypeCase& c : kCases) {
    const QuantTraits& ref = quant_traits_reference(c.type);
    for (const QuantTraits* tr : quant_traits_variants(c.type)) {
      for (int64_t n : sizes_for(c.blocked, c.block_size)) {
        auto x = test::random_floats(rng, n);
        if (n > 40) {  // a block of ties and one of a lone value
          for (int j = 0; j < 32; ++j) x[static_cast<size_t>(j)] = static_cast<float>(j - 16) + 0.5f;
        }
        Misaligned src(static_cast<size_t>(n) * 4, 4);
        if (n > 0) std::memcpy(src.data(), x.data(), static_cast<size_t>(n) * 4);
        std::vector<uint8_t> want(bytes_for(c.type, n) + 1);
        Misaligned got(bytes_for(c.type, n), 3);
        ref.from_float(x.data(), want.data(), n);
        tr->from_float(reinterpret_cast<const float*>(src.data()), got.data(), n);
        ASSERT_EQ(std::memcmp(want.data(), got.data(), bytes_for(c.type, n)), 0) << label(*tr) << " n=" << n;
      }
    }
  }
}

TEST(QuantKernels, ToFloatMatchesReference) {
  std::mt19937 rng(2);
  for (const TypeCase& c : kCases) {
    const QuantTraits& ref = quant_traits_reference(c.type);
    for (const QuantTraits* tr : quant_traits_variants(c.type)) {
      for (int64_t n : sizes_for(c.blocked, c.block_size)) {
        const auto w = make_weights(rng, c.type, n, true);
        Misaligned src(w.size(), 1);
        if (!w.empty()) std::memcpy(src.data(), w.data(), w.size());
        std::vector<float> want(static_cast<size_t>(n) + 1);
        std::vector<float> got(static_cast<size_t>(n) + 1);
        ref.to_float(w.data(), want.data(), n);
        tr->to_float(src.data(), got.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(bits_of(want[i]), bits_of(got[i])) << label(*tr) << " n=" << n << " i=" << i;
        }
      }
    }
  }
}

TEST(QuantKernels, VecDotMatchesReference) {
  std::mt19937 rng(3);
  for (const TypeCase& c : kCases) {
    const QuantTraits& ref = quant_traits_reference(c.type);
    for (const QuantTraits* tr : quant_traits_variants(c.type)) {
      for (bool extreme : {false, true}) {
        for (int64_t n : sizes_for(c.blocked, c.block_size)) {
          const auto w = make_weights(rng, c.type, n, extreme);
          const auto x = make_activations(rng, tr->vec_dot_type, n, extreme);
          Misaligned wm(w.size(), 1);
          Misaligned xm(x.size(), 5);
          if (!w.empty()) std::memcpy(wm.data(), w.data(), w.size());
          if (!x.empty()) std::memcpy(xm.data(), x.data(), x.size());
          float want = -1;
          float got = -2;
          ref.vec_dot(n, &want, w.data(), x.data());
          tr->vec_dot(n, &got, wm.data(), xm.data());
          ASSERT_EQ(bits_of(want), bits_of(got))
              << label(*tr) << " n=" << n << " extreme=" << extreme << " want " << want << " got " << got;
        }
      }
    }
  }
}

// Q8_0 activations straight from random bytes (any scale, values in [-127, 127]).
TEST(QuantKernels, BlockDotsOnRawBlocks) {
  std::mt19937 rng(4);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    const QuantTraits& ref = quant_traits_reference(t);
    const size_t wb = dtype_info(t).block_bytes;
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      for (int64_t nb : {1, 7, 8, 9, 16, 17, 129}) {
        const auto w = test::random_blocks(rng, nb, wb, test::random_scale);
        const auto x = test::random_blocks(rng, nb, 34, test::random_scale, true);
        float want = 0;
        float got = 1;
        ref.vec_dot(nb * 32, &want, w.data(), x.data());
        tr->vec_dot(nb * 32, &got, w.data(), x.data());
        ASSERT_EQ(bits_of(want), bits_of(got)) << label(*tr) << " nb=" << nb;
      }
    }
  }
}

// Huge and tiny magnitudes in the float dots: overflow to infinity and underflow must match too.
TEST(QuantKernels, FloatDotsOnExtremeValues) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> bits(0, 0xffff);
  for (DType t : {DType::F16, DType::BF16}) {
    const QuantTraits& ref = quant_traits_reference(t);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      for (int64_t n : {1, 16, 33, 257, 1000}) {
        std::vector<uint16_t> w(static_cast<size_t>(n));
        std::vector<uint16_t> x(static_cast<size_t>(n));
        for (auto& v : w) {
          do v = static_cast<uint16_t>(bits(rng));
          while (t == DType::F16 ? (v & 0x7c00) == 0x7c00 : (v & 0x7f80) == 0x7f80);  // finite
        }
        for (auto& v : x) {
          do v = static_cast<uint16_t>(bits(rng));
          while (t == DType::F16 ? (v & 0x7c00) == 0x7c00 : (v & 0x7f80) == 0x7f80);
        }
        // BF16 weights meet F32 activations: the same extreme bf16 values, widened.
        std::vector<float> x32(x.size());
        for (size_t i = 0; i < x.size(); ++i) x32[i] = std::bit_cast<float>(static_cast<uint32_t>(x[i]) << 16);
        const void* xp = ref.vec_dot_type == DType::F32 ? static_cast<const void*>(x32.data()) : x.data();
        float want = 0;
        float got = 1;
        ref.vec_dot(n, &want, w.data(), xp);
        tr->vec_dot(n, &got, w.data(), xp);
        ASSERT_EQ(bits_of(want), bits_of(got)) << label(*tr) << " n=" << n;
      }
    }
  }
  const QuantTraits& ref = quant_traits_reference(DType::F32);
  for (const QuantTraits* tr : quant_traits_variants(DType::F32)) {
    for (int64_t n : {1, 17, 64, 300}) {
      std::vector<float> w(static_cast<size_t>(n));
      std::vector<float> x(static_cast<size_t>(n));
      std::uniform_int_distribution<uint32_t> u(0, 0xffffffffu);
      for (auto& v : w) {
        do v = std::bit_cast<float>(u(rng));
        while (!std::isfinite(v));
      }
      for (auto& v : x) {
        do v = std::bit_cast<float>(u(rng));
        while (!std::isfinite(v));
      }
      float want = 0;
      float got = 1;
      ref.vec_dot(n, &want, w.data(), x.data());
      tr->vec_dot(n, &got, w.data(), x.data());
      ASSERT_EQ(bits_of(want), bits_of(got)) << label(*tr) << " n=" << n;
    }
  }
}

// Products too small for a float round to -0, so every lane holds -0 and the dot is -0; a tail that touched the
// lanes past it (adding +0 there) would give +0. Dots and 4 x 2 gemm tiles, tails of 1 to 15. F32 and BF16 only:
// F16's products (at least 2^-48 in magnitude) never round to zero.
TEST(QuantKernels, FloatTailsLeaveOtherLanesAlone) {
  for (DType t : {DType::F32, DType::BF16}) {
    const size_t elem = t == DType::F32 ? 4 : 2;
    const float small = std::ldexp(1.0f, -80);  // small * -small = -2^-160: below the subnormals, rounds to -0
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      for (int64_t n = 17; n <= 31; ++n) {
        std::vector<float> wf(static_cast<size_t>(n), small);
        std::vector<float> xf(static_cast<size_t>(n), -small);
        std::vector<uint8_t> w(static_cast<size_t>(n) * elem);
        std::vector<uint8_t> x(static_cast<size_t>(n) * 4);  // F32 activations for F32; else the weight type
        quant_traits_reference(t).from_float(wf.data(), w.data(), n);
        quant_traits_reference(tr->vec_dot_type).from_float(xf.data(), x.data(), n);
        float want = 1;
        quant_traits_reference(t).vec_dot(n, &want, w.data(), x.data());
        ASSERT_EQ(bits_of(want), bits_of(-0.0f)) << label(*tr) << " n=" << n;
        float got = 1;
        tr->vec_dot(n, &got, w.data(), x.data());
        ASSERT_EQ(bits_of(got), bits_of(-0.0f)) << label(*tr) << " vec_dot n=" << n;
        std::vector<float> out(8, 1.0f);
        std::vector<uint8_t> w4(w.size() * 4);
        for (int r = 0; r < 4; ++r) std::memcpy(&w4[static_cast<size_t>(r) * w.size()], w.data(), w.size());
        tr->gemm(n, w4.data(), w.size(), 4, x.data(), 0, 2, out.data(), 4);  // 4 rows x 2 tokens
        for (float v : out) ASSERT_EQ(bits_of(v), bits_of(-0.0f)) << label(*tr) << " gemm n=" << n;
      }
    }
  }
}

// gemm gives, for every output, the bits of the single vec_dot, whatever the tile shape.
TEST(QuantKernels, GemmMatchesVecDot) {
  std::mt19937 rng(6);
  for (const TypeCase& c : kCases) {
    for (const QuantTraits* tr : quant_traits_variants(c.type)) {
      const QuantTraits& ref = quant_traits_reference(c.type);
      // fewer long rows for super-blocks of 256, to keep the test quick
      const auto blocked_sizes =
          c.block_size == 32 ? blocks_of(32, {1, 3, 16, 33}) : blocks_of(c.block_size, {1, 3, 17});
      for (int64_t n : c.blocked ? blocked_sizes : std::vector<int64_t>{1, 15, 17, 46, 64, 333}) {
        for (int64_t rows : {1, 3, 8, 9, 17, 33}) {
          for (int64_t tokens : {1, 2, 3, 5, 7, 13}) {
            const size_t wrow = bytes_for(c.type, n) + 6;  // padded rows: strides need not be the row size
            const size_t xrow = bytes_for(tr->vec_dot_type, n) + 2;
            std::vector<uint8_t> w(wrow * static_cast<size_t>(rows));
            std::vector<uint8_t> x(xrow * static_cast<size_t>(tokens));
            for (int64_t r = 0; r < rows; ++r) {
              const auto row = make_weights(rng, c.type, n, r % 2 == 1);
              if (!row.empty()) std::memcpy(&w[r * wrow], row.data(), row.size());
            }
            for (int64_t t = 0; t < tokens; ++t) {
              const auto row = make_activations(rng, tr->vec_dot_type, n, t % 3 == 2);
              if (!row.empty()) std::memcpy(&x[t * xrow], row.data(), row.size());
            }
            const int64_t ldo = rows + 3;
            std::vector<float> out(static_cast<size_t>(ldo * tokens), -7.0f);
            tr->gemm(n, w.data(), wrow, rows, x.data(), xrow, tokens, out.data(), ldo);
            for (int64_t t = 0; t < tokens; ++t) {
              for (int64_t r = 0; r < ldo; ++r) {
                if (r >= rows) {
                  ASSERT_EQ(out[t * ldo + r], -7.0f) << "gemm wrote outside its tile";
                  continue;
                }
                float want = 0;
                ref.vec_dot(n, &want, &w[r * wrow], &x[t * xrow]);
                ASSERT_EQ(bits_of(want), bits_of(out[t * ldo + r]))
                    << label(*tr) << " n=" << n << " rows=" << rows << " tokens=" << tokens << " r=" << r << " t=" << t;
              }
            }
          }
        }
      }
    }
  }
}

// Long rows and many tokens: the packed prompt kernels work in chunks of K and of tokens.
TEST(QuantKernels, GemmMatchesVecDotOnLongRowsAndManyTokens) {
  std::mt19937 rng(8);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::F16, DType::Q5_0, DType::IQ4_NL, DType::Q4_1}) {
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      const QuantTraits& ref = quant_traits_reference(t);
      const int64_t n = 4096 + 32 * 3;
      for (int64_t rows : {16, 35}) {
        const int64_t tokens = 70;
        const size_t wrow = bytes_for(t, n);
        const size_t xrow = bytes_for(tr->vec_dot_type, n);
        std::vector<uint8_t> w(wrow * static_cast<size_t>(rows));
        std::vector<uint8_t> x(xrow * static_cast<size_t>(tokens));
        for (int64_t r = 0; r < rows; ++r) {
          const auto row = make_weights(rng, t, n, r % 4 == 3);
          std::memcpy(&w[r * wrow], row.data(), row.size());
        }
        for (int64_t k = 0; k < tokens; ++k) {
          const auto row = make_activations(rng, tr->vec_dot_type, n, k % 5 == 4);
          std::memcpy(&x[k * xrow], row.data(), row.size());
        }
        std::vector<float> out(static_cast<size_t>(rows * tokens));
        tr->gemm(n, w.data(), wrow, rows, x.data(), xrow, tokens, out.data(), rows);
        for (int64_t k = 0; k < tokens; ++k) {
          for (int64_t r = 0; r < rows; ++r) {
            float want = 0;
            ref.vec_dot(n, &want, &w[r * wrow], &x[k * xrow]);
            ASSERT_EQ(bits_of(want), bits_of(out[k * rows + r]))
                << label(*tr) << " rows=" << rows << " r=" << r << " t=" << k;
          }
        }
      }
    }
  }
}

// Non-finite and extreme inputs to the quantizers: infinities, values near FLT_MAX, blocks whose scale underflows
// (1 / d overflows to infinity), and NaN, give the reference's bytes too.
TEST(QuantKernels, FromFloatOnNonFiniteValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::mt19937 rng(9);
  std::vector<float> extreme = test::normal_floats(rng, 512);
  extreme[32 + 5] = inf;                                                    // block 1: +inf
  extreme[64 + 31] = -inf;                                                  // block 2: -inf
  for (int j = 128; j < 160; ++j) extreme[j] *= 3e38f;                      // block 4: near FLT_MAX
  for (int j = 160; j < 192; ++j) extreme[j] *= 1e-40f;                     // block 5: subnormal
  for (int j = 192; j < 224; ++j) extreme[j] = j % 3 == 0 ? 1e-45f : 0.0f;  // block 6: the smallest subnormal
  std::vector<float> with_nan = extreme;
  with_nan[3] = nan;                                 // block 0: one NaN
  for (int j = 96; j < 128; ++j) with_nan[j] = nan;  // block 3: all NaN
  with_nan[300] = -nan;
  with_nan[400] = std::bit_cast<float>(0x7f800001u);  // a signalling NaN
  // The x86 Q8_0 quantizers let a NaN into the block's scale (MAXPS propagates it) where the reference skips it.
  auto skips_nan = [](const QuantTraits& tr) {
    return !(tr.type == DType::Q8_0 && (tr.isa >= Isa::Avx2 && tr.isa <= Isa::Avx512Vnni));
  };
  for (const TypeCase& c : kCases) {
    const int64_t n = c.blocked ? 512 : 509;
    const QuantTraits& ref = quant_traits_reference(c.type);
    for (const QuantTraits* tr : quant_traits_variants(c.type)) {
      for (const auto* x : {&extreme, &with_nan}) {
        if (x == &with_nan && !skips_nan(*tr)) continue;
        std::vector<uint8_t> want(bytes_for(c.type, n));
        std::vector<uint8_t> got(bytes_for(c.type, n));
        ref.from_float(x->data(), want.data(), n);
        tr->from_float(x->data(), got.data(), n);
        size_t bad = 0;
        while (bad < want.size() && want[bad] == got[bad]) ++bad;
        EXPECT_EQ(bad, want.size()) << label(*tr) << (x == &with_nan ? " with NaN" : "") << " differs at byte " << bad;
      }
    }
  }
}

// Every fp16 / bf16 bit pattern (NaNs with payloads, signalling ones included, infinities, subnormals) decodes to
// the reference's bits, and random fp32 bit patterns encode to the reference's halves.
TEST(QuantKernels, HalfConversionsOnEveryBitPattern) {
  std::vector<uint16_t> halves(1 << 16);
  for (size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<uint16_t>(i);
  std::mt19937 rng(10);
  std::uniform_int_distribution<uint32_t> u(0, 0xffffffffu);
  std::vector<float> floats(1 << 16);
  for (auto& f : floats) f = std::bit_cast<float>(u(rng));
  const auto n = static_cast<int64_t>(halves.size());
  // F16C's VCVTPH2PS quiets a signalling NaN; fp16_to_fp32 keeps it signalling.
  auto quiets_snan = [](const QuantTraits& tr) {
    return tr.type == DType::F16 && (tr.isa >= Isa::Avx2 && tr.isa <= Isa::Avx512Vnni);
  };
  auto is_signalling_half = [](uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0 && (h & 0x0200) == 0; };
  for (DType t : {DType::F16, DType::BF16}) {
    const QuantTraits& ref = quant_traits_reference(t);
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      std::vector<float> want(halves.size());
      std::vector<float> got(halves.size());
      ref.to_float(halves.data(), want.data(), n);
      tr->to_float(halves.data(), got.data(), n);
      for (size_t i = 0; i < want.size(); ++i) {
        if (quiets_snan(*tr) && is_signalling_half(halves[i])) continue;
        ASSERT_EQ(bits_of(want[i]), bits_of(got[i])) << label(*tr) << " " << std::hex << halves[i];
      }
      std::vector<uint16_t> want_h(floats.size());
      std::vector<uint16_t> got_h(floats.size());
      ref.from_float(floats.data(), want_h.data(), n);
      tr->from_float(floats.data(), got_h.data(), n);
      for (size_t i = 0; i < want_h.size(); ++i) {
        ASSERT_EQ(want_h[i], got_h[i]) << label(*tr) << " " << std::hex << bits_of(floats[i]);
      }
    }
  }
}

// The SIMD records this CPU runs are registered, so the comparisons above cover them.
TEST(QuantKernels, SimdRecordsRegistered) {
  auto has = [](DType t, Isa isa) {
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      if (tr->isa == isa) return true;
    }
    return false;
  };
  std::string listing;
  for (const TypeCase& c : kCases) {
    listing += std::string(dtype_info(c.type).name) + ":";
    for (const QuantTraits* tr : quant_traits_variants(c.type)) listing += " " + std::string(isa_name(tr->isa));
    listing += "; ";
  }
  std::printf("kernel records: %s\n", listing.c_str());
  const Isa best = best_isa();
  if (best >= Isa::Neon) {
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::TQ1_0, DType::TQ2_0,
                    DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      EXPECT_TRUE(has(t, Isa::Neon)) << dtype_info(t).name;
    }
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::TQ1_0, DType::TQ2_0, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
      EXPECT_EQ(has(t, Isa::NeonDot), best >= Isa::NeonDot) << dtype_info(t).name;
      // i8mm records exist for the types with SMMLA prompt tiles; the others run their dot-product ones there.
      const bool i8mm = t == DType::Q8_0 || t == DType::Q4_0;
      EXPECT_EQ(has(t, Isa::NeonI8mm), i8mm && best == Isa::NeonI8mm) << dtype_info(t).name;
      const Isa want = best == Isa::NeonI8mm && !i8mm ? Isa::NeonDot : best;
      EXPECT_EQ(quant_traits(t).isa, want) << dtype_info(t).name;
    }
  }
  if (best >= Isa::Avx2 && best <= Isa::Avx512Vnni) {
    for (const TypeCase& c : kCases) EXPECT_TRUE(has(c.type, Isa::Avx2)) << dtype_info(c.type).name;
  }
}

constexpr DType kInterleavedTypes[] = {DType::Q4_0, DType::Q8_0,   DType::Q4_K, DType::Q5_K,
                                       DType::Q6_K, DType::IQ4_XS, DType::TQ2_0};

// The interleaved kernels of every level this CPU runs, and on AVX-512 VNNI CPUs (which lack AVX-VNNI) the AVX-VNNI
// kernels' logic built with EVEX VPDPBUSD.
#if defined(__x86_64__)
const InterleavedKernels* const kVnni256Evex[] = {
    &quant::kQ4_0InterleavedVnni256Evex,  &quant::kQ8_0InterleavedVnni256Evex,  &quant::kQ4_KInterleavedVnni256Evex,
    &quant::kQ6_KInterleavedVnni256Evex,  &quant::kTQ2_0InterleavedVnni256Evex, &quant::kQ5_KInterleavedVnni256Evex,
    &quant::kIQ4_XSInterleavedVnni256Evex};
#endif

std::vector<const InterleavedKernels*> all_interleaved_kernels() {
  std::vector<const InterleavedKernels*> all;
  for (DType t : kInterleavedTypes) {
    for (const InterleavedKernels* k : interleaved_kernels_variants(t)) all.push_back(k);
  }
#if defined(__x86_64__)
  if (isa_runs(Isa::Avx512Vnni)) {
    for (const InterleavedKernels* k : kVnni256Evex) all.push_back(k);
  }
#endif
  return all;
}

// Each type's interleaved kernels are those of its best record, at every level the CPU runs; Q4_0 and Q8_0 have
// them on every x86-64 level.
TEST(QuantKernels, InterleavedKernelsLiveInTheRecords) {
  std::string listing;
  for (DType t : kInterleavedTypes) {
    EXPECT_EQ(interleaved_kernels(t), quant_traits(t).interleaved) << dtype_info(t).name;
    listing += std::string(dtype_info(t).name) + ":";
    for (const QuantTraits* tr : quant_traits_variants(t)) {
      if (tr->interleaved == nullptr) continue;
      listing += " " + std::string(isa_name(tr->interleaved->isa));
      EXPECT_EQ(tr->interleaved->type, t);
      EXPECT_EQ(tr->interleaved->isa, tr->isa) << label(*tr);
    }
    listing += "; ";
    const bool x86 = best_isa() >= Isa::Avx2 && best_isa() <= Isa::Avx512Vnni;
    if (x86 && (t == DType::Q4_0 || t == DType::Q8_0)) {
      for (const QuantTraits* tr : quant_traits_variants(t)) {
        EXPECT_EQ(tr->interleaved != nullptr, tr->isa != Isa::Scalar) << label(*tr);
      }
    }
  }
  std::printf("interleaved kernels: %s\n", listing.c_str());
  EXPECT_EQ(interleaved_kernels(DType::Q4_1), nullptr);
  EXPECT_TRUE(interleaved_kernels_variants(DType::Q4_1).empty());
}

// The interleaved layouts: packed rows through their gemm give, for every output, the bits of the reference
// vec_dot on the original rows; partial last groups, K chunks (over 64 blocks), token tiles and chunks (over 128
// tokens) included, and nothing is written outside the tile.
TEST(QuantKernels, InterleavedGemmMatchesVecDot) {
  std::mt19937 rng(11);
  int checked = 0;
  for (const InterleavedKernels* k : all_interleaved_kernels()) {
    const DType type = k->type;
    std::string name = std::string(dtype_info(type).name) + "/" + std::string(isa_name(k->isa));
#if defined(__x86_64__)
    if (std::find(std::begin(kVnni256Evex), std::end(kVnni256Evex), k) != std::end(kVnni256Evex)) name += " (vnni256)";
#endif
    const QuantTraits& ref = quant_traits_reference(type);
    const int64_t bs = dtype_info(type).block_size;
    struct Shape {
      int64_t blocks, rows, tokens;
    };
    // Blocks past one K chunk (64 blocks of 32, 8 or 4 super-blocks of 256; one token: 256 super-blocks), partial
    // groups, token tiles of every width up to 8 and chunks, and 1, 2, 3, 5, 16 and 17 tokens on odd shapes.
    const std::vector<Shape> shapes =
        bs == 32 ? std::vector<Shape>{{1, 1, 1},   {2, 15, 2},   {3, 16, 3},  {65, 17, 1},  {2, 33, 1},   {66, 64, 1},
                                      {70, 33, 9}, {4, 48, 130}, {3, 31, 8},  {129, 16, 4}, {130, 17, 2}, {1025, 16, 1},
                                      {5, 20, 7},  {2, 9, 14},   {3, 17, 13}, {3, 17, 5},   {5, 33, 16},  {66, 17, 17}}
                 : std::vector<Shape>{{1, 1, 1},   {2, 15, 2},   {3, 16, 3},  {9, 17, 5},  {9, 17, 1},  {17, 33, 4},
                                      {1, 48, 13}, {257, 17, 1}, {17, 20, 2}, {3, 17, 16}, {9, 33, 17}, {2, 20, 5}};
    for (const Shape sh : shapes) {
      const int64_t n = sh.blocks * bs;
      const size_t wrow = bytes_for(type, n);
      const size_t xrow = bytes_for(ref.vec_dot_type, n);
      std::vector<uint8_t> w(wrow * static_cast<size_t>(sh.rows));
      for (int64_t r = 0; r < sh.rows; ++r) {
        const auto row = make_weights(rng, type, n, r % 2 == 0);
        std::memcpy(&w[static_cast<size_t>(r) * wrow], row.data(), row.size());
      }
      std::vector<uint8_t> x(xrow * static_cast<size_t>(sh.tokens));
      for (int64_t t = 0; t < sh.tokens; ++t) {
        const auto row = make_activations(rng, ref.vec_dot_type, n, t % 3 == 1);
        std::memcpy(&x[static_cast<size_t>(t) * xrow], row.data(), row.size());
      }
      std::vector<uint8_t> packed(interleaved_bytes(*k, sh.rows, n));
      ASSERT_EQ(packed.size(), static_cast<size_t>((sh.rows + 15) / 16) * k->group_bytes(n));
      k->pack(w.data(), wrow, sh.rows, n, packed.data());
      const int64_t ldo = sh.rows + 5;
      std::vector<float> out(static_cast<size_t>(ldo * sh.tokens), -7.0f);
      k->gemm(n, packed.data(), sh.rows, x.data(), xrow, sh.tokens, out.data(), ldo);
      for (int64_t t = 0; t < sh.tokens; ++t) {
        for (int64_t r = 0; r < ldo; ++r) {
          const float got = out[static_cast<size_t>(t * ldo + r)];
          if (r >= sh.rows) {
            ASSERT_EQ(got, -7.0f) << "interleaved gemm wrote outside its tile";
            continue;
          }
          float want = 0;
          ref.vec_dot(n, &want, &w[static_cast<size_t>(r) * wrow], &x[static_cast<size_t>(t) * xrow]);
          ASSERT_EQ(bits_of(want), bits_of(got))
              << name << " n=" << n << " rows=" << sh.rows << " tokens=" << sh.tokens << " r=" << r << " t=" << t;
          ++checked;
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no interleaved kernels on this CPU";
}

}  // namespace
}  // namespace ternion
