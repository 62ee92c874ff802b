// The GGUF tensors a model of one architecture record reads: names, shapes (from the hyper-parameters) and whether
// each must be there. The binder (Model::bind_weights), the HF importer's checks and synth all read these lists, so
// a block's tensors are written down once: a new part of a block is one role here and one place in the binder.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace ternion {

struct ArchSpec;
struct HParams;

// What a tensor is to the forward pass; the binder puts each in its place by it.
enum class TensorRole : uint8_t {
  // Outside the blocks.
  kTokenEmbd,
  kTokenEmbdNorm,
  kTokenEmbdNormBias,
  kOutputNorm,
  kOutputNormBias,
  kOutput,
  kRopeFreqs,
  // A block's.
  kAttnNorm,
  kAttnNormBias,
  kQ,
  kK,
  kV,
  kQkv,  // Q, K and V rows stacked
  kOut,
  kQBias,
  kKBias,
  kVBias,
  kQkvBias,
  kOutBias,
  kQNorm,
  kKNorm,
  kPostAttnNorm,
  kFfnNorm,
  kFfnNormBias,
  kGate,
  kUp,
  kGateUp,  // the gate's rows, then up's, under the name ffn_up (Phi-3)
  kDown,
  kUpBias,
  kDownBias,
  kPostFfnNorm,
  // A mixture-of-experts FFN (instead of gate/up/down).
  kFfnGateInp,  // the router
  kGateExps,    // every expert's gate, one 3-D tensor
  kUpExps,
  kDownExps,
  kGateInpShexp,  // the shared expert's gate (a vector: one logit per token)
  kGateShexp,     // the shared expert's FFN (Qwen2-MoE)
  kUpShexp,
  kDownShexp,
  // BitNet b1.58's norms inside the branches.
  kAttnSubNorm,  // the attention's output, before its projection [q_dim]
  kFfnSubNorm,   // the gated FFN's hidden state, before the down projection [n_ff]
};

// Projections a file may store fused, as llama.cpp keeps them for some families.
struct FusedTensors {
  bool qkv = false;      // attn_qkv.weight (and .bias) instead of attn_q/k/v (Phi-3, GPT-NeoX, BLOOM)
  bool gate_up = false;  // ffn_up.weight holds the gate's rows and up's, and there is no ffn_gate (Phi-3)
  bool experts = false;  // the FFN is a mixture of experts: a router (ffn_gate_inp) and ffn_*_exps, no dense FFN
};

struct TensorSlot {
  TensorRole role;
  std::string_view name;        // GGUF name; a block's follows "blk.N."
  std::vector<uint64_t> shape;  // GGUF order: ne[0] is the row length (the column count of a matrix)
  bool required = true;         // false: the model runs without it (a bias a block may have, an untied output)
};

// The tensors outside the blocks, in the order a converter writes them: the embedding (and its norm), the output
// norm, the output projection (absent: tied to the embedding) and RoPE frequency factors (rope_freqs.weight).
std::vector<TensorSlot> global_tensors(const ArchSpec& arch, const HParams& hp);

// One block's tensors in the order a converter writes them, their names after "blk.N.".
std::vector<TensorSlot> block_tensors(const ArchSpec& arch, const HParams& hp, FusedTensors fused = {});

// Which projections a block stores fused and whether its FFN has experts, from which of its tensors are there
// (`has` takes a name after "blk.N.").
FusedTensors fused_tensors(const ArchSpec& arch, const std::function<bool(std::string_view name)>& has);

// The shape of a tensor by its GGUF name (a block's after "blk.N."), also of one the record's block does not read;
// empty for a name no list has.
std::vector<uint64_t> tensor_shape(std::string_view name, const ArchSpec& arch, const HParams& hp,
                                   FusedTensors fused = {});

}  // namespace ternion
