#include "ternion/model/block_tensors.h"

#include <array>

#include "ternion/model/architecture.h"
#include "ternion/model/hparams.h"

namespace ternion {

namespace {

using R = TensorRole;

// GGUF names by role (llama.cpp's).
constexpr std::array<std::string_view, static_cast<size_t>(R::kFfnSubNorm) + 1> kNames = {
    "token_embd.weight",
    "token_embd_norm.weight",
    "token_embd_norm.bias",
    "output_norm.weight",
    "output_norm.bias",
    "output.weight",
    "rope_freqs.weight",
    "attn_norm.weight",
    "attn_norm.bias",
    "attn_q.weight",
    "attn_k.weight",
    "attn_v.weight",
    "attn_qkv.weight",
    "attn_output.weight",
    "attn_q.bias",
    "attn_k.bias",
    "attn_v.bias",
    "attn_qkv.bias",
    "attn_output.bias",
    "attn_q_norm.weight",
    "attn_k_norm.weight",
    "post_attention_norm.weight",
    "ffn_norm.weight",
    "ffn_norm.bias",
    "ffn_gate.weight",
    "ffn_up.weight",
    "ffn_up.weight",  // gate+up
    "ffn_down.weight",
    "ffn_up.bias",
    "ffn_down.bias",
    "post_ffw_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_exps.weight",
    "ffn_up_exps.weight",
    "ffn_down_exps.weight",
    "ffn_gate_inp_shexp.weight",
    "ffn_gate_shexp.weight",
    "ffn_up_shexp.weight",
    "ffn_down_shexp.weight",
    "attn_sub_norm.weight",
    "ffn_sub_norm.weight",
};

std::vector<uint64_t> shape_of(R role, const ArchSpec& arch, const HParams& hp) {
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t d = u(hp.n_embd), q = u(hp.q_dim()), kv = u(hp.kv_dim()), ff = u(hp.n_ff);
  const bool per_head = arch.qk_norm == QkNorm::kPerHead;
  switch (role) {
    case R::kTokenEmbd:
    case R::kOutput:
      return {d, u(hp.n_vocab)};
    case R::kRopeFreqs:
      return {u(hp.n_rot / 2)};
    case R::kQ:
      return {d, q};
    case R::kK:
    case R::kV:
      return {d, kv};
    case R::kQkv:
      return {d, q + 2 * kv};
    case R::kOut:
      return {q, d};
    case R::kQBias:
      return {q};
    case R::kKBias:
    case R::kVBias:
      return {kv};
    case R::kQkvBias:
      return {q + 2 * kv};
    case R::kQNorm:
      return {per_head ? u(hp.head_dim) : q};
    case R::kKNorm:
      return {per_head ? u(hp.head_dim) : kv};
    case R::kGate:
    case R::kUp:
      return {d, ff};
    case R::kGateUp:
      return {d, 2 * ff};
    case R::kDown:
      return {ff, d};
    case R::kUpBias:
    case R::kFfnSubNorm:
      return {ff};
    case R::kAttnSubNorm:
      return {q};
    case R::kFfnGateInp:
      return {d, u(hp.n_expert)};
    case R::kGateExps:
    case R::kUpExps:
      return {d, u(hp.n_ff_exp), u(hp.n_expert)};
    case R::kDownExps:
      return {u(hp.n_ff_exp), d, u(hp.n_expert)};
    case R::kGateShexp:
    case R::kUpShexp:
      return {d, u(hp.n_ff_shexp)};
    case R::kDownShexp:
      return {u(hp.n_ff_shexp), d};
    default:
      return {d};  // every other norm and bias: one value per embedding dimension
  }
}

class SlotList {
 public:
  SlotList(const ArchSpec& arch, const HParams& hp) : arch_(arch), hp_(hp) {}
  void add(R role, bool required = true) {
    slots_.push_back({role, kNames[static_cast<size_t>(role)], shape_of(role, arch_, hp_), required});
  }
  std::vector<TensorSlot> take() { return std::move(slots_); }

