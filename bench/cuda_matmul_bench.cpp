// Times the CUDA weight-matrix kernels at llama-3.2-1b shapes: the decode mat-vec (n = 1, 2, 4, 8) as GB/s of
// weights read and share of the device's HBM bound, and the prompt path at n = 32 and 512 as TFLOP/s (and the
// cuBLAS route and the BatchInvariant order, to compare). Prompt-path times include the activation conversion and
// the dequantisation to F16. Weights are random bytes (speed does not depend on values).
// Usage: ternion_cuda_matmul_bench [type ...]   (default: every type matmul runs)
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_matmul.h"
#include "ternion/core/error.h"

namespace {

using ternion::DType;
using ternion::cuda::MatmulOrder;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

double hbm_bytes_per_second() {
  int dev = 0, clock_khz = 0, bus_bits = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev), "memory clock");
  check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev), "bus width");
  return 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // double data rate
}

struct Shape {
  int64_t rows, cols;
  const char* name;
};

// Mean milliseconds of one matmul call over `iters` calls after warm-up.
double time_ms(DType type, const void* w, size_t row_bytes, const Shape& s, const float* x, float* y, int64_t n,
               void* scratch, MatmulOrder order, const ternion::cuda::BlasMatmul* blas, cudaStream_t stream) {
  auto call = [&] {
    ternion::cuda::matmul(type, w, row_bytes, s.rows, s.cols, x, s.cols, y, s.rows, n, scratch, stream, order, blas);
  };
  for (int i = 0; i < 3; ++i) call();
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  const int iters = n >= 256 ? 10 : 50;
  check(cudaEventRecord(start, stream), "record");
  for (int i = 0; i < iters; ++i) call();
  check(cudaEventRecord(stop, stream), "record");
  check(cudaEventSynchronize(stop), "sync");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return static_cast<double>(ms) / iters;
}

void bench_type(DType type, double hbm, const ternion::cuda::BlasMatmul& blas, cudaStream_t stream) {
  const Shape shapes[] = {{2048, 2048, "attn 2048x2048"},
                          {8192, 2048, "ffn up 8192x2048"},
                          {2048, 8192, "ffn down 2048x8192"},
                          {128256, 2048, "output 128256x2048"}};
  const ternion::DTypeInfo& info = ternion::dtype_info(type);
  for (const Shape& s : shapes) {
    const size_t row_bytes = (ternion::row_bytes(info, static_cast<uint64_t>(s.cols)) + 15) / 16 * 16;
    const size_t w_bytes = row_bytes * static_cast<size_t>(s.rows);
    std::vector<uint16_t> host(w_bytes / 2);
    std::mt19937 rng(1);
    // Small fp16-looking values everywhere: scales stay finite, so no path sees NaN or infinity.
    for (auto& h : host) h = static_cast<uint16_t>(0x2000u | (rng() & 0x13FFu));
    void *w = nullptr, *x = nullptr, *y = nullptr, *scratch = nullptr;
    const int64_t max_n = 512;
    check(cudaMalloc(&w, w_bytes), "cudaMalloc w");
    check(cudaMalloc(&x, static_cast<size_t>(max_n * s.cols) * 4), "cudaMalloc x");
    check(cudaMalloc(&y, static_cast<size_t>(max_n * s.rows) * 4), "cudaMalloc y");
    const size_t scratch_bytes = ternion::cuda::matmul_scratch_bytes(type, s.rows, s.cols, max_n);
    check(cudaMalloc(&scratch, scratch_bytes), "cudaMalloc scratch");
    check(cudaMemcpy(w, host.data(), w_bytes, cudaMemcpyHostToDevice), "copy w");
    check(cudaMemset(x, 0, static_cast<size_t>(max_n * s.cols) * 4), "memset x");
    for (int64_t n : {1, 2, 4, 8}) {
      const double ms = time_ms(type, w, row_bytes, s, static_cast<float*>(x), static_cast<float*>(y), n, scratch,
                                MatmulOrder::Fast, nullptr, stream);
      const double gbs = static_cast<double>(w_bytes) / (ms * 1e-3) / 1e9;
      std::printf("%-6s %-20s n=%-3lld %9.1f us %8.1f GB/s %5.1f %% of HBM\n", std::string(info.name).c_str(), s.name,
                  static_cast<long long>(n), ms * 1e3, gbs, 100.0 * gbs * 1e9 / hbm);
    }
    // The prompt path three ways: our tiles, cuBLAS on the same operands, and the batch-invariant mat-vec order.
    const char* const kRoutes[] = {"WMMA tiles", "cuBLAS", "batch-invariant mat-vec"};
    for (int64_t n : {32, 512}) {
      for (int route = 0; route < 3; ++route) {
        if (route == 2 && n != 512) continue;
        const MatmulOrder order = route == 2 ? MatmulOrder::BatchInvariant : MatmulOrder::Fast;
        const double ms = time_ms(type, w, row_bytes, s, static_cast<float*>(x), static_cast<float*>(y), n, scratch,
                                  order, route == 1 ? &blas : nullptr, stream);
        const double tflops = 2.0 * static_cast<double>(s.rows * s.cols * n) / (ms * 1e-3) / 1e12;
        std::printf("%-6s %-20s n=%-3lld %9.1f us %8.1f TFLOP/s  %s\n", std::string(info.name).c_str(), s.name,
                    static_cast<long long>(n), ms * 1e3, tflops, kRoutes[route]);
      }
    }
    cudaFree(w);
    cudaFree(x);
    cudaFree(y);
    cudaFree(scratch);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<DType> types;
  for (int i = 1; i < argc; ++i) {
    const auto t = ternion::dtype_from_name(argv[i]);
    if (!t || !ternion::cuda::matmul_supports(*t)) {
      std::fprintf(stderr, "unknown or unsupported type: %s\n", argv[i]);
      return 2;
    }
    types.push_back(*t);
  }
  if (types.empty())
    types = {DType::F16,  DType::BF16, DType::F32,  DType::Q8_0, DType::Q4_0,
             DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::TQ2_0};
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "no CUDA device");
  const double hbm = hbm_bytes_per_second();
  std::printf("%s, HBM bound %.0f GB/s\n", prop.name, hbm / 1e9);
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream), "stream");
  try {
    const ternion::cuda::BlasMatmul blas;
    for (DType t : types) bench_type(t, hbm, blas, stream);
  } catch (const ternion::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  cudaStreamDestroy(stream);
  return 0;
}
