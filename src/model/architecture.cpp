#include "ternion/model/architecture.h"

#include <array>

#include "ternion/core/error.h"

namespace ternion {

namespace {

constexpr std::array<ArchSpec, 2> kArchitectures = {{
    // Llama 2/3/3.x, TinyLlama, SmolLM, Mistral: GGUF Q/K rows are permuted for adjacent-pair RoPE.
    {"llama", RopeKind::Adjacent, false},
    // Qwen2 / Qwen2.5: biases on Q/K/V, NeoX RoPE, output tied to the embedding in small models.
    {"qwen2", RopeKind::NeoX, true},
}};

}  // namespace

std::span<const ArchSpec> supported_architectures() { return kArchitectures; }

const ArchSpec& arch_spec(std::string_view name, const std::string& file) {
  for (const auto& a : kArchitectures) {
    if (a.name == name) return a;
  }
  std::string list;
  for (const auto& a : kArchitectures) list += (list.empty() ? "" : ", ") + std::string(a.name);
  throw Error(file + ": unsupported architecture '" + std::string(name) + "' (supported: " + list + ")");
}

}  // namespace ternion
