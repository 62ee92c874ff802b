// The CUDA backend against the CPU backend, op by op, on random inputs and odd shapes (cuda_compare.h; attention,
// the KV cache and experts are in test_cuda_attention.cpp). Without CUDA in the build or without a GPU these tests
// skip loudly; the device factory's errors are tested in every build.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/cuda_compare.h"
#include "ternion/backend/ops.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion::test {
namespace {

TEST(CudaFactory, PicksTheCpuAndRefusesWhatItCannotOpen) {
  ThreadPool pool(1);
  EXPECT_EQ(make_backend("cpu", pool)->name(), "cpu");
  try {
    make_backend("tpu", pool);
    ADD_FAILURE() << "an unknown device was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown device 'tpu': expected cpu, cuda or cuda:N"), std::string::npos);
  }
  EXPECT_THROW(check_device_name("cuda:x"), Error);
  EXPECT_THROW(check_device_name("cuda:-1"), Error);
  EXPECT_NO_THROW(check_device_name("cuda:3"));
  try {
    make_backend("cuda:1023", pool);  // no machine has that GPU
    ADD_FAILURE() << "a GPU that does not exist was opened";
  } catch (const Error& e) {
    const std::string m = e.what();
    if (!cuda_built()) {
      EXPECT_NE(m.find("this build has no CUDA; configure with -DTERNION_CUDA=ON"), std::string::npos) << m;
    } else {
      EXPECT_TRUE(m.find("does not exist") != std::string::npos || m.find("no CUDA GPU") != std::string::npos) << m;
    }
  }
}

TEST_F(CudaVsCpu, Norms) {
  for (const int64_t cols : {1, 7, 64, 1000, 4099}) {
    const auto w = random_values(static_cast<size_t>(cols), 3);
    const auto b = random_values(static_cast<size_t>(cols), 4);
    TensorPair x = random(5, cols, 1, cols + 3);
    TensorPair y = make(5, cols, std::vector<float>(static_cast<size_t>(5 * cols)));
    cpu_->rms_norm(x.cpu, w.data(), 1e-5f, y.cpu);
    gpu_->rms_norm(x.gpu, w.data(), 1e-5f, y.gpu);
    expect_close(y, 1e-5, 1e-6, "rms_norm");
    cpu_->layer_norm(x.cpu, w.data(), b.data(), 1e-5f, y.cpu);
    gpu_->layer_norm(x.gpu, w.data(), b.data(), 1e-5f, y.gpu);
    expect_close(y, 1e-5, 1e-6, "layer_norm");
    cpu_->layer_norm(x.cpu, nullptr, nullptr, 1e-6f, x.cpu);  // in place, no weight or bias
    gpu_->layer_norm(x.gpu, nullptr, nullptr, 1e-6f, x.gpu);
    expect_close(x, 1e-5, 1e-6, "layer_norm in place");
  }
}

TEST_F(CudaVsCpu, ElementWise) {
  const int64_t rows = 3, cols = 333;
  const auto row = random_values(cols, 9);
  TensorPair y = random(rows, cols, 1, cols + 5);
  TensorPair x = random(rows, cols, 2, cols + 1);
  cpu_->add(y.cpu, x.cpu);
  gpu_->add(y.gpu, x.gpu);
  cpu_->add_row(y.cpu, row.data());
  gpu_->add_row(y.gpu, row.data());
  cpu_->scale(y.cpu, 0.37f);
  gpu_->scale(y.gpu, 0.37f);
  expect_close(y, 1e-6, 1e-7, "add, add_row, scale");
  cpu_->softcap(y.cpu, 1.5f);
  gpu_->softcap(y.gpu, 1.5f);
  expect_close(y, 1e-5, 1e-6, "softcap");
  for (const Activation act :
       {Activation::kSilu, Activation::kGeluTanh, Activation::kGeluErf, Activation::kReluSquared}) {
    TensorPair a = random(rows, cols, 5, cols + 2);
    cpu_->activate(act, a.cpu);
    gpu_->activate(act, a.gpu);
    expect_close(a, 1e-5, 1e-6, "activate " + std::to_string(static_cast<int>(act)));
    TensorPair gate = random(rows, cols, 6), up = random(rows, cols, 7, cols + 4);
    TensorPair out = make(rows, cols, std::vector<float>(rows * cols));
    cpu_->gated_activation(act, gate.cpu, up.cpu, out.cpu);
    gpu_->gated_activation(act, gate.gpu, up.gpu, out.gpu);
    expect_close(out, 1e-5, 1e-6, "gated_activation " + std::to_string(static_cast<int>(act)));
  }
  TensorPair g = random(rows, 1, 8, 3);
  cpu_->sigmoid_gate(y.cpu, g.cpu);
  gpu_->sigmoid_gate(y.gpu, g.gpu);
  expect_close(y, 1e-5, 1e-6, "sigmoid_gate");
}

