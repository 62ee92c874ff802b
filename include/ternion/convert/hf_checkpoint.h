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

// A PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) as the GGUF adapter llama.cpp's
// convert_lora_to_gguf.py writes (ternion/model/lora.h): general.type "adapter", adapter.type "lora",
// adapter.lora.alpha, and per adapted matrix "<GGUF name>.lora_a" (PEFT's lora_A, ne [cols, rank]) and ".lora_b"
// (lora_B, ne [rank, rows], Q/K rows permuted as the base's are). Names and shapes come from the base model's
// config.json: `base_dir`, or when empty the adapter's base_model_name_or_path if that is a folder. Throws Error
// for what GGUF adapters cannot hold (DoRA, embedding or norm adapters, per-module alphas, biases, fan_in_fan_out,
// a head-interleaved fused QKV) and for names or shapes the base does not have.
ModelSource load_peft_adapter(const std::string& dir, const std::string& base_dir = "");

}  // namespace ternion
