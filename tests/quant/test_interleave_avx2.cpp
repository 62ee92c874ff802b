// The x86 interleaved K-quant, IQ4_XS and ternary kernels, 256-bit (quant/interleave_k_avx2.h,
// quant/interleave_q5k_iq4_avx2.h) and 512-bit (quant/interleave_k_avx512.h, and the AVX-512 Q5_K and IQ4_XS ones),
// against the type's reference vec_dot on the original rows, bit for bit: quantized and raw random blocks (any
// scales, mins, Q6_K scale -128, the invalid trit 3, every IQ4_XS block scale), raw Q8_K activations with -128 (but
// for AVX2's IQ4_XS dot), partial groups and halves, token tiles, K chunks and decode pieces. Each dot policy runs
// where this CPU has it.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/interleave.h"
#include "quant/iq4_xs.h"
#include "quant/q4_k.h"
#include "quant/q5_k.h"
#include "quant/q6_k.h"
#include "quant/q8_k.h"
#include "quant/random_data.h"
#include "quant/tq2_0.h"
#include "ternion/core/cpu_features.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

#if defined(__x86_64__)

using quant::kQK_K;
using test::bits_of;
using GemmFn = void (*)(int64_t, const void*, int64_t, const void*, size_t, int64_t, float*, int64_t);
using PackFn = void (*)(const void*, size_t, int64_t, int64_t, void*);

struct Variant {
  const char* isa;
  bool runs;  // this CPU (as capped by TERNION_ISA) has the instructions
  bool vnni;  // VPDPBUSD: exact for every activation; AVX2's IQ4_XS dot needs them in [-127, 127]
  GemmFn q4_k, q6_k, tq2_0, q5_k, iq4_xs;
};

std::vector<Variant> variants() {
  const CpuFeatures& f = cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx_vnni = avx2 && f.avx_vnni;
  return {
      {"avx2", avx2, false, quant::q4_k_interleaved_gemm_avx2, quant::q6_k_interleaved_gemm_avx2,
       quant::tq2_0_interleaved_gemm_avx2, quant::q5_k_interleaved_gemm_avx2, quant::iq4_xs_interleaved_gemm_avx2},
      {"avxvnni", avx_vnni, true, quant::q4_k_interleaved_gemm_avxvnni, quant::q6_k_interleaved_gemm_avxvnni,
       quant::tq2_0_interleaved_gemm_avxvnni, quant::q5_k_interleaved_gemm_avxvnni,
       quant::iq4_xs_interleaved_gemm_avxvnni},
      {"vnni256_avx512", f.has_avx512_kernels(), true, quant::q4_k_interleaved_gemm_vnni256_avx512,
       quant::q6_k_interleaved_gemm_vnni256_avx512, quant::tq2_0_interleaved_gemm_vnni256_avx512,
       quant::q5_k_interleaved_gemm_vnni256_avx512, quant::iq4_xs_interleaved_gemm_vnni256_avx512},
      // The AVX-512 VNNI kernels of the two types that have no other test of their own here.
      {"avx512", f.has_avx512_kernels(), true, nullptr, nullptr, nullptr, quant::q5_k_interleaved_gemm_avx512,
       quant::iq4_xs_interleaved_gemm_avx512},
  };
}

// The 512-bit kernels: VPMADDUBSW + VPMADDWD (AVX-512 without VNNI) and VPDPBUSD (AVX-512 VNNI).
std::vector<Variant> variants512() {
  const CpuFeatures& f = cpu_features();
  return {
      {"avx512", f.has_avx512(), true, quant::q4_k_interleaved_gemm_avx512bw, quant::q6_k_interleaved_gemm_avx512bw,
       quant::tq2_0_interleaved_gemm_avx512bw, nullptr, nullptr},
      {"avx512vnni", f.has_avx512_kernels(), true, quant::q4_k_interleaved_gemm_avx512,
       quant::q6_k_interleaved_gemm_avx512, quant::tq2_0_interleaved_gemm_avx512, nullptr, nullptr},
  };
}

struct TypeCase {
  DType type;
  PackFn pack;
  size_t packed_block;  // bytes of one super-block of a 16-row group
  GemmFn Variant::*gemm;
  size_t d_offset;                // the fp16 d of a file block
  size_t dmin_offset = SIZE_MAX;  // Q4_K's and Q5_K's fp16 dmin
  bool signed_weights = false;    // IQ4_XS: AVX2 dots |w| with x carrying w's sign
};

