// The CUDA backend's element-wise and row-wise kernels (kernels.h), the arithmetic of the CPU's (backend/cpu/ops.cpp,
// ops_blocks.cpp): sums of squares in double, then the same scalings in the same order. Exponentials and tanh are
// CUDA's accurate expf/tanhf/erff (no fast-math), within a few ulp of the CPU's polynomial ones.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace ternion::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kRowThreads = 256;  // one block per row for the norms

// Row r, column c of the element at flat index i of a rows × cols view.
struct At {
  int64_t r, c;
};
__device__ inline At at(int64_t i, int64_t cols) { return {i / cols, i % cols}; }

// The block's sum of one double per thread: a butterfly in each warp, then the warps' sums in order by warp 0.
// The same order for every row, whatever the grid.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kRowThreads / 32];
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kRowThreads / 32; ++w) total += warp_sums[w];
  __syncthreads();  // warp_sums is reused by the next call
  return total;
}

__global__ void rms_norm_kernel(Rows x, const float* weight, float eps, Rows y) {
  const float* xr = x.data + static_cast<int64_t>(blockIdx.x) * x.stride;
  float* yr = y.data + static_cast<int64_t>(blockIdx.x) * y.stride;
  double part = 0.0;
  for (int64_t i = threadIdx.x; i < x.cols; i += kRowThreads) part += static_cast<double>(xr[i] * xr[i]);
  const double sum = block_sum(part);
  const float mean = static_cast<float>(sum / static_cast<double>(x.cols));
  const float scale = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < x.cols; i += kRowThreads) {
    const float v = xr[i] * scale;
    yr[i] = weight != nullptr ? v * weight[i] : v;
  }
}

__global__ void layer_norm_kernel(Rows x, const float* weight, const float* bias, float eps, Rows y) {
  const float* xr = x.data + static_cast<int64_t>(blockIdx.x) * x.stride;
  float* yr = y.data + static_cast<int64_t>(blockIdx.x) * y.stride;
  double part = 0.0;
  for (int64_t i = threadIdx.x; i < x.cols; i += kRowThreads) part += static_cast<double>(xr[i]);
  const auto mean = static_cast<float>(block_sum(part) / static_cast<double>(x.cols));
  part = 0.0;
  for (int64_t i = threadIdx.x; i < x.cols; i += kRowThreads) {
    const float d = xr[i] - mean;
    part += static_cast<double>(d) * static_cast<double>(d);
  }
  const double sq = block_sum(part);
  const auto inv = static_cast<float>(1.0 / sqrt(sq / static_cast<double>(x.cols) + static_cast<double>(eps)));
  for (int64_t i = threadIdx.x; i < x.cols; i += kRowThreads) {
    float v = (xr[i] - mean) * inv;
    if (weight != nullptr) v *= weight[i];
    if (bias != nullptr) v += bias[i];
    yr[i] = v;
  }
}

__device__ inline float gelu_tanh(float x) {
  const float k = 0.7978845608028654f;
  return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__device__ inline float apply(Act act, float x) {
  switch (act) {
    case Act::kSilu:
      return x / (1.0f + expf(-x));
    case Act::kGeluTanh:
      return gelu_tanh(x);
    case Act::kGeluErf:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Act::kReluSquared:
      return x > 0.0f ? x * x : 0.0f;
  }
  return x;
}

enum class Op : uint8_t { kAdd, kAddScaled, kAddRow, kScale, kSoftcap, kActivate };

// One element-wise op over a strided view (the second operand, where the op has one, strided too).
__global__ void elementwise_kernel(Op op, Rows y, Rows x, const float* row, float s, Act act) {
  const int64_t n = y.rows * y.cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const At a = at(i, y.cols);
    float& v = y.data[a.r * y.stride + a.c];
    switch (op) {
      case Op::kAdd:
        v += x.data[a.r * x.stride + a.c];
        break;
      case Op::kAddScaled:
        v += s * x.data[a.r * x.stride + a.c];
        break;
      case Op::kAddRow:
        v += row[a.c];
        break;
      case Op::kScale:
        v *= s;
        break;
      case Op::kSoftcap:
        v = s * tanhf(v / s);
        break;
      case Op::kActivate:
        v = apply(act, v);
        break;
    }
  }
}

