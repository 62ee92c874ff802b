#include "ternion/backend/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

// Per head: scores as float [kQueryBlock][n_ctx], one row rounded to fp16 [n_ctx], and the fp16 queries
// [kQueryBlock][head_dim].
size_t per_head_bytes(int64_t n_ctx, int64_t head_dim) {
  const size_t bytes = static_cast<size_t>(kQueryBlock * n_ctx) * 4 + static_cast<size_t>(n_ctx) * 2 +
                       static_cast<size_t>(kQueryBlock * head_dim) * 2;
  return (bytes + 63) / 64 * 64;
}

// The kernels: the gemm of F16 rows (q·k for a block of queries, and the 64 outputs of p·V) or, for the
// reference, the same products one vec_dot at a time.
struct Kernels {
  VecDot dot;
  Gemm gemm;  // null: one dot per product

  void run(int64_t n, const uint16_t* w, size_t w_stride, int64_t n_rows, const uint16_t* x, size_t x_stride,
           int64_t n_tokens, float* out, int64_t ldo) const {
    if (gemm != nullptr) {
      gemm(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
      return;
    }
    const auto* wb = reinterpret_cast<const uint8_t*>(w);
    const auto* xb = reinterpret_cast<const uint8_t*>(x);
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = 0; r < n_rows; ++r) {
        dot(n, out + t * ldo + r, wb + static_cast<size_t>(r) * w_stride, xb + static_cast<size_t>(t) * x_stride);
      }
    }
  }
};

void attend_one_head(const AttentionArgs& a, int64_t h, uint8_t* scratch, const Kernels& k) {
  float* scores = reinterpret_cast<float*>(scratch);
  uint16_t* probs16 = reinterpret_cast<uint16_t*>(scratch + static_cast<size_t>(kQueryBlock * a.n_ctx) * 4);
  uint16_t* q16 = probs16 + a.n_ctx;
  const int64_t kvh = h / (a.n_head / a.n_head_kv);
  const uint16_t* k_head = a.k + kvh * a.n_ctx * a.head_dim;
  const uint16_t* v_head = a.v + kvh * a.head_dim * a.n_ctx;
  const size_t row16 = static_cast<size_t>(a.head_dim) * 2;
  for (int64_t t0 = 0; t0 < a.n_tokens; t0 += kQueryBlock) {
    const int64_t nq = std::min(kQueryBlock, a.n_tokens - t0);
    int64_t max_kv = 0;
    for (int64_t i = 0; i < nq; ++i) {
      const float* q = a.q + (t0 + i) * a.q_stride + h * a.head_dim;
      fp32_to_fp16_row(q, q16 + i * a.head_dim, a.head_dim);
      max_kv = std::max<int64_t>(max_kv, static_cast<int64_t>(a.positions[t0 + i]) + 1);
    }
    // Scores of every query of the block against keys [0, max_kv); each query then uses its own prefix.
    k.run(a.head_dim, k_head, row16, max_kv, q16, row16, nq, scores, a.n_ctx);
    for (int64_t i = 0; i < nq; ++i) {
      float* row = scores + i * a.n_ctx;
      const int64_t n_kv = static_cast<int64_t>(a.positions[t0 + i]) + 1;
      for (int64_t p = 0; p < n_kv; ++p) row[p] *= a.scale;
      softmax_in_place(row, n_kv);
      fp32_to_fp16_row(row, probs16, n_kv);
      // out[d] = V row d (positions [0, n_kv)) · probabilities.
      k.run(n_kv, v_head, static_cast<size_t>(a.n_ctx) * 2, a.head_dim, probs16, 0, 1,
            a.out + (t0 + i) * a.out_stride + h * a.head_dim, a.head_dim);
    }
  }
}

void check_args(const AttentionArgs& a) {
  if (a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0) throw Error("attention: n_head must be a multiple of n_head_kv");
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    if (a.positions[t] < 0 || a.positions[t] >= a.n_ctx) throw Error("attention: position outside the KV cache");
  }
}

}  // namespace

size_t attention_scratch_bytes(int64_t n_head, int64_t n_ctx, int64_t head_dim) {
  return static_cast<size_t>(n_head) * per_head_bytes(n_ctx, head_dim);
}

void attention(const AttentionArgs& a, std::span<uint8_t> scratch, ThreadPool& pool) {
  check_args(a);
  if (scratch.size() < attention_scratch_bytes(a.n_head, a.n_ctx, a.head_dim)) {
    throw Error("attention: scratch buffer too small");
  }
  const Kernels k{quant_traits(DType::F16).vec_dot, quant_traits(DType::F16).gemm};
  const size_t stride = per_head_bytes(a.n_ctx, a.head_dim);
  pool.parallel_for(static_cast<size_t>(a.n_head),
                    [&](size_t h) { attend_one_head(a, static_cast<int64_t>(h), scratch.data() + h * stride, k); });
}

void attention_reference(const AttentionArgs& a) {
  check_args(a);
  std::vector<uint8_t> scratch(per_head_bytes(a.n_ctx, a.head_dim));
  const Kernels k{quant_traits_reference(DType::F16).vec_dot, nullptr};
  for (int64_t h = 0; h < a.n_head; ++h) attend_one_head(a, h, scratch.data(), k);
}

}  // namespace ternion
