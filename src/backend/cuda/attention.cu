// Causal attention on the GPU (kernels.h): flash-decoding. A block of four warps runs one (query token, head) over
// one split of at most kAttentionSplit cache rows; each warp takes every fourth key, scores it (q · k summed across
// the warp's lanes), and keeps a running maximum, sum and weighted V (online softmax), so scores never go to memory.
// The four warps are merged in order; a query with several splits writes each split's (max, sum, V) and a second
// kernel merges them in split order. The splits of a query depend only on its own position, so its result does not
// depend on the batch; long contexts in decode still fill the GPU with splits.
//
// Arithmetic against the CPU (backend/cpu/ops_attention.cpp): with an F16 cache q is rounded to f16 and q · k summed
// in float; scale, soft-cap and ALiBi as there (ALiBi by cache row). The CPU rounds the normalised probabilities to
// f16 before p · V; here p · V stays in float and is divided by the sum at the end: results differ by ~1e-4.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.h"

namespace ternion::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = kMaxHeadDim / 32;  // head values a lane holds

__device__ inline float load(const void* base, bool f16, int64_t i) {
  return f16 ? __half2float(static_cast<const __half*>(base)[i]) : static_cast<const float*>(base)[i];
}

struct Query {
  int64_t t, h, kvh, n_kv, first, n_splits;
};

__device__ Query query_of(const AttentionParams& p, int64_t index) {
  Query q;
  q.t = index / p.n_head;
  q.h = index % p.n_head;
  q.kvh = q.h / (p.n_head / p.cache.n_head_kv);
  q.n_kv = static_cast<int64_t>(p.positions[q.t]) - p.start + 1;
  q.first = p.window > 0 && q.n_kv > p.window ? q.n_kv - p.window : 0;
  q.n_splits = (q.n_kv - q.first + kAttentionSplit - 1) / kAttentionSplit;
  return q;
}

__global__ void attention_kernel(AttentionParams p, int64_t t0, int64_t max_splits) {
  __shared__ float sm_m[kWarps], sm_l[kWarps];
  __shared__ float sm_acc[kWarps][kMaxHeadDim];
  const Query q = query_of(p, t0 * p.n_head + blockIdx.x);
  const int64_t split = blockIdx.y;
  if (split >= q.n_splits) return;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t hd = p.cache.head_dim;
  const KvLayer& c = p.cache;

  float qv[kPerLane], acc[kPerLane];
  const float* qrow = p.q + q.t * p.q_stride + q.h * hd;
  for (int i = 0; i < kPerLane; ++i) {
    const int64_t d = lane + 32 * i;
    float v = d < hd ? qrow[d] : 0.0f;
    if (c.f16) v = __half2float(__float2half_rn(v));
    qv[i] = v;
    acc[i] = 0.0f;
  }
  const float slope = p.alibi != nullptr ? p.alibi[q.h] : 0.0f;
  const int64_t k0 = q.first + split * kAttentionSplit;
  const int64_t k1 = min(q.n_kv, k0 + kAttentionSplit);
  const int64_t head_base = q.kvh * c.capacity * hd;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = k0 + warp; j < k1; j += kWarps) {
    const int64_t row = head_base + j * hd;
    float dot = 0.0f;
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < hd) dot += qv[i] * load(c.k, c.f16, row + d);
    }
    for (int off = 16; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    float s = dot * p.scale;
    if (p.softcap > 0.0f) s = p.softcap * tanhf(s / p.softcap);
    if (p.alibi != nullptr) s += slope * static_cast<float>(j);
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 for the first key (m = -inf)
    const float e = expf(s - m_new);
    l = l * corr + e;
    for (int i = 0; i < kPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < hd) acc[i] = acc[i] * corr + e * load(c.v, c.f16, row + d);
    }
    m = m_new;
  }
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
  for (int i = 0; i < kPerLane; ++i) {
    const int64_t d = lane + 32 * i;
    if (d < hd) sm_acc[warp][d] = acc[i];
  }
  __syncthreads();
  float big = -INFINITY;
  for (int w = 0; w < kWarps; ++w) big = fmaxf(big, sm_m[w]);
  float sum = 0.0f;
  float weight[kWarps];
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = sm_m[w] == -INFINITY ? 0.0f : expf(sm_m[w] - big);  // a warp that saw no key weighs nothing
    sum += sm_l[w] * weight[w];
  }
  float* part = q.n_splits > 1 ? p.partials + (blockIdx.x * max_splits + split) * (hd + 2) : nullptr;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int w = 0; w < kWarps; ++w) a += sm_acc[w][d] * weight[w];
    if (q.n_splits == 1) {
      p.out[q.t * p.out_stride + q.h * hd + d] = a / sum;
    } else {
      part[2 + d] = a;
    }
  }
  if (q.n_splits > 1 && threadIdx.x == 0) {
    part[0] = big;
    part[1] = sum;
  }
}

