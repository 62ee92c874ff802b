// PLACEHOLDER for the CUDA matmul kernels (cuda_matmul.h): F32 and F16 weights only, one warp per output, x in
// float. Correct and simple; the real kernels replace this file. Each output is one warp's sum in a fixed order
// (lane-strided products, then a butterfly), so it does not depend on the batch.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "backend/cuda/cuda_matmul.h"
#include "ternion/core/error.h"

namespace ternion::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

__device__ inline float load_weight(const float* w, int64_t i) { return w[i]; }
__device__ inline float load_weight(const __half* w, int64_t i) { return __half2float(w[i]); }

template <typename T>
__global__ void matmul_rows(const T* w, size_t row_elems, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
                            float* y, int64_t y_stride) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  const int64_t t = blockIdx.y;
  if (r >= rows) return;
  const T* wr = w + static_cast<size_t>(r) * row_elems;
  const float* xr = x + t * x_stride;
  float sum = 0.0f;
  for (int64_t c = lane; c < cols; c += 32) sum += load_weight(wr, c) * xr[c];
  for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (lane == 0) y[t * y_stride + r] = sum;
}

}  // namespace

bool matmul_supports(DType type) { return type == DType::F32 || type == DType::F16; }

size_t matmul_scratch_bytes(DType /*type*/, int64_t /*rows*/, int64_t /*cols*/, int64_t /*n*/) { return 0; }

void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* /*scratch*/, void* stream) {
  if (n <= 0 || rows <= 0) return;
  if (n > 65535) throw Error("cuda matmul: at most 65535 tokens at once");
  const dim3 grid(static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock), static_cast<unsigned>(n));
  const dim3 block(32 * kWarpsPerBlock);
  auto* s = static_cast<cudaStream_t>(stream);
  if (type == DType::F32) {
    matmul_rows<<<grid, block, 0, s>>>(static_cast<const float*>(w), row_bytes / 4, rows, cols, x, x_stride, y,
                                       y_stride);
  } else if (type == DType::F16) {
    matmul_rows<<<grid, block, 0, s>>>(static_cast<const __half*>(w), row_bytes / 2, rows, cols, x, x_stride, y,
                                       y_stride);
  } else {
    throw Error("cuda matmul: no kernel for this weight type");
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("cuda matmul: ") + cudaGetErrorString(e));
}

}  // namespace ternion::cuda
