// The backend's fallback matmul for F32 and F16 weights of shapes the matmul library (cuda_matmul.h) does not take:
// columns that are not a multiple of 8 (a LoRA rank of 4), activations not 16-byte aligned or with a stride that is
// not a multiple of 4 floats. One warp per output value, scalar loads, a fixed reduction order (each lane sums its
// columns in order, then a fixed butterfly), so a token's result does not depend on its batch.
#include <cuda_fp16.h>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace ternion::cuda {

namespace {

constexpr int kWarps = 4;  // outputs per block

template <bool kHalf>
__global__ void generic_matmul_kernel(const unsigned char* w, size_t row_bytes, int64_t rows, int64_t cols,
                                      const float* x, int64_t x_stride, float* y, int64_t y_stride, int64_t n) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t total = rows * n;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; o < total;
       o += static_cast<int64_t>(gridDim.x) * kWarps) {
    const int64_t t = o / rows, r = o % rows;
    const unsigned char* row = w + static_cast<size_t>(r) * row_bytes;
    const float* xt = x + t * x_stride;
    float sum = 0.0f;
    for (int64_t c = lane; c < cols; c += 32) {
      const float wv =
          kHalf ? __half2float(reinterpret_cast<const __half*>(row)[c]) : reinterpret_cast<const float*>(row)[c];
      sum += wv * xt[c];
    }
    for (int off = 16; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) y[t * y_stride + r] = sum;
  }
}

}  // namespace

void generic_matmul(bool f16, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                    int64_t x_stride, float* y, int64_t y_stride, int64_t n, Stream stream) {
  if (rows <= 0 || n <= 0) return;
  const unsigned blocks = grid_for(rows * n, kWarps);
  const auto* wb = static_cast<const unsigned char*>(w);
  if (f16) {
    generic_matmul_kernel<true>
        <<<blocks, kWarps * 32, 0, as_stream(stream)>>>(wb, row_bytes, rows, cols, x, x_stride, y, y_stride, n);
  } else {
    generic_matmul_kernel<false>
        <<<blocks, kWarps * 32, 0, as_stream(stream)>>>(wb, row_bytes, rows, cols, x, x_stride, y, y_stride, n);
  }
  check_launch("generic matmul");
}

}  // namespace ternion::cuda
