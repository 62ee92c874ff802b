#include "ternion/model/context.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ternion/backend/cuda_backend.h"
#include "ternion/core/error.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

}  // namespace

std::string context_device(const ContextOptions& options, int64_t n_layer) {
  if (!options.device.empty()) check_device_name(options.device);
  const int32_t ngl = options.n_gpu_layers;
  if (ngl < 0) {
    if (ngl != -1) throw Error("-ngl/--n-gpu-layers must be 0 or more, got " + std::to_string(ngl));
    return options.device.empty() ? "cpu" : options.device;
  }
  if (ngl == 0) return "cpu";
  if (ngl < n_layer) {
    throw Error("-ngl " + std::to_string(ngl) + ": this model has " + std::to_string(n_layer) +
                " layers, and running only some of them on the GPU (partial offload) is not built yet; give -ngl 0 "
                "(CPU) or -ngl " +
                std::to_string(n_layer) + " or more (all on the GPU)");
  }
  if (options.device == "cpu") {
    throw Error("-ngl " + std::to_string(ngl) + " puts layers on a GPU, but --device cpu was given");
  }
  return options.device.empty() ? "cuda" : options.device;  // -ngl alone, as llama.cpp users type it
}

InferenceContext::InferenceContext(const Model& model, const ContextOptions& options, ThreadPool& pool)
    : InferenceContext(model, options, make_backend(context_device(options, model.hparams().n_layer), pool), nullptr) {}

InferenceContext::InferenceContext(const Model& model, const ContextOptions& options, Backend& backend)
    : InferenceContext(model, options, nullptr, &backend) {}

