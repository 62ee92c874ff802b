// matmul: close to a double-precision reference, bit-identical to per-row vec_dot, and the same bits for any
// thread count and any batch the token sits in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/random_data.h"
#include "ternion/backend/matmul.h"
#include "ternion/core/error.h"
#include "ternion/quant/interleave.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

const DType kTypes[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0};

struct Matrix {
  DType type;
  int64_t rows;
  int64_t cols;
  std::vector<float> values;  // what the stored weights decode to (rows x cols)
  std::vector<uint8_t> data;
  size_t row_bytes;
  WeightMatrix view() const { return {type, rows, cols, data.data(), row_bytes}; }
};

Matrix make_matrix(std::mt19937& rng, DType type, int64_t rows, int64_t cols) {
  const size_t rb = row_bytes(dtype_info(type), static_cast<uint64_t>(cols));
  const auto x = test::normal_floats(rng, rows * cols, 0.5f);
  std::vector<uint8_t> data(rb * static_cast<size_t>(rows));
  std::vector<float> values(x.size());
  const QuantTraits& tr = quant_traits(type);
  for (int64_t r = 0; r < rows; ++r) {
    tr.from_float(&x[r * cols], &data[r * rb], cols);
    tr.to_float(&data[r * rb], &values[r * cols], cols);
  }
  return Matrix{type, rows, cols, std::move(values), std::move(data), rb};
}

std::vector<float> run_matmul(const Matrix& m, const std::vector<float>& x, int64_t n_tokens, ThreadPool& pool,
                              int64_t ldy_pad = 0) {
  const int64_t ldy = m.rows + ldy_pad;
  std::vector<float> y(static_cast<size_t>(ldy * n_tokens), NAN);
  std::vector<uint8_t> scratch(matmul_scratch_bytes(m.type, m.cols, n_tokens));
  matmul(m.view(), x.data(), n_tokens, y.data(), ldy, scratch, pool);
  return y;
}

// The expected bits: the activation row converted by the vec_dot_type's quantizer, then one vec_dot.
float expected_dot(const Matrix& m, const float* x_row, int64_t r) {
  const QuantTraits& tr = quant_traits(m.type);
  std::vector<uint8_t> xq(row_bytes(dtype_info(tr.vec_dot_type), static_cast<uint64_t>(m.cols)));
  quant_traits(tr.vec_dot_type).from_float(x_row, xq.data(), m.cols);
  float out = 0;
  tr.vec_dot(m.cols, &out, &m.data[r * m.row_bytes], xq.data());
  return out;
}

TEST(Matmul, CloseToDoubleReference) {
  std::mt19937 rng(21);
  ThreadPool pool(2);
  for (DType t : kTypes) {
    const Matrix m = make_matrix(rng, t, 37, 256);
    const int64_t n_tokens = 5;
    const auto x = test::normal_floats(rng, n_tokens * m.cols);
    const auto y = run_matmul(m, x, n_tokens, pool);
    // Error budget: the activation rounding of each type, relative to sum |w x|.
    const double rel = t == DType::F32 ? 1e-6 : t == DType::F16 ? 2e-3 : t == DType::BF16 ? 1e-2 : 2e-2;
    for (int64_t tok = 0; tok < n_tokens; ++tok) {
      for (int64_t r = 0; r < m.rows; ++r) {
        double dot = 0;
        double mag = 0;
        for (int64_t k = 0; k < m.cols; ++k) {
          dot += double(m.values[r * m.cols + k]) * x[tok * m.cols + k];
          mag += std::fabs(double(m.values[r * m.cols + k]) * x[tok * m.cols + k]);
        }
        ASSERT_NEAR(y[tok * m.rows + r], dot, rel * mag) << dtype_info(t).name << " r=" << r << " t=" << tok;
      }
    }
  }
}

TEST(Matmul, BitIdenticalToVecDotForOddShapes) {
  std::mt19937 rng(22);
  ThreadPool pool(3);
  for (DType t : kTypes) {
    for (int64_t rows : {1, 3, 17, 255}) {
      for (int64_t cols : {32, 96, 320}) {
        const Matrix m = make_matrix(rng, t, rows, cols);
        for (int64_t n_tokens : {1, 2, 9}) {
          const auto x = test::normal_floats(rng, n_tokens * cols);
          const auto y = run_matmul(m, x, n_tokens, pool, 2);
          for (int64_t tok = 0; tok < n_tokens; ++tok) {
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(bits_of(y[tok * (rows + 2) + r]), bits_of(expected_dot(m, &x[tok * cols], r)))
                  << dtype_info(t).name << " rows=" << rows << " cols=" << cols << " tokens=" << n_tokens;
            }
            ASSERT_TRUE(std::isnan(y[tok * (rows + 2) + rows])) << "matmul wrote past rows";
          }
        }
      }
    }
  }
}

