// The ARM64 NEON dot-product kernels over the interleaved layouts, called directly (whichever kernels the
// registry picks): rows packed by the layout's packer, then every output compared bit for bit with the type's
// scalar vec_dot on the original rows. Shapes cover partial groups (1..15 rows left), many blocks (past the
// prompt K chunk and past the whole-row decode limit), and 1, 2 (decode), 3, 9, 13 and 130 tokens (prompt tiles
// and token chunks); nothing may be written outside the outputs.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/random_data.h"
#include "ternion/core/cpu_features.h"
#include "ternion/quant/quant.h"

#if defined(__aarch64__)
#include "quant/interleave.h"
#include "quant/q4_0.h"
#include "quant/q4_k.h"
#include "quant/q8_0.h"
#endif

namespace ternion {
namespace {

#if defined(__aarch64__)

using quant::interleaved_block_bytes;
using test::bits_of;

using PackFn = void (*)(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst);
using GemmFn = void (*)(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                        float* out, int64_t ldo);

struct Case {
  DType type;
  size_t interleaved_block;  // bytes of one block of a group
  PackFn pack;
  GemmFn gemm;
};

void pack_q4_0(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst) {
  quant::pack_scale_first_blocks(w, w_stride, rows, n_blocks, quant::kQ4_0BlockSize / 2, 0x00, dst);
}
void pack_q8_0(const void* w, size_t w_stride, int64_t rows, int64_t n_blocks, void* dst) {
  quant::pack_scale_first_blocks(w, w_stride, rows, n_blocks, quant::kQ8_0BlockSize, 0x80, dst);
}

const Case kCases[] = {
    {DType::Q4_0, interleaved_block_bytes(quant::kQ4_0BlockSize / 2), pack_q4_0, quant::q4_0_interleaved_gemm_neon_dot},
    {DType::Q8_0, interleaved_block_bytes(quant::kQ8_0BlockSize), pack_q8_0, quant::q8_0_interleaved_gemm_neon_dot},
    {DType::Q4_K, quant::kQ4KInterleavedBlock, quant::pack_q4_k, quant::q4_k_interleaved_gemm_neon_dot},
    {DType::Q6_K, quant::kQ6KInterleavedBlock, quant::pack_q6_k, quant::q6_k_interleaved_gemm_neon_dot},
    {DType::TQ2_0, quant::kTQ2InterleavedBlock, quant::pack_tq2_0, quant::tq2_0_interleaved_gemm_neon_dot},
};

size_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

// Where each weight type keeps its fp16 scales in a block (d, dmin), for raw rows.
std::vector<size_t> half_offsets(DType type) {
  switch (type) {
    case DType::Q4_K:
      return {0, 2};
    case DType::Q6_K:
      return {208};
    case DType::TQ2_0:
      return {64};
    default:
      return {0};
  }
}

// One weight row: the reference quantizer on floats of many magnitudes, or (`raw`) random bytes with any finite
// scales, which covers -128 Q8_0 weights and Q6_K scales, Q4_K scales and mins up to 63, the TQ2_0 code 3 and
// subnormal scales.
std::vector<uint8_t> weight_row(std::mt19937& rng, DType type, int64_t n, bool raw) {
  const DTypeInfo& info = dtype_info(type);
  if (raw) {
    auto w = test::random_blocks(rng, n / info.block_size, info.block_bytes, test::random_finite_half);
    for (size_t b = 0; b < w.size(); b += info.block_bytes) {
      for (size_t off : half_offsets(type)) {
        const uint16_t h = test::random_finite_half(rng);
        std::memcpy(&w[b + off], &h, 2);
      }
    }
    return w;
  }
  const auto x = test::normal_floats(rng, n);
  std::vector<uint8_t> w(row_bytes(type, n));
  quant_traits_reference(type).from_float(x.data(), w.data(), n);
  return w;
}

std::vector<uint8_t> activation_row(std::mt19937& rng, DType type, int64_t n, bool extreme) {
  const auto x = extreme ? test::random_floats(rng, n) : test::normal_floats(rng, n);
  std::vector<uint8_t> a(row_bytes(type, n));
  quant_traits_reference(type).from_float(x.data(), a.data(), n);
  return a;
}

struct Shape {
  int64_t blocks, rows, tokens;
};

void check(const Case& c, const Shape& sh, std::mt19937& rng) {
  const QuantTraits& ref = quant_traits_reference(c.type);
  const int64_t n = sh.blocks * dtype_info(c.type).block_size;
  const size_t wrow = row_bytes(c.type, n);
  const size_t xrow = row_bytes(ref.vec_dot_type, n);
  std::vector<uint8_t> w(wrow * static_cast<size_t>(sh.rows));
  for (int64_t r = 0; r < sh.rows; ++r) {
    const auto row = weight_row(rng, c.type, n, r % 2 == 1);
    std::memcpy(&w[static_cast<size_t>(r) * wrow], row.data(), wrow);
  }
  const size_t x_offset = 3;  // activation rows at odd addresses
  std::vector<uint8_t> x(xrow * static_cast<size_t>(sh.tokens) + x_offset);
  for (int64_t t = 0; t < sh.tokens; ++t) {
    const auto row = activation_row(rng, ref.vec_dot_type, n, t % 3 == 1);
    std::memcpy(&x[x_offset + static_cast<size_t>(t) * xrow], row.data(), xrow);
  }
  const int64_t groups = (sh.rows + kInterleaveRows - 1) / kInterleaveRows;
  std::vector<uint8_t> packed(static_cast<size_t>(groups * sh.blocks) * c.interleaved_block);
  c.pack(w.data(), wrow, sh.rows, sh.blocks, packed.data());
  const int64_t ldo = sh.rows + 3;
  std::vector<float> out(static_cast<size_t>(ldo * sh.tokens), -7.0f);
  c.gemm(n, packed.data(), sh.rows, x.data() + x_offset, xrow, sh.tokens, out.data(), ldo);
  for (int64_t t = 0; t < sh.tokens; ++t) {
    for (int64_t r = 0; r < ldo; ++r) {
      const float got = out[static_cast<size_t>(t * ldo + r)];
      if (r >= sh.rows) {
        ASSERT_EQ(bits_of(got), bits_of(-7.0f)) << "wrote outside the outputs: r=" << r << " t=" << t;
        continue;
      }
      float want = 0;
      ref.vec_dot(n, &want, &w[static_cast<size_t>(r) * wrow], &x[x_offset + static_cast<size_t>(t) * xrow]);
      ASSERT_EQ(bits_of(want), bits_of(got))
          << dtype_info(c.type).name << " blocks=" << sh.blocks << " rows=" << sh.rows << " tokens=" << sh.tokens
          << " r=" << r << " t=" << t << " want " << want << " got " << got;
    }
  }
}

TEST(InterleaveNeon, DotKernelsMatchVecDot) {
  if (!cpu_features().neon_dotprod) GTEST_SKIP() << "this CPU has no NEON dot product";
  std::mt19937 rng(22);
  for (const Case& c : kCases) {
    // Blocks of 32: a K chunk is 64 blocks, whole-row decode takes up to 1024. Super-blocks of 256: a K chunk is 8.
    const std::vector<Shape> shapes =
        dtype_info(c.type).block_size == 32
            ? std::vector<Shape>{{1, 1, 1},    {2, 15, 2},   {3, 16, 3}, {65, 17, 1},  {5, 33, 2},    {66, 9, 9},
                                 {70, 36, 13}, {4, 20, 130}, {3, 31, 4}, {129, 13, 5}, {1025, 16, 1}, {1025, 5, 2}}
            : std::vector<Shape>{{1, 1, 1},   {2, 15, 2},  {3, 16, 3}, {9, 17, 1},  {9, 20, 2},
                                 {17, 33, 9}, {1, 48, 13}, {10, 7, 5}, {2, 18, 130}};
    for (const Shape& sh : shapes) {
      SCOPED_TRACE(std::string(dtype_info(c.type).name));
      check(c, sh, rng);
      if (HasFatalFailure()) return;
    }
  }
}

// The i8mm prompt tiles (token pairs through SMMLA, an odd token through SDOT), on the same shapes.
TEST(InterleaveNeon, I8mmKernelsMatchVecDot) {
  if (!cpu_features().neon_i8mm) GTEST_SKIP() << "this CPU has no NEON int8 matrix multiply (i8mm)";
  const Case cases[] = {
      {DType::Q4_0, interleaved_block_bytes(quant::kQ4_0BlockSize / 2), pack_q4_0,
       quant::q4_0_interleaved_gemm_neon_i8mm},
      {DType::Q8_0, interleaved_block_bytes(quant::kQ8_0BlockSize), pack_q8_0, quant::q8_0_interleaved_gemm_neon_i8mm},
  };
  std::mt19937 rng(23);
  for (const Case& c : cases) {
    for (const Shape& sh : std::vector<Shape>{{1, 1, 3},
                                              {2, 15, 4},
                                              {3, 16, 3},
                                              {65, 17, 6},
                                              {5, 33, 5},
                                              {66, 9, 9},
                                              {70, 36, 13},
                                              {4, 20, 130},
                                              {3, 31, 4},
                                              {129, 13, 7},
                                              {1025, 16, 1},
                                              {1025, 5, 2},
                                              {2, 3, 1027}}) {
      SCOPED_TRACE(std::string(dtype_info(c.type).name));
      check(c, sh, rng);
      if (HasFatalFailure()) return;
    }
  }
}

#else

TEST(InterleaveNeon, DotKernelsMatchVecDot) { GTEST_SKIP() << "ARM64 kernels: built for ARM64 only"; }
TEST(InterleaveNeon, I8mmKernelsMatchVecDot) { GTEST_SKIP() << "ARM64 kernels: built for ARM64 only"; }

#endif

}  // namespace
}  // namespace ternion