TEST_F(CudaVsCpu, Rope) {
  for (const RopeKind kind : {RopeKind::Adjacent, RopeKind::NeoX}) {
    RopeConfig c;
    c.kind = kind;
    c.n_rot = 48;  // fewer than the head's 64 dims
    c.freq_base = 500000.0f;
    const RopeTable table(c, 300);
    const int64_t n_heads = 3, hd = 64, rows = 5;
    const std::vector<int32_t> positions = {0, 1, 17, 255, 299};
    TensorPair x = random(rows, n_heads * hd, 11, n_heads * hd + 8);
    cpu_->rope(table, x.cpu, n_heads, hd, positions);
    gpu_->rope(table, x.gpu, n_heads, hd, positions);
    expect_close(x, 1e-6, 1e-6, "rope");
  }
  RopeConfig c;
  c.n_rot = 8;
  const RopeTable table(c, 4);
  TensorPair x = random(1, 8, 1);
  const std::vector<int32_t> bad = {4};
  EXPECT_THROW(gpu_->rope(table, x.gpu, 1, 8, bad), Error);
}

// A weight matrix of `type` holding `values` (quantized as the file would hold them).
struct HostMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
  HostMatrix(DType type, int64_t rows, int64_t cols, const std::vector<float>& values) {
    const size_t rb = row_bytes(dtype_info(type), static_cast<uint64_t>(cols));
    bytes.resize(rb * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      quant_traits(type).from_float(values.data() + r * cols, bytes.data() + static_cast<size_t>(r) * rb, cols);
    }
    w = {type, rows, cols, bytes.data(), rb};
  }
};

TEST_F(CudaVsCpu, MatmulAndEmbeddingsOfEveryKindOfType) {
  const int64_t rows = 37, cols = 256, n = 5;
  const auto values = random_values(static_cast<size_t>(rows * cols), 21);
  for (const DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K}) {
    const HostMatrix m(type, rows, cols, values);
    TensorPair x = random(n, cols, 22);
    TensorPair y = make(n, rows, std::vector<float>(n * rows), rows + 3);
    const WeightMatrix* ws[] = {&m.w};
    cpu_->reserve_matmul(ws, n);  // the CPU's quantized kernels need scratch for the activations
    gpu_->reserve_matmul(ws, n);
    cpu_->matmul(m.w, x.cpu, y.cpu, nullptr);
    gpu_->matmul(m.w, x.gpu, y.gpu, nullptr);
    // The CPU rounds activations to the weight type's dot type (F16, Q8_0, Q8_K); types without a GPU kernel yet are
    // converted to F16 there.
    const double rel = type == DType::F32 ? 1e-5 : 2e-2;
    expect_close(y, rel, type == DType::F32 ? 1e-4 : 0.3, "matmul " + std::string(dtype_info(type).name));
    // Embedding rows: the CPU's floats exactly.
    const std::vector<int32_t> ids = {36, 0, 5, 5};
    TensorPair e = make(4, cols, std::vector<float>(4 * cols), cols + 1);
    cpu_->get_rows(m.w, ids, e.cpu);
    gpu_->get_rows(m.w, ids, e.gpu);
    expect_close(e, 0.0, 0.0, "get_rows " + std::string(dtype_info(type).name));
  }
}

