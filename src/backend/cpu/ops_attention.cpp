#include "ternion/backend/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/exp_poly.h"
#include "core/prefetch.h"
#include "ternion/backend/ops.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

using VecDot = void (*)(int64_t n, float* out, const void* w, const void* x);
using Gemm = void (*)(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo);

// Queries of one head scored together: their q·k products come from one gemm call over the keys (each product
// the bits of the single dot), so a key row is loaded once for all of them.
constexpr int64_t kQueryBlock = 8;

// The start of each value row a head group reads, asked for before its scores are computed (see attend_heads).
constexpr int64_t kValuePrefetchBytes = 64 * 1024;

// Bytes of one cache element.
size_t kv_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

// Per head: scores as float [kQueryBlock][n_ctx], one row of probabilities in the cache's type [n_ctx], and the
// queries in that type [kQueryBlock][head_dim].
size_t per_head_bytes(int64_t n_ctx, int64_t head_dim, DType kv_type) {
  const size_t es = kv_bytes(kv_type);
  const size_t bytes = static_cast<size_t>(kQueryBlock * n_ctx) * 4 + static_cast<size_t>(n_ctx) * es +
                       static_cast<size_t>(kQueryBlock * head_dim) * es;
  return (bytes + 63) / 64 * 64;
}

// The kernels: the gemm of F16 rows (q·k for a block of queries, and the 64 outputs of p·V) or, for the
// reference, the same products one vec_dot at a time.
struct Kernels {
  VecDot dot;
  Gemm gemm;  // null: one dot per product

  void run(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* x, size_t x_stride,
           int64_t n_tokens, float* out, int64_t ldo) const {
    if (gemm != nullptr) {
      gemm(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
      return;
    }
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = 0; r < n_rows; ++r) {
        dot(n, out + t * ldo + r, w + static_cast<size_t>(r) * w_stride, x + static_cast<size_t>(t) * x_stride);
      }
    }
  }
};

// A decode step's value rows are cold (the weights streamed through the caches since the step before) and are
// read as head_dim short stretches n_ctx apart, each too short for the hardware prefetcher to catch on. Asking
// for them before the scores are computed lets them arrive meanwhile. Long rows get only their start (the
// prefetcher follows on from there), so the request stays within kValuePrefetchBytes.
void prefetch_value_rows(const uint8_t* v_head, size_t row_stride, int64_t head_dim, int64_t n_kv, size_t es) {
  const int64_t bytes = std::min(n_kv * static_cast<int64_t>(es), kValuePrefetchBytes / std::max<int64_t>(head_dim, 1));
  for (int64_t d = 0; d < head_dim; ++d) {
    prefetch_bytes(v_head + static_cast<size_t>(d) * row_stride, 0, static_cast<size_t>(bytes));
  }
}

// Scores of keys [first, first + n) of head h: scaled, soft-capped and ALiBi-biased as the arguments ask.
void adjust_scores(const AttentionArgs& a, int64_t h, int64_t first, float* row, int64_t n) {
  const float slope = a.alibi != nullptr ? a.alibi[h] : 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    float v = row[j] * a.scale;
    if (a.softcap > 0.0f) v = a.softcap * exp_poly::tanh_approx(v / a.softcap);
    if (a.alibi != nullptr) v += slope * static_cast<float>(first + j);
    row[j] = v;
  }
}

