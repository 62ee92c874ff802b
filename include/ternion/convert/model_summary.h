// What `ternion show` and `ternion list` say about a model: a GGUF file or a HuggingFace folder read for its
// metadata and tensor table only (no weights loaded), in a few readable fields.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ternion/io/gguf.h"

namespace ternion {

struct ModelSummary {
  std::string path;
  bool folder = false;                      // a HuggingFace folder (run in place)
  std::string architecture;                 // general.architecture
  std::string name;                         // general.name, else the file or folder name
  uint64_t n_params = 0;                    // elements of every tensor
  uint64_t n_active_params = 0;             // elements a token reads: a mixture of experts' unchosen experts left out
  int64_t n_expert = 0, n_expert_used = 0;  // <arch>.expert_count, expert_used_count (0: dense)
  uint64_t n_bytes = 0;                     // bytes of every tensor
  std::string quantization;    // the file type ("Q4_K_M") when general.file_type names one, else the weights' type
  int64_t context_length = 0;  // <arch>.context_length (0: not given)
  int64_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_vocab = 0;
  std::string chat_template;                                 // tokenizer.chat_template, empty when none
  std::string bos_text, eos_text;                            // the vocabulary's BOS and EOS token texts
  std::vector<std::pair<std::string, std::string>> licence;  // general.license* keys with their values
};

// Reads `path` (GGUF file or model folder); Error naming it when it is neither.
ModelSummary summarize_model(const std::string& path);

// "6.8M", "1.2B": a parameter count as model names give it.
std::string format_param_count(uint64_t n);

}  // namespace ternion
