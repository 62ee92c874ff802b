// Models with deterministic random weights in the shapes of real ones, for benchmarks: nothing large can be
// downloaded everywhere, but speed must be measured at realistic sizes. The vocabulary (tokenizer.* metadata)
// is copied from a real GGUF so the result runs end to end, in Ternion and in other engines.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ternion/core/dtype.h"

namespace ternion {

struct SynthShape {
  std::string_view name;
  std::string_view arch;  // "llama" or "qwen2"
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff;
  float rope_theta;
  bool qkv_bias;
};

std::span<const SynthShape> synth_shapes();
const SynthShape& synth_shape(std::string_view name);  // Error listing the known names

struct SynthOptions {
  std::string shape = "llama-3.2-1b";
  DType type = DType::Q8_0;  // type of the 2-D weights; norms stay F32
  std::string vocab_from;    // GGUF whose tokenizer.* metadata is copied
  std::string output;
  uint64_t seed = 1;
  int64_t n_ctx = 4096;
};

// Writes the model; throws Error for an unknown shape or type, an unreadable vocabulary file, or I/O failure.
void write_synthetic_model(const SynthOptions& options);

}  // namespace ternion
