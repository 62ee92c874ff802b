// A loaded model: its GGUF file (memory-mapped), hyper-parameters and views of every weight.
// Weights are used in place from the map; only small norm vectors in a non-F32 type are converted.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ternion/backend/matmul.h"
#include "ternion/backend/ops.h"
#include "ternion/io/gguf.h"
#include "ternion/model/architecture.h"
#include "ternion/model/hparams.h"

namespace ternion {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd]
  WeightMatrix wq;                   // rows q_dim  × cols n_embd
  WeightMatrix wk;                   // rows kv_dim × cols n_embd
  WeightMatrix wv;                   // rows kv_dim × cols n_embd
  WeightMatrix wo;                   // rows n_embd × cols q_dim
  const float* bq = nullptr;         // [q_dim] (qwen2), else null
  const float* bk = nullptr;         // [kv_dim]
  const float* bv = nullptr;         // [kv_dim]
  const float* ffn_norm = nullptr;   // [n_embd]
  WeightMatrix w_gate;               // rows n_ff × cols n_embd
  WeightMatrix w_up;                 // rows n_ff × cols n_embd
  WeightMatrix w_down;               // rows n_embd × cols n_ff
};

struct ModelWeights {
  WeightMatrix token_embd;             // rows n_vocab × cols n_embd (row = one token's embedding)
  const float* output_norm = nullptr;  // [n_embd]
  WeightMatrix output;                 // rows n_vocab × cols n_embd; the embedding itself when tied
  bool tied_output = false;
  std::vector<LayerWeights> layers;
};

class Model {
 public:
  // Opens, validates and maps `path`. Throws Error naming the file and the problem.
  static std::unique_ptr<Model> load(const std::string& path);

  const GgufFile& gguf() const { return file_; }
  const HParams& hparams() const { return hp_; }
  const ArchSpec& arch() const { return *arch_; }
  const ModelWeights& weights() const { return w_; }
  const RopeConfig& rope() const { return rope_; }
  size_t weight_bytes() const;  // bytes of all tensor data

 private:
  explicit Model(GgufFile file);
  void bind_weights();

  GgufFile file_;
  HParams hp_;
  const ArchSpec* arch_ = nullptr;
  ModelWeights w_;
  RopeConfig rope_;
  std::vector<std::vector<float>> converted_;  // norm/bias vectors stored in a non-F32 type
};

// Frequency divisors of llama-3 style RoPE scaling (what a GGUF's rope_freqs.weight holds).
std::vector<float> llama3_rope_freq_factors(int64_t n_rot, float freq_base, float factor, float low_freq_factor,
                                            float high_freq_factor, int64_t original_context);

}  // namespace ternion
