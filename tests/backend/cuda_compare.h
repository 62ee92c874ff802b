// What the CUDA backend's tests share: a CPU and a CUDA backend side by side, tensors holding the same values on
// both, and the comparison of results. Without CUDA in the build, or without a GPU, every test skips loudly.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ternion/backend/cpu_backend.h"
#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"
#include "ternion/core/thread_pool.h"

namespace ternion::test {

inline std::vector<float> random_values(size_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The GPU backend, or the reason there is none (then the test is skipped, loudly).
inline std::unique_ptr<Backend> open_gpu(std::string& why) {
  if (!cuda_built()) {
    why = "this build has no CUDA (configure with -DTERNION_CUDA=ON)";
    return nullptr;
  }
  try {
    return make_cuda_backend(0);
  } catch (const Error& e) {
    why = std::string("no usable GPU: ") + e.what();
    return nullptr;
  }
}

#define TERNION_REQUIRE_GPU(gpu_)                                                                      \
  do {                                                                                                 \
    std::string why_;                                                                                  \
    gpu_ = ::ternion::test::open_gpu(why_);                                                            \
    if (gpu_ == nullptr) {                                                                             \
      std::fprintf(stderr, "\n*** SKIPPED: the CUDA backend is not tested: %s ***\n\n", why_.c_str()); \
      GTEST_SKIP() << "CUDA backend not tested: " << why_;                                             \
    }                                                                                                  \
  } while (0)

// One tensor's values on both backends.
struct TensorPair {
  std::unique_ptr<Buffer> cpu_buf, gpu_buf;
  Tensor cpu, gpu;
};

class CudaVsCpu : public ::testing::Test {
 public:  // the tests' helper structs use these too
  void SetUp() override {
    TERNION_REQUIRE_GPU(gpu_);
    cpu_ = std::make_unique<CpuBackend>(pool_);
  }

  // rows × cols values (rows `stride` floats apart; 0: cols) on both backends.
  TensorPair make(int64_t rows, int64_t cols, const std::vector<float>& values, int64_t stride = 0) {
    if (stride == 0) stride = cols;
    TensorPair p;
    const auto n = static_cast<size_t>(rows * stride);
    p.cpu_buf = cpu_->alloc(n);
    p.gpu_buf = gpu_->alloc(n);
    p.cpu = {p.cpu_buf->data(), rows, cols, stride};
    p.gpu = {p.gpu_buf->data(), rows, cols, stride};
    cpu_->write(p.cpu, values.data());
    gpu_->write(p.gpu, values.data());
    return p;
  }
  TensorPair random(int64_t rows, int64_t cols, uint32_t seed, int64_t stride = 0) {
    return make(rows, cols, random_values(static_cast<size_t>(rows * cols), seed), stride);
  }
  std::vector<float> read(Backend& b, Tensor t) {
    std::vector<float> v(static_cast<size_t>(t.rows * t.cols));
    b.read(t, v.data());
    return v;
  }
  // Every value of the GPU's within abs + rel · |cpu| of the CPU's.
  void expect_close(const TensorPair& p, double rel, double abs, const std::string& what) {
    const std::vector<float> c = read(*cpu_, p.cpu), g = read(*gpu_, p.gpu);
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      // Equal values are no error even with no tolerance (abs = rel = 0 would make 0 / 0 a NaN).
      const double diff = std::abs(static_cast<double>(c[i]) - g[i]);
      const double err = diff == 0.0 ? 0.0 : diff / (abs + rel * std::abs(c[i]));
      if (!(err <= worst)) worst = err, at = i;  // NaN counts as worst
    }
    EXPECT_LE(worst, 1.0) << what << ": value " << at << " is " << g[at] << " on the GPU, " << c[at] << " on the CPU";
  }

  ThreadPool pool_{2};
  std::unique_ptr<CpuBackend> cpu_;
  std::unique_ptr<Backend> gpu_;
};

}  // namespace ternion::test
