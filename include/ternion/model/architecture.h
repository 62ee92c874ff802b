// An architecture is a description over shared building blocks: which RoPE layout, which optional
// tensors, how the output projection is found. Adding one is adding a row to the table in architecture.cpp.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "ternion/backend/ops.h"

namespace ternion {

struct ArchSpec {
  std::string_view name;  // general.architecture
  RopeKind rope_kind;     // how Q/K pairs are rotated in this GGUF layout
  bool qkv_bias;          // attn_q/k/v have bias vectors
};

// The spec for `name`, or Error listing the supported architectures.
const ArchSpec& arch_spec(std::string_view name, const std::string& file);
std::span<const ArchSpec> supported_architectures();

}  // namespace ternion
