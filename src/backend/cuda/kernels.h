// The CUDA backend's kernels other than matmul (cuda_matmul.h), as plain C++17 launchers: the host side
// (cuda_backend.cpp, C++20) includes this without any CUDA header, the kernels (*.cu) are compiled by nvcc as C++17.
// Every launcher queues its work on `stream` (a cudaStream_t as void*), checks the launch and throws ternion::Error
// with CUDA's message when it fails. Pointers are device memory unless named host_.
//
// Each output value is reduced by one thread block in a fixed order that depends only on that row's own size, never
// on how many rows (tokens) a call has: the results for a token are the same whatever else shares its batch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ternion::cuda {

using Stream = void*;

// rows × cols floats, row r at data + r * stride (ternion::Tensor without the C++20 header).
struct Rows {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;
};

// ternion::Activation's values (backend/ops.h; the host side checks that they agree).
enum class Act : uint8_t { kSilu = 0, kGeluTanh = 1, kGeluErf = 2, kReluSquared = 3 };

// Row-wise, as rms_norm_row and layer_norm_row (backend/ops.h): sums of squares in double. y may be x.
void rms_norm(Rows x, const float* weight, float eps, Rows y, Stream stream);
void layer_norm(Rows x, const float* weight, const float* bias, float eps, Rows y, Stream stream);
// Element-wise, in place.
void add(Rows y, Rows x, Stream stream);                                    // y += x
void add_scaled(Rows y, Rows x, float s, Stream stream);                    // y += s · x
void add_row(Rows y, const float* row, Stream stream);                      // every row of y += row
void scale(Rows y, float s, Stream stream);                                 // y *= s
void softcap(Rows y, float cap, Stream stream);                             // y = cap · tanh(y / cap)
void activate(Act act, Rows y, Stream stream);                              // y = act(y)
void gated_activation(Act act, Rows gate, Rows up, Rows y, Stream stream);  // y = act(gate) · up
void sigmoid_gate(Rows y, Rows g, Stream stream);                           // row t of y *= σ(g[t][0])
// Rotates the first n_rot dims of each head of row t by position positions[t]: pairs (2i, 2i+1), or (i, i + n_rot/2)
// for neox; cos/sin [position][n_rot / 2].
void rope(Rows x, int64_t n_heads, int64_t head_dim, int64_t n_rot, bool neox, const float* cos, const float* sin,
          const int32_t* positions, Stream stream);

// The KV cache of one slot and layer: K and V each [n_head_kv][capacity][head_dim], in F16 or F32.
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
  bool f16 = true;
  int64_t capacity = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
};
// Row t of k and v (n_head_kv · head_dim values) into cache row positions[t] - start.
void store_kv(Rows k, Rows v, const int32_t* positions, int64_t start, const KvLayer& cache, Stream stream);

// Causal attention of one slot's queries over its cache (ternion/backend/attention.h's semantics). Each query's keys
// are cut into splits of kAttentionSplit positions; a query with several splits writes partial results to
// `partials` and a second kernel combines them in split order.
constexpr int64_t kAttentionSplit = 256;
constexpr int64_t kMaxHeadDim = 256;
struct AttentionParams {
  const float* q = nullptr;  // [n_tokens][q_stride], head h at h * head_dim
  int64_t q_stride = 0;
  KvLayer cache;
  int64_t n_head = 0;
  const int32_t* positions = nullptr;  // query t sees cache rows [0, positions[t] - start]
  int64_t start = 0;
  int64_t n_tokens = 0;
  int64_t max_kv = 0;  // the largest positions[t] - start + 1 (from the host's copy)
  float scale = 1.0f;
  int64_t window = 0;
  float softcap = 0.0f;
  const float* alibi = nullptr;  // [n_head] or null
  float* out = nullptr;          // [n_tokens][out_stride]
  int64_t out_stride = 0;
  float* partials = nullptr;  // scratch of partial_floats floats
  size_t partial_floats = 0;
};
// Scratch floats for the partial results of one query token (attention runs as many tokens at once as fit).
size_t attention_partial_floats_per_token(int64_t n_head, int64_t max_kv, int64_t head_dim);
void attention(const AttentionParams& p, Stream stream);

// Mixtures of experts: dst row i = src row idx[i] (cols floats each).
void gather_rows(const float* src, int64_t src_stride, const int32_t* idx, int64_t n, int64_t cols, float* dst,
                 int64_t dst_stride, Stream stream);
// y[t] = Σ_c weights[t·k + c] · out row row_of[t·k + c], summed from c = 0 up.
void moe_combine(const float* out, int64_t cols, const int32_t* row_of, const float* weights, int64_t n_tokens,
                 int64_t k, float* y, int64_t y_stride, Stream stream);

// y[t][r] = Σ_c W[r][c] · x[t][c] for F32 (or F16, `f16`) weights: the fallback for shapes the matmul library
// refuses (cols not a multiple of 8, x unaligned or x_stride not a multiple of 4). Rows row_bytes apart; no
// alignment needed beyond the element's own (generic_matmul.cu).
void generic_matmul(bool f16, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                    int64_t x_stride, float* y, int64_t y_stride, int64_t n, Stream stream);

}  // namespace ternion::cuda
