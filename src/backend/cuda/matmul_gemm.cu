// Prompt path: weights dequantised to F16 (the same decoders as the mat-vec), activations rounded to F16, and a
// tensor-core tile kernel with F32 accumulation.
//
// GEMM tiles: a 256-thread block computes 128 weight rows x 64 tokens; 8 warps in a 4 x 2 grid each own a 32 x 32
// corner (2 x 2 WMMA 16x16x16 fragments). K advances 32 columns a step through two shared-memory stages filled by
// cp.async (16-byte copies, zero-filled past the matrix), so the next tiles load while the tensor cores run.
// Every output is summed over K in the same order (32-column steps in order, the fragment's own order inside),
// whatever n is and wherever the token sits in its tile, so the prompt path is batch invariant too.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>

#include "backend/cuda/matmul_dispatch.cuh"
#include "backend/cuda/matmul_launch.h"

namespace ternion::cuda::detail {

namespace {

constexpr int kTileRows = 128;      // weight rows (M) per block
constexpr int kTileTokens = 64;     // tokens (N) per block
constexpr int kTileK = 32;          // columns per stage
constexpr int kPitch = kTileK + 8;  // halves per shared row: keeps 32-byte fragment alignment, spreads banks
constexpr int kGemmThreads = 256;
constexpr int kWarpRows = 32, kWarpTokens = 32;

// Copies 16 bytes global -> shared asynchronously (cp.async, sm_80 and later; before that a plain copy, and the
// pipeline waits are no-ops); 16 zero bytes when !valid (src is then not read).
__device__ __forceinline__ void copy16_async(void* smem, const void* gmem, bool valid) {
#if __CUDA_ARCH__ >= 800
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(bytes));
#else
  *static_cast<uint4*>(smem) = valid ? *static_cast<const uint4*>(gmem) : make_uint4(0, 0, 0, 0);
#endif
}
__device__ __forceinline__ void async_commit() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
__device__ __forceinline__ void async_wait_one() {
#if __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 1;\n" ::);
#endif
}

struct GemmSmem {
  __half a[2][kTileRows][kPitch];
  __half b[2][kTileTokens][kPitch];
  float out[kGemmThreads / 32][16 * 16];  // per-warp staging of one fragment for the bounded store
};

// Loads K step `kt` of the block's tiles into stage s: 16 bytes (8 halves) per copy, zero past rows / n / cols.
__device__ __forceinline__ void load_stage(GemmSmem& sm, int s, int64_t kt, const __half* a, int64_t lda, int64_t rows,
                                           const __half* b, int64_t n, int64_t cols, int64_t row0, int64_t tok0) {
  constexpr int kChunksPerRow = kTileK / 8;
  const int64_t k0 = kt * kTileK;
  for (int i = threadIdx.x; i < kTileRows * kChunksPerRow; i += kGemmThreads) {
    const int r = i / kChunksPerRow, c = (i % kChunksPerRow) * 8;
    const bool ok = row0 + r < rows && k0 + c < cols;
    copy16_async(&sm.a[s][r][c], ok ? a + (row0 + r) * lda + k0 + c : a, ok);
  }
  for (int i = threadIdx.x; i < kTileTokens * kChunksPerRow; i += kGemmThreads) {
    const int t = i / kChunksPerRow, c = (i % kChunksPerRow) * 8;
    const bool ok = tok0 + t < n && k0 + c < cols;
    copy16_async(&sm.b[s][t][c], ok ? b + (tok0 + t) * cols + k0 + c : b, ok);
  }
}

__global__ void __launch_bounds__(kGemmThreads)
    gemm_half_kernel(const __half* __restrict__ a, int64_t lda, int64_t rows, const __half* __restrict__ b, int64_t n,
                     int64_t cols, float* __restrict__ y, int64_t y_stride) {
  using namespace nvcuda;
  __shared__ __align__(128) GemmSmem sm;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTileRows;
  const int64_t tok0 = static_cast<int64_t>(blockIdx.y) * kTileTokens;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wr = (warp / 2) * kWarpRows, wt = (warp % 2) * kWarpTokens;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  }

