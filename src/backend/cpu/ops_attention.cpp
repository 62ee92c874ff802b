#include "ternion/backend/attention.h"

#include <cmath>
#include <vector>

#include "ternion/backend/ops.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

using VecDot = void (*)(int64_t n, float* out, const void* w, const void* x);

// Per head: scores as float [n_ctx], the same rounded to fp16 [n_ctx], and the fp16 query [head_dim].
size_t per_head_bytes(int64_t n_ctx, int64_t head_dim) {
  const size_t bytes =
      static_cast<size_t>(n_ctx) * 4 + static_cast<size_t>(n_ctx) * 2 + static_cast<size_t>(head_dim) * 2;
  return (bytes + 63) / 64 * 64;
}

void attend_one_head(const AttentionArgs& a, int64_t h, uint8_t* scratch, VecDot dot) {
  float* scores = reinterpret_cast<float*>(scratch);
  uint16_t* probs16 = reinterpret_cast<uint16_t*>(scratch + static_cast<size_t>(a.n_ctx) * 4);
  uint16_t* q16 = probs16 + a.n_ctx;
  const int64_t kvh = h / (a.n_head / a.n_head_kv);
  const uint16_t* k_head = a.k + kvh * a.n_ctx * a.head_dim;
  const uint16_t* v_head = a.v + kvh * a.head_dim * a.n_ctx;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const float* q = a.q + t * a.q_stride + h * a.head_dim;
    for (int64_t d = 0; d < a.head_dim; ++d) q16[d] = fp32_to_fp16(q[d]);
    const int64_t n_kv = static_cast<int64_t>(a.positions[t]) + 1;
    for (int64_t p = 0; p < n_kv; ++p) {
      float s = 0.0f;
      dot(a.head_dim, &s, k_head + p * a.head_dim, q16);
      scores[p] = s * a.scale;
    }
    softmax_in_place(scores, n_kv);
    for (int64_t p = 0; p < n_kv; ++p) probs16[p] = fp32_to_fp16(scores[p]);
    float* out = a.out + t * a.out_stride + h * a.head_dim;
    for (int64_t d = 0; d < a.head_dim; ++d) {
      float s = 0.0f;
      dot(n_kv, &s, v_head + d * a.n_ctx, probs16);
      out[d] = s;
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
  const VecDot dot = quant_traits(DType::F16).vec_dot;
  const size_t stride = per_head_bytes(a.n_ctx, a.head_dim);
  pool.parallel_for(static_cast<size_t>(a.n_head),
                    [&](size_t h) { attend_one_head(a, static_cast<int64_t>(h), scratch.data() + h * stride, dot); });
}

void attention_reference(const AttentionArgs& a) {
  check_args(a);
  std::vector<uint8_t> scratch(per_head_bytes(a.n_ctx, a.head_dim));
  const VecDot dot = quant_traits_reference(DType::F16).vec_dot;
  for (int64_t h = 0; h < a.n_head; ++h) attend_one_head(a, h, scratch.data(), dot);
}

}  // namespace ternion
