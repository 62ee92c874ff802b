// HuggingFace model folders: config.json, model.safetensors (or its shards), tokenizer.model and/or tokenizer.json,
// tokenizer_config.json, generation_config.json. Read into a ModelSource: the metadata and tensors of the GGUF file
// llama.cpp's converter would write, with the weights left in place in the safetensors maps.
//
// Supported: the HF classes of the architecture records (ternion/model/architecture.h), weights in F32, F16 or BF16.
// HF stores Q/K rows in rotate-half order; the source runs them with NeoX RoPE, and a converter permutes them for
// the adjacent-pair layout of a "llama" GGUF (SourceTensor::rope_permute_heads).
#pragma once

#include <string>

#include "ternion/model/model_source.h"

namespace ternion {

// True when `path` is a folder holding a config.json.
bool is_hf_checkpoint(const std::string& path);

// Reads and checks the folder. Throws Error naming the file for: an unsupported architecture (named), a missing file
// (config.json, weights, a shard, the tokenizer), a tensor of the wrong shape (expected and found) or dtype, a tensor
// the architecture does not have, or one it needs that is missing.
ModelSource load_hf_checkpoint(const std::string& dir);

}  // namespace ternion