 private:
  const ArchSpec& arch_;
  const HParams& hp_;
  std::vector<TensorSlot> slots_;
};

// A mixture-of-experts FFN: the router, the experts and, where the family has one, the shared expert and its gate.
void add_experts(SlotList& s, const ArchSpec& arch) {
  s.add(R::kFfnGateInp);
  if (arch.gated_ffn) s.add(R::kGateExps);
  s.add(R::kUpExps);
  s.add(R::kDownExps);
  if (arch.moe_shared_expert) {
    s.add(R::kGateInpShexp);
    s.add(R::kGateShexp);
    s.add(R::kUpShexp);
    s.add(R::kDownShexp);
  }
}

}  // namespace

std::vector<TensorSlot> global_tensors(const ArchSpec& arch, const HParams& hp) {
  const bool layer_norm = arch.norm == NormKind::kLayer;
  SlotList s(arch, hp);
  s.add(R::kTokenEmbd);
  if (arch.embd_norm) {
    s.add(R::kTokenEmbdNorm);
    s.add(R::kTokenEmbdNormBias);
  }
  s.add(R::kOutputNorm);
  s.add(R::kOutputNormBias, layer_norm);
  s.add(R::kOutput, false);
  s.add(R::kRopeFreqs, false);
  return s.take();
}

std::vector<TensorSlot> block_tensors(const ArchSpec& arch, const HParams& hp, FusedTensors fused) {
  const bool layer_norm = arch.norm == NormKind::kLayer;
  const bool pre_norm = arch.placement != NormPlacement::kPost;
  const bool post_norm = arch.placement != NormPlacement::kPre;
  SlotList s(arch, hp);
  if (pre_norm) {
    s.add(R::kAttnNorm);
    s.add(R::kAttnNormBias, layer_norm);
  }
  if (fused.qkv) {
    s.add(R::kQkv);
  } else {
    s.add(R::kQ);
    s.add(R::kK);
    s.add(R::kV);
  }
  if (arch.sub_norms) s.add(R::kAttnSubNorm);
  s.add(R::kOut);
  if (fused.qkv) {
    s.add(R::kQkvBias, arch.qkv_bias);
  } else {
    s.add(R::kQBias, arch.qkv_bias);
    s.add(R::kKBias, arch.qkv_bias);
    s.add(R::kVBias, arch.qkv_bias);
  }
  s.add(R::kOutBias, arch.out_bias);
  if (arch.qk_norm != QkNorm::kNone) {
    s.add(R::kQNorm);
    s.add(R::kKNorm);
  }
  if (post_norm) s.add(R::kPostAttnNorm);
  if (pre_norm) {
    s.add(R::kFfnNorm);
    s.add(R::kFfnNormBias, layer_norm);
  }
  if (fused.experts) {
    add_experts(s, arch);
  } else {
    if (fused.gate_up) {
      s.add(R::kGateUp);
    } else {
      if (arch.gated_ffn) s.add(R::kGate);
      s.add(R::kUp);
    }
    if (arch.sub_norms) s.add(R::kFfnSubNorm);
    s.add(R::kDown);
    s.add(R::kUpBias, arch.ffn_bias);
    s.add(R::kDownBias, arch.ffn_bias);
  }
  if (post_norm) s.add(R::kPostFfnNorm);
  return s.take();
}

FusedTensors fused_tensors(const ArchSpec& arch, const std::function<bool(std::string_view name)>& has) {
  return {.qkv = has(kNames[static_cast<size_t>(R::kQkv)]),
          .gate_up = arch.gated_ffn && !has(kNames[static_cast<size_t>(R::kGate)]) &&
                     !has(kNames[static_cast<size_t>(R::kFfnGateInp)]),
          .experts = has(kNames[static_cast<size_t>(R::kFfnGateInp)])};
}

std::vector<uint64_t> tensor_shape(std::string_view name, const ArchSpec& arch, const HParams& hp, FusedTensors fused) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    const auto role = static_cast<R>(i);
    if (kNames[i] != name || role == (fused.gate_up ? R::kUp : R::kGateUp)) continue;
    return shape_of(role, arch, hp);
  }
  return {};
}

}  // namespace ternion
