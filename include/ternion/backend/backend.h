// The compute interface between the model and the kernels. The forward pass (ternion/model/context.h) describes
// each step as calls on a Backend; the CPU implements it (ternion/backend/cpu_backend.h), a GPU backend is a second
// implementation of the same calls, not a second forward pass.
//
// Memory: activations and the KV cache live in memory the backend allocates (host memory for the CPU, device
// memory for a GPU). The model passes Tensor views of it between calls and never reads their values itself, except
// through read(). Weights are the model's views (WeightMatrix, norm vectors); a backend whose memory is not the
// host's keeps its own copy of each, found by the view's address, made before the first step.
//
// Execution: a backend may queue work and run it later; read() and synchronize() wait for it. The host arrays that
// describe a batch (token ids, slots, positions) are read during the call that takes them.
//
// Room for what comes: several backends in one context (layers placed on different devices: each layer's calls go
// to the backend holding its weights, tensors move between them by read/write), weights split across devices
// (a matmul over a shard of rows is the same call on the shard's view), bidirectional attention (AttentionOptions
// with causal = false), backward ops over frozen weights (calls of their own, same memory model), and observers of
// a matrix's input (set_matmul_observer: importance matrices, AWQ).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "ternion/backend/matmul.h"
#include "ternion/backend/moe.h"
#include "ternion/backend/ops.h"
#include "ternion/core/dtype.h"

namespace ternion {

// rows × cols floats, row r at data + r * stride, in the backend's memory.
struct Tensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;  // floats from one row to the next

  // Rows [r0, r0 + n).
  Tensor rows_at(int64_t r0, int64_t n) const { return {data + r0 * stride, n, cols, stride}; }
  // Each row cut into pieces of `width` values (cols a multiple of it, rows contiguous): one row per piece, as
  // per-head operations see a projection's output.
  Tensor split_rows(int64_t width) const { return {data, rows * (cols / width), width, width}; }
  int64_t size() const { return rows * cols; }
};

// A block of memory the backend allocated; tensors are views of it.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual float* data() = 0;
  virtual size_t bytes() const = 0;
  // A view of rows × cols floats starting `offset` floats in (contiguous rows).
  Tensor tensor(int64_t rows, int64_t cols, int64_t offset = 0) { return {data() + offset, rows, cols, cols}; }
};

// The KV cache: per sequence slot and layer, K and V of the positions the layer keeps. A layer whose attention
// sees only the last `window` positions keeps window - 1 + n_batch of them (the positions a batch of n_batch
// tokens reads), the others n_ctx.
struct KvCacheSpec {
  DType type = DType::F16;  // F16 or F32
  int64_t n_seq = 1;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ctx = 0;                  // positions of a full layer
  int64_t n_batch = 0;                // most tokens of one slot stored at once
  std::vector<int64_t> layer_window;  // per layer: 0 for a full layer, else its attention window
  bool hugetlb = false;               // in the reserved huge pages (ternion/core/page_memory.h)
};

class KvCache {
 public:
  virtual ~KvCache() = default;
  const KvCacheSpec& spec() const { return spec_; }
  // Positions layer `layer` keeps per slot.
  int64_t capacity(int64_t layer) const;
  virtual size_t bytes() const = 0;
  virtual bool hugetlb() const = 0;
  // The first position of `slot` that layer keeps: a run of tokens may start at position p > 0 only if every layer
  // still holds the keys p's attention reads (start(slot, layer) <= max(0, p - window + 1)); at 0 always.
  virtual int64_t start(int32_t slot, int64_t layer) const = 0;
  // Whether a run of `slot` may start at position `pos` (see start()).
  bool can_start_at(int32_t slot, int64_t pos) const;
  // Forget every position of a slot (its layers start from position 0 again).
  virtual void clear(int32_t slot) = 0;

 protected:
  explicit KvCache(KvCacheSpec spec) : spec_(std::move(spec)) {}
  KvCacheSpec spec_;
};

// What attention() applies besides softmax(q·k · scale)·V.
struct AttentionOptions {
  float scale = 1.0f;
  int64_t window = 0;            // > 0: a token at position p sees keys in (p - window, p]
  float softcap = 0.0f;          // > 0: scores become softcap · tanh(s / softcap)
  const float* alibi = nullptr;  // [n_head] slopes: slope · key position is added to each score
};

// Called with the input of every matmul (before it runs): x in the backend's memory.
class MatmulObserver {
 public:
  virtual ~MatmulObserver() = default;
  virtual void observe(const WeightMatrix& w, Tensor x) = 0;
};

// One product of matmul_many: y = W x.
struct MatmulTarget {
  const WeightMatrix* w;
  Tensor y;
};