// Merges the splits of the queries that have several, in split order.
__global__ void combine_kernel(AttentionParams p, int64_t t0, int64_t max_splits) {
  const Query q = query_of(p, t0 * p.n_head + blockIdx.x);
  if (q.n_splits <= 1) return;
  const int64_t hd = p.cache.head_dim;
  const float* part = p.partials + blockIdx.x * max_splits * (hd + 2);
  float big = -INFINITY;
  for (int64_t s = 0; s < q.n_splits; ++s) big = fmaxf(big, part[s * (hd + 2)]);
  float sum = 0.0f;
  for (int64_t s = 0; s < q.n_splits; ++s) sum += part[s * (hd + 2) + 1] * expf(part[s * (hd + 2)] - big);
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int64_t s = 0; s < q.n_splits; ++s) a += part[s * (hd + 2) + 2 + d] * expf(part[s * (hd + 2)] - big);
    p.out[q.t * p.out_stride + q.h * hd + d] = a / sum;
  }
}

int64_t splits_for(int64_t max_kv) { return (max_kv + kAttentionSplit - 1) / kAttentionSplit; }

}  // namespace

size_t attention_partial_floats_per_token(int64_t n_head, int64_t max_kv, int64_t head_dim) {
  const int64_t splits = splits_for(max_kv);
  return splits <= 1 ? 0 : static_cast<size_t>(n_head * splits * (head_dim + 2));
}

void attention(const AttentionParams& p, Stream stream) {
  if (p.n_tokens <= 0) return;
  if (p.cache.head_dim > kMaxHeadDim) throw Error("cuda attention: head sizes above 256 are not supported");
  if (p.cache.n_head_kv <= 0 || p.n_head % p.cache.n_head_kv != 0) {
    throw Error("cuda attention: n_head must be a multiple of n_head_kv");
  }
  const int64_t max_splits = splits_for(p.max_kv);
  if (max_splits > 65535) throw Error("cuda attention: the context is too long");
  const size_t per_token = attention_partial_floats_per_token(p.n_head, p.max_kv, p.cache.head_dim);
  // Tokens per launch: all of them when no query splits, else as many as the partial results' scratch holds.
  int64_t chunk = per_token == 0 ? p.n_tokens : static_cast<int64_t>(p.partial_floats / per_token);
  if (chunk < 1) throw Error("cuda attention: scratch too small (reserve_attention was not called for this size)");
  const int64_t max_blocks = 0x7fffffff / p.n_head;
  if (chunk > max_blocks) chunk = max_blocks;
  for (int64_t t0 = 0; t0 < p.n_tokens; t0 += chunk) {
    const int64_t n = p.n_tokens - t0 < chunk ? p.n_tokens - t0 : chunk;
    const dim3 grid(static_cast<unsigned>(n * p.n_head), static_cast<unsigned>(max_splits));
    attention_kernel<<<grid, 32 * kWarps, 0, as_stream(stream)>>>(p, t0, max_splits);
    check_launch("attention");
    if (max_splits > 1) {
      combine_kernel<<<static_cast<unsigned>(n * p.n_head), 128, 0, as_stream(stream)>>>(p, t0, max_splits);
      check_launch("attention combine");
    }
  }
}

}  // namespace ternion::cuda
