// The CUDA weight-matrix kernels (backend/cuda/cuda_matmul.h) against a double-precision product over the CPU's
// dequantised weights, for every type they run, on odd shapes and token counts of both paths; and the batch
// invariance they claim. Skipped, loudly, where no CUDA device is present.
//
// Tolerances, relative to sum_c |w_c x_c| of each output: 2e-5 on the mat-vec path (float weights exactly as the
// CPU dequantises them, float fma accumulation over at most 768 terms), 1.5e-3 on the tensor-core path, ours or
// cuBLAS's (weights and activations rounded to F16, 2^-11 relative each, F32 accumulation).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/matmul_launch.h"
#include "ternion/core/error.h"
#include "ternion/quant/quant.h"

namespace ternion::cuda {
namespace {

bool has_device() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

#define SKIP_WITHOUT_GPU() \
  if (!has_device()) GTEST_SKIP() << "no CUDA device here: the CUDA matmul kernels are NOT tested"

// Device memory for the length of a test.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (bytes > 0 && cudaMalloc(&ptr_, bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

constexpr DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0,
                            DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::TQ2_0};

// A random matrix of `type` on the device (rows padded to a multiple of 16 bytes), with its CPU dequantisation.
struct Weights {
  DType type;
  int64_t rows, cols;
  size_t row_bytes;
  std::vector<float> values;  // rows x cols, as the CPU dequantises the blocks
  std::vector<uint8_t> blocks;
};

Weights make_weights(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const DTypeInfo& info = dtype_info(type);
  const size_t packed = row_bytes(info, static_cast<uint64_t>(cols));
  Weights w{type, rows, cols, (packed + 15) / 16 * 16, {}, {}};
  w.values.resize(static_cast<size_t>(rows * cols));
  w.blocks.assign(w.row_bytes * static_cast<size_t>(rows), 0xAB);  // padding bytes are garbage, never read
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = normal(rng);
    uint8_t* dst = w.blocks.data() + static_cast<size_t>(r) * w.row_bytes;
    quantize_weights(type, row.data(), dst, cols);
    dequantize_row(type, dst, w.values.data() + r * cols, cols);
  }
  return w;
}

struct Product {
  std::vector<float> y;  // n x y_stride
  int64_t y_stride;
};

