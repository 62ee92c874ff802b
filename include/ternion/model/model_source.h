// A model described as the GGUF file a converter would write: the metadata keys in writing order, and every tensor
// under its GGUF name with where its bytes are. convert/ describes HuggingFace folders and llama2.c checkpoints this
// way; Model::from_source runs a description in place and convert_to_gguf writes it out. Both read the same
// description, so running a checkpoint and running its conversion give the same results.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ternion/core/dtype.h"
#include "ternion/io/gguf.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

// GGUF metadata in writing order; set() replaces a key in place or appends it.
class GgufMetadata {
 public:
  void set(const std::string& key, GgufValue value);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);

  const GgufValue* find(std::string_view key) const;
  const std::vector<std::pair<std::string, GgufValue>>& entries() const { return kv_; }

  // A GGUF image holding only this metadata (no tensors), for GgufFile::parse.
  std::vector<uint8_t> to_gguf_bytes() const;

 private:
  std::vector<std::pair<std::string, GgufValue>> kv_;
};

struct SourceTensor {
  std::string name;               // GGUF name: "blk.0.attn_q.weight"
  std::string origin;             // where it comes from, for messages: "model.layers.0.self_attn.q_proj.weight"
  std::vector<uint64_t> shape;    // GGUF order: ne[0] is the row length
  DType type = DType::F32;        // F32, F16 or BF16
  const uint8_t* data = nullptr;  // row-major bytes, in a mapped file or a buffer the source keeps alive
  uint64_t n_bytes = 0;
  // Rows of Q or K in HF's rotate-half order: each head's first half of rows pairs with its second half. GGUF's
  // llama layout pairs adjacent rows, so a converter permutes the rows of each of these heads (0: keep the order).
  int64_t rope_permute_heads = 0;
};

// Sampling settings a checkpoint recommends (HF generation_config.json). Unset ones keep the program's defaults.
struct GenerationDefaults {
  std::optional<bool> do_sample;  // false: greedy
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int32_t> top_k;
  std::vector<int32_t> eos_ids;  // extra end-of-generation ids (eos_token_id may be a list)
};

struct ModelSource {
  std::string path;                 // folder or file, for messages
  std::vector<std::string> inputs;  // every file or folder it was read from (a writer must not overwrite them)
  GgufMetadata metadata;
  std::vector<SourceTensor> tensors;  // in writing order
  // Q/K rows are stored in rotate-half order (HF): run with NeoX RoPE, or permute for an adjacent-pair GGUF.
  bool qk_rotate_half = false;
  // The tokenizer, when GGUF metadata cannot say everything it does (tokenizer.json); else the metadata's is used.
  std::optional<Vocab> vocab;
  GenerationDefaults generation;
  std::string convert_blocker;  // non-empty: why GGUF cannot describe this model (it still runs)
  std::vector<std::shared_ptr<const void>> keep_alive;  // maps and buffers the tensors point into

  const SourceTensor* find(std::string_view name) const;
};

}  // namespace ternion
