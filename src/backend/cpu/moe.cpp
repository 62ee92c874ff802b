#include "ternion/backend/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "ternion/core/error.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// In-place softmax over n values: max subtracted, exponentials summed in double.
void softmax_exact(float* v, int64_t n) {
  const float max = *std::max_element(v, v + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - max);
    sum += v[i];
  }
  const auto inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) v[i] *= inv;
}

}  // namespace

void select_experts(const float* logits, int64_t n_expert, const MoeRouting& r, int32_t* ids, float* weights) {
  const int64_t k = r.n_used;
  if (k < 1 || k > n_expert) {
    throw Error("moe: " + std::to_string(k) + " experts per token is outside [1, " + std::to_string(n_expert) + "]");
  }
  // Routers have at most a few hundred experts: their scores fit on the stack.
  float probs[1024];
  int32_t order[1024];
  if (n_expert > 1024) throw Error("moe: more than 1024 experts are not supported");
  std::copy(logits, logits + n_expert, probs);
  if (r.gating == MoeGating::kSoftmaxThenTopK) softmax_exact(probs, n_expert);
  std::iota(order, order + n_expert, 0);
  std::partial_sort(order, order + k, order + n_expert,
                    [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  for (int64_t i = 0; i < k; ++i) {
    ids[i] = order[i];
    weights[i] = probs[order[i]];
  }
  if (r.gating == MoeGating::kTopKThenSoftmax) {
    softmax_exact(weights, k);
  } else if (r.normalize) {
    double sum = 0.0;
    for (int64_t i = 0; i < k; ++i) sum += weights[i];
    for (int64_t i = 0; i < k; ++i) weights[i] = static_cast<float>(weights[i] / sum);
  }
}

void MoeScratch::reserve(int64_t n_rows, int64_t n_expert, int64_t n_embd, int64_t n_ff) {
  const auto grow = [](auto& v, int64_t n) {
    if (v.size() < sz(n)) v.resize(sz(n));
  };
  grow(ids, n_rows);
  grow(weights, n_rows);
  grow(row_of, n_rows);
  grow(begin, n_expert + 1);
  grow(x, n_rows * n_embd);
  grow(gate, n_rows * n_ff);
  grow(up, n_rows * n_ff);
  grow(out, n_rows * n_embd);
}

namespace {

void check_experts(const MoeExperts& e, int64_t n_embd) {
  const int64_t n = e.n_expert();
  if (n == 0 || static_cast<int64_t>(e.down.size()) != n ||
      (!e.gate.empty() && static_cast<int64_t>(e.gate.size()) != n)) {
    throw Error("moe: every expert needs its up and down matrices (and gate, when gated)");
  }
  const int64_t ff = e.up[0].rows;
  for (int64_t i = 0; i < n; ++i) {
    const bool ok = e.up[sz(i)].cols == n_embd && e.up[sz(i)].rows == ff && e.down[sz(i)].rows == n_embd &&
                    e.down[sz(i)].cols == ff &&
                    (e.gate.empty() || (e.gate[sz(i)].rows == ff && e.gate[sz(i)].cols == n_embd));
    if (!ok)
      throw Error("moe: expert " + std::to_string(i) + "'s matrices do not fit n_embd " + std::to_string(n_embd));
  }
}

// Rows of the grouped buffers by expert: each (token, choice) gets the next row of its expert, tokens in order.
void group_by_expert(MoeScratch& s, int64_t n_rows, int64_t n_expert) {
  std::fill_n(s.begin.begin(), n_expert + 1, int64_t{0});
  for (int64_t i = 0; i < n_rows; ++i) ++s.begin[sz(s.ids[sz(i)]) + 1];
  for (int64_t e = 0; e < n_expert; ++e) s.begin[sz(e + 1)] += s.begin[sz(e)];
  // begin[e] is advanced as rows are handed out, then moved back.
  for (int64_t i = 0; i < n_rows; ++i) s.row_of[sz(i)] = static_cast<int32_t>(s.begin[sz(s.ids[sz(i)])]++);
  for (int64_t e = n_expert; e > 0; --e) s.begin[sz(e)] = s.begin[sz(e - 1)];
  s.begin[0] = 0;
}

}  // namespace

void moe_ffn(const MoeExperts& experts, const MoeRouting& routing, const float* x, const float* router_logits,
             int64_t n_tokens, int64_t n_embd, float* y, MoeScratch& s, std::span<uint8_t> mm_scratch,
             ThreadPool& pool) {
  check_experts(experts, n_embd);
  const int64_t n_expert = experts.n_expert();
  const int64_t k = routing.n_used;
  const int64_t ff = experts.up[0].rows;
  const int64_t n_rows = n_tokens * k;
  s.reserve(n_rows, n_expert, n_embd, ff);
  for (int64_t t = 0; t < n_tokens; ++t) {
    select_experts(router_logits + t * n_expert, n_expert, routing, &s.ids[sz(t * k)], &s.weights[sz(t * k)]);
  }
  group_by_expert(s, n_rows, n_expert);
  for (int64_t i = 0; i < n_rows; ++i) {
    std::memcpy(&s.x[sz(s.row_of[sz(i)] * n_embd)], x + (i / k) * n_embd, sz(n_embd) * sizeof(float));
  }
  // Each chosen expert once over its tokens' rows; the others are never read.
  for (int64_t e = 0; e < n_expert; ++e) {
    const int64_t r0 = s.begin[sz(e)], rows = s.begin[sz(e + 1)] - r0;
    if (rows == 0) continue;
    const float* xe = &s.x[sz(r0 * n_embd)];
    float* g = &s.gate[sz(r0 * ff)];
    if (experts.gate.empty()) {
      matmul(experts.up[sz(e)], xe, rows, g, ff, mm_scratch, pool);
      activate_in_place(experts.activation, g, rows * ff);
    } else {
      float* u = &s.up[sz(r0 * ff)];
      const MatmulOutput gate_up[] = {{&experts.gate[sz(e)], g, ff}, {&experts.up[sz(e)], u, ff}};
      matmul_many(gate_up, xe, n_embd, rows, mm_scratch, pool);
      gated_activation(experts.activation, g, u, g, rows * ff);
    }
    matmul(experts.down[sz(e)], g, rows, &s.out[sz(r0 * n_embd)], n_embd, mm_scratch, pool);
  }
  // Weighed and summed in choice order, whatever the grouping: the same bits for any batch.
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* yt = y + t * n_embd;
    for (int64_t c = 0; c < k; ++c) {
      const float w = s.weights[sz(t * k + c)];
      const float* o = &s.out[sz(s.row_of[sz(t * k + c)] * n_embd)];
      if (c == 0) {
        for (int64_t i = 0; i < n_embd; ++i) yt[i] = w * o[i];
      } else {
        for (int64_t i = 0; i < n_embd; ++i) yt[i] += w * o[i];
      }
    }
  }
}

}  // namespace ternion