// Runs matmul on the device for n tokens of x (n x x_stride floats).
Product run(const Weights& w, const std::vector<float>& x, int64_t x_stride, int64_t n, MatmulOrder order,
            const BlasMatmul* blas = nullptr) {
  Product p{{}, w.rows + 3};
  DeviceBuffer dw(w.blocks.size()), dx(x.size() * sizeof(float)), dy(static_cast<size_t>(n * p.y_stride) * 4);
  const size_t scratch_bytes = matmul_scratch_bytes(w.type, w.rows, w.cols, n);
  DeviceBuffer scratch(scratch_bytes);
  EXPECT_TRUE(dw.as<void>() && dx.as<void>() && dy.as<void>() && (scratch_bytes == 0 || scratch.as<void>()));
  EXPECT_EQ(cudaMemcpy(dw.as<void>(), w.blocks.data(), w.blocks.size(), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dx.as<void>(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  // NaN wherever nothing is written.
  EXPECT_EQ(cudaMemset(dy.as<void>(), 0xFF, static_cast<size_t>(n * p.y_stride) * 4), cudaSuccess);
  matmul(w.type, dw.as<void>(), w.row_bytes, w.rows, w.cols, dx.as<float>(), x_stride, dy.as<float>(), p.y_stride, n,
         scratch.as<void>(), nullptr, order, blas);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  p.y.resize(static_cast<size_t>(n * p.y_stride));
  EXPECT_EQ(cudaMemcpy(p.y.data(), dy.as<void>(), p.y.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return p;
}

void expect_close(const Weights& w, const std::vector<float>& x, int64_t x_stride, int64_t n, const Product& p,
                  double rel_tol) {
  int failures = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double sum = 0.0, mag = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const double prod = double(w.values[r * w.cols + c]) * double(x[t * x_stride + c]);
        sum += prod;
        mag += std::fabs(prod);
      }
      const double got = p.y[t * p.y_stride + r];
      if (!(std::fabs(got - sum) <= rel_tol * mag + 1e-30) && ++failures <= 5)
        ADD_FAILURE() << dtype_info(w.type).name << " n=" << n << " token " << t << " row " << r << ": " << got
                      << " vs " << sum << " (scale " << mag << ")";
    }
  }
  EXPECT_EQ(failures, 0) << dtype_info(w.type).name << " n=" << n;
}

// Shapes: rows not a multiple of the 4-row mat-vec block nor of the 128-row tile; cols a few blocks (for the float
// types not a multiple of the 32-column K step).
int64_t cols_for(DType type) {
  const uint32_t block = dtype_info(type).block_size;
  return block == 1 ? 40 : block == 32 ? 160 : 768;
}

TEST(CudaMatmul, SupportsTheDecodeTypes) {
  for (DType t : kTypes) EXPECT_TRUE(matmul_supports(t)) << dtype_info(t).name;
  EXPECT_FALSE(matmul_supports(DType::Q2_K));
  EXPECT_FALSE(matmul_supports(DType::IQ4_XS));
  EXPECT_EQ(matmul_scratch_bytes(DType::Q4_0, 2048, 2048, kMatvecMaxTokens), 0u);
  EXPECT_GE(matmul_scratch_bytes(DType::Q4_0, 2048, 2048, 512), size_t{512 * 2048 * 2 + 128 * 2048 * 2});
  EXPECT_GE(matmul_scratch_bytes(DType::F16, 2048, 2048, 512), size_t{512 * 2048 * 2});
}

// The kernels' decoders, run on the host: every element as the CPU dequantises it, bit for bit (no GPU needed).
TEST(CudaMatmul, DecodersReadEveryBlockLayoutAsTheCpuDoes) {
  std::mt19937 rng(3);
  for (DType type : kTypes) {
    const int64_t cols = dtype_info(type).block_size == 1 ? 72 : 1024;
    const Weights w = make_weights(type, 3, cols, rng);
    for (int64_t r = 0; r < w.rows; ++r) {
      std::vector<float> got(static_cast<size_t>(cols), -1234.5f);
      ASSERT_TRUE(detail::decode_row_on_host(type, w.blocks.data() + r * w.row_bytes, cols, got.data()));
      EXPECT_EQ(std::memcmp(got.data(), w.values.data() + r * cols, got.size() * sizeof(float)), 0)
          << dtype_info(type).name << " row " << r;
      for (int64_t c = 0; c < cols; ++c) {
        const float want = w.values[r * cols + c];
        if (std::memcmp(&got[c], &want, sizeof want) != 0) {
          ADD_FAILURE() << dtype_info(type).name << " element " << c << ": " << got[c] << " vs " << want;
          break;
        }
      }
    }
  }
  float out[32];
  EXPECT_FALSE(detail::decode_row_on_host(DType::Q2_K, out, 256, out));
}

TEST(CudaMatmul, MatchesTheReferenceForEveryTypeAndTokenCount) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(24);
  const BlasMatmul blas;
  for (DType type : kTypes) {
    const int64_t cols = cols_for(type);
    const Weights w = make_weights(type, 131, cols, rng);
    const int64_t x_stride = cols + 4;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t n : {1, 2, 3, 7, 8, 9, 64, 130}) {
      std::vector<float> x(static_cast<size_t>(n * x_stride));
      for (auto& v : x) v = normal(rng);
      const double tol = n <= kMatvecMaxTokens ? 2e-5 : 1.5e-3;
      expect_close(w, x, x_stride, n, run(w, x, x_stride, n, MatmulOrder::Fast), tol);
      if (n > kMatvecMaxTokens) {
        expect_close(w, x, x_stride, n, run(w, x, x_stride, n, MatmulOrder::BatchInvariant), 2e-5);
        expect_close(w, x, x_stride, n, run(w, x, x_stride, n, MatmulOrder::Fast, &blas), 1.5e-3);
      }
    }
  }
}

// Long rows: every thread of the mat-vec runs several units, the tile kernel many K steps (2048-column rows).
TEST(CudaMatmul, MatchesTheReferenceOnLongRows) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(5);
  for (DType type : kTypes) {
    const int64_t cols = 4096;
    const Weights w = make_weights(type, 19, cols, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t n : {1, 5, 130}) {
      std::vector<float> x(static_cast<size_t>(n * cols));
      for (auto& v : x) v = normal(rng);
      // Twice the short rows' bound on the mat-vec path: 4096 terms a sum.
      expect_close(w, x, cols, n, run(w, x, cols, n, MatmulOrder::Fast), n <= kMatvecMaxTokens ? 4e-5 : 1.5e-3);
    }
  }
}

