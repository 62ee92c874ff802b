// LoRA adapters in llama.cpp's GGUF form: general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per
// adapted matrix W (a base tensor, e.g. "blk.0.attn_q.weight") the tensors "<W>.lora_a" (A: ne [W.cols, rank]) and
// "<W>.lora_b" (B: ne [rank, W.rows]). Applied, y = W x + s · B (A x) with s = scale · alpha / rank (scale alone when
// alpha is 0), as llama.cpp computes it. The base weights are never changed: the forward pass asks the backend for
// the low-rank terms after each matmul (Backend::add_low_rank), and export merges them into a new file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ternion/backend/backend.h"
#include "ternion/model/model.h"

namespace ternion {

// One adapted matrix of the base model.
struct LoraMatrix {
  std::string name;  // the base tensor's GGUF name
  int64_t rank = 0;
  int64_t rows = 0;      // the base matrix's rows (B's)
  int64_t cols = 0;      // the base matrix's row length (A's)
  std::vector<float> a;  // [rank][cols]
  std::vector<float> b;  // [rows][rank]
};

class LoraAdapter {
 public:
  // Reads `path` and checks it against `model`: an adapter file, for the model's architecture, every tensor an
  // A/B pair of a matrix the model multiplies by, with matching shapes. Throws Error naming the file and problem.
  static std::shared_ptr<const LoraAdapter> load(const std::string& path, const Model& model);

  const std::string& path() const { return path_; }
  float alpha() const { return alpha_; }
  const std::vector<LoraMatrix>& matrices() const { return matrices_; }
  // The factor of B (A x) at a user scale: scale · alpha / rank, or scale when alpha is 0 (llama.cpp's rule).
  float effective_scale(const LoraMatrix& m, float scale) const {
    return alpha_ != 0.0f ? scale * alpha_ / static_cast<float>(m.rank) : scale;
  }

 private:
  std::string path_;
  float alpha_ = 0.0f;
  std::vector<LoraMatrix> matrices_;
};

// An adapter applied at a scale (--lora FILE is scale 1, --lora-scaled FILE S).
struct LoraUse {
  std::shared_ptr<const LoraAdapter> adapter;
  float scale = 1.0f;
};

// Loads each (path, scale) against `model`.
std::vector<LoraUse> load_lora_adapters(std::span<const std::pair<std::string, float>> files, const Model& model);

// Adapters bound to one model's matrices: the low-rank terms each WeightMatrix of its weights gets, in the order
// of the uses. A fused base tensor (attn_qkv, Phi-3's gate+up) is split like its matrices, by rows of B.
class LoraBinding {
 public:
  LoraBinding() = default;
  LoraBinding(const Model& model, std::span<const LoraUse> uses);
  LoraBinding(const LoraBinding&) = delete;
  LoraBinding& operator=(const LoraBinding&) = delete;
  LoraBinding(LoraBinding&&) = default;
  LoraBinding& operator=(LoraBinding&&) = default;

  bool empty() const { return terms_.empty(); }
  std::span<const LowRankTerm> terms(const WeightMatrix& w) const {
    const auto it = terms_.find(&w);
    return it == terms_.end() ? std::span<const LowRankTerm>{} : std::span<const LowRankTerm>(it->second);
  }
  int64_t max_rank() const { return max_rank_; }
  int64_t max_rows() const { return max_rows_; }
  size_t n_uses() const { return uses_.size(); }

  // Where each of terms(w) comes from: its use and its scale at use scale 1 (a term's scale is linear in its use's
  // scale), so a sequence may run the same adapters at scales of its own.
  struct TermSource {
    int32_t use = 0;
    float unit_scale = 0.0f;
  };
  std::span<const TermSource> sources(const WeightMatrix& w) const {
    const auto it = sources_.find(&w);
    return it == sources_.end() ? std::span<const TermSource>{} : std::span<const TermSource>(it->second);
  }

 private:
  std::vector<LoraUse> uses_;                         // keeps the adapters alive
  std::vector<std::unique_ptr<WeightMatrix>> views_;  // A and B as matrices (stable addresses)
  std::unordered_map<const WeightMatrix*, std::vector<LowRankTerm>> terms_;
  std::unordered_map<const WeightMatrix*, std::vector<TermSource>> sources_;  // parallel to terms_
  int64_t max_rank_ = 0;
  int64_t max_rows_ = 0;
};

// w (rows × cols F32, the base tensor `name`) += s · B A for every use adapting that tensor, summed in use order.
// Returns whether any did.
bool merge_lora(std::string_view name, std::span<const LoraUse> uses, float* w, int64_t rows, int64_t cols);

struct ExportLoraReport {
  size_t n_tensors = 0;  // written
  size_t n_merged = 0;   // of them, with adapters merged in
};

// Writes `output`: the GGUF `base` with the adapters (path, scale) merged into its matrices, W + Σ s · B A computed
// in F32 and stored in `type` when given (a type with a quantizer), else in the base tensor's type when that is
// F32, F16 or BF16, else F16 (a quantized base is dequantized first). Every other tensor and key is copied as it
// is. Through OutputFile: complete or not at all, never over an input. Throws Error for an adapter that does not fit
// the base (as LoraAdapter::load) or adapts a tensor the file does not hold.
ExportLoraReport export_lora(const std::string& base, std::span<const std::pair<std::string, float>> adapters,
                             const std::string& output, std::optional<DType> type = std::nullopt);

}  // namespace ternion