const TypeCase kTypes[] = {
    {DType::Q4_K, quant::pack_q4_k, quant::kQ4KInterleavedBlock, &Variant::q4_k, offsetof(quant::BlockQ4_K, d),
     offsetof(quant::BlockQ4_K, dmin)},
    {DType::Q6_K, quant::pack_q6_k, quant::kQ6KInterleavedBlock, &Variant::q6_k, offsetof(quant::BlockQ6_K, d)},
    {DType::TQ2_0, quant::pack_tq2_0, quant::kTQ2InterleavedBlock, &Variant::tq2_0, offsetof(quant::BlockTQ2_0, d)},
    {DType::Q5_K, quant::pack_q5_k, quant::kQ5KInterleavedBlock, &Variant::q5_k, offsetof(quant::BlockQ5_K, d),
     offsetof(quant::BlockQ5_K, dmin)},
    {DType::IQ4_XS, quant::pack_iq4_xs, quant::kIQ4XSInterleavedBlock, &Variant::iq4_xs, offsetof(quant::BlockIq4Xs, d),
     SIZE_MAX, true},
};

// One row of `blocks` super-blocks: the reference quantizer's (normal or extreme floats) or, when raw, random
// bytes with random finite fp16 scales.
std::vector<uint8_t> make_row(std::mt19937& rng, const TypeCase& c, int64_t blocks, int kind) {
  const size_t bb = dtype_info(c.type).block_bytes;
  std::vector<uint8_t> w(bb * static_cast<size_t>(blocks));
  const int64_t n = blocks * kQK_K;
  if (kind < 2) {
    const auto x = kind == 0 ? test::normal_floats(rng, n) : test::random_floats(rng, n);
    quant_traits_reference(c.type).from_float(x.data(), w.data(), n);
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& v : w) v = static_cast<uint8_t>(byte(rng));
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* blk = w.data() + static_cast<size_t>(b) * bb;
    const uint16_t d = kind == 2 ? test::random_scale(rng) : test::random_finite_half(rng);
    std::memcpy(blk + c.d_offset, &d, 2);
    if (c.dmin_offset != SIZE_MAX) {
      const uint16_t dmin = kind == 2 ? test::random_scale(rng) : test::random_finite_half(rng);
      std::memcpy(blk + c.dmin_offset, &dmin, 2);
    }
  }
  return w;
}

// Q8_K activations: the reference quantizer's, or (raw) random values in [min, 127] with their true group sums.
std::vector<uint8_t> make_activations(std::mt19937& rng, int64_t blocks, bool raw, int min) {
  std::vector<uint8_t> a(sizeof(quant::BlockQ8_K) * static_cast<size_t>(blocks));
  if (!raw) {
    const auto x = test::random_floats(rng, blocks * kQK_K);
    quant_traits_reference(DType::Q8_K).from_float(x.data(), a.data(), blocks * kQK_K);
    return a;
  }
  std::uniform_int_distribution<int> value(min, 127);
  std::uniform_real_distribution<float> scale(-1e-2f, 1e-2f);
  for (int64_t b = 0; b < blocks; ++b) {
    quant::BlockQ8_K blk{};
    blk.d = scale(rng);
    for (int j = 0; j < kQK_K; ++j) {
      blk.qs[j] = static_cast<int8_t>(j % 7 == 0 ? min : value(rng));  // many extremes
      blk.bsums[j / 16] = static_cast<int16_t>(blk.bsums[j / 16] + blk.qs[j]);
    }
    std::memcpy(&a[static_cast<size_t>(b) * sizeof blk], &blk, sizeof blk);
  }
  return a;
}

struct Shape {
  int64_t blocks, rows, tokens;
};

// Partial groups and halves (1, 7, 8, 9, 15, 17, 33 rows), every token tile remainder (1..17 tokens), K chunks
// of 4 and 8 super-blocks and more, and a one-token row past the 256 super-blocks of a decode piece.
const Shape kShapes[] = {{1, 1, 1},   {2, 7, 2},  {3, 8, 3},   {5, 9, 1},  {9, 15, 9},  {9, 17, 13},
                         {17, 33, 4}, {1, 16, 5}, {4, 24, 6},  {8, 31, 7}, {13, 40, 2}, {257, 17, 1},
                         {3, 3, 11},  {6, 12, 3}, {5, 17, 16}, {9, 33, 17}};