// Query heads h0 .. h0 + n_heads - 1, which share one KV head: every key and value row they read is loaded once
// for all of them (each q·k and p·V product still the bits of the single dot). scratch holds n_heads x
// per_head_bytes.
void attend_heads(const AttentionArgs& a, int64_t h0, int64_t n_heads, uint8_t* scratch, const Kernels& k) {
  const size_t es = kv_bytes(a.kv_type);
  const int64_t rows = kQueryBlock * n_heads;  // query rows of a block: token i, head s at i * n_heads + s
  float* scores = reinterpret_cast<float*>(scratch);
  uint8_t* probs = scratch + static_cast<size_t>(rows * a.n_ctx) * 4;  // [n_heads][n_ctx] in the cache's type
  uint8_t* qs = probs + static_cast<size_t>(n_heads * a.n_ctx) * es;   // [rows][head_dim] in the cache's type
  const int64_t kvh = h0 / (a.n_head / a.n_head_kv);
  const size_t row_bytes = static_cast<size_t>(a.head_dim) * es;  // a key row; also a query row
  const size_t ctx_bytes = static_cast<size_t>(a.n_ctx) * es;     // a value row; also a probability row
  const uint8_t* k_head = static_cast<const uint8_t*>(a.k) + static_cast<size_t>(kvh * a.n_ctx) * row_bytes;
  const uint8_t* v_head = static_cast<const uint8_t*>(a.v) + static_cast<size_t>(kvh * a.head_dim) * ctx_bytes;
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kQueryBlock) {
    const int64_t nq = std::min(kQueryBlock, a.n_tokens - t0);
    int64_t max_kv = 0;
    for (int64_t i = 0; i < nq; ++i) {
      for (int64_t s = 0; s < n_heads; ++s) {
        const float* q = a.q + (t0 + i) * a.q_stride + (h0 + s) * a.head_dim;
        to_kv_row(a.kv_type, q, qs + static_cast<size_t>(i * n_heads + s) * row_bytes, a.head_dim);
      }
      max_kv = std::max<int64_t>(max_kv, static_cast<int64_t>(a.positions[t0 + i]) + 1);
    }
    if (t0 == 0) prefetch_value_rows(v_head, ctx_bytes, a.head_dim, max_kv, es);  // later blocks find them cached
    // Scores of every query row of the block against keys [0, max_kv); each token then uses its own prefix.
    k.run(a.head_dim, k_head, row_bytes, max_kv, qs, row_bytes, nq * n_heads, scores, a.n_ctx);
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t n_kv = static_cast<int64_t>(a.positions[t0 + i]) + 1;
      const int64_t first = a.window > 0 ? std::max<int64_t>(0, n_kv - a.window) : 0;  // keys [first, n_kv)
      const int64_t seen = n_kv - first;
      for (int64_t s = 0; s < n_heads; ++s) {
        float* row = scores + (i * n_heads + s) * a.n_ctx + first;
        if (a.softcap > 0.0f || a.alibi != nullptr) {
          adjust_scores(a, h0 + s, first, row, seen);
          softmax_in_place(row, seen, 1.0f);
        } else {
          softmax_in_place(row, seen, a.scale);
        }
        to_kv_row(a.kv_type, row, probs + static_cast<size_t>(s) * ctx_bytes, seen);
      }
      // out[h0 + s][d] = V row d (positions [first, n_kv)) · head s's probabilities, all heads at once.
      k.run(seen, v_head + static_cast<size_t>(first) * es, ctx_bytes, a.head_dim, probs, ctx_bytes, n_heads,
            a.out + (t0 + i) * a.out_stride + h0 * a.head_dim, a.head_dim);
    }
  }
}

// Query heads per pool chunk: as many of a KV head's group as leave at least two chunks per thread (one for a
// pool of one), so a key is read once per chunk rather than once per head.
int64_t heads_per_chunk(const AttentionArgs& a, int n_threads) {
  const int64_t group = a.n_head / a.n_head_kv;
  const int64_t wanted = n_threads > 1 ? 2 * static_cast<int64_t>(n_threads) : 1;
  int64_t per = group;
  while (per > 1 && (a.n_head / per < wanted || group % per != 0)) --per;
  return per;
}

void check_args(const AttentionArgs& a) {
  if (a.kv_type != DType::F16 && a.kv_type != DType::F32) throw Error("attention: the KV cache must be F16 or F32");
  if (a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0) throw Error("attention: n_head must be a multiple of n_head_kv");
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    if (a.positions[t] < 0 || a.positions[t] >= a.n_ctx) throw Error("attention: position outside the KV cache");
  }
}

}  // namespace

void to_kv_row(DType t, const float* src, void* dst, int64_t n) {
  if (t == DType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  } else {
    fp32_to_fp16_row(src, static_cast<uint16_t*>(dst), n);
  }
}

size_t attention_scratch_bytes(int64_t n_head, int64_t n_ctx, int64_t head_dim, DType kv_type) {
  return static_cast<size_t>(n_head) * per_head_bytes(n_ctx, head_dim, kv_type);
}

void attention(const AttentionArgs& a, std::span<uint8_t> scratch, ThreadPool& pool) {
  check_args(a);
  if (scratch.size() < attention_scratch_bytes(a.n_head, a.n_ctx, a.head_dim, a.kv_type)) {
    throw Error("attention: scratch buffer too small");
  }
  const Kernels k{quant_traits(a.kv_type).vec_dot, quant_traits(a.kv_type).gemm};
  const size_t stride = per_head_bytes(a.n_ctx, a.head_dim, a.kv_type);
  const int64_t per = heads_per_chunk(a, pool.size());
  pool.parallel_for(static_cast<size_t>(a.n_head / per), [&](size_t c) {
    const int64_t h0 = static_cast<int64_t>(c) * per;
    attend_heads(a, h0, per, scratch.data() + static_cast<size_t>(h0) * stride, k);
  });
}

void attention_reference(const AttentionArgs& a) {
  check_args(a);
  std::vector<uint8_t> scratch(per_head_bytes(a.n_ctx, a.head_dim, a.kv_type));
  const Kernels k{quant_traits_reference(a.kv_type).vec_dot, nullptr};
  for (int64_t h = 0; h < a.n_head; ++h) attend_heads(a, h, 1, scratch.data(), k);
}

}  // namespace ternion
