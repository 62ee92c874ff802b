// `ternion info`: the metadata and tensor table of a GGUF file or a HuggingFace model folder.
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "commands.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/model_summary.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/architecture.h"

namespace ternion::cli {

namespace {

struct InfoArgs {
  std::string model_flag, model_pos;
  size_t max_items = 8;
};

// A mixture of experts: how many, how many a token uses, and the parameters a token reads (ffn_*_exps tensors
// count n_used / n_expert of their elements).
void print_experts(const std::string& arch, const std::function<std::optional<int64_t>(const std::string&)>& key,
                   const std::vector<std::pair<std::string, uint64_t>>& tensors) {
  const int64_t n = key(arch + ".expert_count").value_or(0), used = key(arch + ".expert_used_count").value_or(0);
  if (n <= 0 || used <= 0 || used > n) return;
  uint64_t all = 0, active = 0;
  for (const auto& [name, elements] : tensors) {
    all += elements;
    active +=
        name.ends_with("_exps.weight") ? elements / static_cast<uint64_t>(n) * static_cast<uint64_t>(used) : elements;
  }
  std::printf("experts: %lld, %lld per token; %s of %s parameters active\n", static_cast<long long>(n),
              static_cast<long long>(used), format_param_count(active).c_str(), format_param_count(all).c_str());
}

// A HuggingFace folder: the metadata its conversion would have, and its tensors under their GGUF names.
int info_folder(const std::string& path, const InfoArgs& a) {
  const ModelSource src = load_hf_checkpoint(path);
  std::printf("folder: %s\nHuggingFace checkpoint, run in place (GGUF view below)\n", path.c_str());
  if (!src.convert_blocker.empty()) std::printf("not convertible to GGUF: %s\n", src.convert_blocker.c_str());
  const std::string arch = src.metadata.find("general.architecture")->as_string();
  std::printf("architecture: %s: %s\n", arch.c_str(), describe_block(arch_spec(arch, path)).c_str());
  std::vector<std::pair<std::string, uint64_t>> sizes;
  for (const SourceTensor& t : src.tensors) {
    uint64_t n = 1;
    for (const uint64_t d : t.shape) n *= d;
    sizes.emplace_back(t.name, n);
  }
  const auto int_key = [&](const std::string& k) -> std::optional<int64_t> {
    const GgufValue* v = src.metadata.find(k);
    if (v == nullptr || !v->is_integer()) return std::nullopt;
    return static_cast<int64_t>(v->as_uint());
  };
  print_experts(arch, int_key, sizes);
  std::printf("\nmetadata (%zu keys):\n", src.metadata.entries().size());
  for (const auto& [key, value] : src.metadata.entries()) {
    std::printf("  %-44s %-8s %s\n", key.c_str(), std::string(gguf_type_name(value.type)).c_str(),
                value.to_display_string(a.max_items).c_str());
  }
  std::printf("\ntensors (%zu):\n", src.tensors.size());
  std::printf("  %-36s %-8s %-24s %12s  %s\n", "name", "type", "shape", "bytes", "source");
  uint64_t total = 0;
  for (const SourceTensor& t : src.tensors) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
    std::printf("  %-36s %-8s %-24s %12llu  %s\n", t.name.c_str(), std::string(dtype_info(t.type).name).c_str(),
                shape.c_str(), static_cast<unsigned long long>(t.n_bytes), t.origin.c_str());
    total += t.n_bytes;
  }
  std::printf("  total tensor bytes: %llu\n", static_cast<unsigned long long>(total));
  return 0;
}

// The architecture record the file runs as, or why it does not run.
void print_architecture(const GgufFile& f) {
  const auto name = f.get_string("general.architecture").value_or("(none)");
  try {
    std::printf("architecture: %s: %s\n", name.c_str(), describe_block(arch_spec(name, f.path())).c_str());
  } catch (const Error& e) {
    std::printf("architecture: %s\n", e.what());
  }
}

int info(const InfoArgs& a) {
  const std::string path = pick_model_path(a.model_flag, a.model_pos);
  if (is_hf_checkpoint(path)) return info_folder(path, a);
  const GgufFile f = GgufFile::open(path);
  std::printf("file: %s\nGGUF version %u, %zu bytes, alignment %llu, data at offset %llu\n", path.c_str(), f.version(),
              f.file_size(), static_cast<unsigned long long>(f.alignment()),
              static_cast<unsigned long long>(f.data_offset()));
  print_architecture(f);
  std::vector<std::pair<std::string, uint64_t>> sizes;
  for (const auto& t : f.tensors()) sizes.emplace_back(t.name, t.n_elements);
  print_experts(
      f.get_string("general.architecture").value_or(""), [&](const std::string& k) { return f.get_int(k); }, sizes);
  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  for (const auto& [key, value] : f.metadata()) {
    std::printf("  %-44s %-8s %s\n", key.c_str(), std::string(gguf_type_name(value.type)).c_str(),
                value.to_display_string(a.max_items).c_str());
  }
  std::printf("\ntensors (%zu):\n", f.tensors().size());
  std::printf("  %-36s %-8s %-24s %14s %12s\n", "name", "type", "shape", "offset", "bytes");
  uint64_t total = 0;
  for (const auto& t : f.tensors()) {
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
    std::printf("  %-36s %-8s %-24s %14llu %12llu\n", t.name.c_str(), std::string(dtype_info(t.type).name).c_str(),
                shape.c_str(), static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.n_bytes));
    total += t.n_bytes;
  }
  std::printf("  total tensor bytes: %llu\n", static_cast<unsigned long long>(total));
  return 0;
}

}  // namespace

Runner add_info_command(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* c =
      app.add_subcommand("info", "Print the metadata and tensor table of a GGUF file or a HuggingFace model folder");
  c->add_option("-m,--model", a->model_flag, "GGUF file or HuggingFace model folder");
  c->add_option("model", a->model_pos, "GGUF file or model folder (instead of -m)");
  c->add_option("--max-items", a->max_items, "Array items shown per metadata value (default 8)");
  return [a] { return info(*a); };
}

}  // namespace ternion::cli