  const int64_t k_steps = (cols + kTileK - 1) / kTileK;
  load_stage(sm, 0, 0, a, lda, rows, b, n, cols, row0, tok0);
  async_commit();
  for (int64_t kt = 0; kt < k_steps; ++kt) {
    const int s = static_cast<int>(kt % 2);
    if (kt + 1 < k_steps) load_stage(sm, 1 - s, kt + 1, a, lda, rows, b, n, cols, row0, tok0);
    async_commit();  // an empty group on the last step keeps wait_group 1 meaning "stage s has landed"
    async_wait_one();
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &sm.a[s][wr + 16 * i][kk], kPitch);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &sm.b[s][wt + 16 * j][kk], kPitch);
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
      }
    }
    __syncthreads();  // stage s is refilled by the next step's copies
  }

  // Each fragment through the warp's staging (column-major: element (r, t) at t * 16 + r), then to y with bounds;
  // consecutive lanes write consecutive rows.
  float* stage = sm.out[warp];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_col_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int64_t r = row0 + wr + 16 * i + e % 16, t = tok0 + wt + 16 * j + e / 16;
        if (r < rows && t < n) y[t * y_stride + r] = stage[e];
      }
      __syncwarp();
    }
  }
}

__global__ void to_half_kernel(const float* __restrict__ x, int64_t x_stride, int64_t n, int64_t cols,
                               __half* __restrict__ dst) {
  const int64_t total = n * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / cols, c = i % cols;
    dst[i] = __float2half_rn(x[t * x_stride + c]);
  }
}

template <class T>
__global__ void dequant_half_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t row0, int64_t n_rows,
                                    int64_t units, int64_t cols, __half* __restrict__ dst) {
  const int64_t total = n_rows * units;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / units;
    const int u = static_cast<int>(i % units);
    const typename T::Raw raw = T::load(w + static_cast<size_t>(row0 + r) * row_bytes, u);
#pragma unroll
    for (int k = 0; k < T::kRuns; ++k) {
      float v[8];
      T::decode(raw, k, v);
      __align__(16) __half2 h[4];
#pragma unroll
      for (int p = 0; p < 4; ++p) h[p] = __floats2half2_rn(v[2 * p], v[2 * p + 1]);
      *reinterpret_cast<uint4*>(dst + r * cols + T::run_start(u, k)) = *reinterpret_cast<const uint4*>(h);
    }
  }
}

// Enough blocks of 256 to fill the device several times over; the kernels loop over the rest.
unsigned grid_for(int64_t items) {
  constexpr int64_t kMaxBlocks = 8192;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (items + 255) / 256)));
}

}  // namespace

const char* launch_to_half(const float* x, int64_t x_stride, int64_t n, int64_t cols, void* dst, void* stream) {
  to_half_kernel<<<grid_for(n * cols), 256, 0, static_cast<cudaStream_t>(stream)>>>(x, x_stride, n, cols,
                                                                                    static_cast<__half*>(dst));
  return last_launch_error();
}

const char* launch_dequant_half(DType type, const void* w, size_t row_bytes, int64_t row0, int64_t n_rows, int64_t cols,
                                void* dst, void* stream) {
  const bool known = visit_weight_type(type, [&](auto t) {
    using T = decltype(t);
    const int64_t units = cols / T::kUnitElems;
    dequant_half_kernel<T><<<grid_for(n_rows * units), 256, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const uint8_t*>(w), row_bytes, row0, n_rows, units, cols, static_cast<__half*>(dst));
  });
  return known ? last_launch_error() : "no dequantisation kernel for this type";
}

const char* launch_gemm_half(const void* a, int64_t lda, int64_t rows, const void* b, int64_t n, int64_t cols, float* y,
                             int64_t y_stride, void* stream) {
  const dim3 grid(static_cast<unsigned>((rows + kTileRows - 1) / kTileRows),
                  static_cast<unsigned>((n + kTileTokens - 1) / kTileTokens));
  if (grid.y > 65535) return "too many tokens for one GEMM launch (at most 4,194,240)";
  gemm_half_kernel<<<grid, kGemmThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const __half*>(a), lda, rows, static_cast<const __half*>(b), n, cols, y, y_stride);
  return last_launch_error();
}

int64_t gemm_chunk_rows(int64_t rows, int64_t cols) {
  // About 32 Mi halves (64 MiB) of dequantised weights per GEMM call, a whole number of row tiles.
  constexpr int64_t kChunkElems = int64_t{32} << 20;
  const int64_t tiles = std::max<int64_t>(1, kChunkElems / std::max<int64_t>(1, cols) / kTileRows);
  return std::min(rows, tiles * kTileRows);
}

}  // namespace ternion::cuda::detail