InferenceContext::InferenceContext(const Model& model, const ContextOptions& options, std::unique_ptr<Backend> own,
                                   Backend* backend)
    : model_(model),
      hp_(model.hparams()),
      own_backend_(std::move(own)),
      backend_(backend != nullptr ? *backend : *own_backend_) {
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(hp_.n_ctx_train, ContextOptions::kDefaultCtxCap);
  if (options.n_ctx < 0) throw Error("context size must be positive, got " + std::to_string(options.n_ctx));
  if (n_ctx_ > (int64_t{1} << 24)) throw Error("context size " + std::to_string(n_ctx_) + " is too large");
  if (options.n_batch <= 0) throw Error("batch size must be positive");
  n_batch_ = std::min(options.n_batch, n_ctx_);
  logits_all_ = options.logits_all;
  if (options.n_seq <= 0 || options.n_seq > 4096) {
    throw Error("the number of sequences must be in [1, 4096], got " + std::to_string(options.n_seq));
  }
  slot_len_.assign(sz(options.n_seq), 0);
  seen_.assign(sz(options.n_seq), 0);
  RopeConfig rope = model.rope();
  rope.bf16_frequencies = options.rope_bf16_frequencies;
  rope_ = RopeTable(rope, n_ctx_);
  if (hp_.rope_freq_base_swa > 0.0f && hp_.rope_freq_base_swa != model.rope().freq_base) {
    // Plain RoPE at their own base: the model's scaling is the full layers' (Gemma 3).
    RopeConfig swa;
    swa.kind = model.rope().kind;
    swa.n_rot = model.rope().n_rot;
    swa.freq_base = hp_.rope_freq_base_swa;
    swa.bf16_frequencies = options.rope_bf16_frequencies;
    rope_swa_ = RopeTable(swa, n_ctx_);
  }
  const ArchSpec& arch = model.arch();
  if (arch.positions == PositionKind::kAlibi) alibi_ = alibi_slopes(hp_.n_head, arch.alibi_max_bias);

  KvCacheSpec spec;
  spec.type = options.kv_type;
  spec.n_seq = options.n_seq;
  spec.n_head_kv = hp_.n_head_kv;
  spec.head_dim = hp_.head_dim;
  spec.n_ctx = n_ctx_;
  spec.n_batch = n_batch_;
  spec.hugetlb = options.hugetlb;
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    spec.layer_window.push_back(hp_.swa_layers[sz(il)] ? hp_.sliding_window : 0);
  }
  kv_ = backend_.make_kv_cache(spec);

  const size_t b = sz(n_batch_);
  x_ = backend_.alloc(b * sz(hp_.n_embd));
  xn_ = backend_.alloc(b * sz(std::max(hp_.n_embd, hp_.q_dim())));
  tmp_ = backend_.alloc(b * sz(hp_.n_embd));
  ffn_out_ = backend_.alloc(b * sz(hp_.n_embd));
  q_ = backend_.alloc(b * sz(hp_.q_dim()));
  att_ = backend_.alloc(b * sz(hp_.q_dim()));
  k_ = backend_.alloc(b * sz(hp_.kv_dim()));
  v_ = backend_.alloc(b * sz(hp_.kv_dim()));
  const int64_t ff = std::max(hp_.n_ff, hp_.n_ff_shexp);
  gate_ = backend_.alloc(b * sz(ff));
  up_ = backend_.alloc(b * sz(ff));
  if (hp_.n_expert > 0) {
    router_ = backend_.alloc(b * sz(hp_.n_expert));
    shexp_out_ = backend_.alloc(b * sz(hp_.n_embd));
    shexp_gate_ = backend_.alloc(b);
  }
  tokens_.resize(b);
  slots_.resize(b);
  positions_.resize(b);
  out_rows_.reserve(b);
  const size_t logit_rows = std::max(logits_all_ ? b : 1, sz(options.n_seq));
  logits_.resize(logit_rows * sz(hp_.n_vocab));
  logits_out_ = backend_.alloc(logit_rows * sz(hp_.n_vocab));

  auto reserve = [&](std::initializer_list<const WeightMatrix*> ws) {
    backend_.reserve_matmul(std::span<const WeightMatrix* const>(ws.begin(), ws.size()), n_batch_);
  };
  const ModelWeights& w = model.weights();
  reserve({&w.output});
  for (const auto& l : w.layers) {
    reserve({&l.wq, &l.wk, &l.wv});
    reserve({&l.wo});
    if (l.has_experts()) {
      reserve({&l.ffn_gate_inp});
      backend_.reserve_moe(l.experts(arch.activation), hp_.n_expert_used, n_batch_);
      if (l.w_up_shexp.data == nullptr) continue;
      reserve({&l.w_gate_shexp, &l.w_up_shexp});
      reserve({&l.w_down_shexp});
      reserve({&l.gate_inp_shexp});
      continue;
    }
    if (l.w_gate.data != nullptr) reserve({&l.w_gate, &l.w_up});
    reserve({&l.w_up});
    reserve({&l.w_down});
  }
  if (!options.lora.empty()) {
    lora_ = LoraBinding(model, options.lora);
    backend_.reserve_low_rank(lora_.max_rank(), lora_.max_rows(), std::max(n_batch_, static_cast<int64_t>(logit_rows)));
  }
  int64_t max_capacity = 0;
  for (int64_t il = 0; il < hp_.n_layer; ++il) max_capacity = std::max(max_capacity, kv_->capacity(il));
  backend_.reserve_attention(hp_.n_head, max_capacity, hp_.head_dim, spec.type);
}

void InferenceContext::clear() {
  std::fill(slot_len_.begin(), slot_len_.end(), 0);
  for (int32_t s = 0; s < static_cast<int32_t>(slot_len_.size()); ++s) kv_->clear(s);
}

void InferenceContext::clear_slot(int32_t slot) {
  slot_len_.at(sz(slot)) = 0;
  kv_->clear(slot);
}

bool InferenceContext::can_start_at(int32_t slot, int64_t pos) const {
  return pos >= 0 && pos <= slot_len_.at(sz(slot)) && kv_->can_start_at(slot, pos);
}

void InferenceContext::check_start(int32_t slot, int64_t pos) const {
  if (!kv_->can_start_at(slot, pos)) {
    throw Error("slot " + std::to_string(slot) + ": the sliding-window layers no longer hold the keys position " +
                std::to_string(pos) + " reads; a run can start at 0 or at " + std::to_string(slot_len_[sz(slot)]));
  }
}