TEST_F(CudaVsCpu, MatmulManyAndLowRank) {
  const int64_t cols = 96, n = 3, rank = 4;
  const HostMatrix a(DType::F32, 40, cols, random_values(40 * cols, 1));
  const HostMatrix b(DType::F32, 24, cols, random_values(24 * cols, 2));
  TensorPair x = random(n, cols, 3);
  TensorPair ya = make(n, 40, std::vector<float>(n * 40)), yb = make(n, 24, std::vector<float>(n * 24));
  const MatmulTarget cpu_out[] = {{&a.w, ya.cpu}, {&b.w, yb.cpu}};
  const MatmulTarget gpu_out[] = {{&a.w, ya.gpu}, {&b.w, yb.gpu}};
  cpu_->matmul_many(cpu_out, x.cpu, nullptr);
  gpu_->matmul_many(gpu_out, x.gpu, nullptr);
  expect_close(ya, 1e-5, 1e-4, "matmul_many 0");
  expect_close(yb, 1e-5, 1e-4, "matmul_many 1");
  const HostMatrix la(DType::F32, rank, cols, random_values(rank * cols, 4));
  const HostMatrix lb(DType::F32, 24, rank, random_values(24 * rank, 5));
  const LowRankTerm terms[] = {{&la.w, &lb.w, 0.5f}};
  cpu_->reserve_low_rank(rank, 24, n);
  gpu_->reserve_low_rank(rank, 24, n);
  cpu_->add_low_rank(terms, x.cpu, yb.cpu);
  gpu_->add_low_rank(terms, x.gpu, yb.gpu);
  expect_close(yb, 1e-5, 1e-4, "add_low_rank");
  const LowRankTerm too_big[] = {{&la.w, &lb.w, 1.0f}};
  TensorPair x_many = random(n + 5, cols, 6);
  TensorPair y_many = make(n + 5, 24, std::vector<float>((n + 5) * 24));
  EXPECT_THROW(gpu_->add_low_rank(too_big, x_many.gpu, y_many.gpu), Error);
}

// Shapes the matmul library refuses run on the backend's generic kernel: F32 and F16 with 13 columns, activations
// at a stride of 15 floats (not 16-byte aligned rows), weight rows further apart than one row (uploaded densely).
TEST_F(CudaVsCpu, MatmulOfShapesTheLibraryRefuses) {
  const int64_t rows = 21, cols = 13;
  for (const DType type : {DType::F32, DType::F16}) {
    const HostMatrix m(type, rows, cols, random_values(static_cast<size_t>(rows * cols), 31));
    // The same rows 6 bytes further apart: a strided view of them. (The F16 view may take the freed F32 view's host
    // address: the backend must tell its stale copy by the type.)
    const size_t rb = m.w.row_bytes, padded = rb + 6;
    std::vector<uint8_t> spaced(padded * static_cast<size_t>(rows), 0xff);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(spaced.data() + static_cast<size_t>(r) * padded, m.bytes.data() + static_cast<size_t>(r) * rb, rb);
    }
    const WeightMatrix view{type, rows, cols, spaced.data(), padded};
    for (const int64_t n : {int64_t{3}, int64_t{20}}) {
      TensorPair x = random(n, cols, 32), xs = random(n, cols, 32, cols + 2);
      TensorPair y = make(n, rows, std::vector<float>(static_cast<size_t>(n * rows)));
      const WeightMatrix* ws[] = {&m.w};
      cpu_->reserve_matmul(ws, n);
      cpu_->matmul(m.w, x.cpu, y.cpu, nullptr);
      gpu_->matmul(view, xs.gpu, y.gpu, nullptr);
      // F16: the CPU rounds the activations to F16, the GPU keeps them in float.
      expect_close(y, type == DType::F32 ? 1e-5 : 2e-2, type == DType::F32 ? 1e-4 : 5e-2,
                   "odd-shaped matmul " + std::string(dtype_info(type).name) + " n=" + std::to_string(n));
    }
  }
}

// A row's result does not depend on how many rows share the call: the fixed reduction order.
TEST_F(CudaVsCpu, ResultsDoNotDependOnTheBatch) {
  const int64_t cols = 2048;
  const auto w = random_values(cols, 1);
  const auto values = random_values(9 * cols, 2);
  TensorPair many = make(9, cols, values);
  TensorPair one = make(1, cols, std::vector<float>(values.begin() + 4 * cols, values.begin() + 5 * cols));
  gpu_->rms_norm(many.gpu, w.data(), 1e-6f, many.gpu);
  gpu_->rms_norm(one.gpu, w.data(), 1e-6f, one.gpu);
  const auto a = read(*gpu_, many.gpu.rows_at(4, 1)), b = read(*gpu_, one.gpu);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
}

}  // namespace
}  // namespace ternion::test