// A low-rank update of a matmul's output, y += scale · B (A x) (a LoRA adapter): A is rank × W.cols, B W.rows × rank,
// both F32. The model's weights stay as they are.
struct LowRankTerm {
  const WeightMatrix* a;
  const WeightMatrix* b;
  float scale;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Memory.
  virtual std::unique_ptr<Buffer> alloc(size_t n_floats) = 0;
  virtual std::unique_ptr<KvCache> make_kv_cache(const KvCacheSpec& spec) = 0;
  // Scratch every later call may need, sized once so a step allocates nothing: matmuls of these matrices over up
  // to n_tokens rows, attention over caches of up to max_capacity positions.
  virtual void reserve_matmul(std::span<const WeightMatrix* const> ws, int64_t n_tokens) = 0;
  virtual void reserve_attention(int64_t n_head, int64_t max_capacity, int64_t head_dim, DType kv_type) = 0;
  // ... and moe_ffn over these experts for up to n_tokens tokens choosing n_used each.
  virtual void reserve_moe(const MoeExperts& experts, int64_t n_used, int64_t n_tokens) = 0;
  // Host memory ↔ a tensor (contiguous host rows of t.cols floats).
  virtual void read(Tensor t, float* host) = 0;
  virtual void write(Tensor t, const float* host) = 0;
  virtual void synchronize() {}

  // Rows ids[i] of an embedding table into row i of out, as floats.
  virtual void get_rows(const WeightMatrix& table, std::span<const int32_t> ids, Tensor out) = 0;
  // y[t][r] = W row r · x row t. `next`: the matrix the model multiplies next (a hint for prefetching).
  virtual void matmul(const WeightMatrix& w, Tensor x, Tensor y, const WeightMatrix* next = nullptr) = 0;
  // Several matrices over one input, the same results as one matmul each.
  virtual void matmul_many(std::span<const MatmulTarget> outputs, Tensor x, const WeightMatrix* next = nullptr) = 0;
  // Scratch for add_low_rank over up to n_tokens rows, ranks up to max_rank and outputs up to max_rows wide.
  virtual void reserve_low_rank(int64_t max_rank, int64_t max_rows, int64_t n_tokens) = 0;
  // y += term.scale · B (A x) for each term in order, after the matmul that wrote y from x.
  virtual void add_low_rank(std::span<const LowRankTerm> terms, Tensor x, Tensor y) = 0;

  // Row-wise: y may be x. weight/bias may be null.
  virtual void rms_norm(Tensor x, const float* weight, float eps, Tensor y) = 0;
  virtual void layer_norm(Tensor x, const float* weight, const float* bias, float eps, Tensor y) = 0;
  // Element-wise, in place.
  virtual void add(Tensor y, Tensor x) = 0;              // y += x
  virtual void add_row(Tensor y, const float* row) = 0;  // every row of y += row (a bias)
  virtual void scale(Tensor y, float s) = 0;
  virtual void softcap(Tensor y, float cap) = 0;
  virtual void activate(Activation act, Tensor y) = 0;
  virtual void gated_activation(Activation act, Tensor gate, Tensor up, Tensor y) = 0;  // y = act(gate) · up
  // Every row t of y times σ(g[t][0]) (a shared expert's gate: g has one column).
  virtual void sigmoid_gate(Tensor y, Tensor g) = 0;
  // A mixture-of-experts FFN (ternion/backend/moe.h): per token, the experts its row of router_logits (n_expert
  // columns) chooses, run on its row of x, weighed and summed into its row of y (n_embd columns each). Reads only
  // the chosen experts; the same results for any batch.
  virtual void moe_ffn(const MoeExperts& experts, const MoeRouting& routing, Tensor x, Tensor router_logits,
                       Tensor y) = 0;
  // Rotates the first n_rot dims of each head (rows of n_heads · head_dim values) of token t at positions[t].
  virtual void rope(const RopeTable& table, Tensor x, int64_t n_heads, int64_t head_dim,
                    std::span<const int32_t> positions) = 0;

  // Writes token t's K and V (rows of n_head_kv · head_dim) at positions[t] of slots[t]; a slot's tokens are in
  // consecutive positions. A sliding layer first drops the positions no token of the batch can see.
  virtual void store_kv(KvCache& cache, int64_t layer, Tensor k, Tensor v, std::span<const int32_t> slots,
                        std::span<const int32_t> positions) = 0;
  // Causal attention of one slot's queries (rows of n_head · head_dim) at `positions` over that slot's cache.
  virtual void attention(KvCache& cache, int64_t layer, int32_t slot, Tensor q, int64_t n_head,
                         std::span<const int32_t> positions, const AttentionOptions& options, Tensor out) = 0;

  void set_matmul_observer(MatmulObserver* observer) { observer_ = observer; }

 protected:
  MatmulObserver* observer_ = nullptr;
};

}  // namespace ternion