std::span<const float> InferenceContext::decode(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw Error("decode: no tokens given");
  if (all_logits && (!logits_all_ || n > n_batch_)) {
    throw Error("decode: logits of every token need logits_all and at most n_batch (" + std::to_string(n_batch_) +
                ") tokens");
  }
  const int64_t n_past = slot_len_[0];
  if (n_past + n > n_ctx_) {
    throw Error("context overflow: " + std::to_string(n_past) + " tokens in the cache plus " + std::to_string(n) +
                " new ones exceed the context size " + std::to_string(n_ctx_));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= hp_.n_vocab) {
      throw Error("decode: token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(hp_.n_vocab - 1) + ")");
    }
  }
  for (int64_t start = 0; start < n; start += n_batch_) {
    const int64_t len = std::min(n_batch_, n - start);
    const bool last_chunk = start + len == n;
    for (int64_t t = 0; t < len; ++t) {
      tokens_[sz(t)] = tokens[sz(start + t)];
      slots_[sz(t)] = 0;
      positions_[sz(t)] = static_cast<int32_t>(slot_len_[0] + t);
    }
    out_rows_.clear();
    if (last_chunk) {
      for (int64_t t = all_logits ? 0 : len - 1; t < len; ++t) out_rows_.push_back(t);
    }
    run_staged(len, last_chunk ? logits_.data() : nullptr);
    slot_len_[0] += len;
  }
  const size_t rows = all_logits ? tokens.size() : 1;
  return {logits_.data(), rows * sz(hp_.n_vocab)};
}

std::span<const float> InferenceContext::decode_batch(std::span<const BatchToken> batch) {
  const int64_t n = static_cast<int64_t>(batch.size());
  if (n == 0) throw Error("decode_batch: no tokens given");
  if (n > n_batch_) {
    throw Error("decode_batch: " + std::to_string(n) + " tokens exceed the batch size " + std::to_string(n_batch_));
  }
  const size_t max_rows = logits_.size() / sz(hp_.n_vocab);
  // Everything is checked before anything runs, so a bad batch leaves the cache as it was.
  std::fill(seen_.begin(), seen_.end(), uint8_t{0});
  out_rows_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& b = batch[sz(t)];
    if (b.token < 0 || b.token >= hp_.n_vocab) {
      throw Error("decode_batch: token id " + std::to_string(b.token) + " is outside the vocabulary (0.." +
                  std::to_string(hp_.n_vocab - 1) + ")");
    }
    if (b.slot < 0 || b.slot >= n_seq()) {
      throw Error("decode_batch: slot " + std::to_string(b.slot) + " is outside [0, " + std::to_string(n_seq()) + ")");
    }
    const bool continues = t > 0 && batch[sz(t - 1)].slot == b.slot;
    if (continues && b.pos != batch[sz(t - 1)].pos + 1) {
      throw Error("decode_batch: slot " + std::to_string(b.slot) + "'s tokens are not in consecutive positions");
    }
    if (!continues) {
      if (seen_[sz(b.slot)] != 0)
        throw Error("decode_batch: slot " + std::to_string(b.slot) + "'s tokens are not adjacent");
      seen_[sz(b.slot)] = 1;
      if (b.pos < 0 || b.pos > slot_len_[sz(b.slot)]) {
        throw Error("decode_batch: slot " + std::to_string(b.slot) + " holds " + std::to_string(slot_len_[sz(b.slot)]) +
                    " positions; a run cannot start at " + std::to_string(b.pos));
      }
      check_start(b.slot, b.pos);
    }
    if (b.pos >= n_ctx_) {
      throw Error("context overflow: position " + std::to_string(b.pos) + " of slot " + std::to_string(b.slot) +
                  " is beyond the context size " + std::to_string(n_ctx_));
    }
    if (b.logits) out_rows_.push_back(t);
    tokens_[sz(t)] = b.token;
    slots_[sz(t)] = b.slot;
    positions_[sz(t)] = static_cast<int32_t>(b.pos);
  }
  if (out_rows_.size() > max_rows) {
    throw Error("decode_batch: logits of " + std::to_string(out_rows_.size()) + " tokens asked, at most " +
                std::to_string(max_rows));
  }
  run_staged(n, out_rows_.empty() ? nullptr : logits_.data());
  for (int64_t t = 0; t < n; ++t) slot_len_[sz(slots_[sz(t)])] = positions_[sz(t)] + 1;
  return {logits_.data(), out_rows_.size() * sz(hp_.n_vocab)};
}

