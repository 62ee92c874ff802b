// A loaded model: its GGUF file (memory-mapped) or a ModelSource (a HuggingFace folder, described by convert/),
// hyper-parameters and views of every weight. Weights are used in place from the map; only small norm vectors in a
// non-F32 type (and tensors a safetensors file stores misaligned) are converted. To open a path that may be either,
// use load_model (ternion/convert/load_model.h).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ternion/backend/matmul.h"
#include "ternion/backend/moe.h"
#include "ternion/backend/ops.h"
#include "ternion/core/page_memory.h"
#include "ternion/io/gguf.h"
#include "ternion/model/architecture.h"
#include "ternion/model/hparams.h"
#include "ternion/model/model_source.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

// A layer's weights as the architecture record asks for them; absent ones are null (vectors) or empty (matrices).
// Fused GGUF tensors (attn_qkv, Phi-3's gate+up in ffn_up) are bound as row views, one matrix per projection.
struct LayerWeights {
  const float* attn_norm = nullptr;       // [n_embd]; absent for post-norm blocks (OLMo 2)
  const float* attn_norm_b = nullptr;     // [n_embd] (LayerNorm)
  WeightMatrix wq{};                      // rows q_dim  × cols n_embd
  WeightMatrix wk{};                      // rows kv_dim × cols n_embd
  WeightMatrix wv{};                      // rows kv_dim × cols n_embd
  WeightMatrix wo{};                      // rows n_embd × cols q_dim
  const float* attn_sub_norm = nullptr;   // [q_dim] the attention's output before wo (BitNet)
  const float* ffn_sub_norm = nullptr;    // [n_ff] the gated hidden state before w_down (BitNet)
  const float* bq = nullptr;              // [q_dim] (qwen2, starcoder2, ...), else null
  const float* bk = nullptr;              // [kv_dim]
  const float* bv = nullptr;              // [kv_dim]
  const float* bo = nullptr;              // [n_embd]
  const float* q_norm = nullptr;          // [head_dim] per head, or [q_dim] over the whole projection
  const float* k_norm = nullptr;          // [head_dim] or [kv_dim]
  const float* post_attn_norm = nullptr;  // [n_embd] (OLMo 2, Gemma 2/3)
  const float* ffn_norm = nullptr;        // [n_embd]
  const float* ffn_norm_b = nullptr;      // [n_embd]
  WeightMatrix w_gate{};                  // rows n_ff × cols n_embd (gated FFNs)
  WeightMatrix w_up{};                    // rows n_ff × cols n_embd
  WeightMatrix w_down{};                  // rows n_embd × cols n_ff
  const float* b_up = nullptr;            // [n_ff]
  const float* b_down = nullptr;          // [n_embd]
  const float* post_ffn_norm = nullptr;   // [n_embd]
  // A mixture-of-experts layer (router present) instead of w_gate/w_up/w_down.
  WeightMatrix ffn_gate_inp{};          // rows n_expert × cols n_embd: the router
  std::vector<WeightMatrix> gate_exps;  // [n_expert] views of ffn_gate_exps: rows n_ff_exp × cols n_embd
  std::vector<WeightMatrix> up_exps;    // [n_expert] likewise
  std::vector<WeightMatrix> down_exps;  // [n_expert] rows n_embd × cols n_ff_exp
  WeightMatrix gate_inp_shexp{};        // rows 1 × cols n_embd (F32): the shared expert's gate (Qwen2-MoE)
  WeightMatrix w_gate_shexp{};          // rows n_ff_shexp × cols n_embd
  WeightMatrix w_up_shexp{};            // rows n_ff_shexp × cols n_embd
  WeightMatrix w_down_shexp{};          // rows n_embd × cols n_ff_shexp

  bool has_experts() const { return ffn_gate_inp.data != nullptr; }
  MoeExperts experts(Activation act) const { return {gate_exps, up_exps, down_exps, act}; }
};

struct ModelWeights {
  WeightMatrix token_embd{};               // rows n_vocab × cols n_embd (row = one token's embedding)
  const float* token_embd_norm = nullptr;  // [n_embd] (BLOOM)
  const float* token_embd_norm_b = nullptr;
  const float* output_norm = nullptr;    // [n_embd]
  const float* output_norm_b = nullptr;  // [n_embd] (LayerNorm)
  WeightMatrix output{};                 // rows n_vocab × cols n_embd; the embedding itself when tied
  bool tied_output = false;
  std::vector<LayerWeights> layers;
};