TEST(Matmul, SameBitsForAnyThreadCount) {
  std::mt19937 rng(23);
  ThreadPool pool1(1);
  ThreadPool pool2(2);
  ThreadPool pool3(3);
  for (DType t : kTypes) {
    const Matrix m = make_matrix(rng, t, 300, 512);
    for (int64_t n_tokens : {1, 40}) {
      const auto x = test::normal_floats(rng, n_tokens * m.cols);
      const auto y1 = run_matmul(m, x, n_tokens, pool1);
      const auto y2 = run_matmul(m, x, n_tokens, pool2);
      const auto y3 = run_matmul(m, x, n_tokens, pool3);
      ASSERT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * 4), 0) << dtype_info(t).name;
      ASSERT_EQ(std::memcmp(y1.data(), y3.data(), y1.size() * 4), 0) << dtype_info(t).name;
    }
  }
}

// Naming the next matrix (whose first chunks idle threads then prefetch) changes no bit, whatever that matrix
// is: larger, smaller, empty, another type.
TEST(Matmul, NextMatrixChangesNoBits) {
  std::mt19937 rng(25);
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (DType t : kTypes) {
      const Matrix m = make_matrix(rng, t, 300, 512);
      const Matrix bigger = make_matrix(rng, DType::Q4_0, 1000, 256);
      const Matrix smaller = make_matrix(rng, DType::Q8_0, 16, 512);
      const Matrix empty = make_matrix(rng, DType::F16, 0, 64);
      for (int64_t n_tokens : {1, 2, 40}) {
        const auto x = test::normal_floats(rng, n_tokens * m.cols);
        const auto want = run_matmul(m, x, n_tokens, pool);
        for (const Matrix* next : {&bigger, &smaller, &empty, &m}) {
          const WeightMatrix nv = next->view();
          std::vector<float> y(want.size(), NAN);
          std::vector<uint8_t> scratch(matmul_scratch_bytes(m.type, m.cols, n_tokens));
          for (int rep = 0; rep < 20; ++rep) {
            matmul(m.view(), x.data(), n_tokens, y.data(), m.rows, scratch, pool, &nv);
            ASSERT_EQ(std::memcmp(want.data(), y.data(), y.size() * 4), 0)
                << dtype_info(t).name << " threads " << threads << " tokens " << n_tokens;
          }
        }
      }
    }
  }
}

// A token alone (decode) and the same token inside batches of 7, 64 and 513 give the same bits.
TEST(Matmul, SameBitsForAnyBatch) {
  std::mt19937 rng(24);
  ThreadPool pool(2);
  for (DType t : kTypes) {
    const Matrix m = make_matrix(rng, t, 70, 256);
    const auto batch = test::normal_floats(rng, 513 * m.cols);
    const int64_t probe = 5;  // a token inside every batch
    const std::vector<float> alone(batch.begin() + probe * m.cols, batch.begin() + (probe + 1) * m.cols);
    const auto y1 = run_matmul(m, alone, 1, pool);
    for (int64_t n_tokens : {7, 64, 513}) {
      const std::vector<float> x(batch.begin(), batch.begin() + n_tokens * m.cols);
      const auto y = run_matmul(m, x, n_tokens, pool);
      ASSERT_EQ(std::memcmp(y1.data(), &y[probe * m.rows], static_cast<size_t>(m.rows) * 4), 0)
          << dtype_info(t).name << " batch " << n_tokens;
      // and the last token of the batch against its own decode
      const std::vector<float> last(x.end() - m.cols, x.end());
      const auto yl = run_matmul(m, last, 1, pool);
      ASSERT_EQ(std::memcmp(yl.data(), &y[(n_tokens - 1) * m.rows], static_cast<size_t>(m.rows) * 4), 0)
          << dtype_info(t).name << " batch " << n_tokens;
    }
  }
}