void InferenceContext::norm(Tensor x, const float* w, const float* b, Tensor y) {
  if (model_.arch().norm == NormKind::kLayer) {
    backend_.layer_norm(x, w, b, hp_.norm_eps, y);
  } else {
    backend_.rms_norm(x, w, hp_.rms_eps, y);
  }
}

void InferenceContext::run_staged(int64_t n, float* logits_out) {
  const int64_t d = hp_.n_embd;
  const ArchSpec& arch = model_.arch();
  const ModelWeights& w = model_.weights();
  const Tensor x = act(x_, n, d);
  backend_.get_rows(w.token_embd, std::span<const int32_t>(tokens_.data(), sz(n)), x);
  if (arch.embd_scale_sqrt) backend_.scale(x, std::sqrt(static_cast<float>(d)));
  if (hp_.embd_scale != 1.0f) backend_.scale(x, hp_.embd_scale);
  if (w.token_embd_norm != nullptr) norm(x, w.token_embd_norm, w.token_embd_norm_b, x);
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& l = w.layers[sz(il)];
    row_slots_ = std::span<const int32_t>(slots_.data(), sz(n));
    attention_block(l, il, n);
    ffn_block(l, n, il + 1 < hp_.n_layer ? &w.layers[sz(il + 1)].wq : &w.output);
  }
  if (logits_out == nullptr) return;
  // Only the rows whose logits are wanted go through the output norm and projection.
  const int64_t rows = static_cast<int64_t>(out_rows_.size());
  const Tensor xn = act(xn_, rows, d);
  for (int64_t r = 0; r < rows; ++r)
    norm(x.rows_at(out_rows_[sz(r)], 1), w.output_norm, w.output_norm_b, xn.rows_at(r, 1));
  const Tensor logits = act(logits_out_, rows, hp_.n_vocab);
  backend_.matmul(w.output, xn, logits);
  out_slots_.resize(sz(rows));
  for (int64_t r = 0; r < rows; ++r) out_slots_[sz(r)] = slots_[sz(out_rows_[sz(r)])];
  row_slots_ = out_slots_;
  adapt(w.output, xn, logits);
  if (hp_.logit_scale != 1.0f) backend_.scale(logits, 1.0f / hp_.logit_scale);
  if (hp_.final_softcap > 0.0f) backend_.softcap(logits, hp_.final_softcap);
  backend_.read(logits, logits_out);
}

void InferenceContext::set_lora_scales(int32_t slot, std::vector<float> scales) {
  if (slot < 0 || slot >= n_seq()) throw Error("set_lora_scales: slot " + std::to_string(slot) + " out of range");
  if (!scales.empty() && scales.size() != lora_.n_uses()) {
    throw Error("set_lora_scales: " + std::to_string(scales.size()) + " scales given for " +
                std::to_string(lora_.n_uses()) + " adapters");
  }
  if (slot_lora_scales_.empty()) slot_lora_scales_.resize(sz(n_seq()));
  slot_lora_scales_[sz(slot)] = std::move(scales);
  any_slot_scales_ = false;
  for (const auto& v : slot_lora_scales_) any_slot_scales_ = any_slot_scales_ || !v.empty();
}

void InferenceContext::adapt_per_slot(const WeightMatrix& w, std::span<const LowRankTerm> terms, Tensor x, Tensor y) {
  const std::span<const LoraBinding::TermSource> sources = lora_.sources(w);
  for (int64_t r0 = 0; r0 < x.rows;) {
    const int32_t slot = row_slots_[sz(r0)];
    int64_t r1 = r0 + 1;
    while (r1 < x.rows && row_slots_[sz(r1)] == slot) ++r1;
    const std::vector<float>& scales = slot_lora_scales_[sz(slot)];
    scaled_terms_.clear();
    for (size_t i = 0; i < terms.size(); ++i) {
      LowRankTerm t = terms[i];
      if (!scales.empty()) t.scale = sources[i].unit_scale * scales[sz(sources[i].use)];
      if (t.scale != 0.0f) scaled_terms_.push_back(t);  // a zero scale leaves y as the base wrote it
    }
    if (!scaled_terms_.empty()) backend_.add_low_rank(scaled_terms_, x.rows_at(r0, r1 - r0), y.rows_at(r0, r1 - r0));
    r0 = r1;
  }
}