__global__ void gated_kernel(Act act, Rows gate, Rows up, Rows y) {
  const int64_t n = gate.rows * gate.cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const At a = at(i, gate.cols);
    const float g = gate.data[a.r * gate.stride + a.c];
    y.data[a.r * y.stride + a.c] = apply(act, g) * up.data[a.r * up.stride + a.c];
  }
}

__global__ void sigmoid_gate_kernel(Rows y, Rows g) {
  const int64_t n = y.rows * y.cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const At a = at(i, y.cols);
    const float s = 1.0f / (1.0f + expf(-g.data[a.r * g.stride]));
    y.data[a.r * y.stride + a.c] *= s;
  }
}

__global__ void rope_kernel(Rows x, int64_t n_heads, int64_t head_dim, int64_t half, bool neox, const float* cos_t,
                            const float* sin_t, const int32_t* positions) {
  const int64_t n = x.rows * n_heads * half;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / (n_heads * half);
    const int64_t h = (i / half) % n_heads;
    const int64_t p = i % half;
    float* v = x.data + t * x.stride + h * head_dim;
    const int64_t a = neox ? p : 2 * p;
    const int64_t b = neox ? p + half : 2 * p + 1;
    const int64_t pos = positions[t];
    const float c = cos_t[pos * half + p];
    const float s = sin_t[pos * half + p];
    const float x0 = v[a];
    const float x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
  }
}

__global__ void store_kv_kernel(Rows k, Rows v, const int32_t* positions, int64_t start, KvLayer c) {
  const int64_t width = c.n_head_kv * c.head_dim;
  const int64_t n = k.rows * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / width;
    const int64_t h = (i % width) / c.head_dim;
    const int64_t d = i % c.head_dim;
    const int64_t row = positions[t] - start;
    const int64_t dst = (h * c.capacity + row) * c.head_dim + d;
    const float kv = k.data[t * k.stride + h * c.head_dim + d];
    const float vv = v.data[t * v.stride + h * c.head_dim + d];
    if (c.f16) {
      static_cast<__half*>(c.k)[dst] = __float2half_rn(kv);
      static_cast<__half*>(c.v)[dst] = __float2half_rn(vv);
    } else {
      static_cast<float*>(c.k)[dst] = kv;
      static_cast<float*>(c.v)[dst] = vv;
    }
  }
}

__global__ void gather_kernel(const float* src, int64_t src_stride, const int32_t* idx, int64_t n, int64_t cols,
                              float* dst, int64_t dst_stride) {
  const int64_t total = n * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const At a = at(i, cols);
    dst[a.r * dst_stride + a.c] = src[static_cast<int64_t>(idx[a.r]) * src_stride + a.c];
  }
}

__global__ void moe_combine_kernel(const float* out, int64_t cols, const int32_t* row_of, const float* weights,
                                   int64_t n_tokens, int64_t k, float* y, int64_t y_stride) {
  const int64_t total = n_tokens * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const At a = at(i, cols);
    float acc = 0.0f;
    for (int64_t c = 0; c < k; ++c) {
      const float w = weights[a.r * k + c];
      const float o = out[static_cast<int64_t>(row_of[a.r * k + c]) * cols + a.c];
      acc = c == 0 ? w * o : acc + w * o;
    }
    y[a.r * y_stride + a.c] = acc;
  }
}

void elementwise(Op op, Rows y, Rows x, const float* row, float s, Act act, Stream stream, const char* what) {
  if (y.rows <= 0 || y.cols <= 0) return;
  elementwise_kernel<<<grid_for(y.rows * y.cols, kThreads), kThreads, 0, as_stream(stream)>>>(op, y, x, row, s, act);
  check_launch(what);
}

}  // namespace

void rms_norm(Rows x, const float* weight, float eps, Rows y, Stream stream) {
  if (x.rows <= 0) return;
  if (x.rows > 0x7fffffff) throw Error("cuda rms_norm: too many rows");
  rms_norm_kernel<<<static_cast<unsigned>(x.rows), kRowThreads, 0, as_stream(stream)>>>(x, weight, eps, y);
  check_launch("rms_norm");
}