// Several matrices over one input in one call (different weight and activation types, a product with no rows,
// odd sizes) give the bits of one matmul call each, and write nothing past each product's rows.
TEST(Matmul, ManyProductsGiveTheBitsOfSeparateCalls) {
  std::mt19937 rng(26);
  ThreadPool pool(3);
  const int64_t cols = 256;
  const DType types[] = {DType::Q4_0, DType::Q8_0, DType::F16, DType::F32, DType::Q4_K, DType::Q6_K};
  for (int64_t n_tokens : {1, 2, 5, 40}) {
    std::vector<Matrix> ms;
    for (size_t i = 0; i < std::size(types); ++i) {
      const int64_t rows = i == 2 ? 0 : 13 + 37 * static_cast<int64_t>(i);
      ms.push_back(make_matrix(rng, types[i], rows, cols));
    }
    const auto x = test::normal_floats(rng, n_tokens * cols);
    std::vector<WeightMatrix> views;
    std::vector<const WeightMatrix*> ptrs;
    for (const Matrix& m : ms) views.push_back(m.view());
    for (const WeightMatrix& v : views) ptrs.push_back(&v);
    std::vector<std::vector<float>> ys;
    std::vector<MatmulOutput> outs;
    for (size_t i = 0; i < ms.size(); ++i) {
      ys.emplace_back(static_cast<size_t>((ms[i].rows + 1) * n_tokens), NAN);
      outs.push_back({&views[i], ys.back().data(), ms[i].rows + 1});
    }
    std::vector<uint8_t> scratch(matmul_many_scratch_bytes(ptrs, n_tokens));
    matmul_many(outs, x.data(), cols, n_tokens, scratch, pool);
    for (size_t i = 0; i < ms.size(); ++i) {
      const Matrix& m = ms[i];
      const auto want = run_matmul(m, x, n_tokens, pool, 1);
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < m.rows; ++r) {
          const size_t at = static_cast<size_t>(t * (m.rows + 1) + r);
          ASSERT_EQ(bits_of(ys[i][at]), bits_of(want[at]))
              << dtype_info(m.type).name << " r=" << r << " t=" << t << " tokens=" << n_tokens;
        }
        ASSERT_TRUE(std::isnan(ys[i][static_cast<size_t>(t * (m.rows + 1) + m.rows)])) << "wrote past rows";
      }
    }
    // Too little scratch, a product of another width, and too many products are refused.
    std::vector<uint8_t> small(scratch.size() - 1);
    EXPECT_THROW(matmul_many(outs, x.data(), cols, n_tokens, small, pool), Error);
    EXPECT_THROW(matmul_many(outs, x.data(), cols * 2, n_tokens, scratch, pool), Error);
    std::vector<MatmulOutput> many(9, outs[0]);
    EXPECT_THROW(matmul_many(many, x.data(), cols, n_tokens, scratch, pool), Error);
  }
}

// Matrices packed into their type's interleaved layout (where this CPU has one) give the bits of the file layout
// for any thread count and batch: rows not a multiple of 16, one and two tokens (the decode kernels), prompt
// tiles and more tokens than a call takes.
TEST(Matmul, InterleavedLayoutGivesTheFileLayoutsBits) {
  std::mt19937 rng(27);
  ThreadPool one(1);
  int checked = 0;
  for (int id = 0; id < 64; ++id) {
    const auto t = static_cast<DType>(id);
    if (!has_quant_traits(t) || interleaved_kernels(t) == nullptr) continue;
    const InterleavedKernels& k = *interleaved_kernels(t);
    const Matrix m = make_matrix(rng, t, 70, 512);
    std::vector<uint8_t> packed(interleaved_bytes(k, m.rows, m.cols));
    k.pack(m.data.data(), m.row_bytes, m.rows, m.cols, packed.data());
    WeightMatrix pv = m.view();
    pv.interleaved = packed.data();
    pv.interleaved_ops = &k;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      for (int64_t n_tokens : {1, 2, 7, 40}) {
        const auto x = test::normal_floats(rng, n_tokens * m.cols);
        const auto want = run_matmul(m, x, n_tokens, one);
        std::vector<float> y(want.size(), NAN);
        std::vector<uint8_t> scratch(matmul_scratch_bytes(m.type, m.cols, n_tokens));
        matmul(pv, x.data(), n_tokens, y.data(), m.rows, scratch, pool);
        ASSERT_EQ(std::memcmp(want.data(), y.data(), y.size() * 4), 0)
            << dtype_info(t).name << " threads " << threads << " tokens " << n_tokens;
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no interleaved kernels on this CPU";
}

TEST(Matmul, RejectsBadArguments) {
  std::mt19937 rng(25);
  ThreadPool pool(1);
  const Matrix m = make_matrix(rng, DType::Q8_0, 4, 64);
  const auto x = test::normal_floats(rng, 64);
  std::vector<float> y(4);
  std::vector<uint8_t> small(10);
  EXPECT_THROW(matmul(m.view(), x.data(), 1, y.data(), 4, small, pool), Error);
  std::vector<uint8_t> scratch(matmul_scratch_bytes(DType::Q8_0, 64, 1));
  EXPECT_THROW(matmul(m.view(), x.data(), 1, y.data(), 3, scratch, pool), Error);
  WeightMatrix odd = m.view();
  odd.cols = 40;
  EXPECT_THROW(matmul(odd, x.data(), 1, y.data(), 4, scratch, pool), Error);
  WeightMatrix unsupported = m.view();
  unsupported.type = DType::Q8_1;
  EXPECT_THROW(matmul(unsupported, x.data(), 1, y.data(), 4, scratch, pool), Error);
  WeightMatrix activation_only = m.view();
  activation_only.type = DType::Q8_K;  // has conversions but no dot
  EXPECT_THROW(matmul(activation_only, x.data(), 1, y.data(), 4, scratch, pool), Error);
  EXPECT_EQ(matmul_scratch_bytes(DType::F32, 4096, 512), 0u);
}

}  // namespace
}  // namespace ternion