// Row t of an n-token call equals the one-token call for token t, bit for bit: always in BatchInvariant, for
// n <= kMatvecMaxTokens in Fast; and the tensor-core path gives a token the same bits for any n above that.
TEST(CudaMatmul, ATokensResultDoesNotDependOnItsBatch) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  for (DType type : kTypes) {
    const int64_t cols = cols_for(type);
    const Weights w = make_weights(type, 37, cols, rng);
    const int64_t x_stride = cols;
    std::vector<float> x(static_cast<size_t>(130 * x_stride));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : x) v = normal(rng);
    std::vector<Product> single;
    for (int64_t t = 0; t < 130; ++t) {
      const std::vector<float> xt(x.begin() + t * x_stride, x.begin() + (t + 1) * x_stride);
      single.push_back(run(w, xt, x_stride, 1, MatmulOrder::Fast));
    }
    auto same_rows = [&](const Product& a, int64_t ta, const Product& b, int64_t tb) {
      return std::memcmp(&a.y[ta * a.y_stride], &b.y[tb * b.y_stride], w.rows * sizeof(float)) == 0;
    };
    for (int64_t n : {2, 3, 7, 8}) {
      const Product p = run(w, x, x_stride, n, MatmulOrder::Fast);
      for (int64_t t = 0; t < n; ++t) EXPECT_TRUE(same_rows(p, t, single[t], 0)) << dtype_info(type).name;
    }
    const Product inv = run(w, x, x_stride, 130, MatmulOrder::BatchInvariant);
    for (int64_t t = 0; t < 130; ++t) EXPECT_TRUE(same_rows(inv, t, single[t], 0)) << dtype_info(type).name << t;
    const Product g64 = run(w, x, x_stride, 64, MatmulOrder::Fast);
    const Product g130 = run(w, x, x_stride, 130, MatmulOrder::Fast);
    for (int64_t t = 0; t < 64; ++t) EXPECT_TRUE(same_rows(g64, t, g130, t)) << dtype_info(type).name << t;
  }
}

TEST(CudaMatmul, RejectsBadArgumentsWithAClearError) {
  alignas(16) static float buffer[64] = {};
  const void* w = buffer;
  // Unsupported type, cols not whole blocks, short rows, misaligned x, short y stride: checked before any launch.
  EXPECT_THROW(matmul(DType::Q2_K, w, 84, 1, 256, buffer, 256, buffer, 1, 1, nullptr, nullptr), Error);
  EXPECT_THROW(matmul(DType::Q4_0, w, 18, 1, 48, buffer, 48, buffer, 1, 1, nullptr, nullptr), Error);
  EXPECT_THROW(matmul(DType::Q4_0, w, 16, 1, 32, buffer, 32, buffer, 1, 1, nullptr, nullptr), Error);
  EXPECT_THROW(matmul(DType::Q4_0, w, 18, 1, 32, buffer + 1, 32, buffer, 1, 1, nullptr, nullptr), Error);
  EXPECT_THROW(matmul(DType::F16, w, 24, 1, 8, buffer, 8, buffer, 1, 1, nullptr, nullptr), Error);
  EXPECT_THROW(matmul(DType::Q8_0, w, 34, 4, 32, buffer, 32, buffer, 3, 1, nullptr, nullptr), Error);
  try {
    matmul(DType::Q4_K, w, 144, 1, 100, buffer, 100, buffer, 1, 1, nullptr, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 256"), std::string::npos) << e.what();
  }
  // The prompt path needs its scratch.
  SKIP_WITHOUT_GPU();
  DeviceBuffer dw(144 * 4), dx(256 * 16 * 4), dy(16 * 4 * 4);
  EXPECT_THROW(
      matmul(DType::Q4_K, dw.as<void>(), 144, 4, 256, dx.as<float>(), 256, dy.as<float>(), 4, 16, nullptr, nullptr),
      Error);
}

}  // namespace
}  // namespace ternion::cuda