// Checks one kernel on one shape; returns the number of outputs compared.
int check_shape(std::mt19937& rng, const TypeCase& c, const Variant& v, const Shape& sh) {
  const QuantTraits& ref = quant_traits_reference(c.type);
  const int64_t n = sh.blocks * kQK_K;
  const size_t wrow = dtype_info(c.type).block_bytes * static_cast<size_t>(sh.blocks);
  const size_t xrow = sizeof(quant::BlockQ8_K) * static_cast<size_t>(sh.blocks);
  std::vector<uint8_t> w(wrow * static_cast<size_t>(sh.rows));
  for (int64_t r = 0; r < sh.rows; ++r) {
    const auto row = make_row(rng, c, sh.blocks, static_cast<int>(r % 4));
    std::memcpy(&w[static_cast<size_t>(r) * wrow], row.data(), row.size());
  }
  std::vector<uint8_t> x(xrow * static_cast<size_t>(sh.tokens));
  for (int64_t t = 0; t < sh.tokens; ++t) {
    const auto row = make_activations(rng, sh.blocks, t % 2 == 1, c.signed_weights && !v.vnni ? -127 : -128);
    std::memcpy(&x[static_cast<size_t>(t) * xrow], row.data(), row.size());
  }
  const int64_t groups = (sh.rows + kInterleaveRows - 1) / kInterleaveRows;
  std::vector<uint8_t> packed(static_cast<size_t>(groups * sh.blocks) * c.packed_block);
  c.pack(w.data(), wrow, sh.rows, sh.blocks, packed.data());
  const int64_t ldo = sh.rows + 5;
  std::vector<float> out(static_cast<size_t>(ldo * sh.tokens), -7.0f);
  (v.*c.gemm)(n, packed.data(), sh.rows, x.data(), xrow, sh.tokens, out.data(), ldo);
  int checked = 0;
  for (int64_t t = 0; t < sh.tokens; ++t) {
    for (int64_t r = 0; r < ldo; ++r) {
      const float got = out[static_cast<size_t>(t * ldo + r)];
      const std::string where = std::string(dtype_info(c.type).name) + "/" + v.isa +
                                " blocks=" + std::to_string(sh.blocks) + " rows=" + std::to_string(sh.rows) +
                                " tokens=" + std::to_string(sh.tokens) + " r=" + std::to_string(r) +
                                " t=" + std::to_string(t);
      if (r >= sh.rows) {
        EXPECT_EQ(bits_of(got), bits_of(-7.0f)) << where << ": wrote outside its rows";
        continue;
      }
      float want = 0;
      ref.vec_dot(n, &want, &w[static_cast<size_t>(r) * wrow], &x[static_cast<size_t>(t) * xrow]);
      EXPECT_EQ(bits_of(want), bits_of(got)) << where << " want " << want << " got " << got;
      ++checked;
    }
  }
  return checked;
}

// Every variant of `list` that this CPU runs on every type and shape; returns the number of outputs compared.
int check_variants(std::mt19937& rng, const std::vector<Variant>& list) {
  int checked = 0;
  for (const Variant& v : list) {
    if (!v.runs) {
      std::fprintf(stderr, "*** SKIPPED: no %s on this CPU (or capped by TERNION_ISA) ***\n", v.isa);
      continue;
    }
    for (const TypeCase& c : kTypes) {
      if (v.*c.gemm == nullptr) continue;
      for (const Shape& sh : kShapes) {
        checked += check_shape(rng, c, v, sh);
        if (::testing::Test::HasFailure()) return checked;  // one shape's report is enough
      }
    }
  }
  return checked;
}

TEST(InterleaveAvx2, GemmMatchesVecDot) {
  std::mt19937 rng(22);
  if (check_variants(rng, variants()) == 0) GTEST_SKIP() << "no 256-bit interleaved kernel runs on this CPU";
}

TEST(InterleaveAvx512, GemmMatchesVecDot) {
  std::mt19937 rng(23);
  if (check_variants(rng, variants512()) == 0) GTEST_SKIP() << "no 512-bit interleaved kernel runs on this CPU";
}

#endif

}  // namespace
}  // namespace ternion