void InferenceContext::attention_block(const LayerWeights& l, int64_t il, int64_t n) {
  const int64_t d = hp_.n_embd;
  const int64_t qd = hp_.q_dim();
  const int64_t kvd = hp_.kv_dim();
  const int64_t hd = hp_.head_dim;
  const ArchSpec& arch = model_.arch();
  const Tensor x = act(x_, n, d);
  const Tensor q = act(q_, n, qd);
  const Tensor k = act(k_, n, kvd);
  const Tensor v = act(v_, n, kvd);
  // Post-norm blocks (OLMo 2) feed the residual stream itself to the projections.
  Tensor in = x;
  if (l.attn_norm != nullptr) {
    in = act(xn_, n, d);
    norm(x, l.attn_norm, l.attn_norm_b, in);
  }
  const MatmulTarget qkv[] = {{&l.wq, q}, {&l.wk, k}, {&l.wv, v}};
  backend_.matmul_many(qkv, in, &l.wo);
  for (const MatmulTarget& p : qkv) adapt(*p.w, in, p.y);
  if (l.bq != nullptr) backend_.add_row(q, l.bq);
  if (l.bk != nullptr) backend_.add_row(k, l.bk);
  if (l.bv != nullptr) backend_.add_row(v, l.bv);
  if (arch.qk_norm == QkNorm::kPerHead) {
    backend_.rms_norm(q.split_rows(hd), l.q_norm, hp_.rms_eps, q.split_rows(hd));
    backend_.rms_norm(k.split_rows(hd), l.k_norm, hp_.rms_eps, k.split_rows(hd));
  } else if (arch.qk_norm == QkNorm::kWhole) {
    backend_.rms_norm(q, l.q_norm, hp_.rms_eps, q);
    backend_.rms_norm(k, l.k_norm, hp_.rms_eps, k);
  }
  const bool sliding = hp_.swa_layers[sz(il)];
  const std::span<const int32_t> positions(positions_.data(), sz(n));
  if (hp_.rope_layers[sz(il)]) {
    const RopeTable& rope = sliding && rope_swa_.n_positions() > 0 ? rope_swa_ : rope_;
    backend_.rope(rope, q, hp_.n_head, hd, positions);
    backend_.rope(rope, k, hp_.n_head_kv, hd, positions);
  }
  backend_.store_kv(*kv_, il, k, v, std::span<const int32_t>(slots_.data(), sz(n)), positions);

  AttentionOptions options;
  options.scale = hp_.attn_scale > 0.0f ? hp_.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  options.window = sliding ? hp_.sliding_window : 0;
  options.softcap = hp_.attn_softcap;
  options.alibi = alibi_.empty() ? nullptr : alibi_.data();
  const Tensor att = act(att_, n, qd);
  // One attention call per run of a slot's tokens, over that slot's cache.
  for (int64_t t0 = 0; t0 < n;) {
    const int32_t slot = slots_[sz(t0)];
    int64_t t1 = t0 + 1;
    while (t1 < n && slots_[sz(t1)] == slot) ++t1;
    backend_.attention(*kv_, il, slot, q.rows_at(t0, t1 - t0), hp_.n_head, positions.subspan(sz(t0), sz(t1 - t0)),
                       options, att.rows_at(t0, t1 - t0));
    t0 = t1;
  }

  if (l.attn_sub_norm != nullptr) backend_.rms_norm(att, l.attn_sub_norm, hp_.rms_eps, att);
  const Tensor out = act(tmp_, n, d);
  const WeightMatrix* ffn_first = l.has_experts() ? &l.ffn_gate_inp : l.w_gate.data != nullptr ? &l.w_gate : &l.w_up;
  backend_.matmul(l.wo, att, out, ffn_first);
  adapt(l.wo, att, out);
  finish_branch(out, l.bo, l.post_attn_norm);
  // With a parallel residual the FFN reads the block's input too: the attention's output is added after it.
  if (!hp_.parallel_residual) backend_.add(x, out);
}

