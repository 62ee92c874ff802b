#include "ternion/engine/imatrix_collector.h"

#include <cmath>

#include "ternion/core/error.h"
#include "ternion/model/block_tensors.h"

namespace ternion {

namespace {

// llama-imatrix ignores matmuls of fewer tokens (single-token decodes and short tails).
constexpr int64_t kMinTokens = 16;

// Detaches the collector however the pass ends.
class ObserverScope {
 public:
  ObserverScope(Backend& b, MatmulObserver* o) : b_(b) { b_.set_matmul_observer(o); }
  ~ObserverScope() { b_.set_matmul_observer(nullptr); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  Backend& b_;
};

}  // namespace

ImatrixCollector::ImatrixCollector(const Model& model, Backend& backend, bool process_output) : backend_(backend) {
  const ModelWeights& w = model.weights();
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    const FusedTensors fused =
        fused_tensors(model.arch(), [&](std::string_view name) { return model.has_tensor(p + std::string(name)); });
    const auto add = [&](const WeightMatrix& m, const std::string& name, bool counts) {
      if (m.data != nullptr || m.interleaved != nullptr) targets_[&m] = {p + name, counts};
    };
    if (fused.qkv) {
      add(l.wq, "attn_qkv.weight", true);
      add(l.wk, "attn_qkv.weight", false);
      add(l.wv, "attn_qkv.weight", false);
    } else {
      add(l.wq, "attn_q.weight", true);
      add(l.wk, "attn_k.weight", true);
      add(l.wv, "attn_v.weight", true);
    }
    add(l.wo, "attn_output.weight", true);
    if (fused.gate_up) {
      add(l.w_gate, "ffn_up.weight", true);
      add(l.w_up, "ffn_up.weight", false);
    } else {
      add(l.w_gate, "ffn_gate.weight", true);
      add(l.w_up, "ffn_up.weight", true);
    }
    add(l.w_down, "ffn_down.weight", true);
  }
  if (process_output) targets_[&w.output] = {"output.weight", true};
}

void ImatrixCollector::observe(const WeightMatrix& w, Tensor x) {
  const auto it = targets_.find(&w);
  if (it == targets_.end() || !it->second.counts || x.rows < kMinTokens) return;
  ImatrixEntry& e = im_.entries[it->second.name];
  if (e.counts.empty()) {
    e.sums.assign(static_cast<size_t>(x.cols), 0.0f);
    e.counts.assign(1, 0.0f);
  } else if (e.cols() != x.cols) {
    throw Error("imatrix: " + it->second.name + " met inputs of " + std::to_string(x.cols) + " and " +
                std::to_string(e.cols()) + " columns");
  }
  host_.resize(static_cast<size_t>(x.size()));
  backend_.read(x, host_.data());
  // Summed in float, token by token, as llama-imatrix sums.
  for (int64_t t = 0; t < x.rows; ++t) {
    const float* row = host_.data() + t * x.cols;
    for (int64_t j = 0; j < x.cols; ++j) e.sums[static_cast<size_t>(j)] += row[j] * row[j];
  }
  for (float v : e.sums) {
    if (!std::isfinite(v)) throw Error("imatrix: a non-finite activation in the input of " + it->second.name);
  }
  e.counts[0] += static_cast<float>(x.rows);
  ++e.calls;
}

ImatrixResult compute_imatrix(Generator& gen, const Model& model, std::string_view text, const ImatrixOptions& options,
                              const std::function<void(int64_t chunk, double running_ppl)>& on_chunk) {
  ImatrixCollector collector(model, gen.context().backend(), options.process_output);
  ImatrixResult r;
  {
    const ObserverScope scope(gen.context().backend(), &collector);
    r.perplexity = perplexity(gen, text, options.n_ctx, options.max_chunks, on_chunk);
  }
  r.imatrix = std::move(collector.imatrix());
  r.imatrix.chunk_count = r.perplexity.n_chunks;
  r.imatrix.chunk_size = options.n_ctx;
  if (!options.dataset.empty()) r.imatrix.datasets.push_back(options.dataset);
  return r;
}

}  // namespace ternion
