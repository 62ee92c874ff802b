// Decode mat-vec: one 128-thread block computes kVecRows rows of y for all n (<= 8) tokens. The threads split the
// row's units (see matmul_types.cuh) among them, so every weight byte is loaded once, with the widest load its
// block alignment allows, and dequantised in registers; each decoded run of 8 weights is multiplied with the float
// activations of every token and used for the block's kVecRows rows, so x is read once per kVecRows rows (it stays
// in L1 for the short decode rows).
//
// Why float activations and not int8 with dp4a: at n = 1 the kernel is bound by HBM, and the float path keeps the
// result within float rounding of the exact product (no activation quantisation error), at the price of ~3 ALU
// instructions a weight; int8 activations would cut L1 traffic for n >= 4 (a possible later step).
//
// Reduction order, fixed for every n and every grouping of rows: thread tid sums its units u = tid, tid + 128, ...
// in order (each unit's runs and elements in order, by fma); the 32 lanes of a warp are added by an xor butterfly,
// then the 4 warps in order. A token's output therefore never depends on the other tokens of the call.
#include <cuda_runtime.h>

#include "backend/cuda/matmul_dispatch.cuh"
#include "backend/cuda/matmul_launch.h"

namespace ternion::cuda::detail {

namespace {

constexpr int kVecThreads = 128;
constexpr int kVecRows = 4;
constexpr int kVecWarps = kVecThreads / 32;
// Blocks an SM must hold (caps registers a thread): 4 (16 warps, 128 registers) keeps enough loads in flight
// for decode; more tokens need more accumulators, so fewer blocks.
constexpr int vec_min_blocks(int n) { return n <= 4 ? 4 : n <= 6 ? 3 : 2; }

__device__ __forceinline__ float dot8(const float* v, const float4& a, const float4& b, float acc) {
  acc = __fmaf_rn(v[0], a.x, acc);
  acc = __fmaf_rn(v[1], a.y, acc);
  acc = __fmaf_rn(v[2], a.z, acc);
  acc = __fmaf_rn(v[3], a.w, acc);
  acc = __fmaf_rn(v[4], b.x, acc);
  acc = __fmaf_rn(v[5], b.y, acc);
  acc = __fmaf_rn(v[6], b.z, acc);
  return __fmaf_rn(v[7], b.w, acc);
}

template <class T, int N>
__global__ void __launch_bounds__(kVecThreads, vec_min_blocks(N))
    matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows, int units, const float* __restrict__ x,
                  int64_t x_stride, float* __restrict__ y, int64_t y_stride) {
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kVecRows;
  const uint8_t* wr[kVecRows];
#pragma unroll
  for (int r = 0; r < kVecRows; ++r) wr[r] = w + static_cast<size_t>(min(row0 + r, rows - 1)) * row_bytes;

  float acc[kVecRows][N];
#pragma unroll
  for (int r = 0; r < kVecRows; ++r) {
#pragma unroll
    for (int t = 0; t < N; ++t) acc[r][t] = 0.0f;
  }

  for (int u = threadIdx.x; u < units; u += kVecThreads) {
    typename T::Raw raw[kVecRows];
#pragma unroll
    for (int r = 0; r < kVecRows; ++r) raw[r] = T::load(wr[r], u);
#pragma unroll
    for (int k = 0; k < T::kRuns; ++k) {
      float v[kVecRows][8];
#pragma unroll
      for (int r = 0; r < kVecRows; ++r) T::decode(raw[r], k, v[r]);
      const float* xk = x + T::run_start(u, k);
#pragma unroll
      for (int t = 0; t < N; ++t) {
        const float4* xp = reinterpret_cast<const float4*>(xk + t * x_stride);
        const float4 a = __ldg(xp);
        const float4 b = __ldg(xp + 1);
#pragma unroll
        for (int r = 0; r < kVecRows; ++r) acc[r][t] = dot8(v[r], a, b, acc[r][t]);
      }
    }
  }

  __shared__ float partial[kVecWarps][kVecRows][N];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int r = 0; r < kVecRows; ++r) {
#pragma unroll
    for (int t = 0; t < N; ++t) {
      float s = acc[r][t];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, off);
      if (lane == 0) partial[warp][r][t] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < kVecRows * N) {
    const int r = static_cast<int>(threadIdx.x) / N, t = static_cast<int>(threadIdx.x) % N;
    float s = partial[0][r][t];
#pragma unroll
    for (int i = 1; i < kVecWarps; ++i) s += partial[i][r][t];
    if (row0 + r < rows) y[t * y_stride + row0 + r] = s;
  }
}

template <class T, int N>
void launch_n(const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride, float* y,
              int64_t y_stride, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>((rows + kVecRows - 1) / kVecRows);
  matvec_kernel<T, N><<<blocks, kVecThreads, 0, stream>>>(static_cast<const uint8_t*>(w), row_bytes, rows,
                                                          static_cast<int>(cols / T::kUnitElems), x, x_stride, y,
                                                          y_stride);
}

template <class T>
void launch_type(int n, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
                 float* y, int64_t y_stride, cudaStream_t stream) {
  switch (n) {
    case 1:
      launch_n<T, 1>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 2:
      launch_n<T, 2>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 3:
      launch_n<T, 3>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 4:
      launch_n<T, 4>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 5:
      launch_n<T, 5>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 6:
      launch_n<T, 6>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    case 7:
      launch_n<T, 7>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
    default:
      launch_n<T, 8>(w, row_bytes, rows, cols, x, x_stride, y, y_stride, stream);
      break;
  }
}

}  // namespace

int matmul_block_elems(DType type) {
  int elems = 0;
  visit_weight_type(type, [&](auto t) {
    using T = decltype(t);
    // A unit of 8 for the float types: their rows are read 16 bytes (8 elements) at a time.
    elems = T::kBlockElems == 1 ? T::kUnitElems : T::kBlockElems;
  });
  return elems;
}

const char* launch_matvec(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                          int64_t x_stride, float* y, int64_t y_stride, int n, void* stream) {
  const bool known = visit_weight_type(type, [&](auto t) {
    launch_type<decltype(t)>(n, w, row_bytes, rows, cols, x, x_stride, y, y_stride, static_cast<cudaStream_t>(stream));
  });
  return known ? last_launch_error() : "no mat-vec kernel for this type";
}

}  // namespace ternion::cuda::detail