// A branch's output before it joins the residual stream: its bias, its post-norm (OLMo 2, Gemma 2/3) and the
// residual multiplier (Granite).
void InferenceContext::finish_branch(Tensor y, const float* bias, const float* post_norm) {
  if (bias != nullptr) backend_.add_row(y, bias);
  if (post_norm != nullptr) backend_.rms_norm(y, post_norm, hp_.rms_eps, y);
  if (hp_.residual_scale != 1.0f) backend_.scale(y, hp_.residual_scale);
}

void InferenceContext::ffn_block(const LayerWeights& l, int64_t n, const WeightMatrix* next) {
  const int64_t d = hp_.n_embd;
  const Tensor x = act(x_, n, d);
  Tensor in = x;
  if (l.ffn_norm != nullptr) {
    in = act(xn_, n, d);
    norm(x, l.ffn_norm, l.ffn_norm_b, in);
  }
  const Tensor out = act(ffn_out_, n, d);
  if (l.has_experts()) {
    moe_block(l, in, out);
  } else {
    dense_ffn({l.w_gate, l.w_up, l.w_down, l.b_up, l.ffn_sub_norm}, in, out, next);
  }
  finish_branch(out, l.b_down, l.post_ffn_norm);
  if (hp_.parallel_residual) backend_.add(out, act(tmp_, n, d));
  backend_.add(x, out);
}

void InferenceContext::dense_ffn(const DenseFfn& f, Tensor in, Tensor out, const WeightMatrix* next) {
  const WeightMatrix& w_gate = f.gate;
  const WeightMatrix& w_up = f.up;
  const WeightMatrix& w_down = f.down;
  const int64_t n = in.rows;
  const Activation activation = model_.arch().activation;
  const Tensor gate = act(gate_, n, w_up.rows);
  if (w_gate.data != nullptr) {
    const Tensor up = act(up_, n, w_up.rows);
    const MatmulTarget gate_up[] = {{&w_gate, gate}, {&w_up, up}};
    backend_.matmul_many(gate_up, in, &w_down);
    for (const MatmulTarget& p : gate_up) adapt(*p.w, in, p.y);
    backend_.gated_activation(activation, gate, up, gate);
  } else {
    backend_.matmul(w_up, in, gate, &w_down);
    adapt(w_up, in, gate);
    if (f.b_up != nullptr) backend_.add_row(gate, f.b_up);
    backend_.activate(activation, gate);
  }
  if (f.sub_norm != nullptr) backend_.rms_norm(gate, f.sub_norm, hp_.rms_eps, gate);
  backend_.matmul(w_down, gate, out, next);
  adapt(w_down, gate, out);
}

// The router's logits, then the experts they choose (one backend op); Qwen2-MoE adds a shared expert weighed by
// σ(its gate's logit), after the routed experts' sum as llama.cpp adds it.
void InferenceContext::moe_block(const LayerWeights& l, Tensor in, Tensor out) {
  const int64_t n = in.rows;
  const Tensor logits = act(router_, n, hp_.n_expert);
  backend_.matmul(l.ffn_gate_inp, in, logits);
  const MoeRouting routing{
      .n_used = hp_.n_expert_used, .gating = model_.arch().moe_gating, .normalize = hp_.expert_weights_norm};
  backend_.moe_ffn(l.experts(model_.arch().activation), routing, in, logits, out);
  if (l.w_up_shexp.data == nullptr) return;
  const Tensor shared = act(shexp_out_, n, hp_.n_embd);
  dense_ffn({l.w_gate_shexp, l.w_up_shexp, l.w_down_shexp, nullptr, nullptr}, in, shared, nullptr);
  const Tensor gate = act(shexp_gate_, n, 1);
  backend_.matmul(l.gate_inp_shexp, in, gate);
  backend_.sigmoid_gate(shared, gate);
  backend_.add(out, shared);
}

}  // namespace ternion