void layer_norm(Rows x, const float* weight, const float* bias, float eps, Rows y, Stream stream) {
  if (x.rows <= 0) return;
  if (x.rows > 0x7fffffff) throw Error("cuda layer_norm: too many rows");
  layer_norm_kernel<<<static_cast<unsigned>(x.rows), kRowThreads, 0, as_stream(stream)>>>(x, weight, bias, eps, y);
  check_launch("layer_norm");
}

void add(Rows y, Rows x, Stream stream) { elementwise(Op::kAdd, y, x, nullptr, 0.0f, Act::kSilu, stream, "add"); }
void add_scaled(Rows y, Rows x, float s, Stream stream) {
  elementwise(Op::kAddScaled, y, x, nullptr, s, Act::kSilu, stream, "add_scaled");
}
void add_row(Rows y, const float* row, Stream stream) {
  elementwise(Op::kAddRow, y, {}, row, 0.0f, Act::kSilu, stream, "add_row");
}
void scale(Rows y, float s, Stream stream) { elementwise(Op::kScale, y, {}, nullptr, s, Act::kSilu, stream, "scale"); }
void softcap(Rows y, float cap, Stream stream) {
  elementwise(Op::kSoftcap, y, {}, nullptr, cap, Act::kSilu, stream, "softcap");
}
void activate(Act act, Rows y, Stream stream) {
  elementwise(Op::kActivate, y, {}, nullptr, 0.0f, act, stream, "activate");
}

void gated_activation(Act act, Rows gate, Rows up, Rows y, Stream stream) {
  if (gate.rows <= 0 || gate.cols <= 0) return;
  gated_kernel<<<grid_for(gate.rows * gate.cols, kThreads), kThreads, 0, as_stream(stream)>>>(act, gate, up, y);
  check_launch("gated_activation");
}

void sigmoid_gate(Rows y, Rows g, Stream stream) {
  if (y.rows <= 0 || y.cols <= 0) return;
  sigmoid_gate_kernel<<<grid_for(y.rows * y.cols, kThreads), kThreads, 0, as_stream(stream)>>>(y, g);
  check_launch("sigmoid_gate");
}

void rope(Rows x, int64_t n_heads, int64_t head_dim, int64_t n_rot, bool neox, const float* cos, const float* sin,
          const int32_t* positions, Stream stream) {
  const int64_t half = n_rot / 2;
  if (x.rows <= 0 || half <= 0 || n_heads <= 0) return;
  rope_kernel<<<grid_for(x.rows * n_heads * half, kThreads), kThreads, 0, as_stream(stream)>>>(
      x, n_heads, head_dim, half, neox, cos, sin, positions);
  check_launch("rope");
}

void store_kv(Rows k, Rows v, const int32_t* positions, int64_t start, const KvLayer& cache, Stream stream) {
  const int64_t n = k.rows * cache.n_head_kv * cache.head_dim;
  if (n <= 0) return;
  store_kv_kernel<<<grid_for(n, kThreads), kThreads, 0, as_stream(stream)>>>(k, v, positions, start, cache);
  check_launch("store_kv");
}

void gather_rows(const float* src, int64_t src_stride, const int32_t* idx, int64_t n, int64_t cols, float* dst,
                 int64_t dst_stride, Stream stream) {
  if (n <= 0 || cols <= 0) return;
  gather_kernel<<<grid_for(n * cols, kThreads), kThreads, 0, as_stream(stream)>>>(src, src_stride, idx, n, cols, dst,
                                                                                  dst_stride);
  check_launch("gather_rows");
}

void moe_combine(const float* out, int64_t cols, const int32_t* row_of, const float* weights, int64_t n_tokens,
                 int64_t k, float* y, int64_t y_stride, Stream stream) {
  if (n_tokens <= 0 || cols <= 0) return;
  moe_combine_kernel<<<grid_for(n_tokens * cols, kThreads), kThreads, 0, as_stream(stream)>>>(
      out, cols, row_of, weights, n_tokens, k, y, y_stride);
  check_launch("moe_combine");
}

}  // namespace ternion::cuda