// Where Model::from_gguf and Model::from_source put the weights.
struct LoadOptions {
  bool resident = true;  // copy (and pack) into this process's memory; false: use them in place from the map
  bool hugetlb = false;  // that memory from the reserved huge pages
};

// Called as the resident copy of the weights is made: bytes done and in all (a progress bar; not called when the
// weights are used in place).
using LoadProgress = std::function<void(uint64_t done, uint64_t total)>;

class Model {
 public:
  // Opens, validates and maps a GGUF file. Throws Error naming the file and the problem.
  // With `options.resident` (the default), the weights the forward pass reads are copied into this process's memory at
  // load, matrices of a type that has interleaved kernels on this CPU (ternion/quant/interleave.h) in that layout
  // (same results, faster matmuls), and the file's pages are released: reads per token never wait on the page
  // cache, and the resident size stays about the file's. Without it, weights are used in place from the map.
  // With `hugetlb`, that memory comes from the reserved huge pages (ternion/core/page_memory.h): Error when the pool
  // is too small.
  static std::unique_ptr<Model> from_gguf(const std::string& path, const LoadOptions& options = {},
                                          const LoadProgress& progress = {});
  // A model whose weights stay where `source` has them (a checkpoint folder's maps, a converter's buffers); with
  // `resident`, only the matrices that have interleaved kernels are packed into memory.
  static std::unique_ptr<Model> from_source(ModelSource source, const LoadOptions& options = {},
                                            const LoadProgress& progress = {});

  // The GGUF metadata; for a folder, the metadata its conversion would have (and no tensors).
  const GgufFile& gguf() const { return file_; }
  const std::string& path() const { return file_.path(); }
  const HParams& hparams() const { return hp_; }
  const ArchSpec& arch() const { return *arch_; }
  const ModelWeights& weights() const { return w_; }
  const RopeConfig& rope() const { return rope_; }
  // Whether the file (or the folder's conversion) has a tensor of this GGUF name.
  bool has_tensor(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }
  size_t weight_bytes() const;       // bytes of all tensor data
  uint64_t n_params() const;         // elements of all tensors
  uint64_t n_active_params() const;  // elements a token reads: all but the experts its router does not choose

  // The tokenizer's vocabulary: the folder's tokenizer, or the GGUF's tokenizer.ggml.* keys (Error when the file has
  // none). A folder's generation_config.json end tokens are added to the end-of-generation ids.
  Vocab vocab() const;
  // Sampling a folder's generation_config.json recommends; empty for GGUF files.
  const GenerationDefaults& generation_defaults() const { return generation_; }

 private:
  // A tensor as the binder sees it, wherever its bytes are.
  struct TensorView {
    std::vector<uint64_t> shape;  // GGUF order
    DType type = DType::F32;
    const uint8_t* data = nullptr;
    uint64_t n_bytes = 0;
    uint64_t n_elements = 0;
  };

  explicit Model(GgufFile file);
  void bind_weights();
  void set_hparams(bool rotate_half);
  void make_resident(bool copy_all, bool hugetlb, const LoadProgress& progress);

  GgufFile file_;
  HParams hp_;
  const ArchSpec* arch_ = nullptr;
  ModelWeights w_;
  RopeConfig rope_;
  std::map<std::string, TensorView, std::less<>> tensors_;
  std::vector<std::vector<float>> converted_;                   // norm/bias vectors stored in a non-F32 type
  std::vector<std::vector<uint8_t>> copied_;                    // tensors a source stores misaligned
  std::vector<PageMemory> resident_;                            // weights copied or packed at load
  std::shared_ptr<const std::vector<uint8_t>> metadata_bytes_;  // what file_ parsed, for a ModelSource
  std::optional<ModelSource> source_;                           // keeps its maps alive; its vocabulary
  GenerationDefaults generation_;
};

// Frequency divisors of llama-3 style RoPE scaling (what a GGUF's rope_freqs.weight holds).
std::vector<float> llama3_rope_freq_factors(int64_t n_rot, float freq_base, float factor, float low_freq_factor,
                                            float high_freq_factor, int64_t original_context);

}  // namespace ternion
