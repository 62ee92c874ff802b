// Mixture-of-experts FFN: per token, a router's logits pick n_used of a layer's expert FFNs, and the layer's output
// is their outputs weighed by the router. select_experts is the one routing rule (the CPU op uses it; a GPU backend
// must match it); the experts are per-expert views of the 3-D GGUF tensors ffn_{gate,up,down}_exps.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ternion/backend/matmul.h"
#include "ternion/backend/ops.h"

namespace ternion {

enum class MoeGating : uint8_t {
  kSoftmaxThenTopK,  // softmax over every expert's logit, then the n_used largest (Mixtral, Qwen2/3-MoE, OLMoE)
  kTopKThenSoftmax,  // the n_used largest logits, then a softmax over those alone (gpt-oss)
};

struct MoeRouting {
  int64_t n_used = 0;  // experts per token
  MoeGating gating = MoeGating::kSoftmaxThenTopK;
  bool normalize = false;  // the chosen weights divided by their sum (HF norm_topk_prob, GGUF expert_weights_norm)
};

// One layer's experts: views of expert e's matrix in each 3-D tensor.
struct MoeExperts {
  std::span<const WeightMatrix> gate;  // [n_expert] rows n_ff_exp × cols n_embd; empty: the experts are not gated
  std::span<const WeightMatrix> up;    // [n_expert] rows n_ff_exp × cols n_embd
  std::span<const WeightMatrix> down;  // [n_expert] rows n_embd × cols n_ff_exp
  Activation activation = Activation::kSilu;

  int64_t n_expert() const { return static_cast<int64_t>(up.size()); }
};

// The experts one token's router logits [n_expert] choose: ids[0..n_used) from the largest probability down (ties:
// the lower id first) and their weights. Softmax in float with the sum in double (as the reference engines).
// Throws Error when n_used is not in [1, n_expert].
void select_experts(const float* logits, int64_t n_expert, const MoeRouting& routing, int32_t* ids, float* weights);

// The CPU's scratch for moe_ffn: routing, the tokens grouped by expert and the experts' activations.
struct MoeScratch {
  std::vector<int32_t> ids;     // [n_tokens × n_used]
  std::vector<float> weights;   // [n_tokens × n_used]
  std::vector<int32_t> row_of;  // [n_tokens × n_used]: the (token, choice)'s row in the grouped buffers
  std::vector<int64_t> begin;   // [n_expert + 1]: expert e's rows are [begin[e], begin[e + 1])
  std::vector<float> x;         // [n_tokens × n_used][n_embd]: each token's input, once per choice, by expert
  std::vector<float> gate, up;  // [n_tokens × n_used][n_ff_exp]
  std::vector<float> out;       // [n_tokens × n_used][n_embd]: each choice's expert output
  void reserve(int64_t n_rows, int64_t n_expert, int64_t n_embd, int64_t n_ff);
};

// y[t] = Σ_k weights[t][k] · down_e(act(gate_e(x[t])) · up_e(x[t])), e = ids[t][k], summed from k = 0 up. Tokens are
// grouped by expert so that each chosen expert runs one matmul over its tokens, and an expert nobody chose is not
// read. Each product is one matmul row, so the result is the same bits for any thread count and batch.
// x, router_logits and y are contiguous rows in host memory.
void moe_ffn(const MoeExperts& experts, const MoeRouting& routing, const float* x, const float* router_logits,
             int64_t n_tokens, int64_t n_embd, float* y, MoeScratch& s, std::span<uint8_t> mm_scratch,
             ThreadPool& pool);

}  // namespace ternion
